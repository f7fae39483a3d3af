"""Documents → validated models, and the checks that span files.

Pydantic does the per-document work (strict types, unknown keys rejected); this module turns
its errors into `file:line:col: path: message (fix: …)` and adds what no single document
can know: duplicate names, dangling references, host-port clashes, dependency cycles. It
collects every problem before raising, and it never needs a secret or the engine.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.addresses import overlaps
from reconciler.errors import Diagnostic
from reconciler.kinds import kind_specs
from reconciler.kinds.base import KindModel, KindSpec
from reconciler.load import Document
from reconciler.resources import DesiredState
from reconciler.source import SourceLocation
from reconciler.stack import Stack

__all__ = [
    "ParsedDocument",
    "Unknowns",
    "check_desired",
    "diagnostics_from",
    "format_path",
    "parse",
]


@dataclass(frozen=True)
class ParsedDocument:
    document: Document
    spec: KindSpec[Any]
    model: KindModel

    @property
    def ref(self) -> str:
        return f"{self.spec.kind}/{self.model.name}"


@dataclass(frozen=True)
class Unknowns:
    """Documents whose errors are already reported (failed validation, or compiled nothing
    because a document they name failed): still known by name. Cross-file checks do not
    report a reference such a document may have declared: a container, volume, network or
    secret named like it (`forgejo`, `forgejo-data`) or named anywhere in it (a runner in
    `names:`, a password secret), so one mistake is one error, not its consequences."""

    names: frozenset[str] = frozenset()
    mentioned: frozenset[str] = frozenset()

    @classmethod
    def of(cls, documents: list[Document]) -> Unknowns:
        names = {d.data["name"] for d in documents if isinstance(d.data, dict)}
        return cls(
            names=frozenset(n for n in names if isinstance(n, str)),
            mentioned=frozenset(s for d in documents for s in _strings(d.data)),
        )

    def may_declare(self, name: str) -> bool:
        return name in self.mentioned or any(
            name == known or name.startswith(f"{known}-") for known in self.names
        )


def _strings(data: Any) -> set[str]:
    if isinstance(data, str):
        return {data}
    if isinstance(data, dict):
        return {s for k, v in data.items() for s in (*_strings(k), *_strings(v))}
    if isinstance(data, list):
        return {s for item in data for s in _strings(item)}
    return set()


def format_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse(
    documents: list[Document], *, complete: bool = True
) -> tuple[Stack | None, list[ParsedDocument], list[Diagnostic], list[Document]]:
    """Validate every document against its kind's model. Returns what validated, every
    problem, and the documents that failed (still known by name, see `Unknowns`), so the
    caller can run the cross-file checks on the valid part without follow-on errors.

    `complete=False`: some file could not be read, so a missing Stack may be in it and is
    not reported."""
    specs = kind_specs()
    problems: list[Diagnostic] = []
    stacks: list[tuple[Document, Stack]] = []
    parsed: list[ParsedDocument] = []
    failed: list[Document] = []
    seen: dict[tuple[str, str], Document] = {}
    for doc in documents:
        before = len(problems)
        _parse_one(doc, specs, problems, stacks, parsed, seen)
        if len(problems) > before:
            failed.append(doc)
    if complete and not stacks and not problems:
        problems.append(
            Diagnostic(
                SourceLocation(file="gitops/stack.yaml"),
                "",
                "no `kind: Stack` document found",
                "create gitops/stack.yaml with `kind: Stack` and `project: NAME`",
            )
        )
    for doc, _ in stacks[1:]:
        problems.append(
            Diagnostic(
                doc.start, "kind", f"a second Stack document (first at {stacks[0][0].start})"
            )
        )
    return (stacks[0][1] if stacks else None), parsed, problems, failed


def _parse_one(
    doc: Document,
    specs: dict[str, KindSpec[Any]],
    problems: list[Diagnostic],
    stacks: list[tuple[Document, Stack]],
    parsed: list[ParsedDocument],
    seen: dict[tuple[str, str], Document],
) -> None:
    """One document: its model, or its problems appended to `problems`."""
    if not isinstance(doc.data, dict):
        problems.append(Diagnostic(doc.start, "", "expected a mapping with `kind:` and `name:`"))
        return
    kind = doc.data.get("kind")
    if kind == "Stack":
        try:
            stacks.append((doc, Stack.model_validate(doc.data)))
        except ValidationError as exc:
            problems.extend(diagnostics_from(exc, doc, Stack))
        return
    known = ["Stack", *specs]
    if not isinstance(kind, str) or kind not in specs:
        got = "no `kind:`" if kind is None else f"unknown kind {kind!r}"
        close = difflib.get_close_matches(str(kind), known, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known)}"
        where = doc.locate(("kind",)) if kind is not None else doc.start
        problems.append(Diagnostic(where, "kind", got, fix))
        return
    spec = specs[kind]
    try:
        model = spec.model.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(diagnostics_from(exc, doc, spec.model))
        return
    key = (kind, model.name)
    if key in seen:
        problems.append(
            Diagnostic(
                doc.locate(("name",)),
                "name",
                f"{kind} {model.name!r} is declared twice (also at {seen[key].start})",
                "give each document a unique name",
            )
        )
        return
    seen[key] = doc
    parsed.append(ParsedDocument(document=doc, spec=spec, model=model))


def _data_path(data: Any, loc: tuple[Any, ...], error_type: str) -> tuple[str | int, ...]:
    """Drop pydantic's union/validator segments: keep only parts that exist in the data
    (plus the final missing key of a mapping)."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and last and error_type == "missing":
            path.append(part)
    return tuple(path)


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _allowed_keys(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """Field names accepted at `path` (for "did you mean …?")."""
    candidates: list[Any] = [model]
    for part in path:
        following: list[Any] = []
        for cand in candidates:
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                field = cand.model_fields.get(str(part))
                if field is not None:
                    following.extend(_unwrap(field.annotation))
            elif typing.get_origin(cand) in (list, tuple) and isinstance(part, int):
                following.extend(_unwrap(typing.get_args(cand)[0]))
            elif typing.get_origin(cand) is dict:
                following.extend(_unwrap(typing.get_args(cand)[1]))
        candidates = following
    return sorted(
        {
            name
            for cand in candidates
            if isinstance(cand, type) and issubclass(cand, BaseModel)
            for name in cand.model_fields
        }
    )


def diagnostics_from(
    exc: ValidationError, doc: Document, model: type[BaseModel]
) -> list[Diagnostic]:
    """Pydantic errors → one Diagnostic per offending node, with the fix when obvious."""
    grouped: dict[tuple[str | int, ...], list[Any]] = defaultdict(list)
    for error in exc.errors(include_url=False):
        path = _data_path(doc.data, tuple(error["loc"]), error["type"])
        if error["type"] == "extra_forbidden" and error["loc"]:
            path = (*path[:-1], error["loc"][-1]) if path and path[-1] == error["loc"][-1] else path
        grouped[path].append(error)
    result = []
    for path, errors in grouped.items():
        first = errors[0]
        kind = first["type"]
        fix = None
        if kind == "extra_forbidden":
            name = str(path[-1]) if path else "?"
            allowed = _allowed_keys(model, path[:-1])
            close = difflib.get_close_matches(name, allowed, n=1)
            message = f"unknown key {name!r}"
            fix = (
                f"did you mean {close[0]!r}?"
                if close
                else (f"allowed keys: {', '.join(allowed)}" if allowed else "remove it")
            )
            where = doc.locate(path, key=True)
        elif kind == "missing":
            message = f"required key {path[-1]!r} is missing" if path else "required key missing"
            where = doc.locate(path[:-1])
        else:
            message = _message(errors, path)
            fix = _fix(errors, path)
            where = doc.locate(path)
        result.append(Diagnostic(where, format_path(path), message, fix))
    return result


def _message(errors: list[dict[str, Any]], path: tuple[str | int, ...]) -> str:
    value = errors[0].get("input")
    if value is None and "input" in errors[0]:
        shown = ", got nothing (null)"
    else:
        shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
    if len(path) == 2 and path[0] == "env" and len(errors) > 1:
        return f"expected a string or {{secret: NAME}}{shown}"
    texts = []
    for error in errors:
        msg = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if msg not in texts:
            texts.append(msg)
    text = "; or ".join(texts)
    if errors[0]["type"] == "value_error" or "got " in text:
        return text
    return f"{text}{shown}"


def _fix(errors: list[dict[str, Any]], path: tuple[str | int, ...]) -> str | None:
    value = errors[0].get("input")
    if path and path[0] == "env" and isinstance(value, int | float | bool):
        return f'quote it: "{str(value).lower() if isinstance(value, bool) else value}"'
    if errors[0]["type"] in ("int_type", "float_type") and isinstance(value, str):
        return "write the number without quotes"
    return None


def check_desired(
    desired: DesiredState, documents: dict[str, Document], unknowns: Unknowns | None = None
) -> list[Diagnostic]:
    """Cross-file checks on the compiled state; `documents` maps owner ("Service/mcp") to
    its document so problems point at the exact node when the kind uses the same keys.
    A reference `unknowns` may declare is not reported (its document's error already is)."""
    problems: list[Diagnostic] = []
    unknown = (unknowns or Unknowns()).may_declare

    def where(owner: str, fallback: SourceLocation, *loc: str | int) -> SourceLocation:
        doc = documents.get(owner)
        return doc.locate(tuple(loc)) if doc is not None else fallback

    containers: dict[str, Any] = {}
    for spec in desired.containers:
        if spec.name in containers:
            other = containers[spec.name]
            problems.append(
                Diagnostic(
                    spec.source,
                    "name",
                    f"container {spec.name!r} is declared twice (also by {other.owner} at "
                    f"{other.source})",
                    "rename one of them",
                )
            )
            continue
        containers[spec.name] = spec
    networks = {n.name for n in desired.networks}
    volumes = {v.name for v in desired.volumes}
    published: dict[tuple[str, int, str], Any] = {}
    for spec in containers.values():
        for index, dep in enumerate(spec.depends_on):
            if dep not in containers and not unknown(dep):
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "depends_on", index),
                        f"depends_on[{index}]",
                        f"{spec.name!r} depends on {dep!r}, which is not declared",
                        _suggest(dep, containers, "declare it or remove the dependency"),
                    )
                )
        if spec.network_mode and spec.network_mode.startswith("container:"):
            parent = spec.network_mode.removeprefix("container:")
            if parent not in containers and not unknown(parent):
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "network_mode"),
                        "network_mode",
                        f"shares the network of {parent!r}, which is not declared",
                        _suggest(parent, containers, "declare it"),
                    )
                )
            if spec.ports:
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "ports"),
                        "ports",
                        "a container sharing another's network namespace cannot publish ports",
                        f"publish them on {parent!r}",
                    )
                )
        for index, network in enumerate(spec.networks):
            if network not in networks and not unknown(network):
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "networks", index),
                        f"networks[{index}]",
                        f"network {network!r} is not declared",
                        _suggest(network, networks, "use the stack network"),
                    )
                )
        for index, mount in enumerate(spec.mounts):
            volume = mount.volume
            if volume is not None and volume not in volumes and not unknown(volume):
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "volumes", index),
                        f"volumes[{index}]",
                        f"volume {mount.volume!r} is not declared",
                        _suggest(
                            mount.volume,
                            volumes,
                            f"add `{mount.volume}: {{}}` under `volumes:` in gitops/stack.yaml",
                        ),
                    )
                )
        for index, port in enumerate(spec.ports):
            key = (port.host_ip, port.host_port, port.protocol)
            clash = published.get(key)
            for (ip, number, proto), owner in published.items():
                if (
                    number == port.host_port
                    and proto == port.protocol
                    and overlaps(ip, port.host_ip)
                ):
                    clash = owner
            if clash is not None:
                problems.append(
                    Diagnostic(
                        where(spec.owner, spec.source, "ports", index),
                        f"ports[{index}]",
                        f"host port {port.host_ip}:{port.host_port}/{port.protocol} is also "
                        f"published by {clash.name!r} ({clash.source})",
                        "pick another host port",
                    )
                )
            published[key] = spec
    problems.extend(_cycles(containers))
    steps = {s.id for s in desired.bootstrap}
    for step in desired.bootstrap:
        if step.container not in containers and not unknown(step.container):
            problems.append(
                Diagnostic(
                    step.source,
                    "bootstrap",
                    f"step {step.id!r} runs in unknown container {step.container!r}",
                )
            )
        for after in step.after:
            if after not in steps:
                problems.append(
                    Diagnostic(
                        step.source,
                        "bootstrap",
                        f"step {step.id!r} runs after unknown step {after!r}",
                    )
                )
    return problems


def _suggest(name: str, known: Any, otherwise: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise


def _cycles(containers: dict[str, Any]) -> list[Diagnostic]:
    edges = {
        name: [
            *spec.depends_on,
            *(
                [spec.network_mode.removeprefix("container:")]
                if spec.network_mode and spec.network_mode.startswith("container:")
                else []
            ),
        ]
        for name, spec in containers.items()
    }
    state: dict[str, int] = {}
    problems: list[Diagnostic] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in edges.get(name, []):
            if dep not in edges:
                continue
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [name, dep]
                spec = containers[name]
                problems.append(
                    Diagnostic(
                        spec.source,
                        "depends_on",
                        f"dependency cycle: {' -> '.join(cycle)}",
                        "remove one of these dependencies",
                    )
                )
            elif state.get(dep) is None:
                visit(dep, [*trail, dep])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    return problems
