"""Run a container to completion and remove it *with its anonymous volumes*.

Why not `client.containers.run(..., remove=True)`: the SDK removes the container with
`v=False`, unlike `docker run --rm`, so every VOLUME of the image that is not mounted
(`/etc/gitea` of a Forgejo image, `/var/lib/registry`, `/data`) stays behind as an
unlabelled, unnamed volume nobody can reuse: one more on every run. Named volumes are
never removed by this (Docker's `v` only removes anonymous ones).
"""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

__all__ = ["run_once"]


def run_once(client: docker.DockerClient, image: str, command: Any = None, **kwargs: Any) -> bytes:
    """Like `containers.run(image, command, **kwargs)` (stdout by default, `stderr=True`
    for both; ContainerError on a non-zero exit) but removes anonymous volumes too."""
    stdout = kwargs.pop("stdout", True)
    stderr = kwargs.pop("stderr", False)
    kwargs.pop("remove", None)
    container = client.containers.create(image, command, **kwargs)
    try:
        container.start()
        status = container.wait()["StatusCode"]
        output = container.logs(stdout=stdout, stderr=stderr)
        if status != 0:
            errors = container.logs(stdout=False, stderr=True)
            raise docker.errors.ContainerError(container, status, command, image, errors)
        return output
    finally:
        container.remove(force=True, v=True)
