"""Removals: networks nobody declares any more, and volumes only when named by
--remove-volume (anything else undeclared is kept, with a note). Pure.

Each removal waits for the container removals (`orphan_ids`) that may still use it.
"""

from __future__ import annotations

from reconciler.actions import Action
from reconciler.errors import PlanError
from reconciler.providers.base import PlanContext
from reconciler.providers.docker.names import network_name
from reconciler.providers.docker.observe import DockerObserved
from reconciler.providers.docker.payloads import RemoveNetwork, RemoveVolume
from reconciler.providers.docker.plan_container import PROVIDER
from reconciler.resources import DesiredState

__all__ = ["kept_volume_notes", "network_removals", "volume_removals"]


def network_removals(
    observed: DockerObserved, ctx: PlanContext, orphan_ids: list[str]
) -> list[Action]:
    """Project networks nobody declares any more (not those left out by --only)."""
    desired = ctx.desired
    actions: list[Action] = []
    wanted = {network_name(desired.project, n.name) for n in desired.networks if not n.external}
    for existing in observed.networks:
        if existing.name in wanted or existing.resource in ctx.left_out:
            continue
        name = existing.resource or existing.name
        payload = RemoveNetwork(network_id=existing.id, name=existing.name)
        actions.append(_after_orphans(f"network {name}", "no longer declared", payload, orphan_ids))
    return actions


def _after_orphans(
    resource: str, cause: str, payload: RemoveNetwork | RemoveVolume, orphan_ids: list[str]
) -> Action:
    """A network or volume removal, once the containers that may use it are gone."""
    return Action(
        id=f"docker:{resource.replace(' ', ':')}:remove",
        provider=PROVIDER,
        verb=payload.verb,
        resource=resource,
        causes=(cause,),
        depends_on=tuple(sorted(orphan_ids)),
        payload=payload,
    )


def volume_removals(
    desired: DesiredState, observed: DockerObserved, ctx: PlanContext, orphan_ids: list[str]
) -> list[Action]:
    """Only the volumes named by --remove-volume, nobody declares and nothing foreign uses."""
    project = desired.project
    declared = {v.name: v for v in desired.volumes}
    existing = {v.resource: v for v in observed.volumes}
    actions = []
    problems = []
    for name in sorted(ctx.remove_volumes):
        if name in ctx.left_out:
            problems.append(
                f"volume {name!r} is declared (left out of this run by --only); remove it "
                "from gitops/ first: gitops only deletes volumes nobody declares"
            )
            continue
        if name in declared:
            problems.append(
                f"volume {name!r} is still declared ({declared[name].source}); remove it from "
                "gitops/ first: gitops only deletes volumes nobody declares"
            )
            continue
        vol = existing.get(name)
        if vol is None:
            problems.append(
                f"volume {name!r} is not a volume of project {project!r} "
                f"(known: {', '.join(sorted(existing)) or 'none'})"
            )
            continue
        users = [
            u
            for u in observed.volume_users.get(vol.name, ())
            if not any(u == o.name for o in observed.containers)
        ]
        if users:
            problems.append(
                f"volume {name!r} is used by containers gitops does not manage: {users}"
            )
            continue
        cause = "named by --remove-volume (its data is deleted)"
        payload = RemoveVolume(name=vol.name)
        actions.append(_after_orphans(f"volume {name}", cause, payload, orphan_ids))
    if problems:
        raise PlanError("; ".join(problems))
    return actions


def kept_volume_notes(observed: DockerObserved, ctx: PlanContext) -> list[str]:
    """Undeclared project volumes are kept; say so (they are not changes)."""
    declared = {v.name for v in ctx.desired.volumes}
    return [
        f"volume {v.resource} is no longer declared and is kept "
        f"(delete it with `gitops apply --remove-volume {v.resource}`)"
        for v in observed.volumes
        if v.resource not in declared
        and v.resource not in ctx.remove_volumes
        and v.resource not in ctx.left_out
    ]
