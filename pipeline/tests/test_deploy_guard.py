"""Deploys in commit order, one at a time: the guard, its record and its lock on the real
Docker engine (never mocked), with real git histories."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from factory_pipeline.__main__ import main
from factory_pipeline.deploy_lock import (
    CONTAINER,
    HOST,
    PID,
    PIDNS,
    PROJECT,
    SINCE,
    DeployLock,
    DeployLockHeldError,
    lock_name,
    own_container,
)
from factory_pipeline.deployed import (
    Deployed,
    Order,
    OrderError,
    order,
    read_deployed,
    record_deployed,
    record_name,
)

from reconciler import ensure_lock_image

pytestmark = pytest.mark.docker


def _git(repo: Path, *args: str) -> str:
    base = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid"]
    return subprocess.run([*base, *args], check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, message: str) -> str:
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def api() -> Iterator[docker.APIClient]:
    client = docker.from_env()
    client.ping()
    yield client.api
    client.close()


@pytest.fixture
def project(api: docker.APIClient) -> Iterator[str]:
    name = f"guardtest-{uuid.uuid4().hex[:8]}"
    yield name
    for container in api.containers(all=True, filters={"label": f"{PROJECT}={name}"}):
        api.remove_container(container["Id"], force=True)


@pytest.fixture
def history(tmp_path: Path, project: str) -> tuple[Path, dict[str, str]]:
    """A -- B -- C on main, and D branched from A; gitops/ is committed (a clean deploy)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _stack(repo, project)
    _git(repo, "add", "gitops")
    shas = {"A": _commit(repo, "A"), "B": _commit(repo, "B"), "C": _commit(repo, "C")}
    _git(repo, "checkout", "-q", "-b", "other", shas["A"])
    shas["D"] = _commit(repo, "D")
    _git(repo, "checkout", "-q", "main")
    return repo, shas


def _stack(repo: Path, project: str) -> None:
    (repo / "gitops").mkdir(exist_ok=True)
    (repo / "gitops" / "stack.yaml").write_text(f"kind: Stack\nproject: {project}\n")


def test_order_follows_git_history(history: tuple[Path, dict[str, str]]) -> None:
    repo, sha = history

    def deployed(name: str) -> Deployed:
        return Deployed(sha[name], "", "")

    assert order(repo, sha["C"], None) is Order.FIRST
    assert order(repo, sha["C"], deployed("C")) is Order.SAME
    assert order(repo, sha["C"], deployed("B")) is Order.NEWER
    assert order(repo, sha["B"], deployed("C")) is Order.OLDER
    assert order(repo, sha["A"], deployed("C")) is Order.OLDER
    assert order(repo, sha["C"], deployed("D")) is Order.UNRELATED
    assert order(repo, sha["C"], Deployed("f" * 40, "", "")) is Order.UNKNOWN


def test_a_shallow_clone_cannot_claim_to_be_newer(
    history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, sha = history
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-local", f"file://{repo}", str(shallow)],
        check=True,
    )
    assert order(shallow, sha["C"], Deployed(sha["C"], "", "")) is Order.SAME
    with pytest.raises(OrderError, match=r"shallow.*fetch-depth: 0"):
        order(shallow, sha["C"], Deployed(sha["B"], "", ""))


def test_the_record_lives_on_the_engine_outside_gitops_labels(
    api: docker.APIClient, project: str
) -> None:
    assert read_deployed(api, project) is None
    record_deployed(api, project, "a" * 40, "t@h")
    record_deployed(api, project, "b" * 40, "t@h")
    assert read_deployed(api, project).commit == "b" * 40
    records = api.containers(all=True, filters={"label": f"{PROJECT}={project}"})
    assert [c["Names"] for c in records] == [[f"/{record_name(project)}"]]
    labels = api.inspect_container(record_name(project))["Config"]["Labels"]
    assert not any(key.startswith("dev.chocolate-factory.gitops.") for key in labels)
    # A swap cut short after the old record was removed: the new one is still found.
    api.rename(record_name(project), record_name(project) + "-next")
    assert read_deployed(api, project).commit == "b" * 40
    record_deployed(api, project, "c" * 40, "t@h")
    assert read_deployed(api, project).commit == "c" * 40
    assert len(api.containers(all=True, filters={"label": f"{PROJECT}={project}"})) == 1


def _guard(repo: Path, *args: str) -> int:
    return main(["guard", "--root", str(repo), "--wait", "0", *args])


def test_guard_refuses_an_older_commit_and_runs_nothing(
    api: docker.APIClient, project: str, history: tuple[Path, dict[str, str]], capsys
) -> None:
    repo, sha = history
    _stack(repo, project)
    marker = repo.parent / "ran"
    command = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]

    assert _guard(repo, *command) == 0  # first deploy: C
    assert marker.read_text() == "x"
    assert read_deployed(api, project).commit == sha["C"]

    _git(repo, "checkout", "-q", "--detach", sha["B"])  # an older push's job, running late
    assert _guard(repo, "--check") == 1
    assert _guard(repo, *command) == 1
    err = capsys.readouterr().err
    assert f"refusing to deploy {sha['B'][:12]}: older than the deployed commit" in err
    assert marker.read_text() == "x"  # the command never ran
    assert read_deployed(api, project).commit == sha["C"]
    assert api.containers(all=True, filters={"name": lock_name(project)}) == []  # released

    assert _guard(repo, "--force", *command) == 0  # a deliberate rollback
    assert read_deployed(api, project).commit == sha["B"]


def test_a_failed_deploy_leaves_the_record_and_newer_commits_proceed(
    api: docker.APIClient, project: str, history: tuple[Path, dict[str, str]]
) -> None:
    repo, sha = history
    _stack(repo, project)
    _git(repo, "checkout", "-q", "--detach", sha["B"])
    assert _guard(repo, "--", sys.executable, "-c", "pass") == 0
    _git(repo, "checkout", "-q", "main")
    assert _guard(repo, "--", sys.executable, "-c", "raise SystemExit(3)") == 3
    assert read_deployed(api, project).commit == sha["B"]
    assert _guard(repo, "--check") == 0
    assert _guard(repo, "--", sys.executable, "-c", "pass") == 0
    assert read_deployed(api, project).commit == sha["C"]


def test_a_second_deploy_waits_for_the_lock_and_says_who_holds_it(
    api: docker.APIClient, project: str
) -> None:
    with DeployLock(api, project, "/first/checkout"):
        second = DeployLock(api, project, "/second/checkout", wait_s=1.5)
        with pytest.raises(DeployLockHeldError, match="/first/checkout"):
            second.acquire()
    with DeployLock(api, project, "/second/checkout"):  # released: free again
        pass


def _planted_lock(api: docker.APIClient, project: str, **labels: str) -> None:
    """A lock left by another holder, as its own acquire would have labelled it."""
    api.create_container(
        ensure_lock_image(api), command=["deploy-lock"], name=lock_name(project),
        network_disabled=True, labels={PROJECT: project, SINCE: "9999999999", **labels},
    )  # fmt: skip


def test_a_lock_whose_job_container_stopped_is_taken_over(
    api: docker.APIClient, project: str
) -> None:
    # The holder's job container: not running (the job was cancelled or timed out).
    job = api.create_container(
        ensure_lock_image(api), command=["job"], network_disabled=True,
        labels={PROJECT: project},
    )  # fmt: skip
    _planted_lock(api, project, **{CONTAINER: job["Id"], HOST: "vm", PID: "1"})
    messages: list[str] = []
    with DeployLock(api, project, "/next", log=messages.append):
        pass
    assert any("taking over" in m for m in messages)


def test_a_pid_in_another_namespace_is_never_judged_dead(
    api: docker.APIClient, project: str
) -> None:
    """Job containers on the host network share the host's name, not its pids."""
    _planted_lock(api, project, **{HOST: socket.gethostname(), PIDNS: "pid:[1]", PID: "999999999"})
    with pytest.raises(DeployLockHeldError):
        DeployLock(api, project, "/next").acquire()


def test_a_dead_pid_in_our_namespace_is_taken_over(api: docker.APIClient, project: str) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pidns = os.readlink("/proc/self/ns/pid")
    _planted_lock(api, project, **{HOST: socket.gethostname(), PIDNS: pidns, PID: str(gone.pid)})
    with DeployLock(api, project, "/next"):
        pass


def test_own_container_is_read_from_mountinfo_and_confirmed_on_the_engine(
    api: docker.APIClient, project: str, tmp_path: Path
) -> None:
    real = api.create_container(
        ensure_lock_image(api), command=["job"], network_disabled=True,
        labels={PROJECT: project},
    )  # fmt: skip
    line = "1 2 0:1 /var/lib/docker/containers/{}/hostname /etc/hostname rw - ext4 /dev/x rw\n"
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(line.format(real["Id"]))
    assert own_container(api, mountinfo) == real["Id"]
    mountinfo.write_text(line.format("0" * 64))  # a container of another engine
    assert own_container(api, mountinfo) == ""
    mountinfo.write_text("1 2 0:1 / / rw - ext4 /dev/x rw\n")  # a host
    assert own_container(api, mountinfo) == ""


def test_uncommitted_gitops_changes_are_recorded_as_dirty_and_said(
    api: docker.APIClient, project: str, history: tuple[Path, dict[str, str]], capsys
) -> None:
    repo, sha = history
    run = ["--", sys.executable, "-c", "pass"]
    (repo / "README.md").write_text("edits outside gitops/ are not what is deployed\n")
    assert _guard(repo, *run) == 0
    assert read_deployed(api, project).commit == sha["C"]
    assert not read_deployed(api, project).dirty
    capsys.readouterr()

    (repo / "gitops" / "stack.yaml").write_text(f"kind: Stack\nproject: {project}\n# edit\n")
    (repo / "gitops" / "services").mkdir()
    (repo / "gitops" / "services" / "new.yaml").write_text("kind: Service\n")
    assert _guard(repo, *run) == 0
    out = capsys.readouterr().out
    record = read_deployed(api, project)
    assert record.commit == f"{sha['C']}-dirty"
    assert record.dirty
    assert record.sha == sha["C"]
    assert "uncommitted changes under gitops/" in out
    assert "gitops/stack.yaml" in out
    assert "gitops/services/new.yaml" in out
    assert f"recorded {sha['C'][:12]}-dirty" in out

    # an older commit stays refused; the same commit, clean, and a newer one are allowed
    _git(repo, "stash", "-q", "--include-untracked")
    _git(repo, "checkout", "-q", "--detach", sha["B"])
    assert _guard(repo, *run) == 1
    assert "older than the deployed commit" in capsys.readouterr().err
    _git(repo, "checkout", "-q", "main")
    assert _guard(repo, "--check") == 0
    assert "deployed with uncommitted changes" in capsys.readouterr().out
    _git(repo, "stash", "pop", "-q")
    assert _guard(repo, *run) == 0  # the same commit, dirty again: a re-run
    _git(repo, "add", "gitops")
    newer = _commit(repo, "E: the edits, committed")
    assert _guard(repo, *run) == 0
    record = read_deployed(api, project)
    assert (record.commit, record.dirty) == (newer, False)
