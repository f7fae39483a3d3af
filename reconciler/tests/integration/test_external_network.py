"""A service joins a network another project owns (the factory API's compose network):
gitops attaches to it by its engine name, never creates, changes or removes it, and a plan
that needs it while it is missing stops with the fix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .conftest import Stack, cleanup_project, make_stack

pytestmark = pytest.mark.docker


@pytest.fixture
def stack(tmp_path: Path, test_image: str, docker_client: docker.DockerClient) -> Iterator[Stack]:
    made = make_stack(tmp_path, test_image, "extnet")
    yield made
    cleanup_project(docker_client, made.project)


def declare(stack: Stack, engine_name: str, *, optional: bool = False) -> None:
    text = (stack.gitops / "stack.yaml").read_text()
    flag = ", optional: true" if optional else ""
    (stack.gitops / "stack.yaml").write_text(
        text + f"external_networks:\n  backend: {{name: {engine_name}{flag}}}\n"
    )
    stack.write(
        "services/app.yaml",
        f"""
        kind: Service
        name: app
        image: {stack.image}
        networks: [net, backend]
        """,
    )


def test_joins_an_existing_external_network_and_leaves_it_alone(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    name = f"other-project_backend-{uuid.uuid4().hex[:6]}"
    foreign = docker_client.networks.create(name, driver="bridge")
    try:
        declare(stack, name)
        result = stack.gitops_cli(capsys, "apply", "--yes")
        assert result.code == 0, result.out
        app = docker_client.containers.get(f"{stack.project}-app")
        attached = app.attrs["NetworkSettings"]["Networks"]
        assert set(attached) == {f"{stack.project}_net", name}
        assert "app" in attached[name]["Aliases"]
        assert stack.gitops_cli(capsys, "plan").code == 0
        # no longer joined: the container is recreated, the network is not touched
        stack.write("services/app.yaml", f"kind: Service\nname: app\nimage: {stack.image}\n")
        assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
        foreign.reload()
        assert foreign.attrs["Labels"] in ({}, None)
    finally:
        cleanup_project(docker_client, stack.project)
        foreign.remove()


def test_a_missing_external_network_stops_the_plan_naming_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    declare(stack, "no-such-network-here")
    result = stack.gitops_cli(capsys, "plan")
    assert result.code == 1
    assert "external network 'no-such-network-here'" in result.out
    assert "app join it" in result.out
    assert "docker network ls" in result.out
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get("no-such-network-here")


def test_an_optional_network_is_joined_once_it_appears(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    name = f"later-project_backend-{uuid.uuid4().hex[:6]}"
    declare(stack, name, optional=True)
    first = stack.gitops_cli(capsys, "apply", "--yes")
    assert first.code == 0, first.out
    assert f"external network {name} does not exist (yet): app run without it" in first.out
    app = docker_client.containers.get(f"{stack.project}-app")
    assert set(app.attrs["NetworkSettings"]["Networks"]) == {f"{stack.project}_net"}
    assert stack.gitops_cli(capsys, "plan").code == 0  # absent: not a change
    foreign = docker_client.networks.create(name, driver="bridge")
    try:
        plan = stack.gitops_cli(capsys, "plan")
        assert plan.code == 2
        assert "not attached to network backend" in plan.out
        assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
        app = docker_client.containers.get(f"{stack.project}-app")
        assert set(app.attrs["NetworkSettings"]["Networks"]) == {f"{stack.project}_net", name}
        assert stack.gitops_cli(capsys, "plan").code == 0
    finally:
        cleanup_project(docker_client, stack.project)
        foreign.remove()
