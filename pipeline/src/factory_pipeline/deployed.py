"""Deploys in commit order: never an older commit over a newer one, proven by git.

Why: every push to main starts deploy.yml, and nothing guarantees the runs finish in push
order. `gitops apply`'s engine lock serialises applies, not their order, so an older push
whose job ran late would apply last and roll the stack back. So the deploy step runs as

    python -m factory_pipeline guard -- nox -R -s deploy

which takes the deploy lock (factory_pipeline.deploy_lock), reads the commit the last
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

A deploy with uncommitted changes under gitops/ is recorded as `<sha>-dirty` (and the label
`…dirty=true`) and says so; the order is judged by its SHA, so the same commit clean, or
dirty again, and any newer commit may follow it.

Answers: no record → first deploy; the same commit → a re-run, allowed; the recorded commit
is an ancestor of HEAD → newer, allowed; HEAD is an ancestor of it → older, refused; neither
(history rewritten, another branch deployed) → allowed with a note, since no order can be
proven either way. A shallow clone cannot answer, so it is refused unless the commit is the
recorded one: deploy.yml checks out with `fetch-depth: 0`.

Forgejo facts relied on (forgejo-runner's and Forgejo Actions' docs): jobs run as root in the
label's image; on the `engine` label they get the host's Docker socket (runner
`docker_host`), so every deploy job talks to the engine the stack runs on; `uses:
actions/checkout@v4` resolves through DEFAULT_ACTIONS_URL and takes the action's own inputs
(`fetch-depth`).
Not verified (no Forgejo or forgejo-runner runs here; act, which the runner is built on,
stands in for it in tests/e2e): whether Forgejo honours `concurrency:` (its docs do not list it;
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

from factory_pipeline.build import PipelineBuildError
from factory_pipeline.deploy_lock import (
    NAMESPACE,
    PROJECT,
    ROLE,
    DeployLock,
)
from factory_pipeline.gitinfo import has_commit, is_ancestor, is_shallow, uncommitted
from reconciler import ensure_lock_image, holder_description

COMMIT = f"{NAMESPACE}.commit"  # the SHA, suffixed -dirty for uncommitted gitops/ changes
DIRTY = f"{NAMESPACE}.dirty"  # "true": deployed with uncommitted changes under gitops/
DIRTY_SUFFIX = "-dirty"
AT = f"{NAMESPACE}.deployed-at"
BY = f"{NAMESPACE}.deployed-by"
Log = Callable[[str], None]


class OrderError(PipelineBuildError):
    """This commit may not be deployed over the recorded one (older, or unprovable)."""


class Order(enum.Enum):
    FIRST = "nothing recorded yet: first guarded deploy"
    SAME = "the deployed commit itself: a re-run"
    SAME_DIRTY = (
        "the deployed commit, which was deployed with uncommitted changes under gitops/: a re-run"
    )
    NEWER = "newer than the deployed commit"
    UNRELATED = "not related to the deployed commit by history (rewritten, or another branch)"
    UNKNOWN = "the deployed commit is not in this clone (history rewritten?)"
    OLDER = "older than the deployed commit"


@dataclass(frozen=True)
class Deployed:
    """What the last guarded deploy of a project recorded on the engine."""

    commit: str  # as recorded: `<sha>-dirty` when gitops/ had uncommitted changes
    at: str
    by: str
    dirty: bool = False

    @property
    def sha(self) -> str:
        """The commit the deploy was made from (what the order is judged by)."""
        return self.commit.removesuffix(DIRTY_SUFFIX)


def record_name(project: str) -> str:
    return f"{project}-pipeline-deployed"


def read_deployed(api: docker.APIClient, project: str) -> Deployed | None:
    for name in (record_name(project), record_name(project) + "-next"):
        try:
            labels = api.inspect_container(name).get("Config", {}).get("Labels") or {}
        except docker.errors.NotFound:
            continue
        if labels.get(PROJECT) == project and labels.get(COMMIT):
            commit = labels[COMMIT]
            dirty = labels.get(DIRTY) == "true" or commit.endswith(DIRTY_SUFFIX)
            return Deployed(commit, labels.get(AT, ""), labels.get(BY, ""), dirty)
    return None


def record_deployed(
    api: docker.APIClient, project: str, commit: str, by: str, *, dirty: bool = False
) -> Deployed:
    """Replace the record with `commit` (create beside, remove the old, rename); a `dirty`
    deploy is recorded as `<sha>-dirty`: what runs is not exactly that commit."""
    name = record_name(project)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    commit = f"{commit}{DIRTY_SUFFIX}" if dirty else commit
    labels = {ROLE: "deployed", PROJECT: project, COMMIT: commit, AT: at, BY: by}
    if dirty:
        labels[DIRTY] = "true"
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(name + "-next", force=True)  # a swap cut short before
    created = api.create_container(
        ensure_lock_image(api), command=["deployed"], name=name + "-next",
        network_disabled=True, labels=labels,
    )  # fmt: skip
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(name, force=True)
    api.rename(created["Id"], name)
    return Deployed(commit, at, by, dirty)


def order(root: Path, commit: str, deployed: Deployed | None) -> Order:
    """How `commit` relates to the deployed one; OrderError when a shallow clone cannot say."""
    if deployed is None:
        return Order.FIRST
    if deployed.sha == commit:
        return Order.SAME_DIRTY if deployed.dirty else Order.SAME
    if is_shallow(root):
        raise OrderError(
            f"cannot tell whether {commit[:12]} is newer than the deployed"
            f" {deployed.sha[:12]}: this clone is shallow (check out with fetch-depth: 0)"
        )
    if not has_commit(root, deployed.sha):
        return Order.UNKNOWN
    if is_ancestor(root, commit, deployed.sha):
        return Order.OLDER
    if is_ancestor(root, deployed.sha, commit):
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
        shown = deployed.sha[:12] + (DIRTY_SUFFIX if deployed.dirty else "")
        line += f" ({shown}, deployed {deployed.at} by {deployed.by})"
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
    """Under the deploy lock: check the order, run `command`, record `commit` if it exits 0.

    Uncommitted changes under gitops/ are deployed too (the apply reads the working tree),
    so the record then says `<sha>-dirty`, and the log says so before and after."""
    with DeployLock(api, project, str(root), wait_s=wait_s, log=log):
        log(check(root, api, project, commit, force=force))
        changes = uncommitted(root, "gitops")
        shown = commit[:12] + (DIRTY_SUFFIX if changes else "")
        if changes:
            listed = ", ".join(changes[:10]) + (", …" if len(changes) > 10 else "")
            log(
                f"warning: uncommitted changes under gitops/ ({listed}): this deploy is "
                f"recorded as {shown}, not as commit {commit[:12]}; commit them so the record "
                "names what runs"
            )
        returncode = subprocess.run(list(command), cwd=root, check=False).returncode
        if returncode != 0:
            log(f"deploy of {shown} failed (exit {returncode}); the record is unchanged")
            return returncode
        run = os.environ.get("GITHUB_RUN_NUMBER")
        by = holder_description(str(root)) + (f", run {run}" if run else "")
        record_deployed(api, project, commit, by, dirty=bool(changes))
        note = " (with uncommitted changes under gitops/)" if changes else ""
        log(f"recorded {shown} as deployed on the engine ({record_name(project)}){note}")
        return 0
