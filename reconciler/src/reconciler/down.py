"""`gitops down`: remove the project's containers and networks, keep its volumes.

Why a command of its own: taking a deployed stack off a machine by hand (`docker rm` by
name) is how someone removes a foreign object or a volume with data. `down` removes only
objects carrying this project's labels (whatever gitops/ declares today, so a service
deleted from YAML goes too), under the same apply lock, and deletes a named volume only
when asked: `--remove-volume NAME`. Unlike `apply --remove-volume`, a *declared* volume may
be named here (tearing down is the one time its owner is gone too); the names are checked
before anything is removed, so a typo removes nothing. Anonymous volumes a container made
from its image's VOLUME go with the container (no later container could reuse them). The
tailnet, external networks and the pipeline's records are not touched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import docker
import docker.errors

from reconciler import labels as L
from reconciler.errors import GitopsError, PlanError

__all__ = ["DownPlan", "execute_down", "plan_down"]


@dataclass(frozen=True)
class DownPlan:
    project: str
    containers: tuple[tuple[str, str], ...]  # (id, name)
    networks: tuple[tuple[str, str], ...]  # (id, name)
    volumes: tuple[str, ...]  # engine names of the volumes to delete
    kept_volumes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)


def plan_down(api: docker.APIClient, project: str, remove_volumes: Iterable[str]) -> DownPlan:
    """What `down` removes; refuses (nothing removed) an unknown or foreign-used volume."""
    filters = {"label": L.project_filter(project)}
    containers = [
        c
        for c in api.containers(all=True, filters=filters)
        if (c.get("Labels") or {}).get(L.ROLE) != "lock"
    ]
    ours = {c["Id"] for c in containers}
    networks = api.networks(filters=filters)
    volumes = {
        (v.get("Labels") or {}).get(L.RESOURCE, v["Name"]): v["Name"]
        for v in (api.volumes(filters=filters).get("Volumes") or [])
    }
    problems = []
    chosen = []
    for name in sorted(set(remove_volumes)):
        engine = volumes.get(name)
        if engine is None:
            problems.append(
                f"volume {name!r} is not a volume of project {project!r} "
                f"(its volumes: {', '.join(sorted(volumes)) or 'none'})"
            )
            continue
        users = [
            c["Names"][0].lstrip("/")
            for c in api.containers(all=True, filters={"volume": engine})
            if c["Id"] not in ours
        ]
        if users:
            problems.append(
                f"volume {name!r} is used by containers gitops does not manage: {users}"
            )
            continue
        chosen.append(engine)
    if problems:
        raise PlanError("; ".join(problems) + ". Nothing was removed.")
    return DownPlan(
        project=project,
        containers=tuple(sorted((c["Id"], c["Names"][0].lstrip("/")) for c in containers)),
        networks=tuple(sorted((n["Id"], n["Name"]) for n in networks)),
        volumes=tuple(chosen),
        kept_volumes=tuple(sorted(v for v in volumes.values() if v not in chosen)),
    )


def execute_down(api: docker.APIClient, plan: DownPlan, progress: Callable[[str], None]) -> None:
    """Containers first (stopped, then removed with their anonymous volumes), then networks,
    then the named volumes. An object already gone is not an error; any other refusal by
    the engine (a foreign container still on the network) stops, naming the object."""
    try:
        _remove_all(api, plan, progress)
    except docker.errors.APIError as exc:
        raise GitopsError(
            f"down stopped: {exc.explanation or exc}; run `gitops down` again once it is "
            "resolved (what was removed stays removed, volumes are kept)"
        ) from None


def _remove_all(api: docker.APIClient, plan: DownPlan, progress: Callable[[str], None]) -> None:
    for container_id, name in plan.containers:
        progress(f"remove container {name}")
        try:
            api.stop(container_id, timeout=10)
            api.remove_container(container_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
    for network_id, name in plan.networks:
        progress(f"remove network {name}")
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(network_id)
    for name in plan.volumes:
        progress(f"delete volume {name} and its data (named by --remove-volume)")
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(name)
