"""What gitops/ declares that the pipeline needs: the stack (project, engine), the registry
(host port, users) and the Forgejo instance's public URL.

Why: the pipeline pushes to the registry the stack runs, logs in as one of its declared
users, and names the repository in image labels by the address people use (Forgejo's
`root_url`), so nothing is configured twice. Documents are read with the reconciler's own
loader and validated with the kinds' own models, exactly as `gitops validate` reads them.
Reads YAML only (no engine, no secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from reconciler import ConfigError, Forgejo, Registry, RegistryUser, Stack, load_documents

Model = TypeVar("Model", bound=BaseModel)


class DeclarationError(RuntimeError):
    """gitops/ cannot be read; the message names the file."""


def _first_declared(root: Path, kind: str, model: type[Model]) -> Model | None:
    """The first `kind:` document under root/gitops (path order, as the loader reads)."""
    gitops = root / "gitops"
    if not gitops.is_dir():
        return None
    try:
        documents = load_documents(gitops)
    except ConfigError as exc:
        raise DeclarationError(f"{exc}; run `gitops validate`") from exc
    for document in documents:
        if isinstance(document.data, dict) and document.data.get("kind") == kind:
            try:
                return model.model_validate(document.data)
            except ValidationError as exc:
                raise DeclarationError(
                    f"{document.start}: not a valid {kind}; run `gitops validate` ({exc})"
                ) from exc
    return None


def declared_stack(root: Path) -> Stack:
    """gitops/stack.yaml's `kind: Stack` (the project name, the engine); it must exist."""
    stack = _first_declared(root, "Stack", Stack)
    if stack is None:
        raise DeclarationError(f"{root / 'gitops'}: no `kind: Stack` document (stack.yaml)")
    return stack


def declared_registry(root: Path) -> Registry | None:
    """The stack's `kind: Registry` document, or None."""
    return _first_declared(root, "Registry", Registry)


def declared_forgejo(root: Path) -> Forgejo | None:
    """The stack's `kind: Forgejo` document (its `root_url` is the public address), or None."""
    return _first_declared(root, "Forgejo", Forgejo)


def pipeline_user(registry: Registry, wanted: str | None) -> RegistryUser:
    """The declared user the pipeline pushes as: `wanted` (env REGISTRY_USER) or the first."""
    if wanted is None:
        return registry.users[0]
    for user in registry.users:
        if user.name == wanted:
            return user
    names = ", ".join(user.name for user in registry.users)
    raise DeclarationError(f"REGISTRY_USER={wanted!r} is not a user of the registry ({names})")
