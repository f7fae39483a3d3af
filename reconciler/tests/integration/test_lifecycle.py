"""The whole life of a stack on the real engine: create, no-op, change one service, update
in place, config file and secret changes, drift after `docker stop`, rollback of a broken
healthcheck (both strategies), orphans and volumes, name collisions, secrets never shown.

Tests in this module run in order on one project (module-scoped), like a person would.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator

import docker
import pytest

from reconciler import labels as L

from .conftest import Stack, cleanup_project, get, make_stack

pytestmark = pytest.mark.docker

PORT_A = 18011
PORT_B = 18012


def web(
    name: str,
    image: str,
    port: int,
    *,
    version: str = "1",
    fail: bool = False,
    config: str | None = None,
    volume: bool = False,
    memory: str = "64m",
    extra: str = "",
) -> str:
    lines = [
        "kind: Service",
        f"name: {name}",
        f"image: {image}",
        "env:",
        f'  VERSION: "{version}"',
        f'  FAIL_HEALTH: "{1 if fail else 0}"',
        "secret_files:",
        "  - {secret: token, target: /run/secrets/token}",
        "ports:",
        f"  - 127.0.0.1:{port}:8000",
        "healthcheck:",
        "  http: http://127.0.0.1:8000/healthz",
        "  interval: 0.5",
        "  timeout: 5",
        "  retries: 3",
        "resources:",
        f"  memory: {memory}",
    ]
    if config is not None:
        lines += ["files:", "  - target: /etc/app/config.txt", f"    content: {config!r}"]
    if volume:
        lines += ["volumes:", "  - data:/data"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, test_image: str, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    stack = make_stack(tmp_path_factory.mktemp("lifecycle"), test_image, "life")
    stack.write("services/a.yaml", web("web-a", test_image, PORT_A, config="hello"))
    stack.write("services/b.yaml", web("web-b", test_image, PORT_B, volume=True))
    yield stack
    cleanup_project(docker_client, stack.project)


def container(
    client: docker.DockerClient, stack: Stack, name: str
) -> docker.models.containers.Container:
    return client.containers.get(f"{stack.project}-{name}")


def secret_value(stack: Stack) -> str:
    return (stack.root / ".secrets" / "token").read_text().strip()


def test_first_apply_creates_everything_and_generates_the_secret(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 2
    assert "generate-secret" in plan.out
    assert "secret token" in plan.out
    assert not (stack.root / ".secrets" / "token").exists(), "plan must not write anything"

    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 0, result.out
    body = get(f"http://127.0.0.1:{PORT_A}/")
    assert body["version"] == "1"
    assert body["config"] == "hello"
    assert body["token_length"] == 24
    secret_file = stack.root / ".secrets" / "token"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    assert secret_value(stack) not in plan.out + result.out
    a = container(docker_client, stack, "web-a")
    assert a.labels[L.PROJECT] == stack.project
    assert a.labels[L.SPEC_HASH].startswith("sha256:")
    assert a.labels[L.IMAGE_ID] == docker_client.images.get(stack.image).id
    assert docker_client.volumes.get(f"{stack.project}_data")


def test_second_apply_changes_nothing(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 0, plan.out
    assert "No changes" in plan.out
    again = stack.gitops_cli(capsys, "apply", "--yes")
    assert again.code == 0
    assert "Nothing to do" in again.out
    as_json = stack.gitops_cli(capsys, "apply", "--yes", "--json")
    document = json.loads(as_json.out[as_json.out.index("{") :])
    assert document["changes"] == 0
    assert document["result"]["ok"] is True
    assert stack.gitops_cli(capsys, "drift").code == 0


def test_changing_one_service_recreates_only_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before_a = container(docker_client, stack, "web-a").id
    before_b = container(docker_client, stack, "web-b").id
    stack.write("services/a.yaml", web("web-a", stack.image, PORT_A, version="2", config="hello"))
    plan = stack.gitops_cli(capsys, "plan", "--json")
    assert plan.code == 2
    assert '"verb": "recreate"' in plan.out
    assert "env changed: VERSION" in plan.out
    assert "web-b" not in plan.out
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 0, result.out
    assert get(f"http://127.0.0.1:{PORT_A}/")["version"] == "2"
    assert container(docker_client, stack, "web-a").id != before_a
    assert container(docker_client, stack, "web-b").id == before_b
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_config_file_content_change_recreates_with_the_new_file(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.write("services/a.yaml", web("web-a", stack.image, PORT_A, version="2", config="bye"))
    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 2
    assert "file /etc/app/config.txt changed" in plan.out
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    assert get(f"http://127.0.0.1:{PORT_A}/")["config"] == "bye"


def test_memory_limit_is_updated_in_place(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before = container(docker_client, stack, "web-b").id
    stack.write("services/b.yaml", web("web-b", stack.image, PORT_B, volume=True, memory="96m"))
    plan = stack.gitops_cli(capsys, "plan", "--json")
    assert plan.code == 2
    assert '"verb": "update"' in plan.out
    assert stack.gitops_cli(capsys, "apply", "--yes").code == 0
    after = container(docker_client, stack, "web-b")
    assert after.id == before
    assert after.attrs["HostConfig"]["Memory"] == 96 * 1024 * 1024
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_broken_healthcheck_rolls_back_a_stateless_service(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before = container(docker_client, stack, "web-a").id
    good = web("web-a", stack.image, PORT_A, version="2", config="bye")
    stack.write("services/a.yaml", web("web-a", stack.image, PORT_A, version="3", fail=True))
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 1
    assert "healthcheck" in result.out
    assert "failed" in result.out
    assert "last log lines" in result.out
    assert container(docker_client, stack, "web-a").id == before
    assert get(f"http://127.0.0.1:{PORT_A}/")["version"] == "2", "the old one keeps serving"
    names = {c.name for c in docker_client.containers.list(all=True)}
    assert not any(n.startswith(f"{stack.project}-web-a--") for n in names)
    stack.write("services/a.yaml", good)
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_broken_healthcheck_rolls_back_a_service_with_a_volume(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before = container(docker_client, stack, "web-b").id
    good = web("web-b", stack.image, PORT_B, volume=True, memory="96m")
    stack.write(
        "services/b.yaml",
        web("web-b", stack.image, PORT_B, version="9", volume=True, memory="96m", fail=True),
    )
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 1
    assert "web-b" in result.out
    assert "healthcheck" in result.out
    after = container(docker_client, stack, "web-b")
    assert after.id == before
    assert after.status == "running"
    assert get(f"http://127.0.0.1:{PORT_B}/")["version"] == "1", "the old one serves again"
    stack.write("services/b.yaml", good)
    assert stack.gitops_cli(capsys, "plan").code == 0


def test_docker_stop_by_hand_is_drift_and_apply_heals_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    container(docker_client, stack, "web-a").stop(timeout=10)
    drift = stack.gitops_cli(capsys, "drift", "--json")
    assert drift.code == 2
    assert '"verb": "start"' in drift.out
    assert "container exited (" in drift.out
    healed = stack.gitops_cli(capsys, "apply", "--yes")
    assert healed.code == 0, healed.out
    assert get(f"http://127.0.0.1:{PORT_A}/")["version"] == "2"
    assert stack.gitops_cli(capsys, "drift").code == 0


def test_rotated_secret_recreates_users_and_is_never_printed(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    old_value = secret_value(stack)
    new_value = "rotated-" + "x" * 30
    (stack.root / ".secrets" / "token").write_text(new_value + "\n")
    outputs = []
    plan = stack.gitops_cli(capsys, "plan", "--json")
    outputs.append(plan.out)
    assert plan.code == 2
    assert "secret token changed" in plan.out
    applied = stack.gitops_cli(capsys, "apply", "--yes")
    outputs.append(applied.out)
    assert applied.code == 0
    assert get(f"http://127.0.0.1:{PORT_A}/")["token_length"] == len(new_value)
    outputs.append(stack.gitops_cli(capsys, "plan").out)
    for text in outputs:
        assert new_value not in text
        assert old_value not in text
    for name in ("web-a", "web-b"):
        attrs = container(docker_client, stack, name).attrs
        assert new_value not in str(attrs["Config"]["Labels"])
        assert new_value not in str(attrs["Config"]["Env"])


def test_removed_service_is_an_orphan_and_its_volume_is_kept(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    stack.remove("services/b.yaml")
    stack.write(
        "stack.yaml",
        (stack.gitops / "stack.yaml")
        .read_text()
        .replace("volumes:\n  data: {}\n", "volumes: {}\n"),
    )
    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 2
    assert "remove-orphan" in plan.out
    applied = stack.gitops_cli(capsys, "apply", "--yes")
    assert applied.code == 0, applied.out
    with pytest.raises(docker.errors.NotFound):
        container(docker_client, stack, "web-b")
    assert docker_client.volumes.get(f"{stack.project}_data")
    again = stack.gitops_cli(capsys, "plan")
    assert again.code == 0
    assert "--remove-volume data" in again.out  # the note says how to delete it
    removed = stack.gitops_cli(capsys, "apply", "--yes", "--remove-volume", "data")
    assert removed.code == 0, removed.out
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(f"{stack.project}_data")


def test_removing_a_declared_volume_is_refused(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (stack.gitops / "stack.yaml").read_text()
    stack.write("stack.yaml", text.replace("volumes: {}\n", "volumes:\n  keep: {}\n"))
    result = stack.gitops_cli(capsys, "apply", "--yes", "--remove-volume", "keep")
    assert result.code == 1
    assert "still declared" in result.out


def test_a_foreign_container_holding_a_name_stops_the_plan(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    foreign = docker_client.containers.create(
        stack.image, name=f"{stack.project}-web-c", command=["true"]
    )
    try:
        stack.write("services/c.yaml", web("web-c", stack.image, 18013))
        result = stack.gitops_cli(capsys, "plan")
        assert result.code == 1
        assert "not manage" in result.out
        assert f"{stack.project}-web-c" in result.out
    finally:
        foreign.remove(force=True)
        stack.remove("services/c.yaml")


def test_pull_failure_names_the_image_and_changes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    stack.write("services/d.yaml", web("web-d", "127.0.0.1:1/nope/missing:1", 18014))
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = stack.gitops_cli(capsys, "apply", "--yes")
    assert result.code == 1
    assert "127.0.0.1:1/nope/missing:1" in result.out
    assert "--image" in result.out
    assert {c.id for c in docker_client.containers.list(all=True)} <= before
    override = stack.gitops_cli(capsys, "plan", "--image", f"web-d={stack.image}")
    assert override.code == 2
    assert "pull-image" not in override.out
    stack.remove("services/d.yaml")
