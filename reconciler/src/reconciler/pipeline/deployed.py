"""Deploys in commit order: never an older commit over a newer one, proven by git.

Why: every push to main starts deploy.yml, and nothing guarantees the runs finish in push
order. `gitops apply`'s engine lock serialises applies, not their order, so an older push
whose job ran late would apply last and roll the stack back. So the deploy step runs as

    python -m reconciler.pipeline guard -- nox -R -s deploy

which takes the deploy lock (reconciler.pipeline.deploy_lock), reads the commit the last
guarded deploy recorded on the engine, refuses when this checkout's HEAD is an ancestor of
it (`git merge-base --is-ancestor`; `--force` overrides, to roll back on purpose), runs the
command, and records HEAD only when the command succeeded. `guard --check` asks the same
question without the lock or the command (before pushing, so an older commit does not
even move the registry's branch tag).

Where the record lives: on the engine, the one thing every deploy of the stack shares
(laptops, act, runner job containers; a job's workspace does not persist). It is a
created, never-started container `<project>-pipeline-deployed` from the engine lock's empty
image, labelled with the commit; pipeline labels only, so `gitops plan` never sees it.
Container labels cannot change, so a new record is created as `…-next`, the old one removed
and the new one renamed; a reader that finds only `…-next` (a swap cut short) uses it.

Answers: no record → first deploy; the same commit → a re-run, allowed; the recorded commit
is an ancestor of HEAD → newer, allowed; HEAD is an ancestor of it → older, refused; neither
(history rewritten, another branch deployed) → allowed with a note, since no order can be
proven either way. A shallow clone cannot answer, so it is refused unless the commit is the
recorded one: deploy.yml checks out with `fetch-depth: 0`.

Forgejo facts relied on (../shared/forgejo-notes.md §2, §3): jobs run as root in the label's
image; on the `engine` label they get the host's Docker socket (runner `docker_host`), so
every deploy job talks to the engine the stack runs on; `uses: actions/checkout@v4` resolves
through DEFAULT_ACTIONS_URL and takes the action's own inputs (`fetch-depth`).
Not verified (no Forgejo or forgejo-runner runs here; act, which the runner is built on,
stands in for it in tests/e2e): whether Forgejo honours `concurrency:` (§3 does not list it;
act ignores it), the order in which it starts queued runs, and that a cancelled job's
container stops running (the lock's holder check relies on that, or on its 3 h expiry).
"""

from __future__ import annotations

import contextlib
import enum
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors

from reconciler.pipeline.build import PipelineBuildError
from reconciler.pipeline.deploy_lock import (
    NAMESPACE,
    PROJECT,
    ROLE,
    DeployLock,
)
from reconciler.pipeline.gitinfo import has_commit, is_ancestor, is_shallow
from reconciler.providers.docker.lock import ensure_lock_image, holder_description

COMMIT = f"{NAMESPACE}.commit"
AT = f"{NAMESPACE}.deployed-at"
BY = f"{NAMESPACE}.deployed-by"
Log = Callable[[str], None]


class OrderError(PipelineBuildError):
    """This commit may not be deployed over the recorded one (older, or unprovable)."""


class Order(enum.Enum):
    FIRST = "nothing recorded yet: first guarded deploy"
    SAME = "the deployed commit itself: a re-run"
    NEWER = "newer than the deployed commit"
    UNRELATED = "not related to the deployed commit by history (rewritten, or another branch)"
    UNKNOWN = "the deployed commit is not in this clone (history rewritten?)"
    OLDER = "older than the deployed commit"


@dataclass(frozen=True)
class Deployed:
    """What the last guarded deploy of a project recorded on the engine."""

    commit: str
    at: str
    by: str


def record_name(project: str) -> str:
    return f"{project}-pipeline-deployed"


def read_deployed(api: docker.APIClient, project: str) -> Deployed | None:
    for name in (record_name(project), record_name(project) + "-next"):
        try:
            labels = api.inspect_container(name).get("Config", {}).get("Labels") or {}
        except docker.errors.NotFound:
            continue
        if labels.get(PROJECT) == project and labels.get(COMMIT):
            return Deployed(labels[COMMIT], labels.get(AT, ""), labels.get(BY, ""))
    return None


def record_deployed(api: docker.APIClient, project: str, commit: str, by: str) -> Deployed:
    """Replace the record with `commit` (create beside, remove the old, rename)."""
    name = record_name(project)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {ROLE: "deployed", PROJECT: project, COMMIT: commit, AT: at, BY: by}
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(name + "-next", force=True)  # a swap cut short before
    created = api.create_container(
        ensure_lock_image(api), command=["deployed"], name=name + "-next",
        network_disabled=True, labels=labels,
    )  # fmt: skip
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(name, force=True)
    api.rename(created["Id"], name)
    return Deployed(commit, at, by)


def order(root: Path, commit: str, deployed: Deployed | None) -> Order:
    """How `commit` relates to the deployed one; OrderError when a shallow clone cannot say."""
    if deployed is None:
        return Order.FIRST
    if deployed.commit == commit:
        return Order.SAME
    if is_shallow(root):
        raise OrderError(
            f"cannot tell whether {commit[:12]} is newer than the deployed"
            f" {deployed.commit[:12]}: this clone is shallow (check out with fetch-depth: 0)"
        )
    if not has_commit(root, deployed.commit):
        return Order.UNKNOWN
    if is_ancestor(root, commit, deployed.commit):
        return Order.OLDER
    if is_ancestor(root, deployed.commit, commit):
        return Order.NEWER
    return Order.UNRELATED


def check(root: Path, api: docker.APIClient, project: str, commit: str, *, force: bool) -> str:
    """One line for the log when `commit` may be deployed; OrderError when it may not."""
    deployed = read_deployed(api, project)
    if force:
        was = deployed.commit[:12] if deployed else "nothing"
        return f"deploy {commit[:12]} forced (deployed: {was}); commit order not checked"
    verdict = order(root, commit, deployed)
    line = f"deploy {commit[:12]}: {verdict.value}"
    if deployed is not None:
        line += f" ({deployed.commit[:12]}, deployed {deployed.at} by {deployed.by})"
    if verdict is Order.OLDER:
        raise OrderError(
            f"refusing to deploy {commit[:12]}: {line.split(': ', 1)[1]}. A later push has"
            " been deployed; roll back by pushing a revert, or pass --force"
            " (FACTORY_DEPLOY_FORCE=1) to deploy this commit anyway"
        )
    return line


def run_guarded(
    root: Path,
    api: docker.APIClient,
    project: str,
    commit: str,
    command: Sequence[str],
    *,
    force: bool,
    wait_s: float,
    log: Log,
) -> int:
    """Under the deploy lock: check the order, run `command`, record `commit` if it exits 0."""
    with DeployLock(api, project, str(root), wait_s=wait_s, log=log):
        log(check(root, api, project, commit, force=force))
        returncode = subprocess.run(list(command), cwd=root, check=False).returncode
        if returncode != 0:
            log(f"deploy of {commit[:12]} failed (exit {returncode}); the record is unchanged")
            return returncode
        run = os.environ.get("GITHUB_RUN_NUMBER")
        by = holder_description(str(root)) + (f", run {run}" if run else "")
        record_deployed(api, project, commit, by)
        log(f"recorded {commit[:12]} as deployed on the engine ({record_name(project)})")
        return 0
