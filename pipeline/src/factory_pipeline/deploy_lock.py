"""The deploy lock: one guarded deploy of a project at a time, across job containers.

Why another lock beside `gitops apply`'s engine lock: that one is held only while an apply
runs, so it serialises applies but not the check that decides whether a commit may be
applied at all (factory_pipeline.deployed). This one is held from that check through the
apply to the record of what was deployed.

Like the engine lock it is an object on the engine, a created, never-started container
`<project>-pipeline-deploy-lock` (creating a name that exists fails with 409, atomically),
so deploys from a laptop, from act and from runner job containers exclude each other. It
carries pipeline labels only, never gitops's project labels, so `gitops plan` never sees it.

It is the same engine mutex as the apply lock (reconciler.providers.docker.lock.EngineMutex),
with its own name and label namespace. Whether a holder is gone, told apart by where it runs:
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

from collections.abc import Callable
from pathlib import Path

import docker

from factory_pipeline.build import PipelineBuildError
from reconciler import (
    EngineMutex,
    LockKeys,
    engine_container,
)

__all__ = [
    "CONTAINER",
    "HOST",
    "PID",
    "PIDNS",
    "PROJECT",
    "SINCE",
    "DeployLock",
    "DeployLockHeldError",
    "lock_name",
    "own_container",
]

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
KEYS = LockKeys(holder=HOLDER, host=HOST, pid=PID, pidns=PIDNS, container=CONTAINER, since=SINCE)


class DeployLockHeldError(PipelineBuildError):
    """Another deploy of the project holds the lock and did not finish within the wait."""


def lock_name(project: str) -> str:
    return f"{project}-pipeline-deploy-lock"


def own_container(api: docker.APIClient, mountinfo: Path = Path("/proc/self/mountinfo")) -> str:
    """This process's container ID on `api`'s engine, or "" when it runs on a host."""
    try:
        text = mountinfo.read_text()
    except OSError:
        return ""
    return engine_container(api, text) or ""


def _held(project: str) -> Callable[[str], Exception]:
    def error(who: str) -> Exception:
        return DeployLockHeldError(
            f"another deploy of {project} holds the deploy lock: {who}. It is waited for up "
            "to --wait seconds; if that deploy is gone, run "
            "`python -m factory_pipeline guard --unlock`"
        )

    return error


class DeployLock(EngineMutex):
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
        self.project = project
        super().__init__(
            api,
            lock_name(project),
            KEYS,
            checkout,
            labels={ROLE: "deploy-lock", PROJECT: project},
            held_error=_held(project),
            what="deploy lock",
            timeout_s=wait_s,
            stale_after=stale_after,
            progress=log,
            poll_s=1.0,
        )
