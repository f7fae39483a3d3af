"""The OCI `source` label names the repository by Forgejo's public ROOT_URL.

In a Forgejo job GITHUB_SERVER_URL is the address the runner registered with (an internal
name on the stack network), not ROOT_URL (a documented Forgejo difference), so it must never
reach a label people follow.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from factory_pipeline.declared import DeclarationError
from factory_pipeline.gitinfo import read_commit, source_url

FORGEJO_YAML = """\
kind: Forgejo
name: forgejo
root_url: https://git.factory.example/
admin:
  email: admin@factory.example
"""


def _git(repo: Path, *args: str) -> None:
    base = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid"]
    subprocess.run([*base, *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_REPOSITORY", "GITHUB_REF_NAME", "FACTORY_SOURCE_URL"):
        monkeypatch.delenv(name, raising=False)
    # What a Forgejo job sees: the runner's registered instance address.
    monkeypatch.setenv("GITHUB_SERVER_URL", "http://forgejo:3000")
    (tmp_path / "gitops" / "forgejo").mkdir(parents=True)
    (tmp_path / "gitops" / "forgejo" / "forgejo.yaml").write_text(FORGEJO_YAML)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_in_a_forgejo_job_the_source_is_root_url_and_the_repository(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "factory/chocolate-factory")
    _git(repo, "remote", "add", "origin", "http://forgejo:3000/factory/chocolate-factory")
    commit = read_commit(repo, ())
    assert commit.source == "https://git.factory.example/factory/chocolate-factory"


@pytest.mark.parametrize(
    "origin",
    [
        "https://bot:tok3n@forgejo:3000/factory/chocolate-factory.git",
        "ssh://git@git.factory.example:2222/factory/chocolate-factory.git",
        "git@git.factory.example:factory/chocolate-factory.git",
    ],
)
def test_a_local_checkout_names_the_same_address_from_its_origin(repo: Path, origin: str) -> None:
    """The same label as CI builds, so a local build of the same tree matches CI's digest."""
    _git(repo, "remote", "add", "origin", origin)
    assert source_url(repo) == "https://git.factory.example/factory/chocolate-factory"


def test_an_explicit_variable_wins(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "factory/chocolate-factory")
    monkeypatch.setenv("FACTORY_SOURCE_URL", "https://code.example/factory/gitops/")
    assert source_url(repo) == "https://code.example/factory/gitops"


def test_without_a_forgejo_document_the_origin_is_used_and_never_the_runner_address(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "gitops" / "forgejo" / "forgejo.yaml").unlink()
    monkeypatch.setenv("GITHUB_REPOSITORY", "factory/chocolate-factory")
    assert source_url(repo) == "unknown"
    _git(repo, "remote", "add", "origin", "https://bot:tok3n@mirror.example/factory/cf.git")
    assert source_url(repo) == "https://mirror.example/factory/cf.git"


def test_a_local_clone_of_a_clone_has_no_repository_path(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clone = tmp_path_factory.mktemp("elsewhere") / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert source_url(clone) == str(repo)  # a path names no repository on the server


def test_an_invalid_forgejo_document_is_an_error_naming_the_file(repo: Path) -> None:
    (repo / "gitops" / "forgejo" / "forgejo.yaml").write_text(
        FORGEJO_YAML.replace("https://git.factory.example/", "git.factory.example")
    )
    where = re.escape("gitops/forgejo/forgejo.yaml:1:1: not a valid")
    with pytest.raises(DeclarationError, match=where):
        source_url(repo)
