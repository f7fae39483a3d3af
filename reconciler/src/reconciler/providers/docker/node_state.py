"""Is a sidecar's node logged in? Read from its state volume, never from the container alone.

Part of the Docker observe (`observe._node_logins` answers each `NodeLoginProbe` a
`tailscale:` sidecar compiles); the answer is a plain value of the Docker snapshot that the
Tailscale plan reads, so the Tailscale provider never talks to the engine.

The node lives in the volume (`TS_STATE_DIR`), not in the container: a removed container with
a surviving volume is the same node and needs no key, and a container that exists but whose
volume holds no login needs one. So the answer comes from `tailscaled.state` in the volume,
read-only through the Docker API (it works when the reconciler itself runs in a CI container
whose filesystem the engine cannot see):

- through the archive API of a container that mounts the volume (the sidecar, running or
  not), at that container's mount point;
- else through a short-lived helper container that mounts the volume read-only: created from
  an image already present (the sidecar's, the service's, else any local one), never started,
  network disabled, removed right after (its volumes are not, so nothing is ever deleted);
- no volume at all: a new node.

Logged in means what tailscaled's file store says (tailscale/tailscale `ipn/store.go` and
the file store; the format is tailscaled's, not a documented API): a JSON object of state
key → base64 bytes whose `_current-profile` names a profile key that holds a profile.
`_machinekey` alone is written at the first start, before any login, so a sidecar that
failed to log in leaves a non-empty file that is *not* a node.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tarfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import docker.types

from reconciler import labels
from reconciler.errors import ObservationError
from reconciler.providers.docker.names import volume_name

__all__ = ["PROBE_LABEL", "STATE_FILE", "logged_in", "node_logged_in"]

STATE_FILE = "tailscaled.state"
_PROBE_MOUNT = "/gitops-state-probe"
PROBE_LABEL = f"{labels.NAMESPACE}.tailscale-state-probe"  # the project it looked at


def logged_in(raw: bytes | None) -> bool:
    """True when a `tailscaled.state` file holds a current login profile."""
    if not raw:
        return False
    try:
        state = json.loads(raw)
        key = base64.b64decode(state.get("_current-profile") or "", validate=True).decode()
        profile = state.get(key) if key else None
    except (ValueError, AttributeError, binascii.Error):
        return False
    return bool(profile) and bool(state.get("_profiles"))


def _file_from_archive(stream: Iterator[bytes]) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                return handle.read() if handle else None
    return None


def _read(container: Any, path: str) -> bytes | None:
    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    return _file_from_archive(stream)


@contextmanager
def _probe(
    client: docker.DockerClient, volume: str, project: str, images: Sequence[str]
) -> Iterator[Any]:
    """A created (never started) container with `volume` mounted read-only."""
    candidates = [*dict.fromkeys(i for i in images if i)]
    candidates += [t for image in client.images.list() for t in image.tags[:1]]
    for image in candidates:
        try:
            helper = client.containers.create(
                image,
                command=["true"],
                name=f"{project}-tailscale-state-probe-{uuid.uuid4().hex[:8]}",
                labels={PROBE_LABEL: project},
                mounts=[docker.types.Mount(_PROBE_MOUNT, volume, type="volume", read_only=True)],
                network_disabled=True,
            )
        except docker.errors.ImageNotFound:
            continue
        try:
            yield helper
        finally:
            helper.remove(force=True, v=False)
        return
    raise ObservationError(
        f"tailscale: cannot read volume {volume}: no image is present locally to mount it with"
    )


def node_logged_in(
    client: docker.DockerClient, project: str, state_volume: str, images: Sequence[str]
) -> bool:
    """Whether the node in this state volume is logged in (see the module docstring);
    `images`: the ones to try first for a helper container."""
    name = volume_name(project, state_volume)
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        raise ObservationError(f"tailscale: cannot inspect volume {name}: {exc}") from None
    try:
        users = client.containers.list(all=True, filters={"volume": name})
        for container in users:
            for mount in container.attrs.get("Mounts", []):
                if mount.get("Name") == name:
                    return logged_in(_read(container, f"{mount['Destination']}/{STATE_FILE}"))
        with _probe(client, name, project, images) as helper:
            return logged_in(_read(helper, f"{_PROBE_MOUNT}/{STATE_FILE}"))
    except docker.errors.APIError as exc:
        raise ObservationError(
            f"tailscale: cannot read {STATE_FILE} in volume {name}: {exc.explanation or exc}"
        ) from None
