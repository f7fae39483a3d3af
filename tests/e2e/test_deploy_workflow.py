"""Push to deploy, proven by running `.forgejo/workflows/deploy.yml` with act.

From an engine where only the registry runs (deployed by `gitops apply` from git), one run
of the real workflow builds both images, pushes them to that registry, verifies their
digests and reconciles the stack to them by digest; afterwards the MCP container serves on
its port from exactly the pushed digest, and a second run of the workflow changes nothing.
See act_runner.py for what differs from a real Forgejo runner, and stack_scratch.py for what
the scratch stack leaves out (Forgejo, runners, tailnet: not runnable here).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from act_runner import run_act
from e2e_support import BASE_IMAGE, ROOT, copy_worktree, git
from factory_pipeline.registry_api import RegistryClient
from stack_scratch import (
    PROJECT,
    PROJECT_LABEL,
    REGISTRY_PORT,
    SERVICE_PORTS,
    make_runnable_here,
    registry_only,
    remove_scratch_project,
    scratch_secrets,
)

pytestmark = pytest.mark.slow  # skipped inside the newcomer container (conftest.py)

RECORD = f"{PROJECT}-pipeline-deployed"  # the guard's record of the deployed commit
ADDRESS = f"127.0.0.1:{REGISTRY_PORT}"
BUILD_ENV = {"FACTORY_BASE_IMAGE": BASE_IMAGE, "FACTORY_WHEELHOUSE": "1"}


def _gitops(python_bin: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [str(python_bin / "gitops"), *args], cwd=repo, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(
    engine: docker.DockerClient, registry_image: str, python_bin: Path, tmp_path_factory
) -> Iterator[Path]:
    repo = copy_worktree(tmp_path_factory.mktemp("deploy") / "repo")
    make_runnable_here(repo, registry_image)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "scratch stack runnable on this machine")
    bootstrap = registry_only(repo)
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("gitops-bootstrap/\n")
    remove_scratch_project(engine)
    try:
        applied = _gitops(python_bin, repo, "--dir", str(bootstrap), "apply", "--yes")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        for name in ("analytics_token", "mcp_auth_token"):
            path = repo / ".secrets" / name
            path.write_text(secrets.token_urlsafe(36) + "\n")
            path.chmod(0o600)
        yield repo
    finally:
        remove_scratch_project(engine)


def test_deploy_workflow_builds_pushes_and_serves_by_digest(
    stack: Path, engine: docker.DockerClient, python_bin: Path
) -> None:
    repo = stack
    sha = git(repo, "rev-parse", "HEAD")
    values = scratch_secrets(repo)
    running = {
        c.name for c in engine.containers.list(filters={"label": f"{PROJECT_LABEL}={PROJECT}"})
    }
    assert running == {f"{PROJECT}-registry"}  # only the registry, deployed from git

    first = run_act(repo, "deploy.yml", secrets=values, env=BUILD_ENV)
    assert first.returncode == 0, first.log[-6000:]
    assert "Job succeeded" in first.log
    for secret in values.values():
        assert secret not in first.log
    # The plan is in the log (before apply), by digest, with the reasons.
    assert "create service mcp" in first.log
    assert f"--image mcp={ADDRESS}/factory/mcp@sha256:" in first.log

    with RegistryClient(f"http://{ADDRESS}", "ci", values["REGISTRY_CI_PASSWORD"]) as api:
        digests = {s: api.manifest_digest(f"factory/{s}", sha) for s in SERVICE_PORTS}
        assert all(d and d.startswith("sha256:") for d in digests.values()), digests
        for service, digest in digests.items():
            assert api.manifest_digest(f"factory/{service}", "main") == digest

    for service, port in SERVICE_PORTS.items():
        container = engine.containers.get(f"{PROJECT}-{service}")
        pinned = f"{ADDRESS}/factory/{service}@{digests[service]}"
        assert container.labels["dev.chocolate-factory.gitops.image-ref"] == pinned
        assert container.image.id == engine.images.get(pinned).id
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert response.status_code == 200

    assert _recorded(engine) == sha  # the guard recorded what it deployed

    # A docs-only push: both images rebuild to the same digests, so nothing is recreated.
    (repo / "README.md").write_text("# docs-only change\n")
    git(repo, "commit", "-q", "-am", "docs only")
    newer = git(repo, "rev-parse", "HEAD")
    second = run_act(repo, "deploy.yml", secrets=values, env=BUILD_ENV)
    assert second.returncode == 0, second.log[-6000:]
    assert "No changes" in second.log
    assert f"deploy {newer[:12]}: newer than the deployed commit" in second.log
    assert _recorded(engine) == newer
    overrides = [f"{s}={ADDRESS}/factory/{s}@{d}" for s, d in sorted(digests.items())]
    image_args = [arg for pair in overrides for arg in ("--image", pair)]
    plan = _gitops(python_bin, repo, "--dir", "gitops", "plan", "--json", *image_args)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads(plan.stdout)["changes"] == 0
    assert (
        engine.containers.get(f"{PROJECT}-mcp").labels["dev.chocolate-factory.gitops.image-ref"]
        == f"{ADDRESS}/factory/mcp@{digests['mcp']}"
    )

    # The older push's job runs last: refused before it pushes, nothing changes.
    git(repo, "checkout", "-q", "-B", "main", sha)
    late = run_act(repo, "deploy.yml", secrets=values, env=BUILD_ENV)
    assert late.returncode != 0, late.log[-6000:]
    assert f"refusing to deploy {sha[:12]}: older than the deployed commit" in late.log
    assert "Run Main push and verify digests" not in late.log  # stopped before pushing
    assert _recorded(engine) == newer
    git(repo, "checkout", "-q", "-B", "main", newer)

    # drift.yml: the running stack no longer matches (mcp stopped by hand) → the job fails,
    # and the log says what differs; the digests come from the registry (fresh checkout).
    engine.containers.get(f"{PROJECT}-mcp").stop(timeout=5)
    drift = run_act(repo, "drift.yml", event="schedule", secrets=values)
    assert drift.returncode != 0, drift.log[-4000:]
    assert "Job failed" in drift.log
    # nox's drift session logs each override it passes (`image: SERVICE=REF`)
    assert f"image: mcp={ADDRESS}/factory/mcp@{digests['mcp']}" in drift.log, drift.log[-4000:]
    assert "service mcp" in drift.log, drift.log[-4000:]

    # Without the registry password the drift job fails saying so, instead of comparing
    # with the tags in git (which would report drift that is not there).
    blind = {k: v for k, v in values.items() if k != "REGISTRY_CI_PASSWORD"}
    no_creds = run_act(repo, "drift.yml", event="schedule", secrets=blind)
    assert no_creds.returncode != 0, no_creds.log[-4000:]
    assert "credentials are not set (registry-ci-password)" in no_creds.log
    for run_ in (first, second, late, drift, no_creds):
        if run_.nox_envs:
            shutil.rmtree(run_.nox_envs, ignore_errors=True)
    print(f"act: deploy {first.seconds:.0f}s, again {second.seconds:.0f}s, drift"
          f" {drift.seconds:.0f}s", file=sys.stderr)  # fmt: skip


def _recorded(engine: docker.DockerClient) -> str | None:
    """The commit the deploy guard recorded on the engine for project pipe2e."""
    try:
        labels = engine.containers.get(RECORD).labels
    except docker.errors.NotFound:
        return None
    return labels.get("dev.chocolate-factory.pipeline.commit")


def _ci_repo(repo: Path) -> Path:
    """What ci.yml needs of this repository (provision, nox, lint, typecheck, the engine
    and what it installs with: common, the pipeline's secrets hook), plus one test that
    passes and one that fails."""
    repo.mkdir()
    keep = [".forgejo", ".ci", ".pre-commit-config.yaml", "noxfile.py", "ruff.toml",
            ".gitignore", "scripts", "mypy.ini", "reconciler/pyproject.toml", "reconciler/src",
            "common/pyproject.toml", "common/src", "common/testing/pyproject.toml",
            "common/testing/src", "pipeline/pyproject.toml", "pipeline/src",
            "mcp/scripts/provision-conformance.sh",
            # .ci/provision fetches their .debs (git-ignored; copied when the host has them)
            "images/registry", "images/standins/forgejo-runner"]  # fmt: skip
    for name in keep:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    tests = repo / "reconciler" / "tests"
    tests.mkdir()
    (tests / "test_pipeline_canary.py").write_text(
        '"""A deliberately failing test: ci.yml must fail the job."""\n\n\n'
        "def test_passes() -> None:\n    assert 1 + 1 == 2\n\n\n"
        "def test_fails() -> None:\n    assert 1 + 1 == 3\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a failing test")
    return repo


def test_a_failing_test_fails_the_ci_job(tmp_path: Path, python_bin: Path) -> None:
    """ci.yml → provision, nox -s lint tests → pytest: one failing test fails the job."""
    repo = _ci_repo(tmp_path / "repo")
    result = run_act(repo, "ci.yml")
    if result.nox_envs:
        shutil.rmtree(result.nox_envs, ignore_errors=True)
    assert result.returncode != 0, result.log[-4000:]
    assert "== provisioned" in result.log, result.log[-4000:]
    assert "Session lint was successful" in result.log, result.log[-4000:]
    assert "1 failed, 1 passed" in result.log, result.log[-4000:]
    assert "Job failed" in result.log


def _pull_request(head_repository: str) -> dict[str, object]:
    """The parts of a pull_request payload ci.yml reads (Gitea/Forgejo field names)."""
    return {
        "pull_request": {
            "head": {"ref": "feature", "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": {"full_name": "factory/chocolate-factory"}},
        }
    }


def test_a_pull_request_from_a_fork_never_reaches_the_engine(tmp_path: Path) -> None:
    """The `engine` job (the host's Docker engine) is skipped for a fork's pull request;
    only the lint job on the sandboxed `docker` label runs, and it passes (the failing
    test is not run: it would need the engine job)."""
    repo = _ci_repo(tmp_path / "repo")
    result = run_act(
        repo, "ci.yml", labels=("engine", "docker"), event="pull_request",
        payload=_pull_request("mallory/chocolate-factory"),
        env={"GITHUB_REPOSITORY": "factory/chocolate-factory"},
    )  # fmt: skip
    if result.nox_envs:
        shutil.rmtree(result.nox_envs, ignore_errors=True)
    assert result.returncode == 0, result.log[-4000:]
    assert "[ci/lint-fork" in result.log
    assert "Session lint was successful" in result.log
    assert "[ci/lint-and-test" not in result.log, result.log[-4000:]
    assert "== provisioned" not in result.log
    assert "1 failed" not in result.log
