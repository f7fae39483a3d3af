"""Against the real Docker engine: the deployed shape of access. The service runs in a container
with its port published on 127.0.0.1 only, as gitops/services/analytics.yaml does, and the host
calls it there: Docker delivers those connections from the bridge gateway, not from loopback.

The container is the offline base image running this checkout's code (bind-mounted read-only
with the test environment's packages), not the built analytics image: the image build needs a
wheelhouse and is covered by the pipeline tests; what is under test here is how the engine's
port publishing meets `auth.trusted_networks`.
"""

from __future__ import annotations

import contextlib
import site
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import httpx
import pytest

from tests.conftest import free_port
from tests.dockerenv import BASE_IMAGE, LABEL, docker_client, remove, unique_name

pytestmark = pytest.mark.docker

# the test environment's packages; its editable installs point at these source trees
SITE_PACKAGES = next(p for p in site.getsitepackages() if Path(p, "pydantic").is_dir())
SOURCES = [
    str(Path(__file__).resolve().parents[2] / pkg / "src") for pkg in ("analytics", "common")
]
BOOT = (
    "import site, sys\n"
    f"site.addsitedir({SITE_PACKAGES!r})\n"
    "from factory_analytics.cli import main\n"
    "sys.exit(main(['--config', '/config/analytics.yaml', 'serve', '--host', '0.0.0.0',"
    " '--port', '8000']))\n"
)
# a request from inside the container to its own bridge address: neither loopback nor gateway
SELF_REQUEST = (
    "import socket, urllib.error, urllib.request\n"
    "me = socket.gethostbyname(socket.gethostname())\n"
    # by the name the stack uses (http.allowed_hosts), from the container's own address
    "request = urllib.request.Request(f'http://{me}:8000/api/v1/usage',"
    " headers={'Host': 'analytics:8000'})\n"
    "try:\n"
    "    print(urllib.request.urlopen(request, timeout=5).status)\n"
    "except urllib.error.HTTPError as exc:\n"
    "    print(exc.code)\n"
)


@contextlib.contextmanager
def analytics_container(
    tmp_path: Path, auth_yaml: str, networks: int = 0
) -> Iterator[tuple[str, list[str], object]]:
    """Run the service published on 127.0.0.1:<port>, on the default bridge or on `networks`
    networks of its own (as the stack's analytics is on `factory` and the factory API's
    network); yields (base URL, the gateways of its networks, container)."""
    client = docker_client()
    config = tmp_path / "analytics.yaml"
    config.write_text(
        "database: /tmp/analytics.db\n"
        "tailnet: {enabled: false}\n"
        "system: {enabled: false}\n"
        "http: {allowed_hosts: [analytics]}\n" + auth_yaml
    )
    port = free_port()
    mounts = {str(tmp_path): {"bind": "/config", "mode": "ro"}}
    for path in (SITE_PACKAGES, *SOURCES):
        mounts[path] = {"bind": path, "mode": "ro"}
    created = [
        client.networks.create(unique_name("analytics-access-net"), labels={LABEL: "analytics"})
        for _ in range(networks)
    ]
    container = client.containers.create(
        BASE_IMAGE,
        ["python3", "-c", BOOT],
        name=unique_name("analytics-access"),
        labels={LABEL: "analytics"},
        volumes=mounts,
        ports={"8000/tcp": ("127.0.0.1", port)},
        network=created[0].name if created else None,
    )
    try:
        for network in created[1:]:
            network.connect(container)
        container.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                raise AssertionError(f"analytics did not start:\n{container.logs().decode()}")
            time.sleep(0.2)
        container.reload()
        gateways = [n["Gateway"] for n in container.attrs["NetworkSettings"]["Networks"].values()]
        yield base, gateways, container
    finally:
        remove(container)
        for network in created:
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()


def test_default_access_refuses_the_host_through_the_published_port(tmp_path: Path) -> None:
    with analytics_container(tmp_path, "") as (base, gateways, container):
        r = httpx.get(f"{base}/widget", timeout=5)
        assert r.status_code == 401
        assert f"comes from {gateways[0]}," in r.json()["error"]["message"]
        # a forged header from the host changes nothing: the gateway is no trusted proxy
        forged = httpx.get(f"{base}/widget", headers={"X-Forwarded-For": "100.64.0.7"}, timeout=5)
        assert forged.status_code == 401
        logs = container.logs().decode()
    assert "no token needed from 127.0.0.0/8, ::1/128, 100.64.0.0/10" in logs
    # all interfaces and no ANALYTICS_TOKEN: said at start, with what to do about it
    assert "WARNING factory_analytics.web: listening on 0.0.0.0 without a token" in logs


@pytest.mark.parametrize("networks", [0, 2], ids=["default-bridge", "two-networks"])
def test_trusting_the_docker_gateway_lets_the_host_in_and_nobody_else(
    tmp_path: Path, networks: int
) -> None:
    # with two networks Docker publishes the port through the one holding the default route,
    # which is the gateway `docker-gateway` reads
    auth = "auth:\n  trusted_networks: [127.0.0.0/8, docker-gateway]\n"
    with analytics_container(tmp_path, auth, networks) as (base, gateways, container):
        assert httpx.get(f"{base}/widget", timeout=5).status_code == 200
        assert httpx.get(f"{base}/api/v1/usage?days=1", timeout=5).status_code == 200
        # a page whose name was re-pointed at 127.0.0.1 (DNS rebinding) gets nothing
        rebound = httpx.get(f"{base}/widget", headers={"Host": "rebound.example"}, timeout=5)
        assert (rebound.status_code, rebound.json()["error"]["code"]) == (421, "unknown_host")
        result = container.exec_run(["python3", "-c", SELF_REQUEST])
        assert result.output.decode().strip() == "401", result.output
        logs = container.logs().decode()
        assert any(f"no token needed from 127.0.0.0/8, {g}/32;" in logs for g in gateways), logs
