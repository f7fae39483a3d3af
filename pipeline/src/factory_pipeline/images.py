"""Which images the pipeline builds and where they go, and the record it keeps of them.

Why a record file: `nox -s build`, `push` and `deploy` are separate steps (and separate
processes); build/images.json carries what one step learned to the next, tied to the commit
it was made for, so a stale record from another commit is never deployed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

RECORD = Path("build") / "images.json"
DEFAULT_REGISTRY = "127.0.0.1:5000"


class ImageSpec(BaseModel):
    """One deployable package: the gitops service it runs as and its registry repository."""

    model_config = ConfigDict(frozen=True)

    service: str
    package_dir: str
    repository: str
    uses: tuple[str, ...] = ()  # other local packages the image installs

    @property
    def dockerfile(self) -> str:
        return f"{self.package_dir}/Dockerfile"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Paths the image is built from, as the .dockerignore allow-list sends them (its
        revision is the last commit touching them; tests and docs are not among them)."""
        sources = [
            f"{package}/{part}"
            for package in (self.package_dir, *self.uses)
            for part in ("pyproject.toml", "README.md", "src")
        ]
        return (".dockerignore", self.dockerfile, *sources)


def all_inputs(specs: list[ImageSpec]) -> tuple[str, ...]:
    return tuple(sorted({path for spec in specs for path in spec.inputs}))


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec(service="mcp", package_dir="mcp", repository="factory/mcp", uses=("common",)),
    ImageSpec(
        service="analytics",
        package_dir="analytics",
        repository="factory/analytics",
        uses=("common",),
    ),
)


def registry_address(root: Path) -> str:
    """`host:port` of the private registry: env REGISTRY_ADDRESS, else the declared registry's
    host port on loopback, else 127.0.0.1:5000."""
    from factory_pipeline.declared import declared_registry

    declared = declared_registry(root)
    default = f"127.0.0.1:{declared.port}" if declared and declared.port else DEFAULT_REGISTRY
    address = os.environ.get("REGISTRY_ADDRESS", default).strip()
    for prefix in ("http://", "https://"):
        address = address.removeprefix(prefix)
    return address.rstrip("/")


def present_images(root: Path) -> list[ImageSpec]:
    """The images whose package and Dockerfile exist in this checkout."""
    return [
        spec
        for spec in IMAGES
        if (root / spec.dockerfile).is_file()
        and (root / spec.package_dir / "pyproject.toml").is_file()
    ]


class BuiltImage(BaseModel):
    """What build and push learned about one image."""

    service: str
    repository: str  # registry/repo, e.g. 127.0.0.1:5000/factory/mcp
    image_id: str
    tags: list[str]
    digest: str | None = None  # set by push once the registry confirmed it

    @property
    def pinned(self) -> str:
        """`repository@sha256:…`, the reference a deploy runs."""
        if not self.digest:
            raise ValueError(f"{self.service}: not pushed yet (run `nox -s push`)")
        return f"{self.repository}@{self.digest}"


class Record(BaseModel):
    """build/images.json."""

    commit: str
    branch: str | None
    images: list[BuiltImage] = Field(default_factory=list)


def write_record(root: Path, record: Record) -> Path:
    path = root / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
    return path


def read_record(root: Path) -> Record | None:
    path = root / RECORD
    if not path.is_file():
        return None
    return Record.model_validate_json(path.read_text())


def image_overrides(root: Path, commit: str, *, include_local: bool = False) -> list[str]:
    """`SERVICE=REPO@sha256:…` for every image pushed for `commit` (empty if none).

    With `include_local`, an image built for `commit` but not pushed runs by its commit tag:
    the first `just deploy` on a fresh machine, when the registry the images belong in is
    being created by that very deploy.
    """
    record = read_record(root)
    if record is None or record.commit != commit:
        return []
    return [
        f"{image.service}={image.pinned if image.digest else image.tags[0]}"
        for image in record.images
        if image.digest or (include_local and image.tags)
    ]


def built_for(root: Path, commit: str, image_ids: set[str]) -> bool:
    """Whether build/images.json is for `commit` and every image it names is still on the
    engine (`image_ids`), so a deploy need not build again."""
    record = read_record(root)
    return (
        record is not None
        and record.commit == commit
        and bool(record.images)
        and all(image.image_id in image_ids for image in record.images)
    )
