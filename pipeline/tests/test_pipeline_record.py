"""Pipeline bookkeeping: commit tags, requirements, the build record and credentials."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from factory_pipeline.build import PipelineBuildError, requirements
from factory_pipeline.gitinfo import _strip_credentials, branch_tag, read_commit
from factory_pipeline.images import (
    BuiltImage,
    Record,
    built_for,
    image_overrides,
    write_record,
)
from factory_pipeline.push import Credentials, registry_credentials

INPUTS = (".dockerignore", "mcp/Dockerfile", "mcp/pyproject.toml", "mcp/src")


def _git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    done = subprocess.run(
        ["git", "-C", str(repo), *env_args, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_REF_NAME", "GITHUB_REF_TYPE", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    _git(tmp_path, "init", "-q", "-b", "feature/new-tools")
    (tmp_path / "mcp").mkdir()
    (tmp_path / "mcp" / "pyproject.toml").write_text(
        '[project]\nname = "chocolate-factory-mcp"\n'
        'dependencies = ["mcp>=2", "chocolate-factory-common", "httpx>=0.27"]\n'
    )
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "pyproject.toml").write_text(
        '[project]\nname = "chocolate-factory-common"\ndependencies = ["pydantic>=2.7"]\n'
    )
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "init")
    _git(tmp_path, "remote", "add", "origin", "https://bot:tok3n@forgejo.example/factory/gitops")
    return tmp_path


def test_commit_tags_are_sha_and_sanitised_branch(repo: Path) -> None:
    commit = read_commit(repo, INPUTS)
    assert commit.sha == _git(repo, "rev-parse", "HEAD")
    assert commit.tags == (commit.sha, "feature-new-tools")
    assert commit.source == "https://forgejo.example/factory/gitops"  # no token in a label
    assert not commit.dirty
    assert commit.created.endswith("Z")


def test_forgejo_ref_name_wins_and_dirty_inputs_are_marked(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    (repo / "mcp" / "src").mkdir()
    (repo / "mcp" / "src" / "new.py").write_text("x = 1\n")
    commit = read_commit(repo, INPUTS)
    assert commit.dirty
    assert commit.tags == (f"{commit.sha}-dirty", "main")


def test_edits_outside_the_build_inputs_do_not_make_a_build_dirty(repo: Path) -> None:
    (repo / "README.md").write_text("docs\n")
    (repo / "mcp" / "tests").mkdir()
    (repo / "mcp" / "tests" / "test_new.py").write_text("def test_x():\n    pass\n")
    assert not read_commit(repo, INPUTS).dirty


def test_branch_tag_rules() -> None:
    assert branch_tag("renovate/Python_3.12") == "renovate-Python_3.12"
    assert branch_tag("-x") == "x"
    assert len(branch_tag("a" * 300)) == 128


def test_strip_credentials_keeps_plain_urls() -> None:
    assert _strip_credentials("git@forgejo:factory/gitops.git") == "git@forgejo:factory/gitops.git"


def test_requirements_skip_local_packages_and_add_the_build_backend(repo: Path) -> None:
    from factory_pipeline.images import ImageSpec

    spec = ImageSpec(service="mcp", package_dir="mcp", repository="factory/mcp", uses=("common",))
    assert requirements(repo, [spec]) == [
        "hatchling>=1.24",
        "httpx>=0.27",
        "mcp>=2",
        "pydantic>=2.7",
    ]


def test_overrides_only_for_the_commit_they_were_pushed_for(repo: Path) -> None:
    image = BuiltImage(
        service="mcp", repository="127.0.0.1:5000/factory/mcp", image_id="sha256:1",
        tags=["127.0.0.1:5000/factory/mcp:main"], digest="sha256:" + "a" * 64,
    )  # fmt: skip
    unpushed = image.model_copy(update={"service": "analytics", "digest": None})
    write_record(repo, Record(commit="abc", branch="main", images=[image, unpushed]))
    assert image_overrides(repo, "abc") == [f"mcp=127.0.0.1:5000/factory/mcp@sha256:{'a' * 64}"]
    assert image_overrides(repo, "other-commit") == []


def test_a_first_deploy_runs_images_built_here_by_their_commit_tag(repo: Path) -> None:
    pushed = BuiltImage(
        service="mcp", repository="127.0.0.1:5000/factory/mcp", image_id="sha256:1",
        tags=["127.0.0.1:5000/factory/mcp:abc", "127.0.0.1:5000/factory/mcp:main"],
        digest="sha256:" + "a" * 64,
    )  # fmt: skip
    local = BuiltImage(
        service="analytics", repository="127.0.0.1:5000/factory/analytics", image_id="sha256:2",
        tags=["127.0.0.1:5000/factory/analytics:abc", "127.0.0.1:5000/factory/analytics:main"],
    )  # fmt: skip
    write_record(repo, Record(commit="abc", branch="main", images=[pushed, local]))
    assert image_overrides(repo, "abc", include_local=True) == [
        f"mcp=127.0.0.1:5000/factory/mcp@sha256:{'a' * 64}",
        "analytics=127.0.0.1:5000/factory/analytics:abc",
    ]
    # Built for this commit and still on the engine: a deploy does not build again.
    assert built_for(repo, "abc", {"sha256:1", "sha256:2", "sha256:3"})
    assert not built_for(repo, "abc", {"sha256:1"})  # one image was removed since
    assert not built_for(repo, "def", {"sha256:1", "sha256:2"})  # another commit


def test_credentials_resolve_like_gitops_apply(repo: Path) -> None:
    (repo / ".secrets").mkdir()
    (repo / ".secrets" / "registry_password").write_text("from-the-secrets-dir\n")
    (repo / ".env").write_text("REGISTRY_USERNAME=factory\nREGISTRY_PASSWORD=from-dotenv\n")
    creds = registry_credentials(repo, environ={})
    assert creds == Credentials("factory", "from-dotenv")  # .env before .secrets/
    assert "from-dotenv" not in repr(creds)
    env = {"REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "from-env"}
    assert registry_credentials(repo, environ=env) == Credentials("ci", "from-env")


def test_missing_credentials_say_how_to_set_them(repo: Path) -> None:
    with pytest.raises(PipelineBuildError, match="set REGISTRY_PASSWORD in the environment"):
        registry_credentials(repo, environ={})


REGISTRY_YAML = """\
kind: Registry
name: registry
port: 20555
users:
  - name: ci
    password_secret: registry-ci-password
  - name: deploy
    password_secret: registry-deploy-password
"""


def test_declared_registry_gives_user_password_secret_and_port(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_pipeline.images import registry_address

    (repo / "gitops" / "registry").mkdir(parents=True)
    (repo / "gitops" / "registry" / "registry.yaml").write_text(REGISTRY_YAML)
    env = {"REGISTRY_CI_PASSWORD": "pw-ci", "REGISTRY_DEPLOY_PASSWORD": "pw-deploy"}
    assert registry_credentials(repo, environ=env) == Credentials("ci", "pw-ci")
    chosen = registry_credentials(repo, environ={**env, "REGISTRY_USER": "deploy"})
    assert chosen == Credentials("deploy", "pw-deploy")
    monkeypatch.delenv("REGISTRY_ADDRESS", raising=False)
    assert registry_address(repo) == "127.0.0.1:20555"
    monkeypatch.setenv("REGISTRY_ADDRESS", "http://registry.tailnet.example:5000/")
    assert registry_address(repo) == "registry.tailnet.example:5000"
