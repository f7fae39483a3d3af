"""The `docker-socket` group on plain data: where its number comes from, how the plan hands
it to create (the spec hash keeps the symbol), and the error when it cannot be known."""

from __future__ import annotations

import os
from pathlib import Path

import docker
import pytest
from pydantic import ValidationError
from reconciler.errors import PlanError
from reconciler.kinds.runners.model import RunnerPool
from reconciler.load import load_documents
from reconciler.providers.docker.socket_group import (
    SocketGroup,
    engine_socket_path,
    observe_socket_group,
    resolve_group_add,
)
from reconciler.stack import Stack

from .helpers import applied, desired_state, observed, spec, store, write_tree
from .test_plan import run


def test_local_socket_group_is_read_from_the_socket(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    sock.write_text("")
    found = observe_socket_group(str(sock), declared=None)
    assert found.gid == os.stat(sock).st_gid
    assert str(sock) in found.origin


def test_declared_gid_wins_and_remote_engine_without_one_is_unknown(tmp_path: Path) -> None:
    assert observe_socket_group(str(tmp_path / "x.sock"), declared=999).gid == 999
    assert observe_socket_group(None, declared=None).gid is None
    missing = observe_socket_group(str(tmp_path / "gone.sock"), declared=None)
    assert missing.gid is None
    assert "cannot stat" in missing.origin


def test_socket_path_comes_from_the_client_transport() -> None:
    local = docker.DockerClient(base_url="unix:///run/user/7/docker.sock", version="1.43")
    remote = docker.DockerClient(base_url="tcp://127.0.0.1:2375", version="1.43")
    assert engine_socket_path(local) == "/run/user/7/docker.sock"
    assert engine_socket_path(remote) is None


def test_resolve_replaces_only_the_symbol() -> None:
    assert resolve_group_add(["audio", "docker-socket"], 106) == ["audio", "106"]
    with pytest.raises(ValueError, match="not resolved"):
        resolve_group_add(["docker-socket"], None)


def test_create_gets_the_number_while_the_spec_keeps_the_symbol() -> None:
    runner = spec("runner", group_add=("docker-socket", "audio"))
    obs = observed(networks=(), volumes=(), socket_group=SocketGroup(106, "group of x"))
    (create,) = [a for a in run(desired_state(runner), obs) if a.id == "docker:container:runner"]
    assert create.payload.group_add == ("106", "audio")
    assert runner.group_add == ("docker-socket", "audio")


def test_another_hosts_gid_does_not_change_the_hash() -> None:
    secrets = store()
    runner = spec("runner", group_add=("docker-socket",))
    obs = observed(applied(runner, secrets), socket_group=SocketGroup(999, "stack.yaml"))
    assert run(desired_state(runner), obs, secrets) == []


def test_unknown_gid_stops_the_plan_naming_containers_and_fix() -> None:
    runner = spec("runner", group_add=("docker-socket",))
    plain = spec("web")
    obs = observed(socket_group=SocketGroup(None, "the engine is not reached through a socket"))
    with pytest.raises(PlanError) as error:
        run(desired_state(runner, plain), obs)
    message = str(error.value)
    assert "runner (gitops/services/x.yaml:1:1)" in message
    assert "web" not in message.split("need it:")[1].split(".")[0]
    assert "stat -c %g /var/run/docker.sock" in message
    assert "socket_gid" in message


def test_unknown_gid_is_fine_when_nothing_is_created() -> None:
    secrets = store()
    runner = spec("runner", group_add=("docker-socket",))
    obs = observed(applied(runner, secrets), socket_group=SocketGroup(None, "remote engine"))
    assert run(desired_state(runner), obs, secrets) == []


def test_stack_declares_the_gid_for_a_remote_engine() -> None:
    stack = Stack.model_validate(
        {"kind": "Stack", "project": "p", "docker": {"host": "ssh://d@h", "socket_gid": 998}}
    )
    assert stack.docker.socket_gid == 998
    with pytest.raises(ValidationError):
        Stack.model_validate({"kind": "Stack", "project": "p", "docker": {"socket_gid": -1}})


def test_runner_pool_defaults_to_the_symbol_and_keeps_a_numeric_override() -> None:
    base = {"kind": "RunnerPool", "name": "p", "labels": ["x:host"], "docker": {}}
    assert RunnerPool.model_validate(base).docker.socket_gid == "docker-socket"
    pinned = RunnerPool.model_validate({**base, "docker": {"socket_gid": 999}})
    assert pinned.docker.socket_gid == 999
    with pytest.raises(ValidationError):
        RunnerPool.model_validate({**base, "docker": {"socket_gid": "docker"}})


def test_config_file_delivered_by_files_is_not_a_gitops_document(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {
            "services/app.yaml": """
            kind: Service
            name: app
            image: example/app:1
            files:
              - {source: app-config.yaml, target: /etc/app/config.yaml}
            """,
            "services/app-config.yaml": "database: /data/app.db\n",
        },
    )
    names = [doc.name for doc in load_documents(gitops)]
    assert names == ["gitops/services/app.yaml", "gitops/stack.yaml"]
    (gitops / "services" / "stray.yaml").write_text("database: x\n")
    names = [doc.name for doc in load_documents(gitops)]
    assert "gitops/services/stray.yaml" in names  # still validated (and rejected: no kind)


def test_unreferenced_yaml_without_kind_is_still_an_error(tmp_path: Path) -> None:
    from reconciler.validate import parse

    gitops = write_tree(tmp_path, {"services/stray.yaml": "database: x\n"})
    _, _, problems, _ = parse(load_documents(gitops))
    assert any("stray.yaml" in str(p.location) and "kind" in p.message for p in problems)
