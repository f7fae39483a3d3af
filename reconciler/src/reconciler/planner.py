"""Run every provider's observe and plan, and assemble one ordered Plan.

Also hosts the built-in "secrets" provider, whose only action writes a generated secret to
the secrets dir. Linking: an action that `needs` a key (e.g. "secret:x") depends on the
action that `provides` it, whichever provider planned them. Order: topological, ties broken
by phase (pulls, secrets, networks/volumes, containers, bootstrap, removals) then by id, so
the same inputs always print the same plan.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.actions import Action, CoreVerb, GenerateSecret, Plan
from reconciler.addresses import exposed_ports
from reconciler.errors import ApplyError, PlanError
from reconciler.providers.base import ExecContext, PlanContext, Planned, Provider
from reconciler.resources import DesiredState
from reconciler.secrets import SecretStore

__all__ = ["SecretsProvider", "assemble", "build_plan", "with_image_overrides"]

_PHASE: dict[str, int] = {
    CoreVerb.PULL_IMAGE: 0,
    CoreVerb.GENERATE_SECRET: 1,
    CoreVerb.CREATE_NETWORK: 2,
    CoreVerb.CREATE_VOLUME: 2,
    CoreVerb.CREATE: 4,
    CoreVerb.RECREATE: 4,
    CoreVerb.UPDATE: 4,
    CoreVerb.START: 4,
    CoreVerb.RUN_JOB: 4,
    CoreVerb.BOOTSTRAP: 5,
    CoreVerb.REMOVE_ORPHAN: 6,
    CoreVerb.REMOVE_NETWORK: 7,
    CoreVerb.REMOVE_VOLUME: 8,
}


class SecretsProvider:
    """Writes secrets generated in memory (SecretStore.to_generate) to the secrets dir."""

    name = "secrets"

    def __init__(self, store: SecretStore) -> None:
        self.store = store

    def observe(self, desired: DesiredState) -> None:
        return None

    def plan(self, observed: Any, ctx: PlanContext) -> Planned:
        actions = []
        for name in sorted(self.store.to_generate):
            req = self.store.requirements[name]
            how = req.generate
            length = getattr(how, "length", "?")
            alphabet = getattr(how, "alphabet", "")
            actions.append(
                Action(
                    id=f"secret:{name}",
                    provider=self.name,
                    verb=CoreVerb.GENERATE_SECRET,
                    resource=f"secret {name}",
                    causes=(
                        f"not set: generate {length} {alphabet} chars into "
                        f"{_shown(self.store.secrets_dir / name)} (0600), reused afterwards",
                        f"needed by {', '.join(req.needed_by)}",
                    ),
                    provides=(f"secret:{name}",),
                    source=req.source,
                    payload=GenerateSecret(name=name),
                )
            )
        return Planned(actions)

    def execute(self, action: Action, ctx: ExecContext) -> None:
        assert isinstance(action.payload, GenerateSecret)  # its only verb
        try:
            self.store.write(action.payload.name)
        except OSError as exc:
            raise ApplyError(action.id, f"cannot write the secret file: {exc.strerror}") from None


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (shorter output)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def with_image_overrides(desired: DesiredState, overrides: Mapping[str, str]) -> DesiredState:
    """`--image SERVICE=REF`: deploy another reference without editing gitops/."""
    names = {c.name for c in desired.containers}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise PlanError(
            f"--image names unknown service(s) {', '.join(unknown)}; declared: "
            f"{', '.join(sorted(names))}"
        )
    if not overrides:
        return desired
    containers = tuple(
        c.model_copy(update={"image": overrides[c.name]}) if c.name in overrides else c
        for c in desired.containers
    )
    return desired.model_copy(update={"containers": containers})


def assemble(project: str, actions: list[Action], notes: tuple[str, ...] = ()) -> Plan:
    """Link needs→provides, check the graph, and sort it deterministically."""
    by_id: dict[str, Action] = {}
    for action in actions:
        if action.id in by_id:
            raise PlanError(f"two actions share the id {action.id!r} (a provider bug)")
        by_id[action.id] = action
    providers_of: dict[str, str] = {}
    for action in actions:
        for key in action.provides:
            providers_of[key] = action.id
    linked: dict[str, Action] = {}
    for action in actions:
        extra = {providers_of[k] for k in action.needs if k in providers_of}
        deps = tuple(sorted((set(action.depends_on) | extra) - {action.id}))
        missing = [d for d in deps if d not in by_id]
        # a dependency on an action that is not in the plan is already satisfied
        deps = tuple(d for d in deps if d not in missing)
        linked[action.id] = action.model_copy(update={"depends_on": deps})
    indegree = {aid: len(a.depends_on) for aid, a in linked.items()}
    dependents: dict[str, list[str]] = {aid: [] for aid in linked}
    for aid, action in linked.items():
        for dep in action.depends_on:
            dependents[dep].append(aid)

    def order(aid: str) -> tuple[int, str]:
        return (_PHASE.get(linked[aid].verb, 3), aid)

    ready = [order(aid) for aid, n in indegree.items() if n == 0]
    heapq.heapify(ready)
    ordered: list[Action] = []
    while ready:
        _, aid = heapq.heappop(ready)
        ordered.append(linked[aid])
        for child in dependents[aid]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, order(child))
    if len(ordered) != len(linked):
        stuck = sorted(aid for aid, n in indegree.items() if n > 0)
        raise PlanError(f"actions depend on each other in a cycle: {', '.join(stuck)}")
    return Plan(project=project, actions=tuple(ordered), notes=notes)


def build_plan(
    desired: DesiredState,
    providers: Mapping[str, Provider],
    ctx: PlanContext,
) -> Plan:
    observed = {name: provider.observe(desired) for name, provider in providers.items()}
    ctx = dataclasses.replace(ctx, observed=observed)
    # said in every plan, changed or not: a port beyond loopback is a decision to see
    exposure = [f"exposure: {line}" for line in exposed_ports(desired)]
    while True:
        actions: list[Action] = []
        notes: list[str] = list(exposure)
        for name, provider in providers.items():
            planned = provider.plan(observed[name], ctx)
            actions.extend(planned.actions)
            notes.extend(f"{name}: {note}" for note in planned.notes)
        provided = frozenset(
            key.removeprefix("secret:")
            for action in actions
            for key in action.provides
            if key.startswith("secret:")
        )
        if provided <= ctx.secrets_provided:
            return assemble(desired.project, actions, tuple(notes))
        # a secret provided anew (a minted key) reaches containers that already exist only
        # if their providers know it: plan again with it (plans are pure, observe ran once)
        ctx = dataclasses.replace(ctx, secrets_provided=ctx.secrets_provided | provided)
