"""`--only NAME,...`: reconcile part of the declared stack and leave the rest untouched.

Why: on a machine that cannot obtain an upstream image (Forgejo, the runner, registry:2.8)
the rest of the stack (mcp, analytics, a registry built here) still runs. A selection is
a DesiredState restricted to the selected containers, plus the names of what was left out:
the planner never treats those as orphans (their containers, networks and volumes stay as
they are), and the plan says what was left out and why.

A name is a container's logical name (`mcp`) or a document's name (`forgejo` selects
every container a `kind: X, name: forgejo` document compiles to). A selected container's
dependencies (`depends_on`, a `container:` network namespace) must be selected too, or the
selection is refused naming them; a sidecar living in a selected container's namespace is
part of it and selected with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.errors import PlanError
from reconciler.resources import (
    ComputedSecret,
    ContainerSpec,
    DerivedSecret,
    DesiredState,
    SecretRef,
)

__all__ = ["Selection", "parse_only", "select"]


@dataclass(frozen=True)
class Selection:
    """The restricted state, and the declared resources (containers, networks, volumes)
    that are not part of it, by logical name: left untouched on the engine."""

    desired: DesiredState
    left_out: frozenset[str] = frozenset()
    origin: str = ""  # where the selection came from ("--only", ".local/overrides.yaml:3")
    left_out_containers: tuple[str, ...] = ()


def parse_only(values: Iterable[str]) -> tuple[str, ...]:
    """`--only a,b --only c` → ("a", "b", "c"); empty items are ignored."""
    names: list[str] = []
    for value in values:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(dict.fromkeys(names))


def _document_name(spec: ContainerSpec) -> str:
    return spec.owner.partition("/")[2] or spec.owner


def _parent(spec: ContainerSpec) -> str | None:
    if spec.network_mode and spec.network_mode.startswith("container:"):
        return spec.network_mode.removeprefix("container:")
    return None


def select(desired: DesiredState, names: Iterable[str], origin: str = "--only") -> Selection:
    """Restrict `desired` to `names` (see the module docstring); refuse unknown names and
    unselected dependencies with the exact selection that would work."""
    wanted = tuple(names)
    if not wanted:
        return Selection(desired=desired)
    by_name = {c.name: c for c in desired.containers}
    by_document: dict[str, list[str]] = {}
    for spec in desired.containers:
        by_document.setdefault(_document_name(spec), []).append(spec.name)
    unknown = [n for n in wanted if n not in by_name and n not in by_document]
    if unknown:
        known = sorted(set(by_name) | set(by_document))
        raise PlanError(
            f"{origin}: unknown name(s) {', '.join(unknown)}; declared services and "
            f"documents: {', '.join(known)}"
        )
    chosen: set[str] = set()
    for name in wanted:
        chosen.update([name] if name in by_name else by_document[name])
    # sidecars (a container in a chosen container's network namespace) go with it
    changed = True
    while changed:
        changed = False
        for spec in desired.containers:
            if spec.name not in chosen and _parent(spec) in chosen:
                chosen.add(spec.name)
                changed = True
    missing: dict[str, list[str]] = {}
    for name in sorted(chosen):
        spec = by_name[name]
        for dep in (*spec.depends_on, *filter(None, [_parent(spec)])):
            if dep in by_name and dep not in chosen:
                missing.setdefault(dep, []).append(f"{name} ({spec.source})")
    if missing:
        reasons = "; ".join(f"{dep} is needed by {', '.join(by)}" for dep, by in missing.items())
        fixed = ",".join([*wanted, *sorted(missing)])
        raise PlanError(
            f"{origin}: the selection leaves out what it depends on: {reasons}. "
            f"Select it too (--only {fixed}) or leave out what needs it."
        )
    containers = tuple(c for c in desired.containers if c.name in chosen)
    networks_used = {n for c in containers for n in c.networks}
    volumes_used = {m.volume for c in containers for m in c.mounts if m.volume}
    networks = tuple(n for n in desired.networks if n.name in networks_used)
    volumes = tuple(v for v in desired.volumes if v.name in volumes_used)
    bootstrap = tuple(s for s in desired.bootstrap if s.container in chosen)
    secrets = _secrets_of(desired, containers, bootstrap)
    left_out = frozenset(
        {c.name for c in desired.containers if c.name not in chosen}
        | {n.name for n in desired.networks if n.name not in networks_used}
        | {v.name for v in desired.volumes if v.name not in volumes_used}
    )
    restricted = desired.model_copy(
        update={
            "containers": containers,
            "networks": networks,
            "volumes": volumes,
            "bootstrap": bootstrap,
            "secrets": secrets,
        }
    )
    return Selection(
        desired=restricted,
        left_out=left_out,
        origin=origin,
        left_out_containers=tuple(
            sorted(c.name for c in desired.containers if c.name not in chosen)
        ),
    )


def _secrets_of(desired: DesiredState, containers: tuple, bootstrap: tuple) -> tuple:
    """The secret requirements the selected containers and steps use, with the secrets
    those are derived or computed from: nothing is generated for what was left out."""
    owners = {c.owner for c in containers}
    used: set[str] = set()
    for spec in containers:
        used |= {v.secret for v in spec.env.values() if isinstance(v, SecretRef)}
        used |= {f.secret for f in spec.secret_files}
    for step in bootstrap:
        used |= {v.secret for v in step.env.values() if isinstance(v, SecretRef)}
        if step.capture_secret:
            used.add(step.capture_secret)
    by_name = {r.name: r for r in desired.secrets}
    used |= {r.name for r in desired.secrets if owners & set(r.needed_by)}
    pending = list(used)
    while pending:
        req = by_name.get(pending.pop())
        if req is None:
            continue
        how = req.generate
        inputs: list[str] = []
        if isinstance(how, DerivedSecret):
            inputs = [how.from_secret]
        elif isinstance(how, ComputedSecret):
            inputs = list(how.inputs.values())
        for name in inputs:
            if name not in used:
                used.add(name)
                pending.append(name)
    return tuple(r for r in desired.secrets if r.name in used)


def without_images(desired: DesiredState, refs: Iterable[str]) -> tuple[list[str], list[str]]:
    """(left out, runnable): the containers that use one of `refs` or depend on one that
    does (directly, or through its network namespace), and every other container. The
    runnable list is a valid `--only` selection: it is closed under dependencies."""
    missing = set(refs)
    out = {c.name for c in desired.containers if c.image in missing}
    changed = True
    while changed:
        changed = False
        for spec in desired.containers:
            parents = {*spec.depends_on, *filter(None, [_parent(spec)])}
            if spec.name not in out and parents & out:
                out.add(spec.name)
                changed = True
    runnable = [c.name for c in desired.containers if c.name not in out]
    return sorted(out), sorted(runnable)
