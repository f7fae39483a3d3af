"""Desired + observed Docker state → actions. Pure: no engine, no files, no clock.

Order: conflicts with foreign objects, images, networks and volumes, then each container
(dependencies first; the decision per container is plan_container.py), then bootstrap steps
(plan_bootstrap.py), project containers nobody declares (remove-orphan), leftovers of an
interrupted swap (except a rollback target: plan_interrupted.py), undeclared networks, and
volumes only when named by --remove-volume (plan_removals.py). Each step is one function
below; they hand each other ids and notes through `_Planned`, and the notes are returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.actions import Action, CoreVerb
from reconciler.errors import PlanError
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.names import container_name, network_name, volume_name
from reconciler.providers.docker.observe import DockerObserved, ObservedContainer
from reconciler.providers.docker.payloads import (
    Create,
    CreateNetwork,
    CreateVolume,
    PullImage,
    Recreate,
    RemoveOrphan,
    RunJob,
)
from reconciler.providers.docker.plan_bootstrap import bootstrap_actions
from reconciler.providers.docker.plan_container import (
    PROVIDER,
    absent_optional_networks,
    container_action,
    container_action_id,
    ephemeral_secrets,
    refuse_downgrade,
    secret_names,
    spec_changes,
    updatable_changes,
)
from reconciler.providers.docker.plan_interrupted import resume_action, rollback_target
from reconciler.providers.docker.plan_removals import (
    kept_volume_notes,
    network_removals,
    volume_removals,
)
from reconciler.providers.docker.regenerate import refuse_regenerating_used_secrets
from reconciler.providers.docker.socket_group import (
    missing_gid_error,
    needs_socket_group,
    resolve_group_add,
)
from reconciler.resources import ContainerSpec, DesiredState
from reconciler.source import SourceLocation

__all__ = [
    "container_action_id",
    "plan_docker",
    "spec_changes",
    "updatable_changes",
]


@dataclass
class _Planned:
    """What the steps of one plan_docker call hand each other: the actions so far, the ids
    that later actions depend on, and the notes on what is deliberately not done."""

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pulls: dict[str, str] = field(default_factory=dict)  # image ref → pull action id
    created: dict[str, str] = field(default_factory=dict)  # "network:x"/"volume:x" → id
    leftovers: dict[str, str] = field(default_factory=dict)  # engine name → removal id
    containers: dict[str, str] = field(default_factory=dict)  # logical name → action id
    recreated: set[str] = field(default_factory=set)  # containers created anew
    # the project's containers by logical name, and the rollback target of each service
    # that never proved healthy (plan_interrupted)
    by_resource: dict[str, list[ObservedContainer]] = field(default_factory=dict)
    targets: dict[str, ObservedContainer] = field(default_factory=dict)


def plan_docker(observed: DockerObserved, ctx: PlanContext) -> tuple[list[Action], list[str]]:
    """All Docker actions, and the notes on what is deliberately not done (and why)."""
    desired = ctx.desired
    _refuse_foreign_names(desired, observed)
    out = _Planned(notes=kept_volume_notes(observed, ctx))
    _pull_images(desired, observed, out)
    out.notes += _require_external_networks(desired, observed)
    _create_networks_and_volumes(desired, observed, out)
    refuse_regenerating_used_secrets(observed.containers, ctx)
    for obs in observed.containers:
        out.by_resource.setdefault(obs.resource, []).append(obs)
    for spec in desired.containers:
        own = out.by_resource.get(spec.name, [])
        if target := rollback_target(desired.project, spec, own):
            out.targets[spec.name] = target
    _remove_leftovers(desired, observed, out)
    _plan_containers(observed, ctx, out)
    own_runner_removed = bool(ctx.runner_name) and any(
        obs.resource == ctx.runner_name and obs.resource not in _declared(desired)
        for obs in observed.containers
    )
    _plan_bootstrap(observed, ctx, own_runner_removed, out)
    orphan_ids = [*out.leftovers.values(), *_remove_orphans(observed, ctx, own_runner_removed, out)]
    out.actions.extend(network_removals(observed, ctx, orphan_ids))
    out.actions.extend(volume_removals(desired, observed, ctx, orphan_ids))
    return out.actions, out.notes


def _declared(desired: DesiredState) -> set[str]:
    return {c.name for c in desired.containers}


def _refuse_foreign_names(desired: DesiredState, observed: DockerObserved) -> None:
    """A name this stack needs, held by an object without our labels, stops the plan."""
    project = desired.project
    wanted = [
        *((container_name(project, c.name), c.source) for c in desired.containers),
        *((network_name(project, n.name), n.source) for n in desired.networks if not n.external),
        *((volume_name(project, v.name), v.source) for v in desired.volumes),
    ]
    conflicts = [
        f"{engine} ({observed.foreign[engine]}, declared at {source})"
        for engine, source in wanted
        if engine in observed.foreign
    ]
    if conflicts:
        raise PlanError(
            "names needed by this stack are taken by objects gitops does not manage: "
            + "; ".join(conflicts)
            + ". Remove or rename them (gitops never touches objects without its labels), "
            "or change `project` in gitops/stack.yaml."
        )


def _pull_images(desired: DesiredState, observed: DockerObserved, out: _Planned) -> None:
    for ref, image_id in sorted(observed.images.items()):
        if image_id is not None:
            continue
        users = sorted(c.name for c in desired.containers if c.image == ref)
        out.pulls[ref] = f"docker:image:{ref}"
        out.actions.append(
            Action(
                id=out.pulls[ref],
                provider=PROVIDER,
                verb=CoreVerb.PULL_IMAGE,
                resource=f"image {ref}",
                causes=(f"not present on the engine (used by {', '.join(users)})",),
                payload=PullImage(ref=ref),
            )
        )


def _create_networks_and_volumes(
    desired: DesiredState, observed: DockerObserved, out: _Planned
) -> None:
    project = desired.project
    networks = {n.name for n in observed.networks}
    volumes = {v.name for v in observed.volumes}
    missing: list[tuple[str, str, SourceLocation | None, CreateNetwork | CreateVolume]] = [
        *(
            ("network", n.name, n.source, CreateNetwork(name=n.name))
            for n in desired.networks
            if not n.external and network_name(project, n.name) not in networks
        ),
        *(
            ("volume", v.name, v.source, CreateVolume(name=v.name))
            for v in desired.volumes
            if volume_name(project, v.name) not in volumes
        ),
    ]
    for kind, name, source, payload in missing:
        action_id = f"docker:{kind}:{name}"
        out.created[f"{kind}:{name}"] = action_id
        out.actions.append(
            Action(
                id=action_id,
                provider=PROVIDER,
                verb=payload.verb,
                resource=f"{kind} {name}",
                causes=(f"{kind} missing",),
                source=source,
                payload=payload,
            )
        )


def _remove_leftovers(desired: DesiredState, observed: DockerObserved, out: _Planned) -> None:
    """Leftovers of an interrupted swap (<name>--old / --next) go before their container,
    except the rollback targets (`kept`)."""
    declared = _declared(desired)
    kept = {t.id for t in out.targets.values()}
    for obs in observed.containers:
        if obs.id in kept:
            continue
        if obs.resource in declared and obs.name != container_name(desired.project, obs.resource):
            out.leftovers[obs.name] = f"docker:orphan:{obs.name}"
            out.actions.append(
                _removal(obs, out.leftovers[obs.name], "leftover of an interrupted apply")
            )


def _removal(obs: ObservedContainer, action_id: str, cause: str) -> Action:
    return Action(
        id=action_id,
        provider=PROVIDER,
        verb=CoreVerb.REMOVE_ORPHAN,
        resource=f"container {obs.name}",
        causes=(cause,),
        payload=RemoveOrphan(container_id=obs.id, name=obs.name),
    )


def _plan_containers(observed: DockerObserved, ctx: PlanContext, out: _Planned) -> None:
    """Each declared container, dependencies first (plan_container.py decides)."""
    desired = ctx.desired
    ephemeral = ephemeral_secrets(desired)
    unresolved: list[ContainerSpec] = []
    for spec in _dependency_order(desired.containers):
        engine = container_name(desired.project, spec.name)
        current = next((o for o in out.by_resource.get(spec.name, []) if o.name == engine), None)
        target = out.targets.get(spec.name)
        if target is not None:
            if current is not None and current.status != "created":
                # it ran: its version may have migrated the data, as if it had been deployed
                refuse_downgrade(spec, current)
            as_current, notes = container_action(
                spec, target, observed, ctx, ephemeral, out.recreated
            )
            action: Action | None = resume_action(as_current, spec, target, current)
        else:
            action, notes = container_action(spec, current, observed, ctx, ephemeral, out.recreated)
        out.notes.extend(notes)
        if action is None:
            continue
        action = action.model_copy(
            update={
                "depends_on": tuple(
                    sorted(_container_dependencies(spec, out) | set(action.depends_on))
                ),
                "needs": tuple(
                    f"secret:{name}"
                    for name in secret_names(spec)
                    if ctx.secrets.get(name) is None or name in ctx.secrets_to_generate
                ),
            }
        )
        if isinstance(action.payload, Create | Recreate | RunJob):
            if needs_socket_group(spec) and observed.socket_group.gid is None:
                unresolved.append(spec)
            action = _placed(action, action.payload, spec, desired, observed)
            out.recreated.add(spec.name)
        out.actions.append(action)
        out.containers[spec.name] = action.id
    if unresolved:
        raise missing_gid_error(unresolved, observed.socket_group.origin)


def _container_dependencies(spec: ContainerSpec, out: _Planned) -> set[str]:
    """Its networks, volumes and image first, its leftovers removed, its parents done."""
    deps = {out.created[f"network:{n}"] for n in spec.networks if f"network:{n}" in out.created}
    deps |= {
        out.created[f"volume:{m.volume}"]
        for m in spec.mounts
        if m.volume and f"volume:{m.volume}" in out.created
    }
    if spec.image in out.pulls:
        deps.add(out.pulls[spec.image])
    deps |= {
        out.leftovers[o.name] for o in out.by_resource.get(spec.name, []) if o.name in out.leftovers
    }
    parents = list(spec.depends_on)
    if spec.network_mode and spec.network_mode.startswith("container:"):
        parents.append(spec.network_mode.removeprefix("container:"))
    deps |= {out.containers[p] for p in parents if p in out.containers}
    return deps


def _placed(
    action: Action,
    payload: Create | Recreate | RunJob,
    spec: ContainerSpec,
    desired: DesiredState,
    observed: DockerObserved,
) -> Action:
    """A new container's networks (absent optional external ones left out) and numeric
    groups (the spec, and its hash, keep the `docker-socket` symbol)."""
    absent = absent_optional_networks(desired, observed)
    update: dict[str, Any] = {"networks": tuple(n for n in spec.networks if n not in absent)}
    gid = observed.socket_group.gid
    if not (needs_socket_group(spec) and gid is None):
        update["group_add"] = tuple(resolve_group_add(spec.group_add, gid))
    return action.model_copy(update={"payload": payload.model_copy(update=update)})


def _plan_bootstrap(
    observed: DockerObserved, ctx: PlanContext, own_runner_removed: bool, out: _Planned
) -> None:
    """Bootstrap steps; a deploy running as a job on a runner just removed from gitops/
    must not revoke that runner under itself: a later apply from elsewhere does it."""
    steps = []
    for step in ctx.desired.bootstrap:
        if step.revokes_runners and own_runner_removed:
            out.notes.append(
                f"{step.id}: deferred: this apply runs as a job on runner {ctx.runner_name}, "
                "which is no longer declared; run it again from elsewhere"
            )
        else:
            steps.append(step)
    out.actions.extend(bootstrap_actions(steps, observed, out.containers, out.recreated))


def _remove_orphans(
    observed: DockerObserved, ctx: PlanContext, own_runner_removed: bool, out: _Planned
) -> list[str]:
    """Project containers nobody declares any more (their volumes are kept); not the
    runner this apply runs on."""
    declared = _declared(ctx.desired)
    removed = []
    for obs in observed.containers:
        if obs.resource in declared or obs.resource in ctx.left_out:
            continue
        if own_runner_removed and obs.resource == ctx.runner_name:
            out.notes.append(
                f"{obs.name}: removal deferred: this apply runs as a job on it; run it again "
                "from elsewhere"
            )
            continue
        action_id = f"docker:orphan:{obs.name}"
        removed.append(action_id)
        out.actions.append(_removal(obs, action_id, "no longer declared (its volumes are kept)"))
    return removed


def _require_external_networks(desired: DesiredState, observed: DockerObserved) -> list[str]:
    """A container may only join an external network that exists: gitops cannot create it
    (another project owns it), so the plan stops naming it, its users and the fix, unless
    it is optional: then the plan says (the notes returned) who is deployed without it."""
    notes: list[str] = []
    problems = []
    for net in desired.networks:
        if not net.external or net.external in observed.external_networks:
            continue
        users = sorted(c.name for c in desired.containers if net.name in c.networks)
        if users and net.optional:
            notes.append(
                f"external network {net.external} does not exist (yet): {', '.join(users)} "
                "run without it and join it on the first apply after it appears"
            )
        elif users:
            problems.append(
                f"external network {net.external!r} ({net.source}) does not exist on the "
                f"engine, and {', '.join(users)} join it"
            )
    if problems:
        raise PlanError(
            "; ".join(problems)
            + ". Start the project that owns it first (`docker network ls` lists what exists), "
            "or remove it from stack.yaml external_networks and from those services' networks."
        )
    return notes


def _dependency_order(containers: tuple[ContainerSpec, ...]) -> list[ContainerSpec]:
    by_name = {c.name: c for c in containers}
    done: list[ContainerSpec] = []
    seen: set[str] = set()

    def visit(spec: ContainerSpec) -> None:
        if spec.name in seen:
            return
        seen.add(spec.name)
        parents = list(spec.depends_on)
        if spec.network_mode and spec.network_mode.startswith("container:"):
            parents.append(spec.network_mode.removeprefix("container:"))
        for parent in sorted(parents):
            if parent in by_name:
                visit(by_name[parent])
        done.append(spec)

    for spec in sorted(containers, key=lambda c: c.name):
        visit(spec)
    return done
