"""Deploying part of the stack on the real engine (issue 11): an image that cannot be pulled
names the exact `--only` command that deploys the rest; a selection leaves what it does not
name untouched (never orphans); gitops/.local/overrides.yaml keeps `--image`/`--only` for
later runs, checked with file:line errors, and the command line wins over it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import pytest

from .conftest import Stack, cleanup_project, make_stack
from .test_lifecycle import web

pytestmark = pytest.mark.docker

PORT_A, PORT_B, PORT_C = 18061, 18062, 18063
MISSING = "127.0.0.1:1/nope/upstream:1"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, test_image: str, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    stack = make_stack(tmp_path_factory.mktemp("partial"), test_image, "part")
    stack.write("services/a.yaml", web("web-a", test_image, PORT_A))
    stack.write("services/b.yaml", web("web-b", test_image, PORT_B, volume=True))
    yield stack
    cleanup_project(docker_client, stack.project)


def names(client: docker.DockerClient, stack: Stack) -> set[str]:
    return {
        c.name
        for c in client.containers.list(
            all=True, filters={"label": f"dev.chocolate-factory.gitops.project={stack.project}"}
        )
    }


def test_unpullable_image_prints_the_only_command_that_deploys_the_rest(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    # web-c's image cannot be pulled; web-d depends on web-c, so it cannot run either
    stack.write("services/c.yaml", web("web-c", MISSING, PORT_C))
    stack.write(
        "services/d.yaml",
        web("web-d", stack.image, 18064, extra="depends_on: [web-c]\n"),
    )
    failed = stack.gitops_cli(capsys, "apply", "--yes")
    assert failed.code == 1
    assert MISSING in failed.out
    assert names(docker_client, stack) == set(), "nothing may be created before the pulls"
    match = re.search(r"just deploy --only (\S+)", failed.out)
    assert match, failed.out
    assert match.group(1) == "web-a,web-b"
    assert "web-c, web-d left out" in failed.out

    done = stack.gitops_cli(capsys, "apply", "--yes", "--only", match.group(1))
    assert done.code == 0, done.out
    assert names(docker_client, stack) == {f"{stack.project}-web-a", f"{stack.project}-web-b"}
    again = stack.gitops_cli(capsys, "plan", "--only", match.group(1))
    assert again.code == 0, again.out
    assert "left out by --only" in again.out
    assert "(not touched; not orphans): web-c, web-d\n" in again.out


def test_a_selection_never_removes_or_changes_what_it_leaves_out(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    before = docker_client.containers.get(f"{stack.project}-web-b").id
    stack.write("services/b.yaml", web("web-b", stack.image, PORT_B, volume=True, version="2"))
    result = stack.gitops_cli(capsys, "apply", "--yes", "--only", "web-a")
    assert result.code == 0, result.out
    assert "remove-orphan" not in result.out
    assert docker_client.containers.get(f"{stack.project}-web-b").id == before
    assert docker_client.volumes.get(f"{stack.project}_data")
    assert docker_client.networks.get(f"{stack.project}_net")
    # and the full plan still sees web-b's pending change
    full = stack.gitops_cli(capsys, "plan", "--image", f"web-c={stack.image}")
    assert full.code == 2
    assert "web-b" in full.out
    stack.write("services/b.yaml", web("web-b", stack.image, PORT_B, volume=True))


def test_a_left_out_volume_cannot_be_removed(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    result = stack.gitops_cli(
        capsys, "apply", "--yes", "--only", "web-a", "--remove-volume", "data"
    )
    assert result.code == 1
    assert "volume 'data' is declared" in result.out


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ("web-a,nope", "unknown name(s) nope"),
        ("web-d", "web-c is needed by web-d"),
    ],
)
def test_bad_selections_are_refused_with_the_fix(
    stack: Stack, capsys: pytest.CaptureFixture[str], only: str, expected: str
) -> None:
    result = stack.gitops_cli(capsys, "plan", "--only", only)
    assert result.code == 1
    assert expected in result.out
    if "needed" in expected:
        assert "--only web-d,web-c" in result.out


def test_local_overrides_file_persists_image_and_selection(
    stack: Stack, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    local = stack.gitops / ".local" / "overrides.yaml"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(f"images:\n  web-c: {stack.image}\nonly: [web-a, web-b, web-c, web-d]\n")
    plan = stack.gitops_cli(capsys, "plan")
    assert plan.code == 2, plan.out
    assert f"image override: web-c={stack.image} (gitops/.local/overrides.yaml:2)" in plan.out
    assert "pull-image" not in plan.out
    # the command line wins over the file, and says so
    cli = stack.gitops_cli(capsys, "plan", "--image", f"web-c={MISSING}")
    assert f"image override: web-c={MISSING} (--image)" in cli.out
    assert "pull-image" in cli.out
    applied = stack.gitops_cli(capsys, "apply", "--yes")
    assert applied.code == 0, applied.out
    assert f"{stack.project}-web-d" in names(docker_client, stack)
    assert stack.gitops_cli(capsys, "drift").code == 0
    local.unlink()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images:\n  web-a: x\n  nope: y\n", "gitops/.local/overrides.yaml:3:3: images.nope"),
        ("only: [web-a]\nimagez: {}\n", "gitops/.local/overrides.yaml:2:1"),
        ("only:\n  - web-a\n  - ghost\n", "gitops/.local/overrides.yaml:3:5: only[1]"),
        ("images: [1, 2\n", "gitops/.local/overrides.yaml:2"),
    ],
)
def test_local_overrides_file_errors_point_at_the_line(
    stack: Stack, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    local = stack.gitops / ".local" / "overrides.yaml"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    try:
        result = stack.gitops_cli(capsys, "plan")
    finally:
        local.unlink()
    assert result.code == 1
    assert expected in result.out, result.out
