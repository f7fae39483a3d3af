"""Config files a service receives, checked with the model of the program that reads them.

`files: [{source: analytics-config.yaml, target: …, config_of: factory-analytics}]`: the
file is validated, at `gitops validate`, by the very pydantic model factory-analytics loads
it with, so an unknown key or a wrong type is an error at file:line:col before deploying,
not a crash loop after. The reconciler never copies another package's model and the other
package never imports the reconciler for this: a package registers its model under the
entry-point group `gitops.config_models` (analytics/pyproject.toml:
`factory-analytics = "factory_analytics.config:AnalyticsConfig"`), looked up here with
importlib.metadata. A name nobody registered (the package is not installed next to the
reconciler) is an error that says what to install, never a silent pass.
"""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from pydantic import BaseModel, ValidationError

from reconciler.errors import ConfigError, Diagnostic
from reconciler.kinds.base import CompileContext
from reconciler.load import parse_documents, relative_name
from reconciler.source import SourceLocation
from reconciler.validate import diagnostics_from, format_path

__all__ = ["GROUP", "check_config_file", "registered"]

GROUP = "gitops.config_models"
INSTALL_HINT = (
    "install the package that reads this file next to the reconciler, e.g. "
    "`pip install -e ./reconciler -e ./analytics` for factory-analytics (`nox -s validate` "
    "and `nox -s lint` do)"
)


def registered() -> dict[str, EntryPoint]:
    """Every configuration model an installed package registered, by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _model(name: str, ctx: CompileContext, loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    models = registered()
    entry = models.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, sorted(models), n=1)
        installed = ", ".join(sorted(models)) or "none"
        ctx.error(
            loc,
            f"no installed package provides a configuration model {name!r} (entry points "
            f"{GROUP}: {installed})",
            f"did you mean {close[0]!r}?" if close else INSTALL_HINT,
        )
        return None
    try:
        model = entry.load()
    except Exception as exc:
        ctx.error(loc, f"cannot load the configuration model {name!r} ({entry.value}): {exc}")
        return None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        ctx.error(loc, f"{entry.value} (registered as {name!r}) is not a pydantic model")
        return None
    return model


def check_config_file(
    text: str, path: Path | None, name: str, ctx: CompileContext, loc: tuple[str | int, ...]
) -> None:
    """Validate `text` (the file at `path`, or the inline `content:` when None) with the
    model registered as `name`. Problems go to `ctx`, located in that file (inline content:
    at its `content:` node); a model nobody registered at `config_of:` of the entry `loc`."""
    model = _model(name, ctx, (*loc, "config_of"))
    if model is None:
        return
    if path is None:
        found: list[Diagnostic] = []
        _check(text, ctx.file, relative_name(ctx.file, ctx.gitops_dir), name, model, found)
        where, prefix = ctx.here(*loc, "content"), f"{format_path((*loc, 'content'))}"
        ctx.diagnostics.extend(
            Diagnostic(where, prefix, f"{d.path}: {d.message}" if d.path else d.message, d.fix)
            for d in found
        )
        return
    _check(text, path, relative_name(path, ctx.gitops_dir), name, model, ctx.diagnostics)


def _check(
    text: str,
    path: Path,
    shown: str,
    name: str,
    model: type[BaseModel],
    problems: list[Diagnostic],
) -> None:
    try:
        documents = [d for d in parse_documents(text, path, shown) if d.node is not None]
    except ConfigError as exc:
        problems.extend(exc.diagnostics)
        return
    if len(documents) > 1:
        problems.append(
            Diagnostic(
                documents[1].start,
                "",
                f"a second YAML document: {name} reads one",
                "keep one document (remove the `---`)",
            )
        )
        return
    document = documents[0] if documents else None
    data = document.data if document is not None else {}
    if not isinstance(data, dict):
        where = document.start if document else SourceLocation(file=shown, line=1, column=1)
        problems.append(Diagnostic(where, "", f"expected a mapping (the configuration of {name})"))
        return
    try:
        model.model_validate(data)
    except ValidationError as exc:
        if document is None:
            where = SourceLocation(file=shown, line=1, column=1)
            problems.append(Diagnostic(where, "", f"{name}: {exc}"))
            return
        problems.extend(diagnostics_from(exc, document, model))
