"""One-shot jobs, containers sharing a network namespace, and the apply lock, on the real
engine (one project per module, cleaned up by its labels)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import docker
import docker.errors
import pytest
from reconciler.providers.docker.lock import LOCK_IMAGE, ensure_lock_image, pid_namespace
from reconciler.providers.docker.names import lock_name

from reconciler import labels as L

from .conftest import Stack, cleanup_project, get, make_stack, wait_for

pytestmark = pytest.mark.docker

PORT = 18021


def job(image: str, *, exit_code: int = 0, version: str = "1") -> str:
    return f"""
    kind: Service
    name: migrate
    role: job
    image: {image}
    env:
      EXIT_CODE: "{exit_code}"
      VERSION: "{version}"
    """


def app(image: str, *, version: str = "1", slow_health: bool = False) -> str:
    probe = (
        '  command: [python3, -c, "import time, urllib.request; time.sleep(2); '
        "urllib.request.urlopen('http://127.0.0.1:8000/healthz')\"]"
        if slow_health
        else "  http: http://127.0.0.1:8000/healthz"
    )
    return f"""
    kind: Service
    name: app
    image: {image}
    env:
      VERSION: "{version}"
    ports: ["127.0.0.1:{PORT}:8000"]
    depends_on: [migrate]
    healthcheck:
    {probe}
      interval: 0.5
      timeout: 5
      retries: 3
    ---
    kind: Service
    name: app-sidecar
    image: {image}
    network_mode: container:app
    command:
      - python3
      - -c
      - "import signal, time; signal.signal(signal.SIGTERM, lambda *a: exit(0)); time.sleep(1e6)"
    """


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, test_image: str, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    stack = make_stack(tmp_path_factory.mktemp("jobs"), test_image, "jobs")
    stack.write("services/migrate.yaml", job(test_image))
    stack.write("services/app.yaml", app(test_image))
    yield stack
    cleanup_project(docker_client, stack.project)


def named(
    client: docker.DockerClient, stack: Stack, name: str
) -> docker.models.containers.Container:
    return client.containers.get(f"{stack.project}-{name}")


def test_job_runs_before_its_dependent_and_only_once(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    plan = stack.gitops_cli(capsys, "plan", "--json")
    assert plan.code == 2
    assert plan.out.index('"id": "docker:container:migrate"') < plan.out.index(
        '"id": "docker:container:app"'
    )
    applied = stack.gitops_cli(capsys, "apply", "--yes")
    assert applied.code == 0, applied.out
    migrate = named(docker_client, stack, "migrate")
    assert migrate.status == "exited"
    assert migrate.attrs["State"]["ExitCode"] == 0
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "1"
    assert stack.gitops_cli(capsys, "plan").code == 0, "an exited-0 job is not rerun"


def test_sidecar_shares_the_namespace_and_follows_its_parent(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    parent = named(docker_client, stack, "app")
    sidecar = named(docker_client, stack, "app-sidecar")
    assert sidecar.attrs["HostConfig"]["NetworkMode"] == f"container:{parent.id}"
    code, output = sidecar.exec_run(
        [
            "python3",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:8000/healthz').status)",
        ]
    )
    assert code == 0
    assert output.strip() == b"200"
    stack.write("services/app.yaml", app(stack.image, version="2"))
    plan = stack.gitops_cli(capsys, "plan", "--json")
    assert "shares the network namespace of app, which is replaced" in plan.out
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    new_parent = named(docker_client, stack, "app")
    assert named(docker_client, stack, "app-sidecar").attrs["HostConfig"]["NetworkMode"] == (
        f"container:{new_parent.id}"
    )
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_changed_job_reruns_and_a_failing_job_fails_apply(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    stack.write("services/migrate.yaml", job(stack.image, version="2"))
    plan = stack.gitops_cli(capsys, "plan", "--json")
    assert '"verb": "run-job"' in plan.out
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    stack.write("services/migrate.yaml", job(stack.image, exit_code=3, version="3"))
    failed = stack.gitops_cli(capsys, "apply", "--yes")
    assert failed.code == 1
    assert "job migrate exited with code 3" in failed.out
    assert "job done, version 3" in failed.out  # its last log lines
    retry = stack.gitops_cli(capsys, "plan", "--json")
    assert "last run failed (exit 3)" in retry.out
    stack.write("services/migrate.yaml", job(stack.image, version="3"))
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_concurrent_apply_is_refused_naming_the_holder_or_waits(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    stack.write("services/app.yaml", app(stack.image, version="4", slow_health=True))
    first = stack.spawn("apply", "--yes")
    try:
        wait_for(lambda: _lock_exists(docker_client, stack.project), timeout=60)
        blocked = stack.gitops_cli(capsys, "apply", "--yes")
        assert blocked.code == 1
        assert "another apply" in blocked.out
        assert f"pid {first.pid}" in blocked.out
        waited = stack.gitops_cli(capsys, "apply", "--yes", "--lock-timeout", "60")
        assert waited.code == 0, waited.out
        assert "Nothing to do" in waited.out
    finally:
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert not _lock_exists(docker_client, stack.project)
    assert get(f"http://127.0.0.1:{PORT}/")["version"] == "4"


def _plant_lock(client: docker.DockerClient, project: str, **labels: str) -> None:
    ensure_lock_image(client.api)
    client.api.create_container(
        LOCK_IMAGE,
        command=["gitops-lock"],
        name=lock_name(project),
        labels={
            **L.ownership(project),
            L.ROLE: "lock",
            L.LOCK_HOLDER: "ghost@here pid 999999",
            L.LOCK_HOST: socket.gethostname(),
            L.LOCK_PID: "999999",
            **labels,
        },
    )


def test_a_lock_left_by_a_dead_process_is_taken_over(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    _plant_lock(docker_client, stack.project, **{L.LOCK_PIDNS: pid_namespace()})
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 0, result.out
    assert "stale lock" in result.out


def test_a_pid_from_another_namespace_is_never_judged_dead(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    # a job container on the host network shares our hostname, not our pids
    _plant_lock(docker_client, stack.project, **{L.LOCK_PIDNS: "pid:[1]"})
    try:
        result = stack.gitops_cli(capsys, "apply", "--yes")
        assert result.code == 1
        assert "ghost@here pid 999999" in result.out
    finally:
        docker_client.api.remove_container(lock_name(stack.project), force=True)


def test_a_lock_of_a_job_container_is_stale_once_the_container_is_gone(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    job = docker_client.containers.run(stack.image, ["sleep", "60"], detach=True, remove=True)
    try:
        _plant_lock(
            docker_client,
            stack.project,
            **{L.LOCK_CONTAINER: job.id, L.LOCK_HOST: job.id[:12], L.LOCK_PIDNS: "pid:[1]"},
        )
        held = stack.gitops_cli(capsys, "apply", "--yes")
        assert held.code == 1  # the job still runs: it holds the lock
        assert "ghost@here" in held.out
    finally:
        job.kill()
    wait_for(lambda: not _exists(docker_client, job.id), timeout=30)
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 0, result.out
    assert "stale lock" in result.out


def _exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return True


def _lock_exists(client: docker.DockerClient, project: str) -> bool:
    try:
        client.containers.get(lock_name(project))
    except docker.errors.NotFound:
        return False
    time.sleep(0.1)
    return True
