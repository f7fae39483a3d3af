"""One read-only snapshot of the engine, as plain values.

Lists containers, networks and volumes once each, keeps the project's own (by label) and
notes foreign objects that hold a name we need. Image references are resolved to IDs
(comparison is by ID, never by tag). Bootstrap probes run in running containers (they read,
they do not change anything). Nothing here writes; the one object it may create is the
never-started, read-only helper that reads a Tailscale sidecar's state volume no container
mounts (node_state.py: the Docker API reads files only through a container), removed at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from reconciler import labels as L
from reconciler.providers.docker.names import container_name, network_name, volume_name
from reconciler.providers.docker.node_state import node_logged_in
from reconciler.providers.docker.socket_group import (
    SocketGroup,
    engine_socket_path,
    needs_socket_group,
    observe_socket_group,
)
from reconciler.resources import BootstrapStep, DesiredState, NodeLoginProbe

__all__ = [
    "DockerObserved",
    "ObservedContainer",
    "ObservedNetwork",
    "ObservedVolume",
    "observe",
    "parse_container",
]


NOT_LOOKED_UP = "not looked up: no container needs it"


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str  # engine name without the leading "/"
    resource: str
    role: str
    status: str  # created | running | paused | restarting | exited | dead
    exit_code: int
    health: str | None  # starting | healthy | unhealthy | None (no healthcheck)
    spec_hash: str | None
    spec: dict[str, Any] | None
    image_id_label: str | None
    image_ref_label: str | None
    image_id: str  # what the container actually runs
    version: str | None  # ReplacePolicy.version it was created with
    restart: str
    memory: int
    cpu_quota: int
    networks: tuple[str, ...]  # engine network names it is attached to
    volumes: tuple[str, ...]  # engine volume names it mounts


@dataclass(frozen=True)
class ObservedNetwork:
    id: str
    name: str
    resource: str


@dataclass(frozen=True)
class ObservedVolume:
    name: str
    resource: str


@dataclass(frozen=True)
class DockerObserved:
    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()
    external_networks: frozenset[str] = frozenset()  # engine names of those that exist
    images: dict[str, str | None] = field(default_factory=dict)  # ref → image ID or None
    foreign: dict[str, str] = field(default_factory=dict)  # engine name → "container 1a2b…"
    probes: dict[str, bool] = field(default_factory=dict)  # bootstrap step id → done
    volume_users: dict[str, tuple[str, ...]] = field(default_factory=dict)  # volume → users
    # the engine socket's group for `group_add: [docker-socket]` (looked up only when needed)
    socket_group: SocketGroup = field(default_factory=lambda: SocketGroup(None, NOT_LOOKED_UP))
    # NodeLoginProbe answers: sidecar container → its node's state volume holds a login
    node_logins: dict[str, bool] = field(default_factory=dict)


def parse_container(attrs: dict[str, Any]) -> ObservedContainer:
    """`docker inspect` of one of our containers → ObservedContainer (pure, testable)."""
    labels = attrs.get("Config", {}).get("Labels") or {}
    state = attrs.get("State", {})
    host = attrs.get("HostConfig", {})
    raw_spec = labels.get(L.SPEC)
    try:
        spec = json.loads(raw_spec) if raw_spec else None
    except json.JSONDecodeError:
        spec = None
    health = (state.get("Health") or {}).get("Status")
    return ObservedContainer(
        id=attrs["Id"],
        name=attrs.get("Name", "").lstrip("/"),
        resource=labels.get(L.RESOURCE, ""),
        role=labels.get(L.ROLE, "service"),
        status=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode") or 0),
        health=health,
        spec_hash=labels.get(L.SPEC_HASH),
        spec=spec,
        image_id_label=labels.get(L.IMAGE_ID),
        image_ref_label=labels.get(L.IMAGE_REF),
        image_id=attrs.get("Image", ""),
        version=labels.get(L.VERSION),
        restart=((host.get("RestartPolicy") or {}).get("Name") or "no"),
        memory=int(host.get("Memory") or 0),
        cpu_quota=int(host.get("CpuQuota") or 0),
        networks=tuple(sorted((attrs.get("NetworkSettings") or {}).get("Networks") or {})),
        volumes=tuple(
            sorted(
                m.get("Name", "") for m in attrs.get("Mounts") or [] if m.get("Type") == "volume"
            )
        ),
    )


def _image_id(api: docker.APIClient, ref: str) -> str | None:
    try:
        return str(api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.NotFound:
        return None


def observe(
    client: docker.DockerClient, desired: DesiredState, socket_gid: int | None = None
) -> DockerObserved:
    """`socket_gid`: stack.yaml's `docker.socket_gid`, if declared."""
    api = client.api
    project = desired.project
    ours = set(L.project_filter(project))

    def is_ours(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(f"{k}={labels.get(k)}" in ours for k in (L.MANAGED_BY, L.PROJECT))

    foreign: dict[str, str] = {}
    wanted_containers = {container_name(project, c.name) for c in desired.containers}
    containers: list[ObservedContainer] = []
    users: dict[str, list[str]] = {}
    for summary in api.containers(all=True):
        names = [n.lstrip("/") for n in summary.get("Names") or []]
        labels = summary.get("Labels") or {}
        for mount in summary.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append(names[0] if names else summary["Id"])
        if not is_ours(labels):
            for name in names:
                if name in wanted_containers:
                    foreign[name] = f"container {summary['Id'][:12]}"
            continue
        if labels.get(L.ROLE) == "lock":
            continue
        try:
            attrs = api.inspect_container(summary["Id"])
        except docker.errors.NotFound:
            continue  # removed between list and inspect
        containers.append(parse_container(attrs))
    wanted_networks = {network_name(project, n.name) for n in desired.networks if not n.external}
    external_names = {n.external for n in desired.networks if n.external}
    networks = []
    external: set[str] = set()
    for net in api.networks():
        if net["Name"] in external_names:
            external.add(net["Name"])
        if is_ours(net.get("Labels")):
            labels = net.get("Labels") or {}
            networks.append(
                ObservedNetwork(id=net["Id"], name=net["Name"], resource=labels.get(L.RESOURCE, ""))
            )
        elif net["Name"] in wanted_networks:
            foreign[net["Name"]] = f"network {net['Id'][:12]}"
    wanted_volumes = {volume_name(project, v.name) for v in desired.volumes}
    volumes = []
    for vol in api.volumes().get("Volumes") or []:
        if is_ours(vol.get("Labels")):
            labels = vol.get("Labels") or {}
            volumes.append(ObservedVolume(name=vol["Name"], resource=labels.get(L.RESOURCE, "")))
        elif vol["Name"] in wanted_volumes:
            foreign[vol["Name"]] = "volume (not created by gitops)"
    images = {ref: _image_id(api, ref) for ref in sorted({c.image for c in desired.containers})}
    probes = _probes(api, project, desired.bootstrap, containers)
    socket_group = SocketGroup(gid=None, origin=NOT_LOOKED_UP)
    if any(needs_socket_group(c) for c in desired.containers):
        socket_group = observe_socket_group(engine_socket_path(client), socket_gid)
    return DockerObserved(
        containers=tuple(sorted(containers, key=lambda c: c.name)),
        networks=tuple(sorted(networks, key=lambda n: n.name)),
        volumes=tuple(sorted(volumes, key=lambda v: v.name)),
        external_networks=frozenset(external),
        images=images,
        foreign=dict(sorted(foreign.items())),
        probes=probes,
        volume_users={k: tuple(sorted(v)) for k, v in sorted(users.items())},
        socket_group=socket_group,
        node_logins=_node_logins(client, desired),
    )


def _node_logins(client: docker.DockerClient, desired: DesiredState) -> dict[str, bool]:
    """Answer every NodeLoginProbe a sidecar compiled into `extra["docker"]`."""
    images = {c.name: c.image for c in desired.containers}
    return {
        probe.container: node_logged_in(
            client,
            desired.project,
            probe.volume,
            [images.get(name, "") for name in probe.images_of],
        )
        for probe in sorted(
            (p for p in desired.extra.get("docker", ()) if isinstance(p, NodeLoginProbe)),
            key=lambda p: p.container,
        )
    }


def _probes(
    api: docker.APIClient,
    project: str,
    steps: tuple[BootstrapStep, ...],
    containers: list[ObservedContainer],
) -> dict[str, bool]:
    running = {c.name: c for c in containers if c.status == "running"}
    result: dict[str, bool] = {}
    for step in steps:
        target = running.get(container_name(project, step.container))
        if step.probe is None or target is None:
            continue
        exec_id = api.exec_create(target.id, list(step.probe), user=step.user or "")["Id"]
        api.exec_start(exec_id)
        result[step.id] = api.exec_inspect(exec_id).get("ExitCode") == 0
    return result
