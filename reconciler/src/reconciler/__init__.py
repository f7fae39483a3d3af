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

__version__ = "0.1.0"  # first: modules imported below read it back (cli)

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
