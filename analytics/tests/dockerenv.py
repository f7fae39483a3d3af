"""Real Docker engine helpers for the integration tests (never mocked): containers from the
offline base image that write access lines to their stdout, named and labelled so only what a
test created is ever removed."""

from __future__ import annotations

import contextlib
import secrets
import time

import docker
import docker.errors
import pytest

BASE_IMAGE = "chocolate-factory/base:bookworm"
LABEL = "dev.chocolate-factory.test"

# Prints the lines given in argv, one per 10 ms, then waits forever. More lines are written
# later with `docker exec ... tee /proc/1/fd/1`, exactly like an app that keeps logging.
WRITER = (
    "import sys, time\n"
    "for line in sys.argv[1:]:\n"
    "    print(line, flush=True)\n"
    "    time.sleep(0.01)\n"
    "time.sleep(3600)\n"
)


def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine: {exc} (start dockerd; .ci/run does)")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BASE_IMAGE} missing: run `bash scripts/build-base-image.sh`")
    return client


def start_writer(client: docker.DockerClient, name: str, lines: list[str]):
    return client.containers.run(
        BASE_IMAGE,
        ["python3", "-c", WRITER, *lines],
        name=name,
        detach=True,
        labels={LABEL: "analytics"},
        network_mode="none",
    )


def append_lines(container, lines: list[str]) -> None:
    """Write more lines to the container's stdout (PID 1's fd 1), as the app itself would."""
    payload = "".join(line + "\n" for line in lines)
    result = container.exec_run(
        ["python3", "-c", "import sys; open('/proc/1/fd/1', 'w').write(sys.argv[1])", payload]
    )
    assert result.exit_code == 0, result.output


def wait_for_lines(container, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(container.logs().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"container wrote {len(container.logs().splitlines())} < {count} lines")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def remove(container) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True, v=True)
