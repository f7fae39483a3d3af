"""Providers: the narrow interfaces between the engine and the outside world.

Each provider observes one system (Docker engine, tailnet), plans pure actions for it and
executes exactly those actions (see base.Provider). Which providers exist is listed in
`reconciler.builtin.PROVIDERS` (name → factory); the CLI session calls every factory once per
run with one `ProviderSetup`, which carries the one Docker client of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.providers.base import ExecContext, PlanContext, Planned, Provider, SecretValues

if TYPE_CHECKING:
    from reconciler.secrets import SecretStore
    from reconciler.stack import Stack

__all__ = [
    "ExecContext",
    "PlanContext",
    "Planned",
    "Provider",
    "ProviderFactory",
    "ProviderSetup",
    "SecretValues",
]


@dataclass(frozen=True)
class ProviderSetup:
    """What a provider factory may use to build its client (never at import time)."""

    stack: Stack
    gitops_dir: Path
    environ: Mapping[str, str]
    secrets: SecretStore
    # the engine of this run (--docker-host, DOCKER_HOST, stack.yaml), built once by the CLI
    # session; only the Docker provider talks to it
    docker_client: Any
    options: Mapping[str, object] = field(default_factory=dict)  # injected clients in tests


ProviderFactory = Callable[[ProviderSetup], Provider | None]
