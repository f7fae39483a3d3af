"""Build both service images and push them to a real registry, as `nox -s build push` does.

Real engine, real registry (Debian's docker-registry with htpasswd auth): the digests are
verified through the registry API, an unchanged tree rebuilds from cache to the same image,
and files outside the build inputs (tests, .env) neither reach the context nor invalidate
a layer. Offline: builds use the base image and a host-prepared wheelhouse.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from e2e_support import (
    BASE_IMAGE,
    PIPELINE_LABEL,
    copy_worktree,
    git,
    remove_labelled,
    remove_repository_images,
    run,
    wait_http,
)
from factory_pipeline.registry_api import RegistryClient

from reconciler import render_htpasswd

pytestmark = pytest.mark.slow  # skipped inside the newcomer container (conftest.py)

PORT = 20550
ADDRESS = f"127.0.0.1:{PORT}"
USER = "ci"


@pytest.fixture(scope="module")
def registry(engine: docker.DockerClient, registry_image: str, tmp_path_factory) -> Iterator[str]:
    password = secrets.token_urlsafe(24)
    auth = tmp_path_factory.mktemp("registry-auth")
    (auth / "htpasswd").write_text(render_htpasswd({USER: password}))
    auth.chmod(0o755)
    (auth / "htpasswd").chmod(0o644)
    try:
        yield _start_registry(engine, registry_image, auth, password)
    finally:
        remove_labelled(engine)
        remove_repository_images(engine, ADDRESS + "/")


def _start_registry(
    engine: docker.DockerClient, registry_image: str, auth: Path, password: str
) -> str:
    engine.containers.run(
        registry_image,
        name="pipe2e-build-registry",
        detach=True,
        labels={PIPELINE_LABEL: "build-push"},
        ports={"5000/tcp": ("127.0.0.1", PORT)},
        volumes={str(auth): {"bind": "/auth", "mode": "ro"}},
        environment={
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "e2e",
            "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        },
    )
    wait_http(f"http://{ADDRESS}/v2/", ok=(401,))
    return password


def _pipeline(repo: Path, step: str, password: str) -> str:
    env = {
        **os.environ,
        "REGISTRY_ADDRESS": ADDRESS,
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": password,
        "FACTORY_BASE_IMAGE": BASE_IMAGE,
        "FACTORY_WHEELHOUSE": "1",
    }
    env.pop("GITHUB_REF_NAME", None)
    return run([sys.executable, "-m", "factory_pipeline", step], cwd=repo, env=env).stdout


def test_build_push_verify_and_rebuild_from_cache(
    engine: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    repo = copy_worktree(tmp_path / "repo")
    # No declared registry here: credentials come from registry_username/registry_password.
    for declared in (repo / "gitops" / "registry").glob("*.y*ml"):
        declared.unlink()
    git(repo, "commit", "-q", "--allow-empty", "-am", "no declared registry")
    sha = git(repo, "rev-parse", "HEAD")

    _pipeline(repo, "build", registry)
    record = json.loads((repo / "build" / "images.json").read_text())
    services = {image["service"] for image in record["images"]}
    assert services == {"mcp", "analytics"}
    first_ids = {image["service"]: image["image_id"] for image in record["images"]}

    for image in record["images"]:
        attrs = engine.images.get(image["image_id"]).attrs
        config = attrs["Config"]
        assert sorted(image["tags"]) == sorted(
            [
                f"{ADDRESS}/factory/{image['service']}:{sha}",
                f"{ADDRESS}/factory/{image['service']}:main",
            ]
        )
        assert config["User"] == "1000:1000"  # gitops secret_files are owned by uid 1000
        assert config["Healthcheck"]["Test"][0] == "CMD"
        # Labels depend on the build inputs only (their git object ids), not on the commit.
        assert re.fullmatch(r"[0-9a-f]{64}", config["Labels"]["org.opencontainers.image.revision"])
        assert config["Labels"]["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
        assert config["Cmd"][-2:] == ["--port", "8000"]

    out = _pipeline(repo, "push", registry)
    assert registry not in out
    record = json.loads((repo / "build" / "images.json").read_text())
    with RegistryClient(f"http://{ADDRESS}", USER, registry) as api:
        for image in record["images"]:
            digest = image["digest"]
            assert digest.startswith("sha256:")
            repository = f"factory/{image['service']}"
            assert api.manifest_digest(repository, sha) == digest
            assert api.manifest_digest(repository, "main") == digest
    overrides = _pipeline(repo, "overrides", registry).split()
    assert sorted(overrides) == sorted(
        f"{image['service']}={ADDRESS}/factory/{image['service']}@{image['digest']}"
        for image in record["images"]
    )

    # Tests, docs and a stray .env are not build inputs: same images, all layers reused.
    (repo / "mcp" / "tests").mkdir(exist_ok=True)
    (repo / "mcp" / "tests" / "test_extra.py").write_text("def test_x():\n    pass\n")
    (repo / ".env").write_text("REGISTRY_PASSWORD=never-in-an-image\n")
    rebuilt = _pipeline(repo, "build", registry)
    record = json.loads((repo / "build" / "images.json").read_text())
    assert {image["service"]: image["image_id"] for image in record["images"]} == first_ids
    assert "Running in" not in rebuilt  # every RUN step came from the layer cache


def test_a_docs_only_push_in_a_shallow_clone_rebuilds_the_same_images(
    engine: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    """What deploy.yml's checkout gives (a depth-1 clone of each pushed commit): a commit
    that touches only docs and tests rebuilds both images to the very same image IDs, so
    their digests are equal and the deploy recreates nothing."""
    origin = copy_worktree(tmp_path / "origin")
    before = git(origin, "rev-parse", "HEAD")
    (origin / "README.md").write_text("# docs-only change\n")
    (origin / "mcp" / "tests" / "test_docs_only.py").write_text("def test_x():\n    pass\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "docs and tests only")
    after = git(origin, "rev-parse", "HEAD")
    ids = {}
    for name, commit in (("first", before), ("second", after)):
        clone = tmp_path / name
        run(["git", "clone", "-q", "--depth", "1", "--no-local", f"file://{origin}", str(clone)])
        git(clone, "fetch", "-q", "--depth", "1", "origin", commit)
        git(clone, "checkout", "-q", "--detach", commit)
        assert git(clone, "rev-list", "--count", "HEAD") == "1"  # shallow, as in CI
        wheelhouse = tmp_path / "first" / "build" / "wheelhouse"  # git-ignored, so not cloned
        if name == "second" and wheelhouse.is_dir():  # the same wheels, not downloaded twice
            shutil.copytree(wheelhouse, clone / "build" / "wheelhouse")
        _pipeline(clone, "build", registry)
        record = json.loads((clone / "build" / "images.json").read_text())
        assert record["commit"] == commit
        ids[name] = {image["service"]: image["image_id"] for image in record["images"]}
    assert ids["second"] == ids["first"]
    assert set(ids["first"]) == {"mcp", "analytics"}


def test_push_refuses_bad_credentials_without_printing_them(registry: str, tmp_path: Path) -> None:
    repo = copy_worktree(tmp_path / "repo")
    for declared in (repo / "gitops" / "registry").glob("*.y*ml"):
        declared.unlink()
    env = {
        **os.environ,
        "REGISTRY_ADDRESS": ADDRESS,
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": "wrong-password-value",
        "FACTORY_BASE_IMAGE": BASE_IMAGE,
        "FACTORY_WHEELHOUSE": "1",
    }
    git(repo, "commit", "-q", "--allow-empty", "-am", "scratch")
    run([sys.executable, "-m", "factory_pipeline", "build"], cwd=repo, env=env)
    done = subprocess.run(
        [sys.executable, "-m", "factory_pipeline", "push"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"registry {ADDRESS} refused the credentials of 'ci'" in done.stderr
    assert "wrong-password-value" not in done.stdout + done.stderr
