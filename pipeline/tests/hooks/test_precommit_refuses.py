"""A real `git commit` with the repository's pre-commit hook installed refuses a plaintext password.

This runs pre-commit itself (the same .pre-commit-config.yaml as `nox -s lint`) in a scratch
repository, so it proves the wiring (hook id, entry point, file selection), not just the
checker. The first run builds pre-commit's hook environment from PyPI (cached afterwards).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    shutil.which("pre-commit", path=str(Path(sys.executable).parent)) is None,
    reason="pre-commit is part of the pipeline's test extra: pip install -e './pipeline[test]'",
)


def _git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        # The scratch gitops/ is not a whole stack; this test is about the secret hook.
        "SKIP": "gitops-validate",
    }
    _git(repo, "init", "-q", "-b", "main", env=env)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo / ".pre-commit-config.yaml")
    assert _git(repo, "add", ".", env=env).returncode == 0
    assert _git(repo, "commit", "-q", "--no-verify", "-m", "config", env=env).returncode == 0
    installed = subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "install"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    return repo, env


def test_commit_with_plaintext_password_is_refused(scratch: tuple[Path, dict[str, str]]) -> None:
    repo, env = scratch
    (repo / "gitops").mkdir()
    (repo / "gitops" / "registry.yaml").write_text("auth:\n  password: hunter2-plaintext\n")
    _git(repo, "add", "gitops/registry.yaml", env=env)
    refused = _git(repo, "commit", "-m", "add registry", env=env)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "gitops/registry.yaml:2: 'password' holds a plaintext secret" in output
    assert "hunter2-plaintext" not in output
    assert _git(repo, "log", "--oneline", env=env).stdout.count("\n") == 1

    (repo / "gitops" / "registry.yaml").write_text("auth:\n  password: ${REGISTRY_PASSWORD}\n")
    _git(repo, "add", "gitops/registry.yaml", env=env)
    accepted = _git(repo, "commit", "-m", "add registry", env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_commit_of_a_dotenv_file_is_refused(scratch: tuple[Path, dict[str, str]]) -> None:
    repo, env = scratch
    (repo / ".env").write_text("REGISTRY_PASSWORD=x\n")
    _git(repo, "add", "-f", ".env", env=env)
    refused = _git(repo, "commit", "-m", "oops", env=env)
    assert refused.returncode != 0
    assert ".env:1: environment files hold secrets" in refused.stdout + refused.stderr
