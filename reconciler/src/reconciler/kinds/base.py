"""What every kind's YAML model and compile function share.

A kind is a pydantic model (the YAML document, `kind: <Name>`) plus a pure compile function
turning one document into generic resources (reconciler.resources.Compiled). Models are
strict and reject unknown keys, so a typo is an error with file:line:col, never ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from reconciler.errors import ConfigError, Diagnostic
from reconciler.load import read_utf8, relative_name
from reconciler.resources import Compiled, ContainerSpec
from reconciler.source import SourceLocation

if TYPE_CHECKING:
    from reconciler.stack import Stack

__all__ = [
    "CompileContext",
    "KindModel",
    "KindSpec",
    "ServiceExtension",
    "StrictModel",
]


class StrictModel(BaseModel):
    """Base of every model read from YAML: strict types, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class KindModel(StrictModel):
    """A top-level document. Subclasses add `kind: Literal["<Name>"]` and their fields."""

    name: str


@dataclass(frozen=True)
class CompileContext:
    """What a compile function may use besides its own document.

    `locate(loc)` turns a path inside the document (("ports", 0)) into a SourceLocation;
    `read_text(relative)` reads a file next to the document (the one I/O compile may do:
    local, read-only, under gitops/); `error(...)` collects a Diagnostic so a kind can
    report several problems and keep going.
    """

    stack: Stack
    document: str  # "Service/mcp"
    file: Path  # absolute path of the YAML file
    gitops_dir: Path
    locate: Callable[[tuple[str | int, ...]], SourceLocation]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Every validated document of the run by "Kind/name", so a kind can follow a reference
    # to another document (a RunnerPool to its Forgejo) and report a dangling one.
    documents: Mapping[str, KindModel] = field(default_factory=dict)
    # "Kind/name" of documents that failed validation (already reported): a kind that
    # names one calls `unresolved(ref)` and compiles nothing that needs it, reporting nothing
    invalid: frozenset[str] = frozenset()
    skipped: list[str] = field(default_factory=list)

    def unresolved(self, ref: str) -> bool:
        """True (and remembered) when `ref` names a document that failed validation."""
        if ref in self.invalid:
            self.skipped.append(ref)
            return True
        return False

    def here(self, *loc: str | int) -> SourceLocation:
        return self.locate(tuple(loc))

    def error(self, loc: tuple[str | int, ...], message: str, fix: str | None = None) -> None:
        path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        self.diagnostics.append(Diagnostic(self.locate(loc), path, message, fix))

    def read_text(self, relative: str, loc: tuple[str | int, ...]) -> str | None:
        """Read a file relative to the document's folder; a missing file is a Diagnostic."""
        target = (self.file.parent / relative).resolve()
        try:
            target.relative_to(self.gitops_dir.resolve())
        except ValueError:
            self.error(loc, f"{relative!r} is outside gitops/", "keep mounted files under gitops/")
            return None
        try:
            return read_utf8(target, relative_name(target, self.gitops_dir))
        except FileNotFoundError:
            siblings = sorted(p.name for p in target.parent.glob("*") if p.is_file())
            close = difflib.get_close_matches(target.name, siblings, n=1)
            self.error(
                loc,
                f"file {relative!r} not found next to {self.file.name}",
                f"did you mean {close[0]!r}?" if close else None,
            )
        except ConfigError as exc:  # not UTF-8: located in that file
            self.diagnostics.extend(exc.diagnostics)
        except OSError as exc:
            self.error(loc, f"cannot read {relative!r}: {exc.strerror}")
        return None

    def raise_if_errors(self) -> None:
        if self.diagnostics:
            raise ConfigError(self.diagnostics)


M = TypeVar("M", bound=KindModel)
E = TypeVar("E", bound=StrictModel)


@dataclass(frozen=True)
class KindSpec(Generic[M]):
    """Registers a YAML `kind:`. `compile` is pure (no engine, no network, no secrets)."""

    kind: str  # the YAML `kind:` value, e.g. "Forgejo"
    model: type[M]
    compile: Callable[[M, CompileContext], Compiled]
    folder: str  # where its documents live under gitops/ ("forgejo"); informational
    # True: the model gets one optional field per registered ServiceExtension (e.g.
    # `tailscale:`), and compile should call reconciler.kinds.service.apply_extensions.
    accepts_service_extensions: bool = False


@dataclass(frozen=True)
class ServiceExtension(Generic[E]):
    """Adds an optional key to the Service kind (and to any kind that compiles services
    through reconciler.kinds.service.compile_service), e.g. `tailscale:` sidecars.

    `compile(value, main, ctx)` gets the parsed value and the service's main container and
    returns the (possibly changed) main container plus extra resources (a sidecar, its
    state volume, secrets, provider items).
    """

    key: str
    model: type[E]
    compile: Callable[[E, ContainerSpec, CompileContext], tuple[ContainerSpec, Compiled]]
