"""Validated models → one DesiredState, through each kind's compile function.

Kinds compile independently; this module adds what belongs to the stack (its shared network
and volumes), merges secret requirements by name (who needs each one, how it is generated,
from the kind or from stack.yaml's `secrets.declare`) and sorts everything so the same
files always give the same state. Pure: the only I/O is kinds reading files under gitops/.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reconciler.errors import Diagnostic
from reconciler.kinds.base import CompileContext
from reconciler.load import Document
from reconciler.resources import (
    Compiled,
    ComputedSecret,
    DerivedSecret,
    DesiredState,
    NetworkSpec,
    SecretRequirement,
    VolumeSpec,
)
from reconciler.source import SourceLocation
from reconciler.stack import Stack
from reconciler.validate import ParsedDocument, Unknowns, format_path

Locator = Callable[[tuple[str | int, ...]], SourceLocation]

__all__ = ["compile_stack"]


def compile_stack(
    stack: Stack,
    stack_doc: Document | None,
    parsed: list[ParsedDocument],
    gitops_dir: Path,
    failed: Sequence[Document] = (),
) -> tuple[DesiredState, list[Diagnostic], Unknowns]:
    """Compile every document; returns the state, the diagnostics kinds reported, and what
    the documents in error may have declared (`failed` ones, and those that compiled
    nothing because a document they name failed), for the cross-file checks."""
    diagnostics: list[Diagnostic] = []
    invalid = frozenset(
        f"{d.data.get('kind')}/{d.data.get('name')}" for d in failed if isinstance(d.data, dict)
    )
    unresolved: list[Document] = []
    here: Locator = stack_doc.locate if stack_doc is not None else _nowhere
    parts: list[Compiled] = [
        Compiled(
            networks=(
                NetworkSpec(name=stack.network, source=here(("network",))),
                *(
                    NetworkSpec(
                        name=key,
                        external=declared.name,
                        optional=declared.optional,
                        source=here(("external_networks", key)),
                    )
                    for key, declared in stack.external_networks.items()
                ),
            ),
            volumes=tuple(
                VolumeSpec(name=name, source=here(("volumes", name))) for name in stack.volumes
            ),
        )
    ]
    documents = {item.ref: item.model for item in parsed}
    for item in parsed:
        ctx = CompileContext(
            stack=stack,
            document=item.ref,
            file=item.document.path,
            gitops_dir=gitops_dir,
            locate=item.document.locate,
            documents=documents,
            invalid=invalid,
        )
        compiled = item.spec.compile(item.model, ctx)
        diagnostics.extend(ctx.diagnostics)
        parts.append(compiled)
        if ctx.skipped:
            unresolved.append(item.document)
    unknowns = Unknowns.of([*failed, *unresolved])
    networks = {n.name: n for p in parts for n in p.networks}
    volumes = {v.name: v for p in parts for v in p.volumes}
    extra: dict[str, tuple] = defaultdict(tuple)
    for part in parts:
        for provider, items in part.extra.items():
            extra[provider] += tuple(items)
    requirements = [s for p in parts for s in p.secrets]
    diagnostics.extend(_undeclared(stack, requirements, unknowns))
    secrets, secret_problems = _merge_secrets(stack, requirements, here, unknowns)
    diagnostics.extend(secret_problems)
    desired = DesiredState(
        project=stack.project,
        networks=tuple(sorted(networks.values(), key=lambda n: n.name)),
        volumes=tuple(sorted(volumes.values(), key=lambda v: v.name)),
        containers=tuple(sorted((c for p in parts for c in p.containers), key=lambda c: c.name)),
        bootstrap=tuple(b for p in parts for b in p.bootstrap),
        secrets=secrets,
        extra=dict(sorted(extra.items())),
    )
    return desired, diagnostics, unknowns


def _undeclared(
    stack: Stack, requirements: list[SecretRequirement], unknowns: Unknowns
) -> list[Diagnostic]:
    """`{secret: x}` references to a secret neither stack.yaml nor any kind declares."""
    declared = set(stack.secrets.declare) | {r.name for r in requirements if r.reference is None}
    problems = []
    for req in requirements:
        if req.reference is None or req.name in declared or unknowns.may_declare(req.name):
            continue
        problems.append(
            Diagnostic(
                req.source or SourceLocation(file="gitops/stack.yaml"),
                req.reference,
                f"secret {req.name!r} is not declared: nothing generates it and no kind "
                "provides it",
                _declare_fix(req.name, declared),
            )
        )
    return problems


def _declare_fix(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.8)
    if close:
        return f"did you mean {close[0]!r}?"
    return (
        f"declare it in gitops/stack.yaml under secrets.declare: `{name}: {{help: how to "
        "obtain it}` for one you provide, or `{generate: {length: 32}}` to have it generated"
    )


def _nowhere(loc: tuple[str | int, ...]) -> SourceLocation:
    return SourceLocation(file="gitops/stack.yaml")


def _merge_secrets(
    stack: Stack,
    requirements: list[SecretRequirement],
    here: Locator,
    unknowns: Unknowns,
) -> tuple[tuple[SecretRequirement, ...], list[Diagnostic]]:
    problems: list[Diagnostic] = []
    by_name: dict[str, SecretRequirement] = {}
    for req in requirements:
        current = by_name.get(req.name)
        if current is None:
            by_name[req.name] = req
            continue
        generate = current.generate or req.generate
        if current.generate and req.generate and current.generate != req.generate:
            problems.append(
                Diagnostic(
                    req.source or current.source or here(("secrets",)),
                    "secrets",
                    f"secret {req.name!r} is generated differently by {current.needed_by} "
                    f"and {req.needed_by}",
                    "use one secret name per purpose",
                )
            )
        by_name[req.name] = current.model_copy(
            update={
                "needed_by": tuple(sorted({*current.needed_by, *req.needed_by})),
                "generate": generate,
                "help": current.help or req.help,
            }
        )
    # stack.yaml's catalogue: how to generate/derive secrets kinds only reference.
    for name, decl in stack.secrets.declare.items():
        known = by_name.get(name)
        if decl.generate and decl.derive:
            problems.append(
                Diagnostic(
                    here(("secrets", "declare", name)),
                    f"secrets.declare.{name}",
                    "give either `generate` or `derive`, not both",
                )
            )
        if known is None:
            continue
        if known.generate is None:
            by_name[name] = known.model_copy(
                update={"generate": decl.generate or decl.derive, "help": decl.help or known.help}
            )
        elif decl.help and not known.help:
            by_name[name] = known.model_copy(update={"help": decl.help})
    # derived/computed secrets need their inputs: require them on behalf of the result.
    pending = list(by_name.values())
    while pending:
        req = pending.pop()
        if isinstance(req.generate, DerivedSecret):
            bases = [req.generate.from_secret]
        elif isinstance(req.generate, ComputedSecret):
            bases = sorted(req.generate.inputs.values())
        else:
            continue
        needed = (f"secret {req.name}",)
        for base in bases:
            found = by_name.get(base)
            if found is None:
                declared = stack.secrets.declare.get(base)
                if (
                    declared is None
                    and req.name in stack.secrets.declare
                    and not unknowns.may_declare(base)
                ):
                    loc = ("secrets", "declare", req.name, "derive", "from_secret")
                    problems.append(
                        Diagnostic(
                            here(loc),
                            format_path(loc),
                            f"secret {base!r} is not declared: {req.name!r} is derived from it",
                            _declare_fix(base, [*by_name, *stack.secrets.declare]),
                        )
                    )
                current = SecretRequirement(
                    name=base,
                    needed_by=needed,
                    generate=(declared.generate or declared.derive) if declared else None,
                    help=declared.help if declared else None,
                )
                pending.append(current)
            else:
                current = found.model_copy(
                    update={"needed_by": tuple(sorted({*found.needed_by, *needed}))}
                )
            by_name[base] = current
    return tuple(sorted(by_name.values(), key=lambda r: r.name)), problems
