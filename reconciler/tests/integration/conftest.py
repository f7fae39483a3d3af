"""Fixtures for integration tests against the real Docker engine (never a mock).

The test image is built once from the offline base (chocolate-factory/base:bookworm) and
reused by a tag that carries its content hash. Every test module gets its own project name
and cleans up, by that project's labels, every container, network and volume it created.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
from reconciler.cli import run

from reconciler import labels as L

IMAGE_DIR = Path(__file__).parent / "image"
BASE_IMAGE = "chocolate-factory/base:bookworm"


def _image_tag() -> str:
    digest = hashlib.sha256()
    for name in ("Dockerfile", "server.py"):
        digest.update((IMAGE_DIR / name).read_bytes())
    return f"chocolate-factory/gitops-test-web:{digest.hexdigest()[:12]}"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: docker.DockerClient) -> str:
    tag = _image_tag()
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        try:
            docker_client.images.get(BASE_IMAGE)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{BASE_IMAGE} is missing: run `bash scripts/build-base-image.sh`")
        docker_client.images.build(
            path=str(IMAGE_DIR), tag=tag, buildargs={"BASE_IMAGE": BASE_IMAGE}, rm=True
        )
    return tag


def cleanup_project(client: docker.DockerClient, project: str) -> None:
    """Remove everything labelled with this test project (and nothing else)."""
    filters = {"label": L.project_filter(project)}
    for container in client.containers.list(all=True, filters=filters):
        container.remove(force=True, v=True)  # v: the image's unmounted VOLUMEs too
    for network in client.networks.list(filters=filters):
        network.remove()
    for volume in client.volumes.list(filters=filters):
        volume.remove(force=True)


@dataclass
class Result:
    code: int
    out: str


@dataclass
class Stack:
    """A throw-away gitops/ directory for one test project."""

    root: Path
    project: str
    image: str
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def gitops(self) -> Path:
        return self.root / "gitops"

    def write(self, relative: str, text: str) -> None:
        path = self.gitops / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def remove(self, relative: str) -> None:
        (self.gitops / relative).unlink()

    def gitops_cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
        """Run `gitops --dir … ARGS` in-process, capturing everything it prints."""
        capsys.readouterr()
        code = run(["--dir", str(self.gitops), *args], environ=self.environ)
        captured = capsys.readouterr()
        return Result(code, captured.out + captured.err)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Run `gitops` in another process (its own pid: the lock's holder)."""
        env = {**os.environ, **self.environ, "COLUMNS": "200"}
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--dir", str(self.gitops), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )


def make_stack(root: Path, image: str, prefix: str) -> Stack:
    project = f"coretest-{prefix}-{uuid.uuid4().hex[:6]}"
    stack = Stack(root=root, project=project, image=image)
    stack.write(
        "stack.yaml",
        f"""
        kind: Stack
        project: {project}
        network: net
        defaults: {{health_timeout: 30, stop_timeout: 2}}
        volumes:
          data: {{}}
        secrets:
          dir: ../.secrets
          env_file: ../.env
          declare:
            token: {{generate: {{length: 24, alphabet: alnum}}}}
        """,
    )
    return stack


def get(url: str, timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")
