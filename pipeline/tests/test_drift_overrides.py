"""`overrides --from-registry` (what `nox -s drift` runs on a fresh checkout) never falls
back to the images in git: without registry credentials it fails and says which secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from factory_pipeline.__main__ import main
from factory_pipeline.push import MissingCredentialsError, registry_credentials

REGISTRY_YAML = """\
kind: Registry
name: registry
port: 20599
users:
  - name: ci
    password_secret: registry-ci-password
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("REGISTRY_CI_PASSWORD", "REGISTRY_USER", "REGISTRY_API_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "gitops" / "registry").mkdir(parents=True)
    (tmp_path / "gitops" / "registry" / "registry.yaml").write_text(REGISTRY_YAML)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@e.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return tmp_path


def test_missing_registry_password_is_a_typed_error_naming_the_secret(repo: Path) -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        registry_credentials(repo, environ={"REGISTRY_CI_PASSWORD": ""})  # unset in Forgejo
    assert caught.value.names == ("registry-ci-password",)


def test_drift_overrides_without_credentials_fail_instead_of_comparing_with_git(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["overrides", "--from-registry", "--root", str(repo)]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no override lines: nox's drift session must not run on
    assert "credentials are not set (registry-ci-password)" in err
    assert "comparing with the images in git" not in err
