"""Bad input in gitops/ files: each is a validation error with file:line and the fix.

Runs the real loader, validator and compile on files (no engine, no secrets), as
`gitops validate` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.errors import ConfigError
from reconciler.project import load_project

STACK = "kind: Stack\nproject: kinds-validation\nnetwork: factory\n"
FORGEJO = """kind: Forgejo
name: forgejo
root_url: https://git.factory.example/
admin:
  email: admin@factory.example
"""
RUNNERS = """kind: RunnerPool
name: factory
forgejo: {forgejo}
labels:
  - docker:docker://node:22-bookworm
  - {label}
docker:
  mode: socket
  socket_gid: 999
"""
REGISTRY = """kind: Registry
name: registry
users:
  - name: ci
    password_secret: registry-ci-password
  - name: robot
"""


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    gitops = tmp_path / "gitops"
    for relative, text in {"stack.yaml": STACK, **files}.items():
        (gitops / relative).parent.mkdir(parents=True, exist_ok=True)
        (gitops / relative).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_project(gitops)
    return [str(d) for d in info.value.diagnostics]


def test_valid_files_load(tmp_path: Path) -> None:
    gitops = tmp_path / "gitops"
    gitops.mkdir()
    (gitops / "stack.yaml").write_text(STACK)
    (gitops / "forgejo.yaml").write_text(FORGEJO)
    (gitops / "runners.yaml").write_text(
        RUNNERS.format(forgejo="forgejo", label="self-hosted:host")
    )
    (gitops / "registry.yaml").write_text(REGISTRY.replace("  - name: robot\n", ""))
    names = {c.name for c in load_project(gitops).desired.containers}
    assert names == {"forgejo", "factory-1", "registry"}


def test_runner_pool_pointing_at_an_undeclared_forgejo(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "forgejo/forgejo.yaml": FORGEJO,
            "runners/runners.yaml": RUNNERS.format(forgejo="git", label="self-hosted:host"),
        },
    )
    assert found == [
        "gitops/runners/runners.yaml:3:10: forgejo: no Forgejo named 'git' is declared "
        "(fix: set forgejo: to one of ['forgejo'])"
    ]


def test_label_with_an_unknown_scheme(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "forgejo/forgejo.yaml": FORGEJO,
            "runners/runners.yaml": RUNNERS.format(forgejo="forgejo", label="gpu:kvm://img"),
        },
    )
    assert found == [
        "gitops/runners/runners.yaml:6:5: labels[1]: label 'gpu:kvm://img': unknown scheme "
        "'kvm' (fix: write NAME:docker://IMAGE, NAME:lxc://IMAGE or NAME:host)"
    ]


def test_registry_user_without_a_password_secret(tmp_path: Path) -> None:
    [found] = problems(tmp_path, {"registry/registry.yaml": REGISTRY})
    assert found.startswith(
        "gitops/registry/registry.yaml:6:5: users[1]: registry user 'robot' has no "
        "password_secret (fix: add `password_secret: registry-robot-password`"
    )


def test_forgejo_pinned_key_and_bad_version(tmp_path: Path) -> None:
    text = FORGEJO + 'version: "latest"\napp_ini:\n  security:\n    SECRET_KEY: hunter2\n'
    found = problems(tmp_path, {"forgejo/forgejo.yaml": text})
    assert len(found) == 1
    assert found[0].startswith("gitops/forgejo/forgejo.yaml:6:")
    assert "'latest' is not a Forgejo version" in found[0]
    text = FORGEJO + "app_ini:\n  security:\n    SECRET_KEY: hunter2\n"
    [found] = problems(tmp_path, {"forgejo/forgejo.yaml": text})
    assert found.startswith("gitops/forgejo/forgejo.yaml:8:")
    assert "app_ini.security.SECRET_KEY: security.SECRET_KEY is set by the Forgejo kind" in found
    assert "secrets.secret_key" in found
    assert "hunter2" not in found
