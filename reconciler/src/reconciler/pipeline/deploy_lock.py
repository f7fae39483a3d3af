"""The deploy lock: one guarded deploy of a project at a time, across job containers.

Why another lock beside `gitops apply`'s engine lock: that one is held only while an apply
runs, so it serialises applies but not the check that decides whether a commit may be
applied at all (reconciler.pipeline.deployed). This one is held from that check through the
apply to the record of what was deployed.

Like the engine lock it is an object on the engine, a created, never-started container
`<project>-pipeline-deploy-lock` (creating a name that exists fails with 409, atomically),
so deploys from a laptop, from act and from runner job containers exclude each other. It
carries pipeline labels only, never gitops's project labels, so `gitops plan` never sees it.

Whether a holder is gone, told apart by where it runs:
- in a container (a Forgejo job on the `engine` label): the container's ID, read from
  /proc/self/mountinfo (Docker bind-mounts /etc/hostname etc. from
  /var/lib/docker/containers/<id>/) and confirmed on the engine; the holder is gone when
  that container no longer runs. Host and pid would not do: with `container.network: host`
  every job container has the host's hostname (Docker's default for host networking,
  checked here with `docker run --network host`) and its own pid namespace, so a live
  holder's pid looks dead from the next job;
- elsewhere: host name, pid namespace and pid; gone when all match ours and the pid is dead;
- and in any case after `stale_after` seconds (default 3 h, no less than any runner's job
  `timeout` in gitops/runners/runners.yaml), so a holder nobody can see cannot block
  deploys forever.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from reconciler.pipeline.build import PipelineBuildError
from reconciler.providers.docker.lock import LOCK_IMAGE, holder_description

NAMESPACE = "dev.chocolate-factory.pipeline"
ROLE = f"{NAMESPACE}.role"
PROJECT = f"{NAMESPACE}.project"
HOLDER = f"{NAMESPACE}.holder"
CONTAINER = f"{NAMESPACE}.holder-container"
HOST = f"{NAMESPACE}.holder-host"
PIDNS = f"{NAMESPACE}.holder-pidns"
PID = f"{NAMESPACE}.holder-pid"
SINCE = f"{NAMESPACE}.since"  # Unix time the lock was taken
DEFAULT_STALE_AFTER = 3 * 3600.0
_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")


class DeployLockHeldError(PipelineBuildError):
    """Another deploy of the project holds the lock and did not finish within the wait."""


def lock_name(project: str) -> str:
    return f"{project}-pipeline-deploy-lock"


def ensure_empty_image(api: docker.APIClient) -> str:
    """The empty image the engine lock uses too (imported the same way when missing)."""
    try:
        api.inspect_image(LOCK_IMAGE)
    except docker.errors.ImageNotFound:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repository, tag = LOCK_IMAGE.split(":")
        api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag)
    return LOCK_IMAGE


def own_container(api: docker.APIClient, mountinfo: Path = Path("/proc/self/mountinfo")) -> str:
    """This process's container ID on `api`'s engine, or "" when it runs on a host."""
    try:
        found = _CONTAINER_ID.search(mountinfo.read_text())
    except OSError:
        return ""
    if found is None:
        return ""
    try:
        api.inspect_container(found.group(1))
    except docker.errors.NotFound:
        return ""  # a container of another engine (Docker in Docker): not ours to judge
    return found.group(1)


def _pidns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DeployLock:
    """`with DeployLock(api, project, checkout):` holds the project's deploy lock."""

    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        checkout: str,
        *,
        wait_s: float = 0.0,
        stale_after: float = DEFAULT_STALE_AFTER,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.api = api
        self.project = project
        self.name = lock_name(project)
        self.holder = holder_description(checkout)
        self.wait_s = wait_s
        self.stale_after = stale_after
        self.log = log
        self.container_id: str | None = None
        self._container: str | None = None  # this process's container ("" on a host)

    def _own_container(self) -> str:
        if self._container is None:
            self._container = own_container(self.api)
        return self._container

    def _labels(self) -> dict[str, str]:
        return {
            ROLE: "deploy-lock",
            PROJECT: self.project,
            HOLDER: self.holder,
            CONTAINER: self._own_container(),
            HOST: socket.gethostname(),
            PIDNS: _pidns(),
            PID: str(os.getpid()),
            SINCE: str(int(time.time())),
        }

    def acquire(self) -> None:
        image = ensure_empty_image(self.api)
        labels = self._labels()
        deadline = time.monotonic() + self.wait_s
        announced = False
        while True:
            try:
                created = self.api.create_container(
                    image, command=["deploy-lock"], name=self.name, network_disabled=True,
                    labels=labels,
                )  # fmt: skip
                self.container_id = created["Id"]
                return
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            held = self._current()
            if held is None:
                continue  # released between our create and inspect
            holder_id, holder = held
            if self.gone(holder):
                self.log(f"taking over the deploy lock of a finished holder ({holder.get(HOLDER)})")
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(holder_id, force=True)
                continue
            who = holder.get(HOLDER, "an unknown holder")
            if time.monotonic() >= deadline:
                raise DeployLockHeldError(
                    f"another deploy of {self.project} holds the deploy lock: {who}. It is"
                    " waited for up to --wait seconds; if that deploy is gone, run"
                    " `python -m reconciler.pipeline guard --unlock`"
                )
            if not announced:
                self.log(f"waiting for the deploy lock held by {who}")
                announced = True
            time.sleep(1.0)

    def _current(self) -> tuple[str, dict[str, str]] | None:
        try:
            attrs = self.api.inspect_container(self.name)
        except docker.errors.NotFound:
            return None
        return attrs["Id"], attrs.get("Config", {}).get("Labels") or {}

    def gone(self, holder: dict[str, str]) -> bool:
        """Whether the process that took the lock labelled `holder` can no longer run."""
        try:
            since = float(holder.get(SINCE, "0"))
        except ValueError:
            since = 0.0
        if time.time() - since > self.stale_after:
            return True
        container = holder.get(CONTAINER, "")
        if container and container != self._own_container():
            try:
                state = self.api.inspect_container(container).get("State") or {}
            except docker.errors.NotFound:
                return True
            return not state.get("Running", False)
        same_namespace = holder.get(HOST) == socket.gethostname() and holder.get(PIDNS) == _pidns()
        if not same_namespace or not holder.get(PIDNS):
            return False  # a pid from another namespace says nothing here
        try:
            pid = int(holder.get(PID, ""))
        except ValueError:
            return False
        return pid != os.getpid() and not _pid_alive(pid)

    def release(self) -> None:
        if self.container_id is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(self.container_id, force=True)
            self.container_id = None

    def force_release(self) -> str | None:
        """`guard --unlock`: remove whatever deploy lock exists; returns who held it."""
        held = self._current()
        if held is None:
            return None
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(held[0], force=True)
        return held[1].get(HOLDER, "unknown")

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
