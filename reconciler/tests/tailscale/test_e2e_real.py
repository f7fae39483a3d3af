"""The sidecar with the REAL tailscale/tailscale image and the REAL Tailscale API.

Skipped unless TAILSCALE_E2E_REAL=1 (run it with `nox -s e2e_real_tailscale` on a machine
that can pull the image and reach api.tailscale.com). It never touches the tailnet policy or
DNS (`policy: null`, no `dns:`); it needs:

- TAILSCALE_API_KEY: an API access token allowed to mint keys
  with the tag below;
- TAILSCALE_E2E_TAG (default tag:gitops-e2e): a tag declared in the tailnet's tagOwners;
- TAILSCALE_E2E_IMAGE (default the pinned tailscale/tailscale image).

It applies a throw-away project whose service has a sidecar, waits for the node to appear
in the tailnet with that tag, checks that a second apply mints no key, then deletes the
node through the API and removes the project's containers and volume.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from factory_common.tailscale.api import TailscaleClient, credentials_from_env
from reconciler.cli import run
from reconciler.labels import project_filter
from reconciler.providers.docker.node_state import node_logged_in
from reconciler.providers.tailscale.config import DEFAULT_SIDECAR_IMAGE

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("TAILSCALE_E2E_REAL") != "1",
        reason="needs the real tailscale/tailscale image and API (TAILSCALE_E2E_REAL=1)",
    ),
]

TAG = os.environ.get("TAILSCALE_E2E_TAG", "tag:gitops-e2e")
IMAGE = os.environ.get("TAILSCALE_E2E_IMAGE", DEFAULT_SIDECAR_IMAGE)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"tse2e-{uuid.uuid4().hex[:6]}"
    gitops = tmp_path / "gitops"
    (gitops / "tailscale").mkdir(parents=True)
    (gitops / "services").mkdir()
    (gitops / "stack.yaml").write_text(
        f"kind: Stack\nproject: {name}\nvolumes:\n  web-tailscale: {{}}\n"
    )
    (gitops / "tailscale" / "tailnet.yaml").write_text(
        "kind: Tailnet\nname: e2e\npolicy: null\ncredentials:\n  required: true\n"
    )
    (gitops / "services" / "web.yaml").write_text(
        "kind: Service\nname: web\nimage: chocolate-factory/base:bookworm\n"
        'command: ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"]\n'
        "healthcheck:\n  http: http://127.0.0.1:8000/\n"
        f"tailscale:\n  hostname: {name}\n  tags: [{TAG}]\n  state_volume: web-tailscale\n"
        f"  serve: {{443: 8000}}\n  image: {IMAGE}\n"
    )
    yield name, gitops
    client = docker.from_env()
    selector = {"label": project_filter(name)}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=selector):
        network.remove()
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


def test_real_sidecar_joins_the_tailnet(project: tuple[str, Path]):
    name, gitops = project
    credentials = credentials_from_env()
    assert credentials is not None, "set TAILSCALE_API_KEY or the OAuth client variables"
    with TailscaleClient(credentials) as api:
        keys_before = {k.id for k in api.list_keys()}
        assert run(["--dir", str(gitops), "apply", "--yes"]) == 0
        try:
            deadline = time.monotonic() + 120
            devices = []
            while time.monotonic() < deadline and not devices:
                devices = api.list_devices(hostname=name)
                time.sleep(3)
            assert devices, f"node {name} never appeared in the tailnet"
            assert devices[0].tags == [TAG]
            # the real tailscaled's state file reads as logged in (the format node_state
            # assumes from tailscale's source, checked here on the real image)
            engine = docker.from_env()
            try:
                assert node_logged_in(engine, name, "web-tailscale", [IMAGE])
            finally:
                engine.close()
            minted = {k.id for k in api.list_keys()} - keys_before
            assert len(minted) <= 1
            assert run(["--dir", str(gitops), "apply", "--yes"]) == 0
            assert {k.id for k in api.list_keys()} - keys_before == minted
        finally:
            for device in api.list_devices(hostname=name):
                api.delete_device(device.ref)
