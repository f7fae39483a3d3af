"""The Forgejo + runners flow against the REAL upstream images (`just e2e-real`).

Skipped unless GITOPS_E2E_REAL=1: it needs a machine that can pull
codeberg.org/forgejo/forgejo:15-rootless and data.forgejo.org/forgejo/runner:12 (the
reconciler pulls them). It checks through Forgejo's own API what the stand-in tests check
through the stand-ins' records: healthy, admin and automation token work, both runners
registered and online, a second deploy plans nothing, a downgrade is refused.
Not run on the build machines of this repository (no registry is reachable there).
"""

from __future__ import annotations

import os
import time

import docker
import httpx
import pytest
from kinds_stack import GitopsStack

pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        not os.environ.get("GITOPS_E2E_REAL"),
        reason="needs the upstream images: run `just e2e-real` on a machine that can pull",
    ),
]

HTTP_PORT = 18530
SSH_PORT = 18531
URL = f"http://127.0.0.1:{HTTP_PORT}"
SOCKET = "/var/run/docker.sock"


def forgejo_yaml(version: str) -> str:
    return f"""kind: Forgejo
name: forgejo
version: "{version}"
root_url: {URL}/
ports: {{http: {HTTP_PORT}, ssh: {SSH_PORT}}}
admin: {{username: factory-admin, email: admin@factory.example}}
health_timeout: 300
"""


RUNNERS = f"""kind: RunnerPool
name: factory
forgejo: forgejo
image: data.forgejo.org/forgejo/runner:12
names: [r-a, r-b]
labels: ["docker:docker://data.forgejo.org/oci/node:22-bookworm", "self-hosted:host"]
docker: {{mode: socket, socket: {SOCKET}, socket_gid: {os.stat(SOCKET).st_gid}}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    client = docker.from_env()
    stack = GitopsStack(tmp_path_factory.mktemp("forgejo-real"))
    stack.write_stack()
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("15"))
    stack.write("runners/runners.yaml", RUNNERS)
    try:  # a setup apply that fails (a port taken) still removes what it created
        stack.apply()
        yield stack
    finally:
        stack.cleanup(client)


def api(stack: GitopsStack) -> httpx.Client:
    token = stack.secret("forgejo-automation-token")
    return httpx.Client(base_url=f"{URL}/api/v1", headers={"Authorization": f"token {token}"})


def test_healthy_and_the_declared_version(stack: GitopsStack) -> None:
    health = httpx.get(f"{URL}/api/healthz")
    assert health.status_code == 200
    assert health.json()["status"] in ("pass", "warn")
    assert httpx.get(f"{URL}/api/v1/version").json()["version"].startswith("15.")


def test_automation_token_belongs_to_the_admin(stack: GitopsStack) -> None:
    with api(stack) as client:
        me = client.get("/user").json()
    assert me["login"] == "factory-admin"
    assert me["is_admin"]


def test_runners_are_registered_and_come_online(stack: GitopsStack) -> None:
    deadline = time.monotonic() + 120
    names: set[str] = set()
    with api(stack) as client:
        while time.monotonic() < deadline:
            body = client.get("/admin/actions/runners").json()
            names = {runner["name"] for runner in body.get("runners", [])}
            if {"r-a", "r-b"} <= names:
                break
            time.sleep(3)
    assert {"r-a", "r-b"} <= names


def test_deploy_again_plans_nothing(stack: GitopsStack) -> None:
    assert stack.plan_json()["actions"] == []


def test_downgrade_is_refused(stack: GitopsStack) -> None:
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("14"))
    result = stack.gitops_cli("plan")
    assert result.returncode == 1
    assert "downgrade is refused" in result.stderr
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("15"))
