"""Providers: the narrow interfaces between the engine and the outside world.

Each provider observes one system (Docker engine, tailnet), plans pure actions for it and
executes exactly those actions (see base.Provider). Providers other than Docker register a
factory here at import time (from a module listed in reconciler.kinds.BUILTIN_KIND_MODULES).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.providers.base import ExecContext, PlanContext, Provider, SecretValues

if TYPE_CHECKING:
    from reconciler.stack import Stack

__all__ = [
    "ExecContext",
    "PlanContext",
    "Provider",
    "ProviderFactory",
    "ProviderSetup",
    "SecretValues",
    "provider_factories",
    "register_provider",
]


@dataclass(frozen=True)
class ProviderSetup:
    """What a provider factory may use to build its client (never at import time)."""

    stack: Stack
    gitops_dir: Path
    environ: Mapping[str, str]
    secrets: SecretValues
    options: Mapping[str, object] = field(default_factory=dict)  # injected clients in tests
    # the engine the Docker provider uses (--docker-host, DOCKER_HOST, stack.yaml): a provider
    # that reads the engine too (Tailscale: sidecar state) uses this one, never its own
    docker_client: object | None = None


ProviderFactory = Callable[[ProviderSetup], Provider | None]

_FACTORIES: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Register an extra provider (the Docker provider is built in)."""
    existing = _FACTORIES.get(name)
    if existing is not None and existing is not factory:
        raise RuntimeError(f"provider {name!r} registered twice")
    _FACTORIES[name] = factory


def provider_factories() -> dict[str, ProviderFactory]:
    return dict(sorted(_FACTORIES.items()))
