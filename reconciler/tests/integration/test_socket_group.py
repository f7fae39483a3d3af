"""`group_add: [docker-socket]` on the real engine: a non-root container with the socket
mounted read-only lists containers, because gitops added the socket's real group."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from reconciler.providers.docker.socket_group import engine_socket_path

from reconciler import labels as L

from .conftest import Stack, cleanup_project, make_stack

pytestmark = pytest.mark.docker

BASE_IMAGE = "chocolate-factory/base:bookworm"

# A raw HTTP request over the unix socket (the base image has python3, not curl).
LIST_CONTAINERS = """\
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/var/run/docker.sock")
s.sendall(b"GET /containers/json?all=1 HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
head, _, body = data.partition(b"\\r\\n\\r\\n")
status = head.split()[1].decode()
print("status", status, "containers", len(json.loads(body)) if status == "200" else "-")
sys.exit(0 if status == "200" else 1)
"""


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Stack]:
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BASE_IMAGE} is missing: run `bash scripts/build-base-image.sh`")
    made = make_stack(tmp_path, BASE_IMAGE, "sockgroup")
    yield made
    cleanup_project(docker_client, made.project)


def test_non_root_container_lists_containers_through_the_socket_group(
    stack: Stack, docker_client: docker.DockerClient, capsys: pytest.CaptureFixture[str]
) -> None:
    socket_path = engine_socket_path(docker_client)
    if socket_path is None:
        pytest.skip("the engine is not reached through a local unix socket")
    script = "\n".join("              " + line for line in LIST_CONTAINERS.splitlines())
    stack.write(
        "services/lister.yaml",
        f"""
        kind: Service
        name: lister
        role: job
        image: {BASE_IMAGE}
        user: "1000:1000"
        group_add: [docker-socket]
        volumes: ["{socket_path}:/var/run/docker.sock:ro"]
        command: [python3, /opt/list.py]
        files:
          - target: /opt/list.py
            mode: 0o444
            content: |
{script}
        """,
    )
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 0, result.out

    (job,) = docker_client.containers.list(
        all=True, filters={"label": [*L.project_filter(stack.project), f"{L.RESOURCE}=lister"]}
    )
    assert job.attrs["State"]["ExitCode"] == 0
    assert job.attrs["HostConfig"]["GroupAdd"] == [str(os.stat(socket_path).st_gid)]
    assert job.attrs["Config"]["User"] == "1000:1000"
    assert "status 200 containers" in job.logs().decode()
    # the stored spec keeps the symbol: the hash does not depend on this host's gid
    assert '"docker-socket"' in job.labels[L.SPEC]

    # converged: nothing to do on a second plan
    again = stack.gitops_cli(capsys, "plan")
    assert again.code == 0, again.out
