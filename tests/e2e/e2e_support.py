"""Helpers of the whole-system tests: scratch copies of this repository, commands, cleanup.

Everything these tests create on the engine carries the label PIPELINE_LABEL (and names
starting with `pipe2e`), and is removed afterwards; the offline base image is kept.
Host ports come from the pipeline's range 20500-20999.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("FACTORY_BASE_IMAGE", "chocolate-factory/base:bookworm")
REGISTRY_IMAGE = "chocolate-factory/registry:2.8-debian"
PIPELINE_LABEL = "dev.chocolate-factory.pipeline.test"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
}


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, **kw):
    """Run a command, fail the test with its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}).stdout.strip()


def copy_worktree(dest: Path) -> Path:
    """The repository as the developer has it (tracked + untracked, minus ignored), committed
    in a fresh git repository on branch main, so builds see a clean tree."""
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "e2e scratch copy")
    return dest


def has_image(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def remove_labelled(client: docker.DockerClient, label: str = PIPELINE_LABEL) -> None:
    """Remove the containers and volumes these tests created (by label), nothing else."""
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True, v=True)
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)


def remove_repository_images(client: docker.DockerClient, prefix: str) -> None:
    """Remove every image tagged under `prefix` (the test's own registry address)."""
    for image in client.images.list():
        if any(tag.startswith(prefix) for tag in image.tags):
            for tag in image.tags:
                if tag.startswith(prefix):
                    client.images.remove(tag, force=True, noprune=False)


def wait_http(url: str, *, ok: tuple[int, ...] = (200,), timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code in ok:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer {ok} within {timeout}s (last: {last})")
