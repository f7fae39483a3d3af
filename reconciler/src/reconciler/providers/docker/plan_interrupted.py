"""What an interrupted replacement left behind, and how the next plan resumes from it. Pure.

A replacement renames the serving container `<svc>--old` (stop-first swap) or proves a
copy `<svc>--next` beside it (start-first). A process killed in between leaves the engine
with a container of the service (found by its resource label) under a name that is not
the service's own. The one that served before is the rollback target until a new
container is proven healthy under the real name: the plan restores it to its name and
replaces it from there (so a failing new spec rolls back to it, with its volumes), and
removes it only once the service runs healthy under its name.

  `<svc>--old`                      → the container that served: the rollback target
  `<svc>--next`, nothing else left  → a copy that passed its gate (the old one was already
                                      removed when the kill came): the rollback target
  anything else under another name  → a leftover, removed before the service's action
"""

from __future__ import annotations

from reconciler.actions import Action, CoreVerb, FieldChange
from reconciler.providers.docker.names import NEXT_SUFFIX, OLD_SUFFIX, container_name
from reconciler.providers.docker.observe import ObservedContainer
from reconciler.providers.docker.payloads import Recreate, Restore
from reconciler.providers.docker.plan_container import (
    PROVIDER,
    container_action_id,
    replace_strategy,
)
from reconciler.resources import ContainerSpec

__all__ = ["proven", "resume_action", "rollback_target"]


def proven(current: ObservedContainer | None) -> bool:
    """Running and healthy by Docker's own judgement (or running, without a healthcheck)."""
    return (
        current is not None and current.status == "running" and current.health in (None, "healthy")
    )


def rollback_target(
    project: str, spec: ContainerSpec, containers: list[ObservedContainer]
) -> ObservedContainer | None:
    """The leftover the service must be able to go back to, if the service is unproven."""
    if spec.role == "job":
        return None  # a job is simply run again; nothing serves from it
    engine = container_name(project, spec.name)
    current = next((c for c in containers if c.name == engine), None)
    if proven(current):
        return None
    by_name = {c.name: c for c in containers if c.resource == spec.name}
    if engine + OLD_SUFFIX in by_name:
        return by_name[engine + OLD_SUFFIX]
    if current is None:
        return by_name.get(engine + NEXT_SUFFIX)
    return None


def resume_action(
    action: Action | None,
    spec: ContainerSpec,
    target: ObservedContainer,
    current: ObservedContainer | None,
) -> Action:
    """A recreate that first puts `target` back under the service's name (discarding the
    unproven `current`), then replaces it as any running service is replaced. `action` is
    what the plan would do with `target` under its name (None: nothing, it matches)."""
    unproven = (
        f"; {current.name} never proved healthy ({current.health or current.status}) and is "
        "discarded"
        if current is not None
        else ""
    )
    cause = (
        f"an interrupted apply left the previous container as {target.name}: it is restored "
        f"and stays the rollback target until a new one is proven healthy{unproven}"
    )
    restore = Restore(name=target.name, discard=current.id if current else None)
    payload = Recreate(
        name=spec.name, replace=target.id, strategy=replace_strategy(spec), restore=restore
    )
    causes: tuple[str, ...] = (cause,)
    changes: tuple[FieldChange, ...] = ()
    if action is not None and isinstance(action.payload, Recreate):
        payload = action.payload.model_copy(update={"restore": restore})
        causes += action.causes
        changes = action.changes
    return Action(
        id=container_action_id(spec.name),
        provider=PROVIDER,
        verb=CoreVerb.RECREATE,
        resource=f"{spec.role} {spec.name}",
        source=spec.source,
        causes=causes,
        changes=changes,
        payload=payload,
    )
