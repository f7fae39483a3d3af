"""One apply at a time per project, across checkouts sharing an engine.

The lock is an object on the engine itself: a created, never started container named
`<project>-gitops-lock`, labelled with its holder. Creating a container whose name exists
fails atomically (409), so a laptop and a CI job, or two clones, exclude each other without
any shared filesystem. The image is an empty one the reconciler imports itself (nothing is
pulled). A lock whose holder process is gone from this host is taken over.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import socket
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

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
        if labels.get(L.LOCK_HOST) != socket.gethostname():
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
