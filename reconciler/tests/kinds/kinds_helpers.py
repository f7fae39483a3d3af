"""Plain-data helpers for the kinds' compile tests: a Stack, a CompileContext, lookups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.kinds.base import CompileContext, KindModel
from reconciler.resources import BootstrapStep, Compiled, ContainerSpec, SecretRequirement
from reconciler.source import SourceLocation
from reconciler.stack import Stack

STACK = Stack.model_validate({"kind": "Stack", "project": "factory", "network": "factory"})


def context(
    document: str, documents: dict[str, KindModel] | None = None, stack: Stack = STACK
) -> CompileContext:
    """A context whose locations name the YAML path, so tests can assert where errors point."""
    file = f"gitops/{document.split('/')[0].lower()}.yaml"

    def locate(loc: tuple[str | int, ...]) -> SourceLocation:
        return SourceLocation(file=file, line=len(loc) + 1, column=1)

    return CompileContext(
        stack=stack,
        document=document,
        file=Path("/nonexistent/gitops") / file,
        gitops_dir=Path("/nonexistent/gitops"),
        locate=locate,
        documents=dict(documents or {}),
    )


def container(compiled: Compiled, name: str) -> ContainerSpec:
    return next(c for c in compiled.containers if c.name == name)


def step(compiled: Compiled, step_id: str) -> BootstrapStep:
    return next(s for s in compiled.bootstrap if s.id == step_id)


def secret(compiled: Compiled, name: str) -> SecretRequirement:
    return next(s for s in compiled.secrets if s.name == name)


def file(spec: ContainerSpec, target: str) -> str:
    return next(f.content for f in spec.files if f.target == target)


def errors(ctx: CompileContext) -> list[tuple[str, str, Any]]:
    return [(d.path, d.message, d.fix) for d in ctx.diagnostics]
