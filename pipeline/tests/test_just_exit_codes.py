"""`just plan` and `just drift` answer 0/2/1 like `gitops` does (issue 10): nothing pending,
changes pending or drifted, error. The real `just` runs the real justfile, which runs the
real noxfile's sessions, against a scratch gitops/ on the real engine (a network and a
volume: no image needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reconciler import labels as L

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    missing = [tool for tool in ("just", "nox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/provision installs them)")
    root = tmp_path_factory.mktemp("justexit")
    project = f"justexit-{uuid.uuid4().hex[:6]}"
    for name in ("justfile", "noxfile.py"):
        shutil.copy(REPO / name, root / name)
    for package in ("common", "reconciler", "pipeline"):  # what the gitops sessions install
        (root / package).symlink_to(REPO / package)
    (root / "gitops").mkdir()
    (root / "gitops" / "stack.yaml").write_text(
        f"kind: Stack\nproject: {project}\nnetwork: net\nvolumes:\n  data: {{}}\n"
    )
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "scratch"], check=True)
    yield root, project
    client = docker.from_env()
    filters = {"label": L.project_filter(project)}
    for network in client.networks.list(filters=filters):
        network.remove()
    for volume in client.volumes.list(filters=filters):
        volume.remove(force=True)
    client.close()


def just(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # drift compares with the registry's digests when a registry is declared; this
    # stack declares none, the credentials only have to be set
    env = {**os.environ, "REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p"}
    return subprocess.run(
        ["just", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_plan_and_drift_exit_0_2_1_through_just_and_nox(scratch: tuple[Path, str]) -> None:
    root, _ = scratch
    for recipe in ("plan", "drift"):
        pending = just(root, recipe)
        assert pending.returncode == 2, (recipe, pending.stdout, pending.stderr)
        assert "create-volume" in pending.stdout

    apply = subprocess.run(
        [str(root / ".nox" / "plan" / "bin" / "gitops"), "--dir", "gitops", "apply", "--yes"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert apply.returncode == 0, apply.stdout + apply.stderr
    for recipe in ("plan", "drift"):
        clean = just(root, recipe)
        assert clean.returncode == 0, (recipe, clean.stdout, clean.stderr)
        assert "No changes" in clean.stdout

    (root / "gitops" / "stack.yaml").write_text("kind: Stack\nproject: [\n")
    for recipe in ("plan", "drift"):
        broken = just(root, recipe)
        assert broken.returncode == 1, (recipe, broken.stdout, broken.stderr)
