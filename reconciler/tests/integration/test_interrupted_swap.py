"""An apply killed in the middle of a replacement, then run again (issue 10).

`kill -9` during a swap leaves the old container renamed `<svc>--old` (stopped) beside a
new one nobody proved healthy. That old container is the rollback target until a new
one is proven healthy: the next apply must restore it when its own new container fails,
keep the volume's data, and remove it only after a new container passed the gate. The
kill is a real SIGKILL of a real `gitops apply` process, timed by watching the engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from .conftest import Stack, cleanup_project, get, make_stack

pytestmark = pytest.mark.docker

PORT = 18031
MARKUP = re.compile(r"\[/?(red|green|dim|bold|yellow)[^\]]*\]")


def service(image: str, *, version: str, fail: bool, interval: float, ports: bool = True) -> str:
    lines = [
        "kind: Service",
        "name: svc",
        f"image: {image}",
        "env:",
        f'  VERSION: "{version}"',
        f'  FAIL_HEALTH: "{1 if fail else 0}"',
        "healthcheck:",
        "  http: http://127.0.0.1:8000/healthz",
        f"  interval: {interval}",
        "  timeout: 5",
        "  retries: 3",
    ]
    if ports:
        lines += ["ports:", f"  - 127.0.0.1:{PORT}:8000", "volumes:", "  - data:/data"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def stack(tmp_path: Path, test_image: str, docker_client: docker.DockerClient) -> Iterator[Stack]:
    stack = make_stack(tmp_path, test_image, "swapkill")
    yield stack
    cleanup_project(docker_client, stack.project)


def names(client: docker.DockerClient, stack: Stack) -> set[str]:
    return {
        c.name
        for c in client.containers.list(all=True, filters={"name": stack.project})
        if c.name.startswith(f"{stack.project}-svc")
    }


def env_version(client: docker.DockerClient, name: str) -> str:
    env = client.containers.get(name).attrs["Config"]["Env"]
    return next(e.split("=", 1)[1] for e in env if e.startswith("VERSION="))


def kill_when(stack: Stack, client: docker.DockerClient, leftover: str) -> None:
    """Run `gitops apply --yes` in its own process and SIGKILL it once `leftover` exists."""
    process = stack.spawn("apply", "--yes")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.api.inspect_container(leftover)
                break
            except docker.errors.NotFound:
                time.sleep(0.02)
        process.kill()
    finally:
        process.communicate(timeout=30)


def test_killed_swap_then_failing_spec_rolls_back_to_the_old_container_and_keeps_data(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    image, engine = stack.image, f"{stack.project}-svc"
    stack.write("services/svc.yaml", service(image, version="1", fail=False, interval=0.5))
    first = stack.gitops_cli(capsys, "apply", "--yes")
    assert first.code == 0, first.out
    docker_client.containers.get(engine).exec_run(["sh", "-c", "echo kept > /data/precious"])

    # a new version whose gate takes long (it never gets healthy): killed mid-swap
    stack.write("services/svc.yaml", service(image, version="2", fail=True, interval=5))
    kill_when(stack, docker_client, engine + "--old")
    assert engine + "--old" in names(docker_client, stack), "the kill missed the swap"

    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 2, plan.out
    assert not re.search(r"remove-orphan.*svc--old", plan.out), plan.out

    # the re-run's new spec fails too: the old container must serve again
    stack.write("services/svc.yaml", service(image, version="3", fail=True, interval=0.5))
    failed = stack.gitops_cli(capsys, "apply", "--yes")
    assert failed.code == 1, failed.out
    assert not MARKUP.search(failed.out), failed.out
    # the gate's message: the check cut at a word, its output and the logs in whole lines
    described = re.search(r"healthcheck `([^`]*)`", failed.out)
    assert described, failed.out
    assert described.group(1).endswith(" …"), failed.out
    check_output = failed.out.split("last check: exit 1:", 1)[1].splitlines()[1:]
    assert check_output[0].strip() in ("…", "Traceback (most recent call last):"), failed.out
    error = "urllib.error.HTTPError: HTTP Error 500: Internal Server Error"
    assert any(line.strip() == error for line in check_output), failed.out
    assert names(docker_client, stack) == {engine}, failed.out
    restored = docker_client.containers.get(engine)
    assert restored.status == "running"
    assert env_version(docker_client, engine) == "1"
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "1"
    assert restored.exec_run(["cat", "/data/precious"]).output.strip() == b"kept"

    # a healthy version replaces it, and then nothing is left over
    stack.write("services/svc.yaml", service(image, version="4", fail=False, interval=0.5))
    good = stack.gitops_cli(capsys, "apply", "--yes")
    assert good.code == 0, good.out
    assert names(docker_client, stack) == {engine}
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "4"
    assert (
        docker_client.containers.get(engine).exec_run(["cat", "/data/precious"]).output.strip()
        == b"kept"
    )


def test_proven_candidate_left_beside_no_service_is_the_rollback_target(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    """A stateless service without ports becomes its proven `--next` copy by a rename: a
    kill between removing the old one and that rename leaves only `<svc>--next`."""
    image, engine = stack.image, f"{stack.project}-svc"
    stack.write(
        "services/svc.yaml", service(image, version="1", fail=False, interval=0.5, ports=False)
    )
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    docker_client.api.rename(engine, engine + "--next")  # exactly what that kill leaves

    stack.write(
        "services/svc.yaml", service(image, version="2", fail=True, interval=0.5, ports=False)
    )
    failed = stack.gitops_cli(capsys, "apply", "--yes")
    assert failed.code == 1, failed.out
    assert names(docker_client, stack) == {engine}, failed.out
    assert docker_client.containers.get(engine).status == "running"
    assert env_version(docker_client, engine) == "1"

    stack.write(
        "services/svc.yaml", service(image, version="3", fail=False, interval=0.5, ports=False)
    )
    good = stack.gitops_cli(capsys, "apply", "--yes")
    assert good.code == 0, good.out
    assert names(docker_client, stack) == {engine}
    assert env_version(docker_client, engine) == "3"
