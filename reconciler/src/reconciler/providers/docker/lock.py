"""One apply at a time per project, across checkouts sharing an engine.

The lock is an object on the engine itself: a created, never started container named
`<project>-gitops-lock`, labelled with its holder. Creating a container whose name exists
fails atomically (409), so a laptop and a CI job, or two clones, exclude each other without
any shared filesystem. The image is an empty one the reconciler imports itself (nothing is
pulled).

A lock whose holder is gone is taken over, but only when that can be proven:
- the holder ran in a container of this engine (a CI job on a socket-mode runner): stale
  when that container no longer exists or no longer runs (a job killed at its timeout);
- otherwise the holder's process on this host: stale when the hostname AND the pid
  namespace are ours and the pid is dead. The namespace matters: a job container on the
  host network shares the host's name but not its pids, and a live holder there must
  never look dead from the host.
Anything else waits, or `gitops unlock` removes it by hand.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import re
import socket
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors

from reconciler import labels as L
from reconciler.errors import LockHeldError
from reconciler.providers.docker.names import lock_name

__all__ = [
    "LOCK_IMAGE",
    "EngineLock",
    "EngineMutex",
    "LockKeys",
    "ensure_lock_image",
    "holder_description",
    "own_container_id",
    "pid_namespace",
]

LOCK_IMAGE = "chocolate-factory/gitops-lock:1"


def holder_description(checkout: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{user}@{socket.gethostname()} pid {os.getpid()} since {since} ({checkout})"


_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/hostname ")


def pid_namespace() -> str:
    """This process's pid namespace (`pid:[4026531836]`), or "" where it cannot be read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def own_container_id(mountinfo: str | None = None) -> str | None:
    """The Docker container this process runs in, read from the bind mount Docker makes
    for /etc/hostname (`/var/lib/docker/containers/<id>/hostname`), or None on a host."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
        except OSError:
            return None
    match = _CONTAINER_ID.search(mountinfo)
    return match.group(1) if match else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_lock_image(api: docker.APIClient) -> str:
    """The empty image every lock container is created from (imported, never pulled)."""
    try:
        api.inspect_image(LOCK_IMAGE)
    except docker.errors.ImageNotFound:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repo, tag = LOCK_IMAGE.split(":")
        api.import_image_from_data(empty.getvalue(), repository=repo, tag=tag)
    return LOCK_IMAGE


def engine_container(api: docker.APIClient, mountinfo: str | None = None) -> str | None:
    """Our own container's ID when it is a container of this very engine, else None."""
    found = own_container_id(mountinfo)
    if found is None:
        return None
    try:
        api.inspect_container(found)
    except docker.errors.APIError:
        return None  # a container of another engine (DinD, a remote DOCKER_HOST)
    return found


@dataclass(frozen=True)
class LockKeys:
    """The label keys a kind of lock writes its holder under (each lock its namespace)."""

    holder: str
    host: str
    pid: str
    pidns: str
    container: str
    since: str | None = None  # Unix time taken; only locks with a `stale_after` need it


class EngineMutex:
    """A named, created-never-started container as a mutex on the engine.

    `labels` are written with the holder's keys; `stale_after` (seconds, optional) also
    makes a holder older than that stale; `held_error(holder)` is raised when the wait ends.
    """

    def __init__(
        self,
        api: docker.APIClient,
        name: str,
        keys: LockKeys,
        checkout: str,
        *,
        labels: dict[str, str],
        held_error: Callable[[str], Exception],
        what: str = "lock",
        timeout_s: float = 0.0,
        stale_after: float | None = None,
        progress: Callable[[str], None] = lambda _: None,
        poll_s: float = 0.5,
    ) -> None:
        self.api = api
        self.name = name
        self.keys = keys
        self.holder = holder_description(checkout)
        self.labels = labels
        self.held_error = held_error
        self.what = what
        self.timeout_s = timeout_s
        self.stale_after = stale_after
        self.progress = progress
        self.poll_s = poll_s
        self.container_id: str | None = None
        self.holder_container = engine_container(api)

    def _holder_labels(self) -> dict[str, str]:
        keys = self.keys
        labels = {
            **self.labels,
            keys.holder: self.holder,
            keys.host: socket.gethostname(),
            keys.pid: str(os.getpid()),
            keys.pidns: pid_namespace(),
        }
        if self.holder_container:
            labels[keys.container] = self.holder_container
        if keys.since:
            labels[keys.since] = str(int(time.time()))
        return labels

    def _current_holder(self) -> tuple[str | None, dict[str, str]]:
        try:
            attrs = self.api.inspect_container(self.name)
        except docker.errors.NotFound:
            return None, {}
        return attrs["Id"], attrs.get("Config", {}).get("Labels") or {}

    def acquire(self) -> None:
        image = ensure_lock_image(self.api)
        labels = self._holder_labels()
        deadline = time.monotonic() + self.timeout_s
        announced = False
        while True:
            try:
                created = self.api.create_container(
                    image, command=[self.what], name=self.name, network_disabled=True,
                    labels=labels,
                )  # fmt: skip
                self.container_id = created["Id"]
                return
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            lock_id, current = self._current_holder()
            if lock_id is None:
                continue  # released between our create and inspect
            if self.stale(current):
                who = current.get(self.keys.holder)
                self.progress(f"taking over a stale lock, the {self.what} of {who}")
                self._remove(lock_id)
                continue
            holder = current.get(self.keys.holder, "an unknown holder")
            if time.monotonic() >= deadline:
                raise self.held_error(holder)
            if not announced:
                self.progress(f"waiting for the {self.what} held by {holder}")
                announced = True
            time.sleep(self.poll_s)

    def stale(self, labels: dict[str, str]) -> bool:
        """Whether the holder that wrote `labels` provably can no longer run."""
        keys = self.keys
        if self.stale_after is not None and keys.since:
            try:
                since = float(labels.get(keys.since, "0"))
            except ValueError:
                since = 0.0
            if time.time() - since > self.stale_after:
                return True
        holder_container = labels.get(keys.container)
        if holder_container and holder_container != self.holder_container:
            try:
                state = self.api.inspect_container(holder_container)["State"]
            except docker.errors.NotFound:
                return True
            return not state.get("Running", False)
        # a holder on this host, or in our own container: its process decides
        if labels.get(keys.host) != socket.gethostname():
            return False
        pidns = labels.get(keys.pidns, "")
        if not pidns or pidns != pid_namespace():
            return False  # a pid from another namespace says nothing here
        try:
            pid = int(labels.get(keys.pid, ""))
        except ValueError:
            return False
        return pid != os.getpid() and not _pid_alive(pid)

    def _remove(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(container_id, force=True)

    def release(self) -> None:
        if self.container_id is not None:
            self._remove(self.container_id)
            self.container_id = None

    def force_release(self) -> str | None:
        """Remove whatever lock exists (`gitops unlock`); returns who held it."""
        lock_id, labels = self._current_holder()
        if lock_id is None:
            return None
        self._remove(lock_id)
        return labels.get(self.keys.holder, "unknown")

    def __enter__(self) -> EngineMutex:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


APPLY_LOCK_KEYS = LockKeys(
    holder=L.LOCK_HOLDER,
    host=L.LOCK_HOST,
    pid=L.LOCK_PID,
    pidns=L.LOCK_PIDNS,
    container=L.LOCK_CONTAINER,
)


class EngineLock(EngineMutex):
    """The project's apply lock (`<project>-gitops-lock`, labelled as the project's)."""

    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        checkout: str,
        *,
        timeout_s: float = 0.0,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.project = project
        super().__init__(
            api,
            lock_name(project),
            APPLY_LOCK_KEYS,
            checkout,
            labels={**L.ownership(project), L.ROLE: "lock"},
            held_error=lambda holder: LockHeldError(project, holder),
            what="apply lock",
            timeout_s=timeout_s,
            progress=progress,
        )
