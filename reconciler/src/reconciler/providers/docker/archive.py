"""Files into a created (not yet started) container with put_archive.

Copying through the API instead of bind-mounting host paths means apply works the same when
the reconciler itself runs in a CI job container whose paths the engine cannot see. Parent
directories are created only when missing (an existing /tmp keeps its mode): we try the
file's own directory first and walk up until the engine accepts the archive.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import PurePosixPath

import docker.errors

__all__ = ["put_file"]


def _tar(parts: list[str], data: bytes, mode: int, uid: int, gid: int) -> bytes:
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for depth in range(1, len(parts)):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.uid, info.gid, info.mtime = uid, gid, now
            tar.addfile(info)
        info = tarfile.TarInfo("/".join(parts))
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, now
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put_file(
    api: docker.APIClient,
    container_id: str,
    target: str,
    data: bytes,
    *,
    mode: int,
    uid: int,
    gid: int,
) -> None:
    """Write `data` at absolute `target` inside the container."""
    path = PurePosixPath(target)
    parts = [path.name]
    for parent in path.parents:
        try:
            api.put_archive(container_id, str(parent), _tar(parts, data, mode, uid, gid))
            return
        except docker.errors.NotFound:
            parts.insert(0, parent.name)
    raise FileNotFoundError(target)
