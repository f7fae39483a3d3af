"""Tailscale sidecars on the REAL Docker engine, with the containerboot stand-in image and the
API test double: compiled specs, namespace sharing, serve config, state, and key minting.

The whole path is the real one: `gitops apply` (reconciler.cli.run) with the Docker provider
and the Tailscale provider; only the tailscale/tailscale image is replaced by its stand-in
(images/standins/tailscale) and the API by factory_common_testing.tailscale_double.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from factory_common_testing.tailscale_double import RunningDouble, serve_tailscale_double
from reconciler.cli import run
from reconciler.labels import project_filter
from reconciler.providers.docker.node_state import PROBE_LABEL

from .stack import Tree
from .standin import standin_image

pytestmark = pytest.mark.docker

SERVICE = """\
kind: Service
name: app
image: chocolate-factory/base:bookworm
command: ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"]
healthcheck:
  http: http://127.0.0.1:8000/
tailscale:
  hostname: app
  tags: [{tags}]
  state_volume: app-tailscale
  serve: {{443: 8000}}
  image: {image}
"""


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


@pytest.fixture
def ts() -> Iterator[RunningDouble]:
    with serve_tailscale_double() as running:
        yield running


@pytest.fixture
def tree(tmp_path: Path, ts: RunningDouble, client: docker.DockerClient) -> Iterator[Tree]:
    image = standin_image(client)
    tree = Tree(
        root=tmp_path,
        api_url=ts.base_url,
        project=f"tsdock-{uuid.uuid4().hex[:8]}",
        volumes=("app-tailscale",),
    )
    tree.services = {"app": SERVICE.format(tags="tag:app", image=image)}
    yield tree
    selector = {"label": project_filter(tree.project)}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=selector):
        network.remove()
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


def gitops(tree: Tree, ts: RunningDouble, client, *args: str) -> int:
    tree.write()
    return run(
        ["--dir", str(tree.gitops), *args],
        environ={"TAILSCALE_API_KEY": ts.api_token},
        options={"docker_client": client},
    )


def read_file(container, path: str) -> bytes | None:
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.getmembers()[0]
        handle = archive.extractfile(member)
        return handle.read() if handle else None


def standin_status(container, *, proxy: bool = True) -> dict:
    """The stand-in's record, once it has logged in (and probed the proxy targets)."""
    deadline = time.monotonic() + 60
    status: dict = {}
    while time.monotonic() < deadline:
        raw = read_file(container, "/run/containerboot-standin/status.json")
        status = json.loads(raw) if raw else {}
        if status.get("error") or (
            status.get("logged_in") and (not proxy or "proxy_checks" in status)
        ):
            return status
        time.sleep(0.3)
    raise AssertionError(f"stand-in never finished booting: {status}\n{container.logs().decode()}")


def test_sidecar_on_the_real_engine(tree: Tree, ts: RunningDouble, client, capsys):
    # -- first apply: one key minted, sidecar created in the service's namespace -----------
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    output = capsys.readouterr()
    assert ts.api.keys_created() == 1
    (key,) = ts.api.keys.values()
    create = key["capabilities"]["devices"]["create"]
    assert create == {
        "reusable": False,
        "ephemeral": False,
        "preauthorized": True,
        "tags": ["tag:app"],
    }
    assert key["expires"] > key["created"]

    app = client.containers.get(f"{tree.project}-app")
    sidecar = client.containers.get(f"{tree.project}-app-tailscale")
    assert sidecar.attrs["HostConfig"]["NetworkMode"] == f"container:{app.id}"
    mounts = {m["Destination"]: m for m in sidecar.attrs["Mounts"]}
    assert mounts["/var/lib/tailscale"]["Type"] == "volume"
    assert mounts["/var/lib/tailscale"]["Name"] == f"{tree.project}_app-tailscale"
    env = dict(e.split("=", 1) for e in sidecar.attrs["Config"]["Env"])
    assert env["TS_HOSTNAME"] == "app"
    assert env["TS_STATE_DIR"] == "/var/lib/tailscale"
    assert env["TS_AUTH_ONCE"] == "true"
    assert env["TS_AUTHKEY"] == "file:/run/secrets/tailscale-authkey"
    assert env["TS_SERVE_CONFIG"] == "/etc/tailscale/serve.json"
    assert env["TS_EXTRA_ARGS"] == "--advertise-tags=tag:app"

    secret = read_file(sidecar, "/run/secrets/tailscale-authkey")
    assert secret is not None
    secret_text = secret.decode().strip()
    assert secret_text.startswith("tskey-auth-")
    for where in (
        output.out,
        output.err,
        json.dumps(sidecar.attrs),
        sidecar.logs().decode(),
    ):
        assert secret_text not in where

    status = standin_status(sidecar)
    assert status.get("error") is None
    assert status["login_performed"] is True
    assert status["node"]["advertise_tags"] == ["tag:app"]
    web = status["serve_config"]["Web"]
    assert web == {
        "app.standin.ts.net:443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8000"}}}
    }
    assert status["serve_config"]["TCP"] == {"443": {"HTTPS": True}}
    assert status["serve_config"]["AllowFunnel"] == {"app.standin.ts.net:443": False}
    # Serve reaches the service over loopback: only true inside the shared namespace.
    assert status["proxy_checks"] == {"http://127.0.0.1:8000": "http 200"}
    # ...and the service is not reachable on its bridge address (it listens on loopback).
    probe = sidecar.exec_run(
        [
            "python3",
            "-c",
            "import socket,sys;ip=socket.gethostbyname(socket.gethostname());"
            "s=socket.socket();s.settimeout(2);"
            "sys.exit(3 if s.connect_ex((ip,8000))==0 else 0)",
        ]
    )
    assert probe.exit_code == 0, probe.output

    # -- the node joins the tailnet; a second apply changes nothing and mints nothing ------
    ts.api.register_node(secret_text, "app")
    assert gitops(tree, ts, client, "plan") == 0
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    assert ts.api.keys_created() == 1

    # -- a declared tag change reaches the device; the node keeps its state ----------------
    tree.services = {"app": SERVICE.format(tags="tag:app, tag:ci", image=sidecar.image.tags[0])}
    assert gitops(tree, ts, client, "plan") == 2
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    (device,) = ts.api.devices.values()
    assert device["tags"] == ["tag:app", "tag:ci"]
    assert ts.api.keys_created() == 1
    recreated = client.containers.get(f"{tree.project}-app-tailscale")
    assert recreated.id != sidecar.id
    status = standin_status(recreated)
    assert status["state_found"] is True
    assert status["login_performed"] is False
    assert gitops(tree, ts, client, "plan") == 0


PROBE = (
    "import socket,sys\n"
    "ip=socket.gethostbyname(socket.gethostname())\n"
    "def up(host):\n"
    "    s=socket.socket();s.settimeout(2)\n"
    "    return s.connect_ex((host,8000))==0\n"
    "print('bridge' if up(ip) else '-', 'loopback' if up('127.0.0.1') else '-')\n"
)


@pytest.mark.parametrize(("listen", "reachable"), [("loopback", "-"), ("all", "bridge")])
def test_a_listen_address_from_env_is_kept_on_loopback(
    tree: Tree, ts: RunningDouble, client, listen: str, reachable: str
):
    """HOST in env (the command passes it on through a shell) is rewritten: the service
    answers on loopback, where Serve reaches it, and not on its stack-network address,
    where another container could send forged identity headers. `listen: all` is the
    control: the same probe then does reach it."""
    image = standin_image(client)
    service = SERVICE.format(tags="tag:app", image=image).replace(
        'command: ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"]',
        "command: [sh, -c, 'exec python3 -m http.server --bind \"$HOST\" 8000']\n"
        "env: {HOST: 0.0.0.0}",
    )
    tree.services = {"app": service.replace("  serve:", f"  listen: {listen}\n  serve:")}
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    app = client.containers.get(f"{tree.project}-app")
    env = dict(e.split("=", 1) for e in app.attrs["Config"]["Env"])
    assert env["HOST"] == ("127.0.0.1" if listen == "loopback" else "0.0.0.0")
    probe = app.exec_run(["python3", "-c", PROBE])
    assert probe.output.decode().split() == [reachable, "loopback"]
    sidecar = client.containers.get(f"{tree.project}-app-tailscale")
    assert standin_status(sidecar)["proxy_checks"] == {"http://127.0.0.1:8000": "http 200"}


def probes_left(client, project: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{PROBE_LABEL}={project}"})


def test_a_removed_sidecar_with_its_volume_keeps_its_node_and_gets_no_key(
    tree: Tree, ts: RunningDouble, client
):
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    sidecar = client.containers.get(f"{tree.project}-app-tailscale")
    secret = read_file(sidecar, "/run/secrets/tailscale-authkey")
    assert secret is not None
    assert standin_status(sidecar)["login_performed"] is True
    ts.api.register_node(secret.decode().strip(), "app")
    sidecar.remove(force=True)  # e.g. removed by hand; the state volume survives

    assert gitops(tree, ts, client, "apply", "--yes") == 0
    assert ts.api.keys_created() == 1  # the node is in the volume: no second key
    assert probes_left(client, tree.project) == []  # the helper that read the volume is gone
    again = client.containers.get(f"{tree.project}-app-tailscale")
    assert read_file(again, "/run/secrets/tailscale-authkey") is None
    status = standin_status(again)
    assert (status["state_found"], status["login_performed"]) == (True, False)
    assert gitops(tree, ts, client, "plan") == 0


def sidecar_without_login(tree: Tree, ts: RunningDouble, client) -> None:
    """A first apply without credentials: the sidecar runs, but never logs in (the stand-in,
    like tailscaled, leaves only its machine key in the volume)."""
    tree.write()
    assert (
        run(
            ["--dir", str(tree.gitops), "apply", "--yes"],
            environ={},
            options={"docker_client": client},
        )
        == 0
    )
    status = standin_status(client.containers.get(f"{tree.project}-app-tailscale"))
    assert "auth key" in status["error"]
    assert status["logged_in"] is False
    assert ts.api.keys_created() == 0


def test_a_sidecar_without_a_login_is_recreated_with_exactly_one_key(
    tree: Tree, ts: RunningDouble, client
):
    sidecar_without_login(tree, ts, client)
    old = client.containers.get(f"{tree.project}-app-tailscale")
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    assert ts.api.keys_created() == 1
    sidecar = client.containers.get(f"{tree.project}-app-tailscale")
    assert sidecar.id != old.id
    status = standin_status(sidecar)
    assert status.get("error") is None
    assert status["login_performed"] is True
    secret = read_file(sidecar, "/run/secrets/tailscale-authkey")
    assert secret is not None
    ts.api.register_node(secret.decode().strip(), "app")  # the delivered key is the minted one
    assert gitops(tree, ts, client, "apply", "--yes") == 0
    assert ts.api.keys_created() == 1
    assert gitops(tree, ts, client, "plan") == 0
