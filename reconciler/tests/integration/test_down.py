"""`gitops down` on the real engine (issue 11): the project's containers and networks go,
its volumes and their data stay (a later apply finds them), a volume goes only when named,
a wrong name removes nothing, and objects without the project's labels are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from reconciler import labels as L

from .conftest import Stack, cleanup_project, make_stack
from .test_lifecycle import web

pytestmark = pytest.mark.docker

PORT_A, PORT_B = 18071, 18072


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, test_image: str, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    stack = make_stack(tmp_path_factory.mktemp("down"), test_image, "down")
    stack.write("services/a.yaml", web("web-a", test_image, PORT_A))
    stack.write("services/b.yaml", web("web-b", test_image, PORT_B, volume=True))
    yield stack
    cleanup_project(docker_client, stack.project)


def ours(client: docker.DockerClient, stack: Stack) -> tuple[set[str], set[str], set[str]]:
    filters = {"label": L.project_filter(stack.project)}
    return (
        {c.name for c in client.containers.list(all=True, filters=filters)},
        {n.name for n in client.networks.list(filters=filters)},
        {v.name for v in client.volumes.list(filters=filters)},
    )


def test_down_keeps_the_volume_and_its_data_for_the_next_deploy(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    b = docker_client.containers.get(f"{stack.project}-web-b")
    assert b.exec_run(["sh", "-c", "echo kept > /data/proof"]).exit_code == 0
    foreign = docker_client.containers.create(
        stack.image, name=f"{stack.project}-foreign", command=["true"]
    )
    try:
        result = stack.gitops_cli(capsys, "down", "--yes")
        assert result.code == 0, result.out
        containers, networks, volumes = ours(docker_client, stack)
        assert containers == set()
        assert networks == set()
        assert volumes == {f"{stack.project}_data"}
        assert docker_client.containers.get(foreign.id).name == f"{stack.project}-foreign"
    finally:
        foreign.remove(force=True)

    again = stack.gitops_cli(capsys, "apply", "--yes")
    assert again.code == 0, again.out
    b = docker_client.containers.get(f"{stack.project}-web-b")
    assert b.exec_run(["cat", "/data/proof"]).output.decode().strip() == "kept"


def test_down_with_a_wrong_volume_name_removes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before = ours(docker_client, stack)
    result = stack.gitops_cli(capsys, "down", "--yes", "--remove-volume", "dta")
    assert result.code == 1
    assert "volume 'dta' is not a volume of project" in result.out
    assert "data" in result.out
    assert ours(docker_client, stack) == before


def test_a_foreign_container_on_the_network_stops_down_with_a_clear_error(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    foreign = docker_client.containers.run(
        stack.image, ["sleep", "60"], detach=True, network=f"{stack.project}_net"
    )
    try:
        result = stack.gitops_cli(capsys, "down", "--yes")
        assert result.code == 1
        assert "down stopped" in result.out
        assert f"{stack.project}_net" in result.out or "active endpoints" in result.out
        assert docker_client.containers.get(foreign.id).status == "running"
        assert ours(docker_client, stack)[2] == {f"{stack.project}_data"}
    finally:
        foreign.remove(force=True, v=True)


def test_down_deletes_a_named_volume(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    result = stack.gitops_cli(capsys, "down", "--yes", "--remove-volume", "data")
    assert result.code == 0, result.out
    assert ours(docker_client, stack) == (set(), set(), set())
    assert stack.gitops_cli(capsys, "down", "--yes").code == 0  # nothing left: still fine
