"""The health gate runs the declared check itself while Docker waits for its first probe.

Docker probes a new container one `interval` after it starts; a gate that only read Docker's
status would keep a stop-first swap down for that whole interval. Here the interval (120 s)
is far longer than the health timeout (20 s), so the deploy can only succeed because the
gate ran the check itself; a check that fails stays a failure, with the rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .conftest import Stack, cleanup_project, get, make_stack

pytestmark = pytest.mark.docker

PORT = 18571


def slow_probe(image: str, *, version: str, fail: bool = False) -> str:
    return f"""
        kind: Service
        name: web
        image: {image}
        env:
          VERSION: "{version}"
          FAIL_HEALTH: "{1 if fail else 0}"
        ports: ["127.0.0.1:{PORT}:8000"]
        volumes: ["data:/data"]  # stateful: replaced stop-first, so the gate is the downtime
        healthcheck:
          http: http://127.0.0.1:8000/healthz
          interval: 120
          timeout: 5
          retries: 3
        health_timeout: 20
        """


@pytest.fixture
def stack(tmp_path: Path, test_image: str, docker_client: docker.DockerClient) -> Iterator[Stack]:
    made = make_stack(tmp_path, test_image, "gate")
    yield made
    cleanup_project(docker_client, made.project)


def test_healthy_before_dockers_first_probe_is_deployed_and_replaced(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    stack.write("services/web.yaml", slow_probe(stack.image, version="1"))
    first = stack.gitops_cli(capsys, "apply", "--yes")
    assert first.code == 0, first.out
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "1"
    stack.write("services/web.yaml", slow_probe(stack.image, version="2"))
    second = stack.gitops_cli(capsys, "apply", "--yes")
    assert second.code == 0, second.out
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "2"
    # Docker itself has not probed yet ("starting"); that is not drift
    web = docker_client.containers.get(f"{stack.project}-web")
    assert web.attrs["State"]["Health"]["Status"] == "starting"
    assert stack.gitops_cli(capsys, "plan").code == 0

    stack.write("services/web.yaml", slow_probe(stack.image, version="3", fail=True))
    failed = stack.gitops_cli(capsys, "apply", "--yes")
    assert failed.code == 1
    assert "not healthy after 20s" in failed.out
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "2"  # rolled back, serving
