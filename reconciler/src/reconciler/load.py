"""Read every YAML document under gitops/, keeping the line:col of every node.

The loader only parses: it knows nothing about kinds. Each document becomes plain Python
data (for pydantic) plus the ruamel node tree (for `locate`), so any later stage can point
at the exact key or item that is wrong. It never touches the network or the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from reconciler.errors import ConfigError, Diagnostic
from reconciler.source import SourceLocation

__all__ = ["Document", "load_documents", "relative_name"]

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


def load_documents(gitops_dir: Path) -> list[Document]:
    """Every non-empty document of every YAML file, in path order; all parse errors at once."""
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
    yaml = YAML(typ="rt")
    documents: list[Document] = []
    problems: list[Diagnostic] = []
    for path in _files(gitops_dir):
        name = relative_name(path, gitops_dir)
        try:
            text = path.read_text(encoding="utf-8")
            loaded = list(yaml.load_all(text))
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            location = SourceLocation(
                file=name,
                line=(mark.line + 1) if mark else 0,
                column=(mark.column + 1) if mark else 0,
            )
            message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
            problems.append(Diagnostic(location, "", f"invalid YAML: {message}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Diagnostic(SourceLocation(file=name), "", f"cannot read: {exc}"))
            continue
        for index, node in enumerate(loaded):
            if node is None:
                continue
            documents.append(
                Document(path=path, name=name, index=index, node=node, data=to_plain(node))
            )
    if problems:
        raise ConfigError(problems)
    data_files = _referenced_files(documents)
    return [doc for doc in documents if doc.path.resolve() not in data_files]


def _referenced_files(documents: list[Document]) -> set[Path]:
    """Files some document delivers into a container (`files: [{source: X}]`, relative to
    that document): a YAML config kept next to its service is data, not a gitops document."""
    referenced: set[Path] = set()
    for doc in documents:
        entries = doc.data.get("files") if isinstance(doc.data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            source = entry.get("source") if isinstance(entry, dict) else None
            if isinstance(source, str) and source:
                referenced.add((doc.path.parent / source).resolve())
    return referenced
