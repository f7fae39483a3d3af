"""One call from a gitops/ directory to a validated, compiled DesiredState.

This is `gitops validate` in full: load → parse → compile → cross-file checks, every
problem collected and raised together as one ConfigError. No secrets, no engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.compile import compile_stack
from reconciler.errors import ConfigError
from reconciler.load import Document, read_documents
from reconciler.resources import DesiredState
from reconciler.stack import Stack
from reconciler.validate import ParsedDocument, check_desired, parse

__all__ = ["Project", "load_project"]


@dataclass(frozen=True)
class Project:
    gitops_dir: Path
    stack: Stack
    documents: tuple[ParsedDocument, ...]
    desired: DesiredState


def load_project(gitops_dir: Path) -> Project:
    gitops_dir = gitops_dir.resolve()
    documents, unreadable = read_documents(gitops_dir)
    stack, parsed, problems, failed = parse(documents, complete=not unreadable)
    if unreadable:
        # What an unreadable file declares is unknown, so the cross-file checks would
        # report its names as missing: show each readable document's own problems only.
        raise ConfigError(unreadable + problems)
    if stack is None:
        raise ConfigError(problems)
    stack_doc = next(
        (d for d in documents if isinstance(d.data, dict) and d.data.get("kind") == "Stack"),
        None,
    )
    desired, compile_problems, unknowns = compile_stack(
        stack, stack_doc, parsed, gitops_dir, failed
    )
    problems.extend(compile_problems)
    owners: dict[str, Document] = {p.ref: p.document for p in parsed}
    problems.extend(check_desired(desired, owners, unknowns))
    if problems:
        raise ConfigError(problems)
    return Project(gitops_dir=gitops_dir, stack=stack, documents=tuple(parsed), desired=desired)
