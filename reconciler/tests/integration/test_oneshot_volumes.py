"""One-off containers leave no anonymous volume behind (issue 11: every `just test` run
left an unlabelled volume). The cause was `containers.run(..., remove=True)`: the SDK
removes with v=False, unlike `docker run --rm`, so an image's unmounted VOLUME stayed.
`run_once` is what the product (registry gc, the build's Python probe) and the tests use.
"""

from __future__ import annotations

import io
import tarfile
import threading
import uuid

import docker
import docker.errors
import pytest
from reconciler.providers.docker.oneshot import run_once

from .conftest import BASE_IMAGE

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def image_with_volume(docker_client: docker.DockerClient):
    """An image declaring VOLUME /state, like the registry and Forgejo images."""
    dockerfile = f"FROM {BASE_IMAGE}\nVOLUME /state\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    tag = "chocolate-factory/gitops-test-volume:1"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return tag


def test_run_once_removes_the_images_anonymous_volume(
    docker_client: docker.DockerClient, image_with_volume: str
) -> None:
    label = f"oneshot-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    def watch() -> None:
        for _ in range(100):
            for c in docker_client.containers.list(all=True, filters={"label": label}):
                seen.extend(m["Name"] for m in c.attrs["Mounts"] if m["Type"] == "volume")
            if seen:
                return
            threading.Event().wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = run_once(
        docker_client,
        image_with_volume,
        ["sh", "-c", "sleep 1; echo ran"],
        labels={"oneshot-test": label, label: "1"},
    )
    watcher.join()
    assert out.strip() == b"ran"
    assert seen, "the container's anonymous volume was never observed"
    for name in seen:
        with pytest.raises(docker.errors.NotFound):
            docker_client.volumes.get(name)


def test_run_once_raises_on_failure_and_still_cleans_up(
    docker_client: docker.DockerClient, image_with_volume: str
) -> None:
    label = f"oneshot-{uuid.uuid4().hex[:8]}"
    with pytest.raises(docker.errors.ContainerError) as failure:
        run_once(docker_client, image_with_volume, ["sh", "-c", "echo bad >&2; exit 3"],
                 labels={label: "1"})  # fmt: skip
    assert failure.value.exit_status == 3
    assert b"bad" in failure.value.stderr
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
