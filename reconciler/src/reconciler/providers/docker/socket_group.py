"""The symbolic supplementary group `docker-socket`: the engine socket's group, by number.

Containers that talk to the host's engine (a runner as UID 1000, analytics reading logs)
need the socket's group, whose number differs between hosts (999, 106, 998, …). The YAML
says `group_add: [docker-socket]`; the spec hash keeps the symbol (host-independent), observe
finds the number, plan puts it in the create action's payload (`group_add`), the executor
just uses it.

Where the number comes from, in order: `docker.socket_gid` in stack.yaml (an explicit
declaration wins, e.g. for a forwarded socket whose local group is not the engine's), else
the group of the local unix socket the client talks to (`os.stat(path).st_gid`). Over tcp://
or ssh:// nothing can be read without running something on the engine host, so the plan
stops and says how to declare it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import docker
import requests.exceptions

from reconciler.errors import PlanError
from reconciler.resources import ContainerSpec

__all__ = [
    "DOCKER_SOCKET_GROUP",
    "SocketGroup",
    "engine_socket_path",
    "missing_gid_error",
    "needs_socket_group",
    "observe_socket_group",
    "resolve_group_add",
]

DOCKER_SOCKET_GROUP = "docker-socket"


@dataclass(frozen=True)
class SocketGroup:
    """What observe learned: the gid (None = unknown) and where it came from / why not."""

    gid: int | None
    origin: str  # "stack.yaml docker.socket_gid", "group of /var/run/docker.sock", or why unknown


def needs_socket_group(spec: ContainerSpec) -> bool:
    return DOCKER_SOCKET_GROUP in spec.group_add


def engine_socket_path(client: docker.DockerClient) -> str | None:
    """The local unix socket the client talks to, or None (tcp://, ssh://, npipe)."""
    api = client.api
    try:
        adapter = api.get_adapter(api.base_url)
    except requests.exceptions.InvalidSchema:  # no transport adapter for this URL
        return None
    path = getattr(adapter, "socket_path", None)
    return path if isinstance(path, str) and path.startswith("/") else None


def observe_socket_group(socket_path: str | None, declared: int | None) -> SocketGroup:
    """Read-only: the declared gid, else the local socket's group."""
    if declared is not None:
        return SocketGroup(gid=declared, origin="stack.yaml docker.socket_gid")
    if socket_path is None:
        return SocketGroup(gid=None, origin="the engine is not reached through a local socket")
    try:
        return SocketGroup(gid=os.stat(socket_path).st_gid, origin=f"group of {socket_path}")
    except OSError as exc:
        return SocketGroup(gid=None, origin=f"cannot stat {socket_path}: {exc.strerror}")


def resolve_group_add(group_add: Iterable[str], gid: int | None) -> list[str]:
    """The groups handed to the engine: the symbol replaced by the number."""
    resolved = []
    for group in group_add:
        if group == DOCKER_SOCKET_GROUP:
            if gid is None:
                raise ValueError("the docker-socket group is not resolved")
            resolved.append(str(gid))
        else:
            resolved.append(group)
    return resolved


def missing_gid_error(specs: Iterable[ContainerSpec], why: str) -> PlanError:
    needing = "; ".join(f"{s.name} ({s.source})" for s in specs)
    return PlanError(
        f"group_add docker-socket cannot be resolved ({why}), and these containers need it: "
        f"{needing}. On the engine host run `stat -c %g /var/run/docker.sock` and declare "
        "that number in gitops/stack.yaml as `docker: {socket_gid: N}`."
    )
