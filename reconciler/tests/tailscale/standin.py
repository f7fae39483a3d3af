"""Build the tailscale/tailscale stand-in image once per content (hash label), reuse after."""

from __future__ import annotations

import hashlib
from pathlib import Path

import docker
import docker.errors

CONTEXT = Path(__file__).resolve().parents[3] / "images" / "standins" / "tailscale"
BASE_IMAGE = "chocolate-factory/base:bookworm"
TAG = "chocolate-factory/tailscale-standin:test"
HASH_LABEL = "dev.chocolate-factory.test.context-hash"


def _context_hash() -> str:
    digest = hashlib.sha256(BASE_IMAGE.encode())
    for path in sorted(p for p in CONTEXT.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(CONTEXT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def standin_image(client: docker.DockerClient) -> str:
    wanted = _context_hash()
    try:
        if (client.images.get(TAG).labels or {}).get(HASH_LABEL) == wanted:
            return TAG
    except docker.errors.ImageNotFound:
        pass
    client.images.build(
        path=str(CONTEXT),
        tag=TAG,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
        labels={HASH_LABEL: wanted},
        rm=True,
    )
    return TAG
