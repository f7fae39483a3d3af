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
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors

from reconciler import labels as L
from reconciler.errors import LockHeldError
from reconciler.providers.docker.names import lock_name

__all__ = ["LOCK_IMAGE", "EngineLock", "holder_description"]

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


class EngineLock:
    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        checkout: str,
        *,
        timeout_s: float = 0.0,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.api = api
        self.project = project
        self.name = lock_name(project)
        self.holder = holder_description(checkout)
        self.timeout_s = timeout_s
        self.progress = progress
        self.container_id: str | None = None
        self.holder_container = self._holder_container()

    def _holder_container(self) -> str | None:
        """Our own container's ID when it is a container of this very engine."""
        found = own_container_id()
        if found is None:
            return None
        try:
            self.api.inspect_container(found)
        except docker.errors.APIError:
            return None  # a container of another engine (DinD, a remote DOCKER_HOST)
        return found

    def _ensure_image(self) -> None:
        try:
            self.api.inspect_image(LOCK_IMAGE)
        except docker.errors.ImageNotFound:
            empty = io.BytesIO()
            tarfile.open(fileobj=empty, mode="w").close()
            repo, tag = LOCK_IMAGE.split(":")
            self.api.import_image_from_data(empty.getvalue(), repository=repo, tag=tag)

    def _current_holder(self) -> tuple[str | None, dict[str, str]]:
        try:
            attrs = self.api.inspect_container(self.name)
        except docker.errors.NotFound:
            return None, {}
        labels = attrs.get("Config", {}).get("Labels") or {}
        return attrs["Id"], labels

    def acquire(self) -> None:
        self._ensure_image()
        deadline = time.monotonic() + self.timeout_s
        announced = False
        while True:
            try:
                created = self.api.create_container(
                    LOCK_IMAGE,
                    command=["gitops-lock"],
                    name=self.name,
                    network_disabled=True,
                    labels={
                        **L.ownership(self.project),
                        L.ROLE: "lock",
                        L.LOCK_HOLDER: self.holder,
                        L.LOCK_HOST: socket.gethostname(),
                        L.LOCK_PID: str(os.getpid()),
                        L.LOCK_PIDNS: pid_namespace(),
                        **(
                            {L.LOCK_CONTAINER: self.holder_container}
                            if self.holder_container
                            else {}
                        ),
                    },
                )
                self.container_id = created["Id"]
                return
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            lock_id, labels = self._current_holder()
            if lock_id is None:
                continue  # released between our create and inspect
            if self._stale(labels):
                self.progress(f"taking over a stale lock ({labels.get(L.LOCK_HOLDER)})")
                self._remove(lock_id)
                continue
            holder = labels.get(L.LOCK_HOLDER, "an unknown holder")
            if time.monotonic() >= deadline:
                raise LockHeldError(self.project, holder)
            if not announced:
                self.progress(f"waiting for the apply lock held by {holder}")
                announced = True
            time.sleep(0.5)

    def _stale(self, labels: dict[str, str]) -> bool:
        holder_container = labels.get(L.LOCK_CONTAINER)
        if holder_container and holder_container != self.holder_container:
            try:
                state = self.api.inspect_container(holder_container)["State"]
            except docker.errors.NotFound:
                return True
            return not state.get("Running", False)
        # a holder on this host, or in our own container: its process decides
        if labels.get(L.LOCK_HOST) != socket.gethostname():
            return False
        if labels.get(L.LOCK_PIDNS, "") != pid_namespace():
            return False
        try:
            pid = int(labels.get(L.LOCK_PID, ""))
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
        """`gitops unlock`: remove whatever lock exists; returns who held it."""
        lock_id, labels = self._current_holder()
        if lock_id is None:
            return None
        self._remove(lock_id)
        return labels.get(L.LOCK_HOLDER, "unknown")

    def __enter__(self) -> EngineLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
