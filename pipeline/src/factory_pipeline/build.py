"""Build the service images from the repository root with the Docker engine.

Why the SDK and one root context: both images install the shared package (common/), so every
image is built from the repository root (the allow-list in .dockerignore keeps tests, caches
and secrets out). Builds never pull (`pull=False`): the base image is whatever BASE_IMAGE
names, upstream for users, the offline Debian base on machines that cannot pull.

Offline builds: with a wheelhouse (`FACTORY_WHEELHOUSE=1`), the host downloads every
dependency wheel for the base image's Python (once, into the user cache) and copies them into
build/wheelhouse/; the build installs from it with `PIP_NO_INDEX=1`, because containers here
cannot reach PyPI themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, DockerException, ImageNotFound

from factory_pipeline.gitinfo import Commit, inputs_labels
from factory_pipeline.images import BuiltImage, ImageSpec
from reconciler import run_once

WHEELHOUSE = Path("build") / "wheelhouse"
LOCAL_PACKAGES = frozenset(
    {
        "chocolate-factory-common",
        "chocolate-factory-reconciler",
        "factory-mcp",
        "chocolate-factory-analytics",
    }
)
BUILD_REQUIREMENTS = ("hatchling>=1.24",)
Log = Callable[[str], None]


class PipelineBuildError(RuntimeError):
    """A build step failed; the message names the image and the failing step."""


def _requirement_name(requirement: str) -> str:
    return re.split(r"[^A-Za-z0-9._-]", requirement.strip(), maxsplit=1)[0].lower()


def requirements(root: Path, specs: Iterable[ImageSpec]) -> list[str]:
    """Third-party requirements of the packages built and the local packages they install,
    sorted."""
    dirs = {d for spec in specs for d in (spec.package_dir, *spec.uses)}
    found: set[str] = set(BUILD_REQUIREMENTS)
    for package_dir in sorted(dirs):
        pyproject = root / package_dir / "pyproject.toml"
        if not pyproject.is_file():
            continue
        with pyproject.open("rb") as handle:
            deps = tomllib.load(handle)["project"].get("dependencies", [])
        found.update(d for d in deps if _requirement_name(d) not in LOCAL_PACKAGES)
    return sorted(found)


def base_python(client: docker.DockerClient, base_image: str, cache: Path | None = None) -> str:
    """`3.11` etc.: the Python the base image runs, so the wheelhouse matches it.

    Asked once per base image ID (a throw-away container), remembered in `cache`.
    """
    try:
        image_id = client.images.get(base_image).id.removeprefix("sha256:")[:16]
    except ImageNotFound:
        image_id = None
    remembered = cache / f".python-{image_id}" if cache and image_id else None
    if remembered and remembered.is_file():
        return remembered.read_text().strip()
    version = _ask_python(client, base_image)
    if remembered:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(version + "\n")
    return version


def _ask_python(client: docker.DockerClient, base_image: str) -> str:
    try:
        out = run_once(
            client,
            base_image,
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            network_disabled=True,
            labels={"dev.chocolate-factory.pipeline.role": "probe"},
        )
    except ImageNotFound as exc:
        raise PipelineBuildError(
            f"base image {base_image} is not on this engine and builds never pull it;"
            " pull it, or run scripts/build-base-image.sh and set"
            " FACTORY_BASE_IMAGE=chocolate-factory/base:bookworm"
        ) from exc
    return out.decode().strip()


_BASE_ARG = re.compile(r"^ARG\s+BASE_IMAGE=(\S+)", re.MULTILINE)


def base_image_of(root: Path, spec: ImageSpec, override: str | None) -> str:
    """What the build's FROM will be: FACTORY_BASE_IMAGE, else the Dockerfile's default."""
    if override:
        return override
    found = _BASE_ARG.search((root / spec.dockerfile).read_text(encoding="utf-8"))
    if found is None:
        raise PipelineBuildError(f"{spec.dockerfile} declares no `ARG BASE_IMAGE=` default")
    return found.group(1)


def ensure_base_image(client: docker.DockerClient, base: str, dockerfile: str, log: Log) -> None:
    """Pull the base image when it is not on the engine, so a machine that cannot reach its
    registry gets one clear message (and the way out) instead of the daemon's DNS error."""
    try:
        client.images.get(base)
        return
    except ImageNotFound:
        pass
    log(f"pulling the base image {base} (FROM of {dockerfile})")
    try:
        client.images.pull(base)
    except (APIError, DockerException) as exc:
        detail = str(getattr(exc, "explanation", None) or exc)
        raise PipelineBuildError(
            f"the base image {base} (FROM of {dockerfile}) is not on this engine and cannot be "
            f"pulled ({detail[:200]}). Without access to its registry, build the offline "
            "base once (`just base-image`) and build on it: FACTORY_BASE_IMAGE="
            "chocolate-factory/base:bookworm FACTORY_WHEELHOUSE=1 (the wheels are then "
            "downloaded on this host, which reaches PyPI)"
        ) from exc


def _platform_args(glibc_minor: int = 36) -> list[str]:
    """`--platform` for every manylinux tag Debian bookworm's glibc (2.36) can run on x86_64."""
    tags = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
    tags += [f"manylinux_2_{minor}_x86_64" for minor in range(5, glibc_minor + 1)]
    return [arg for tag in tags for arg in ("--platform", tag)]


def user_cache() -> Path:
    """Where builds keep what they fetch or ask once per machine (wheels, the base image's
    Python): FACTORY_CACHE_DIR, else $XDG_CACHE_HOME/chocolate-factory. Outside the
    checkout, because a CI job's workspace is new for every run."""
    explicit = os.environ.get("FACTORY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chocolate-factory"


def _is_current(wheelhouse: Path, key: str) -> bool:
    stamp = wheelhouse / ".stamp"
    return stamp.is_file() and stamp.read_text().strip() == key


def prepare_wheelhouse(
    root: Path, reqs: list[str], python: str, log: Log, cache: Path | None = None
) -> Path:
    """Put every wheel the images need into build/wheelhouse (skipped when current).

    With `cache`, the wheels are downloaded once into `cache/<key>` (key: the Python and
    the requirements) and copied from there into each checkout: the same files, so the
    images' dependency layer stays cached, and no index round trips per deploy."""
    target = root / WHEELHOUSE
    key = hashlib.sha256("\n".join([python, *reqs]).encode()).hexdigest()
    if _is_current(target, key):
        log(f"wheelhouse {WHEELHOUSE} is current for Python {python}")
        return target
    source = target if cache is None else cache / key[:16]
    if not _is_current(source, key):
        log(f"wheelhouse: downloading {len(reqs)} requirements for Python {python} on the host")
        _download(source, reqs, python, key)
    if source != target:
        log(f"wheelhouse: {WHEELHOUSE} from {source}")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    return target


def _download(dest: Path, reqs: list[str], python: str, key: str) -> None:
    """pip download into a fresh directory beside `dest`, renamed into place when complete,
    so a concurrent build never sees half a wheelhouse."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        if dest.is_dir():  # an older wheelhouse: pip skips the wheels it already has
            shutil.copytree(dest, partial, dirs_exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--dest", str(partial), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python, *_platform_args(), *reqs,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PipelineBuildError(
                f"pip download into {dest} failed:\n{result.stderr.strip()[-2000:]}"
            )
        (partial / ".stamp").write_text(key + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def build_image(
    client: docker.DockerClient,
    root: Path,
    spec: ImageSpec,
    *,
    registry: str,
    commit: Commit,
    base_image: str | None,
    offline: bool,
    log: Log,
) -> BuiltImage:
    """Build one image, tag it `<registry>/<repo>:<tag>` for every commit tag, return it."""
    repository = f"{registry}/{spec.repository}"
    revision, created = inputs_labels(root, spec.inputs, dirty=commit.dirty)
    buildargs = {"SOURCE": commit.source, "REVISION": revision, "CREATED": created}
    if base_image:
        buildargs["BASE_IMAGE"] = base_image
    if offline:
        buildargs["PIP_NO_INDEX"] = "1"
    first = f"{repository}:{commit.tags[0]}"
    log(f"build {spec.service}: {spec.dockerfile} → {first}")
    try:
        for chunk in client.api.build(
            path=str(root), dockerfile=spec.dockerfile, tag=first, buildargs=buildargs,
            rm=True, forcerm=True, pull=False, decode=True,
        ):  # fmt: skip
            if "error" in chunk:
                raise PipelineBuildError(f"build {spec.service} failed: {chunk['error'].strip()}")
            text = chunk.get("stream", "").rstrip()
            if text:
                log(text)
        image = client.images.get(first)
        for tag in commit.tags[1:]:
            image.tag(repository, tag)
    except (BuildError, APIError, DockerException) as exc:
        raise PipelineBuildError(f"build {spec.service} failed: {exc}") from exc
    return BuiltImage(
        service=spec.service,
        repository=repository,
        image_id=image.id,
        tags=[f"{repository}:{tag}" for tag in commit.tags],
    )
