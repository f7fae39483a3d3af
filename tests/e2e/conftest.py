"""Fixtures for the whole-system tests: the real Docker engine with the offline images.

Everything these tests create on the engine carries the label PIPELINE_LABEL (and names
starting with `pipe2e`), and is removed afterwards; the offline base image is kept.
Host ports come from the pipeline's range 20500-20999.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from e2e_support import BASE_IMAGE, REGISTRY_IMAGE, ROOT, has_image, run


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"the e2e tests need the real Docker engine: {exc}")
    if not has_image(client, BASE_IMAGE):
        run(["bash", str(ROOT / "scripts" / "build-base-image.sh")])
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry_image(engine: docker.DockerClient) -> str:
    """Debian's docker-registry as an image (images/registry/), built once and kept by tag."""
    if not has_image(engine, REGISTRY_IMAGE):
        # the script a person runs (`just registry-image`), with this suite's tags
        tags = {"FACTORY_REGISTRY_IMAGE": REGISTRY_IMAGE, "FACTORY_BASE_IMAGE": BASE_IMAGE}
        env = {**os.environ, **tags}
        run(["bash", str(ROOT / "scripts" / "build-registry-image.sh")], env=env)
    return REGISTRY_IMAGE


@pytest.fixture(scope="session")
def python_bin() -> Path:
    """The directory of the interpreter running the tests (nox's venv: gitops, pre-commit)."""
    return Path(sys.executable).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: minutes of real work; skipped when nested")
    config.addinivalue_line("markers", "docker: needs a real Docker engine")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Inside the newcomer test's container (FACTORY_E2E_NESTED=1) `just test` skips the
    slow tests: they ran on the host in the same job, and again there would double CI."""

    if not os.environ.get("FACTORY_E2E_NESTED"):
        return
    skip = pytest.mark.skip(reason="FACTORY_E2E_NESTED=1: slow e2e tests run on the host only")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
