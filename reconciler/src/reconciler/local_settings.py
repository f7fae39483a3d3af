"""This machine's overrides: `gitops/.local/overrides.yaml` (git-ignored, never a document).

Why: a machine that cannot pull an upstream image deploys another reference for it (or
only part of the stack) on every run; typing `--image`/`--only` again on each later plan,
drift and deploy is how a newcomer ends up comparing against the wrong thing. The file is
checked like every gitops/ file (pydantic, strict, `file:line:col` errors); the loader
skips hidden directories, so it is never read as part of the declared stack. Command-line
flags win over it, per service.

    # gitops/.local/overrides.yaml
    images:
      registry: chocolate-factory/registry:2.8-debian   # Debian's docker-registry, built here
    only: [mcp, analytics, registry]                    # leave Forgejo and the runners out
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from reconciler.errors import ConfigError, Diagnostic
from reconciler.kinds.base import StrictModel
from reconciler.load import Document, relative_name, to_plain
from reconciler.resources import DesiredState
from reconciler.source import SourceLocation

__all__ = ["LOCAL_FILE", "LocalOverrides", "LocalSettings", "load_local"]

LOCAL_FILE = Path(".local") / "overrides.yaml"


class LocalOverrides(StrictModel):
    """gitops/.local/overrides.yaml."""

    images: dict[str, str] = Field(
        default_factory=dict,
        description="SERVICE: REF deployed instead of the declared image (like --image)",
    )
    only: list[str] | None = Field(
        default=None, description="reconcile only these services/documents (like --only)"
    )


@dataclass(frozen=True)
class LocalSettings:
    """The validated file, with where each value is written (for the plan's notes)."""

    path: Path | None = None
    name: str = ""
    images: dict[str, str] = field(default_factory=dict)
    image_lines: dict[str, str] = field(default_factory=dict)  # service -> "file:line"
    only: tuple[str, ...] = ()
    only_line: str = ""


def load_local(gitops_dir: Path, desired: DesiredState) -> LocalSettings:
    """Read and check the file (absent = no overrides); every problem at once."""
    path = gitops_dir / LOCAL_FILE
    if not path.is_file():
        return LocalSettings()
    name = relative_name(path, gitops_dir)
    try:
        node = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = SourceLocation(
            file=name, line=(mark.line + 1) if mark else 0, column=(mark.column + 1) if mark else 0
        )
        raise ConfigError([Diagnostic(where, "", f"invalid YAML: {exc.problem}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [Diagnostic(SourceLocation(file=name), "", f"cannot read: {exc}")]
        ) from None
    if node is None:
        return LocalSettings(path=path, name=name)
    doc = Document(path=path, name=name, index=0, node=node, data=to_plain(node))
    from reconciler.validate import diagnostics_from

    try:
        model = LocalOverrides.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(diagnostics_from(exc, doc, LocalOverrides)) from None
    services = {c.name for c in desired.containers}
    documents = {c.owner.partition("/")[2] for c in desired.containers}
    problems = [
        Diagnostic(
            doc.locate(("images", svc), key=True),
            f"images.{svc}",
            "not a declared service",
            f"one of: {', '.join(sorted(services))}",
        )
        for svc in model.images
        if svc not in services
    ]
    problems += [
        Diagnostic(
            doc.locate(("only", index)),
            f"only[{index}]",
            f"{item!r} is not a declared service or document",
            f"one of: {', '.join(sorted(services | documents))}",
        )
        for index, item in enumerate(model.only or [])
        if item not in services | documents
    ]
    if problems:
        raise ConfigError(problems)
    return LocalSettings(
        path=path,
        name=name,
        images=dict(model.images),
        image_lines={s: _line(doc, ("images", s)) for s in model.images},
        only=tuple(model.only or ()),
        only_line=_line(doc, ("only",)) if model.only else "",
    )


def _line(doc: Document, loc: tuple[str | int, ...]) -> str:
    where = doc.locate(loc)
    return f"{where.file}:{where.line}"
