"""The engine behind `gitops`: load → validate → compile → observe → plan → apply.

See reconciler/ARCHITECTURE.md for the contracts kinds and providers build on.

The public surface: what another package may use is named in ``__all__`` below and imported
from ``reconciler`` itself, never from a submodule. Today one package does: the pipeline
(pipeline/, ``factory_pipeline``), which reads gitops/ and resolves the registry's secrets as
`gitops apply` does, and shares the engine's Docker lock, one-off containers and names.
common/, mcp/ and analytics/ never import the engine. Everything else is internal and may
move (reconciler/tests/unit/test_public_surface.py holds both rules).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from reconciler import labels
    from reconciler.actions import Plan
    from reconciler.apply import ApplyResult, execute_plan
    from reconciler.clip import tail_lines
    from reconciler.errors import ConfigError, GitopsError, SecretsError
    from reconciler.kinds.forgejo.model import Forgejo
    from reconciler.kinds.registry.compile import registry_env
    from reconciler.kinds.registry.htpasswd import render_htpasswd
    from reconciler.kinds.registry.model import Registry, RegistryUser
    from reconciler.load import load_documents
    from reconciler.planner import build_plan
    from reconciler.project import Project, load_project
    from reconciler.providers.docker.client import make_client
    from reconciler.providers.docker.lock import (
        EngineLock,
        EngineMutex,
        LockKeys,
        engine_container,
        ensure_lock_image,
        holder_description,
    )
    from reconciler.providers.docker.names import container_name
    from reconciler.providers.docker.oneshot import run_once
    from reconciler.render import render_plan
    from reconciler.resources import SecretRequirement
    from reconciler.secrets import SecretStore
    from reconciler.stack import SecretsConfig, Stack

# Each public name and the module it lives in. Imported on first use (PEP 562), so that
# importing one part of the engine does not import all of it: the Tailscale provider must
# import without docker (tests/tailscale/test_no_docker.py), and `gitops validate` needs
# no engine client at all.
_WHERE: dict[str, str] = {
    "ApplyResult": "reconciler.apply",
    "ConfigError": "reconciler.errors",
    "EngineLock": "reconciler.providers.docker.lock",
    "EngineMutex": "reconciler.providers.docker.lock",
    "Forgejo": "reconciler.kinds.forgejo.model",
    "GitopsError": "reconciler.errors",
    "LockKeys": "reconciler.providers.docker.lock",
    "Plan": "reconciler.actions",
    "Project": "reconciler.project",
    "Registry": "reconciler.kinds.registry.model",
    "RegistryUser": "reconciler.kinds.registry.model",
    "SecretRequirement": "reconciler.resources",
    "SecretStore": "reconciler.secrets",
    "SecretsConfig": "reconciler.stack",
    "SecretsError": "reconciler.errors",
    "Stack": "reconciler.stack",
    "build_plan": "reconciler.planner",
    "container_name": "reconciler.providers.docker.names",
    "engine_container": "reconciler.providers.docker.lock",
    "ensure_lock_image": "reconciler.providers.docker.lock",
    "execute_plan": "reconciler.apply",
    "holder_description": "reconciler.providers.docker.lock",
    "load_documents": "reconciler.load",
    "load_project": "reconciler.project",
    "make_client": "reconciler.providers.docker.client",
    "registry_env": "reconciler.kinds.registry.compile",
    "render_htpasswd": "reconciler.kinds.registry.htpasswd",
    "render_plan": "reconciler.render",
    "run_once": "reconciler.providers.docker.oneshot",
    "tail_lines": "reconciler.clip",
}


def __getattr__(name: str) -> Any:
    if name == "labels":  # a public module rather than a name in one
        value: Any = importlib.import_module("reconciler.labels")
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "ApplyResult",
    "ConfigError",
    "EngineLock",
    "EngineMutex",
    "Forgejo",
    "GitopsError",
    "LockKeys",
    "Plan",
    "Project",
    "Registry",
    "RegistryUser",
    "SecretRequirement",
    "SecretStore",
    "SecretsConfig",
    "SecretsError",
    "Stack",
    "__version__",
    "build_plan",
    "container_name",
    "engine_container",
    "ensure_lock_image",
    "execute_plan",
    "holder_description",
    "labels",
    "load_documents",
    "load_project",
    "make_client",
    "registry_env",
    "render_htpasswd",
    "render_plan",
    "run_once",
    "tail_lines",
]
