"""What gitops/ declares about the private registry: its host port and its users.

Why: the pipeline pushes to the registry the stack runs and logs in as one of its declared
users, with that user's password secret, so nothing about the registry is configured twice.
Reads YAML only (no engine, no secrets).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.kinds.registry.model import Registry, RegistryUser


class DeclarationError(RuntimeError):
    """gitops/registry/ cannot be read; the message names the file."""


def declared_registry(root: Path) -> Registry | None:
    """The first `kind: Registry` document under gitops/registry/, or None."""
    folder = root / "gitops" / "registry"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            documents = list(YAML(typ="safe").load_all(path.read_text(encoding="utf-8")))
        except YAMLError as exc:
            raise DeclarationError(
                f"{path}: not valid YAML ({exc}); run `gitops validate`"
            ) from exc
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "Registry":
                try:
                    return Registry.model_validate(document)
                except ValidationError as exc:
                    raise DeclarationError(f"{path}: run `gitops validate` ({exc})") from exc
    return None


def pipeline_user(registry: Registry, wanted: str | None) -> RegistryUser:
    """The declared user the pipeline pushes as: `wanted` (env REGISTRY_USER) or the first."""
    if wanted is None:
        return registry.users[0]
    for user in registry.users:
        if user.name == wanted:
            return user
    names = ", ".join(user.name for user in registry.users)
    raise DeclarationError(f"REGISTRY_USER={wanted!r} is not a user of the registry ({names})")
