"""Test images for the kinds, built once per content: the Debian registry and the stand-ins.

An image is rebuilt only when its build context changed (a hash of every file in the
context is stored as a label), so repeated test sessions reuse it. The .deb files the
images unpack are fetched on the host by each image's fetch-debs.sh (containers here
cannot reach the Debian mirrors).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import docker
import docker.errors

REPO = Path(__file__).resolve().parents[3]
BASE_IMAGE = "chocolate-factory/base:bookworm"
HASH_LABEL = "dev.chocolate-factory.test.context-hash"
REGISTRY_IMAGE = "chocolate-factory/registry:2.8-debian"
FORGEJO_STANDIN = "chocolate-factory/forgejo-standin"  # tags: <version>-rootless
RUNNER_STANDIN = "chocolate-factory/forgejo-runner-standin:12"


def _context_hash(context: Path, buildargs: dict[str, str]) -> str:
    digest = hashlib.sha256(repr(sorted(buildargs.items())).encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(client: docker.DockerClient, tag: str, context: Path, **buildargs: str) -> str:
    fetch = context / "fetch-debs.sh"
    if fetch.exists():
        subprocess.run(["bash", str(fetch)], check=True)
    args = {"BASE_IMAGE": BASE_IMAGE, **buildargs}
    wanted = _context_hash(context, args)
    try:
        image = client.images.get(tag)
        if (image.labels or {}).get(HASH_LABEL) == wanted:
            return tag
    except docker.errors.ImageNotFound:
        pass
    client.images.build(
        path=str(context), tag=tag, buildargs=args, labels={HASH_LABEL: wanted}, rm=True
    )
    return tag


def registry_image(client: docker.DockerClient) -> str:
    return build(client, REGISTRY_IMAGE, REPO / "images" / "registry")


def forgejo_standin(client: docker.DockerClient, version: str, *, broken: bool = False) -> str:
    """The stand-in tagged like the rootless image: `<repo>:<major[.minor]>-rootless`.

    `broken`: a release that migrates the database, then fails /api/healthz."""
    full = {"11.0": "11.0.7", "15": "15.0.1", "16": "16.0.0"}.get(version, version)
    tag = f"{FORGEJO_STANDIN}:{version}-rootless"
    extra = {"FORGEJO_STANDIN_BROKEN": "1"} if broken else {}
    context = REPO / "images" / "standins" / "forgejo"
    return build(client, tag, context, FORGEJO_VERSION=full, **extra)


def runner_standin(client: docker.DockerClient) -> str:
    return build(client, RUNNER_STANDIN, REPO / "images" / "standins" / "forgejo-runner")
