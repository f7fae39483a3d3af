"""Read every YAML document under gitops/, keeping the line:col of every node.

The loader only parses: it knows nothing about kinds. Each document becomes plain Python
data (for pydantic) plus the ruamel node tree (for `locate`), so any later stage can point
at the exact key or item that is wrong. It never touches the network or the engine.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from reconciler.errors import ConfigError, Diagnostic
from reconciler.source import SourceLocation

__all__ = [
    "Document",
    "load_documents",
    "parse_documents",
    "read_documents",
    "read_utf8",
    "relative_name",
]

YAML_SUFFIXES = (".yaml", ".yml")


def relative_name(path: Path, gitops_dir: Path) -> str:
    """How a file is named in messages: relative to the repository (gitops/…)."""
    base = gitops_dir.resolve().parent
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain data and where each node came from."""

    path: Path
    name: str  # e.g. "gitops/services/mcp.yaml"
    index: int  # position in a multi-document file
    node: Any  # ruamel round-trip tree (CommentedMap for a valid document)
    data: Any  # the same as plain dict/list/str/int/float/bool/None

    @property
    def start(self) -> SourceLocation:
        line, col = _position(self.node)
        return SourceLocation(file=self.name, line=line + 1, column=col + 1)

    def locate(self, loc: tuple[str | int, ...], *, key: bool = False) -> SourceLocation:
        """The position of the node at `loc` (or of its deepest existing ancestor).

        `key=True` points at a mapping key rather than its value (unknown keys)."""
        node = self.node
        line, col = _position(node)
        for depth, part in enumerate(loc):
            last = depth == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                if key and last:
                    line, col = node.lc.key(part)
                else:
                    line, col = node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            else:
                break
        return SourceLocation(file=self.name, line=line + 1, column=col + 1)


def _position(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return (0, 0)
    return (lc.line, lc.col)


def to_plain(node: Any) -> Any:
    """ruamel's subclasses → builtin types, so strict validation sees what YAML meant."""
    if isinstance(node, dict):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


def _files(gitops_dir: Path) -> Iterator[Path]:
    for path in sorted(gitops_dir.rglob("*")):
        if path.suffix in YAML_SUFFIXES and path.is_file():
            if any(part.startswith(".") for part in path.relative_to(gitops_dir).parts):
                continue
            yield path


def read_utf8(path: Path, name: str) -> str:
    """The file's text; a ConfigError at the line and column of its first byte that is not
    UTF-8 (every file under gitops/ is read through here)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        location = SourceLocation(
            file=name, line=data.count(b"\n", 0, exc.start) + 1, column=column
        )
        raise ConfigError(
            [
                Diagnostic(
                    location,
                    "",
                    f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
                    "save the file as UTF-8: `iconv -f "
                    + ("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "latin1")
                    + " -t utf-8`",
                )
            ]
        ) from None


def parse_documents(text: str, path: Path, name: str) -> list[Document]:
    """Every document of one YAML text (None for an empty one), or a ConfigError at the
    position the parser stopped, with the fix when it is a common one."""
    try:
        loaded = list(YAML(typ="rt").load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = SourceLocation(
            file=name,
            line=(mark.line + 1) if mark else 0,
            column=(mark.column + 1) if mark else 0,
        )
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        fix = _tab_fix(text, mark.line, mark.column) if mark and "'\\t'" in message else None
        raise ConfigError([Diagnostic(location, "", f"invalid YAML: {message}", fix)]) from None
    return [
        Document(path=path, name=name, index=index, node=node, data=to_plain(node))
        for index, node in enumerate(loaded)
    ]


def _tab_fix(text: str, line: int, column: int) -> str:
    """YAML forbids tabs as indentation (and after `key:` in block style)."""
    lines = text.splitlines()
    before = lines[line][:column] if line < len(lines) else ""
    if not before.strip():
        return "indent with spaces, not tabs"
    return "write a space instead of the tab"


def load_documents(gitops_dir: Path) -> list[Document]:
    """Every non-empty document of every YAML file, in path order; all parse errors at once
    (raised as one ConfigError). See `read_documents` for the rules."""
    documents, problems = read_documents(gitops_dir)
    if problems:
        raise ConfigError(problems)
    return documents


def read_documents(gitops_dir: Path) -> tuple[list[Document], list[Diagnostic]]:
    """The documents of every file that could be read, and a problem for each that could
    not (invalid YAML, not UTF-8, unreadable, empty), so a caller can still check the
    readable part and show every problem in one run.

    A file with no document at all is an error, unless a service delivers it into a
    container (`files: [{source: …}]`): such a data file is not a document at all."""
    if not gitops_dir.is_dir():
        raise ConfigError(
            [
                Diagnostic(
                    SourceLocation(file=str(gitops_dir)),
                    "",
                    "directory not found",
                    "run from the repository root or pass --dir PATH/TO/gitops",
                )
            ]
        )
    documents: list[Document] = []
    empty: list[tuple[Path, str]] = []
    problems: list[Diagnostic] = []
    for path in _files(gitops_dir):
        name = relative_name(path, gitops_dir)
        try:
            parsed = parse_documents(read_utf8(path, name), path, name)
        except ConfigError as exc:
            problems.extend(exc.diagnostics)
            continue
        except OSError as exc:
            problems.append(
                Diagnostic(SourceLocation(file=name), "", f"cannot read: {exc.strerror}")
            )
            continue
        kept = [doc for doc in parsed if doc.node is not None]
        if not kept:
            empty.append((path, name))
        documents.extend(kept)
    data_files = _referenced_files(documents)
    for path, name in empty:
        if path.resolve() not in data_files:
            problems.append(
                Diagnostic(
                    SourceLocation(file=name, line=1, column=1),
                    "",
                    "the file is empty (no YAML document in it)",
                    "declare something in it, e.g. `kind: Service` and `name:`, or delete it",
                )
            )
    return [doc for doc in documents if doc.path.resolve() not in data_files], problems


def _referenced_files(documents: list[Document]) -> set[Path]:
    """Files some document delivers into a container (`files: [{source: X}]`, relative to
    that document): a YAML config kept next to its service is data, not a gitops document.

    A `source:` naming a file that does not exist is reported by the service (with the
    close name); the kind-less YAML file it most likely meant stays data too, so the typo
    is one error, not also "no `kind:`" in the file it meant."""
    referenced: set[Path] = set()
    missing: list[Path] = []
    for doc in documents:
        entries = doc.data.get("files") if isinstance(doc.data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            source = entry.get("source") if isinstance(entry, dict) else None
            if isinstance(source, str) and source:
                target = (doc.path.parent / source).resolve()
                referenced.add(target)
                if not target.exists():
                    missing.append(target)
    kinded = {d.path.resolve() for d in documents if isinstance(d.data, dict) and "kind" in d.data}
    kindless = {d.path.resolve() for d in documents} - kinded
    for target in missing:
        siblings = sorted(p.name for p in kindless if p.parent == target.parent)
        referenced.update(
            target.parent / close for close in difflib.get_close_matches(target.name, siblings)
        )
    return referenced
