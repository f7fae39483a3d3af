"""Every provider uses the one engine named by --docker-host, else DOCKER_HOST, else
stack.yaml's docker.host (issue 10): the Tailscale provider read sidecar state from the
stack's endpoint (or the local socket) while the Docker provider used --docker-host.

The engine is the real one, reached through a socket path no default points at (a
symlink to its socket); every other way to name an engine points at nothing, so a
provider that reads from anywhere but the named engine fails the plan."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from factory_common_testing.tailscale_double import RunningDouble, serve_tailscale_double
from reconciler.cli import run
from reconciler.labels import project_filter

from .stack import Tree
from .standin import standin_image
from .test_sidecar_docker import SERVICE

pytestmark = pytest.mark.docker

NOWHERE = "unix:///nonexistent/gitops-test/docker.sock"


@pytest.fixture
def engine_socket(tmp_path: Path) -> str:
    client = docker.from_env()
    real = client.api.base_url  # http+docker://localhost for the local socket
    client.close()
    if not real.startswith("http+docker://"):
        pytest.skip("the engine is not reached through a local socket here")
    link = tmp_path / "engine.sock"
    link.symlink_to("/var/run/docker.sock")
    return f"unix://{link}"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Tree, RunningDouble]]:
    client = docker.from_env()
    image = standin_image(client)
    with serve_tailscale_double() as ts:
        tree = Tree(
            root=tmp_path,
            api_url=ts.base_url,
            project=f"tshost-{uuid.uuid4().hex[:8]}",
            volumes=("app-tailscale",),
        )
        tree.services = {"app": SERVICE.format(tags="tag:app", image=image)}
        yield tree, ts
    selector = {"label": project_filter(tree.project)}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    client.close()


def plan(
    tree: Tree, ts: RunningDouble, capsys, *, flag: str | None, env: str | None, stack: str | None
):  # type: ignore[no-untyped-def]
    tree.write()
    if stack:
        with (tree.gitops / "stack.yaml").open("a") as handle:
            handle.write(f"docker: {{host: {stack!r}}}\n")
    environ = {"TAILSCALE_API_KEY": ts.api_token, **({"DOCKER_HOST": env} if env else {})}
    capsys.readouterr()
    code = run(
        [*(["--docker-host", flag] if flag else []), "--dir", str(tree.gitops), "plan"],
        environ=environ,
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_provider_reads_the_engine_named_by_the_flag_then_env_then_stack(
    tree: tuple[Tree, RunningDouble], engine_socket: str, capsys
) -> None:
    t, ts = tree
    for flag, env, stack in (
        (engine_socket, None, NOWHERE),  # the flag over stack.yaml
        (engine_socket, NOWHERE, NOWHERE),  # the flag over DOCKER_HOST
        (None, engine_socket, NOWHERE),  # DOCKER_HOST over stack.yaml
        (None, None, engine_socket),  # stack.yaml alone
    ):
        code, out = plan(t, ts, capsys, flag=flag, env=env, stack=stack)
        assert code == 2, (flag, env, stack, out)
        assert "cannot reach" not in out
        assert "tailscale" in out  # the sidecar and its key are planned


def test_the_flag_names_the_engine_even_when_it_is_unreachable(
    tree: tuple[Tree, RunningDouble], engine_socket: str, capsys
) -> None:
    t, ts = tree
    code, out = plan(t, ts, capsys, flag=NOWHERE, env=engine_socket, stack=engine_socket)
    assert code == 1
    assert f"cannot reach the Docker engine at {NOWHERE}" in out
