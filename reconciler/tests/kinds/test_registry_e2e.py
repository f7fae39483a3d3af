"""The registry for real: Debian's distribution 2.8 deployed by `gitops apply` on the engine.

One stack, one module-scoped deployment, then the behaviour a user relies on: log in, push,
pull, digests through the API, 401 for a wrong password and for an anonymous push, health
with auth on, GC reclaiming a deleted image's blobs, a second deploy planning nothing, and a
changed password recreating the registry.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from factory_pipeline.registry_api import RegistryAuthError, RegistryClient
from kinds_images import registry_image
from kinds_stack import GitopsStack, docker_health
from reconciler.providers.docker.lock import EngineLock

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

PORT = 18510
ADDRESS = f"127.0.0.1:{PORT}"
URL = f"http://{ADDRESS}"


def registry_yaml(image: str) -> str:
    return f"""kind: Registry
name: registry
image: {image}
port: {PORT}
volume: registry-data
users:
  - name: ci
    password_secret: registry-ci-password
  - name: reader
    password_secret: registry-reader-password
"""


def tiny_image(client: docker.DockerClient, repository: str, tag: str) -> str:
    """A one-file image made locally (nothing pulled), unique per call."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        payload = f"chocolate {uuid.uuid4()}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    return f"{repository}:{tag}"


def push(client: docker.DockerClient, reference: str, auth: dict | None) -> dict:
    """Push; returns the final aux record ({Tag, Digest, Size}) or the error record."""
    repository, tag = reference.rsplit(":", 1)
    last: dict = {}
    for record in client.images.push(
        repository, tag=tag, auth_config=auth, stream=True, decode=True
    ):
        if "aux" in record or "error" in record:
            last = record
    return last


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, client: docker.DockerClient):
    stack = GitopsStack(tmp_path_factory.mktemp("registry"))
    stack.write_stack()
    # `just e2e-real` (GITOPS_E2E_REAL=1): the upstream image, pulled by the reconciler.
    image = "registry:2.8" if os.environ.get("GITOPS_E2E_REAL") else registry_image(client)
    stack.write("registry/registry.yaml", registry_yaml(image))
    try:  # a setup apply that fails (a port taken) still removes what it created
        stack.apply()
        yield stack
    finally:
        stack.cleanup(client)
    for image in client.images.list(name=f"{ADDRESS}/*"):
        for tag in image.tags:
            client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def ci_auth(stack: GitopsStack) -> dict:
    return {"username": "ci", "password": stack.secret("registry-ci-password")}


def test_health_check_passes_with_auth_on(stack: GitopsStack, client) -> None:
    container = stack.container(client, "registry")
    assert docker_health(container) == "healthy"
    assert [p["HostIp"] for p in container.attrs["NetworkSettings"]["Ports"]["5000/tcp"]] == [
        "127.0.0.1"
    ]
    assert container.attrs["NetworkSettings"]["Ports"].get("5001/tcp") is None
    anonymous = httpx.get(f"{URL}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")


def test_login_push_pull_and_digests_through_the_api(stack, client, ci_auth) -> None:
    login = client.login(registry=ADDRESS, reauth=True, **ci_auth)
    assert login["Status"] == "Login Succeeded"
    reference = tiny_image(client, f"{ADDRESS}/factory/app", "v1")
    pushed = push(client, reference, ci_auth)
    digest = pushed["aux"]["Digest"]
    with RegistryClient(URL, **ci_auth) as api:
        assert api.ping().authenticated
        assert api.verify_digest("factory/app", "v1", digest) == digest
        assert api.tags("factory/app") == ["v1"]
        assert "factory/app" in api.catalog()
    local_id = client.images.get(reference).id
    client.images.remove(reference, force=True)
    pulled = client.images.pull(f"{ADDRESS}/factory/app", tag="v1", auth_config=ci_auth)
    assert pulled.id == local_id
    assert f"{ADDRESS}/factory/app@{digest}" in pulled.attrs["RepoDigests"]
    reader = {"username": "reader", "password": stack.secret("registry-reader-password")}
    with RegistryClient(URL, **reader) as api:
        assert api.manifest_digest("factory/app", "v1") == digest


def test_wrong_password_is_401(stack: GitopsStack) -> None:
    with (
        RegistryClient(URL, "ci", "not-the-password") as api,
        pytest.raises(RegistryAuthError) as info,
    ):
        api.catalog()
    assert info.value.status == 401
    with pytest.raises(docker.errors.APIError, match=r"401|unauthorized"):
        docker.from_env().login(
            registry=ADDRESS, username="ci", password="not-the-password", reauth=True
        )


def test_push_without_credentials_is_refused(stack: GitopsStack, client) -> None:
    upload = httpx.post(f"{URL}/v2/factory/anon/blobs/uploads/")
    assert upload.status_code == 401
    reference = tiny_image(client, f"{ADDRESS}/factory/anon", "v1")
    anonymous = docker.from_env()  # a fresh client: no login state
    record = push(anonymous, reference, {"username": "", "password": ""})
    assert "error" in record
    assert "authentication required" in record["error"] or "no basic auth" in record["error"]
    with RegistryClient(URL, "ci", stack.secret("registry-ci-password")) as api:
        assert api.tags("factory/anon") == []


def test_deploy_again_plans_nothing(stack: GitopsStack) -> None:
    plan = stack.plan_json()
    assert plan["actions"] == []
    assert stack.gitops_cli("plan").returncode == 0


def test_gc_reclaims_a_deleted_image(stack: GitopsStack, client, ci_auth) -> None:
    reference = tiny_image(client, f"{ADDRESS}/factory/doomed", "v1")
    digest = push(client, reference, ci_auth)["aux"]["Digest"]
    manifest = httpx.get(
        f"{URL}/v2/factory/doomed/manifests/{digest}",
        auth=(ci_auth["username"], ci_auth["password"]),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    ).json()
    layer = manifest["layers"][0]["digest"]
    deleted = httpx.delete(
        f"{URL}/v2/factory/doomed/manifests/{digest}",
        auth=(ci_auth["username"], ci_auth["password"]),
    )
    assert deleted.status_code == 202
    blob_path = f"/var/lib/registry/docker/registry/v2/blobs/sha256/{layer[7:9]}/{layer[7:]}"
    registry = stack.container(client, "registry")
    assert registry.exec_run(["test", "-e", blob_path]).exit_code == 0
    started = registry.attrs["State"]["StartedAt"]

    def gc(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "factory_pipeline.registry_gc", "--dir", str(stack.gitops)]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, check=False, timeout=300
        )

    # a dry run deletes nothing and reads beside the running registry: it is not stopped
    dry = gc("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert layer[7:] in dry.stdout or "eligible for deletion" in dry.stdout
    registry.reload()
    assert registry.attrs["State"]["StartedAt"] == started
    assert registry.exec_run(["test", "-e", blob_path]).exit_code == 0
    # while an apply holds the project's lock, GC waits for it instead of stopping the
    # registry under a deploy (here: gives up after one second, touching nothing)
    with EngineLock(client.api, stack.project, "a deploy in progress"):
        blocked = gc("--lock-timeout", "1")
    assert blocked.returncode == 1
    assert "a deploy in progress" in blocked.stderr
    registry.reload()
    assert registry.attrs["State"]["StartedAt"] == started
    result = gc()
    assert result.returncode == 0, result.stderr
    assert "registry_gc: done" in result.stdout
    registry.reload()
    assert registry.status == "running"
    assert registry.exec_run(["test", "-e", blob_path]).exit_code == 1
    with RegistryClient(URL, **ci_auth) as api:
        assert api.tags("factory/app") == ["v1"]  # what is still tagged survives
    assert stack.plan_json()["actions"] == []  # stopped and started, never recreated


def test_changed_password_recreates_the_registry(stack: GitopsStack, client) -> None:
    old = stack.secret("registry-reader-password")
    (stack.secrets / "registry-reader-password").write_text("a-brand-new-password\n")
    plan = stack.plan_json()
    assert [(a["verb"], a["resource"]) for a in plan["actions"]] == [
        ("recreate", "service registry")
    ]
    stack.apply()
    with RegistryClient(URL, "reader", old) as api, pytest.raises(RegistryAuthError):
        api.catalog()
    with RegistryClient(URL, "reader", "a-brand-new-password") as api:
        assert "factory/app" in api.catalog()  # the storage volume survived the recreate
    assert stack.plan_json()["actions"] == []


def test_secrets_never_reach_labels_env_or_output(stack: GitopsStack, client) -> None:
    container = stack.container(client, "registry")
    password = stack.secret("registry-ci-password")
    text = str(container.attrs["Config"]["Labels"]) + str(container.attrs["Config"]["Env"])
    assert password not in text
    assert "$2b$" not in text
    assert password not in stack.gitops_cli("plan").stdout
    assert Path(stack.secrets / "registry-ci-password").stat().st_mode & 0o077 == 0
