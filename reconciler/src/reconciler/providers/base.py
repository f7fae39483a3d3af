"""The Provider protocol: observe (read-only) → plan (pure) → execute (no decisions).

The core runs every provider's observe, then every provider's plan, merges the actions into
one Plan (linking `needs`/`provides` across providers), orders it, and hands each action
back to the provider named in `action.provider` for execution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from reconciler.actions import Action
from reconciler.resources import DesiredState

__all__ = ["ExecContext", "PlanContext", "Planned", "Provider", "SecretValues"]


class SecretValues(Protocol):
    """Read/write access to resolved secret values, never printed.

    `get(name)` returns the value or None when it is not known yet (to be generated,
    minted or captured during apply); `digest(name)` is the salted digest that goes into
    spec hashes ("pending" when unknown); `put(name, value, persist)` records a value
    produced during apply (persist=True writes it to the secrets dir, mode 0600)."""

    def get(self, name: str) -> str | None: ...

    def digest(self, name: str) -> str: ...

    def put(self, name: str, value: str, *, persist: bool) -> None: ...


@dataclass(frozen=True)
class PlanContext:
    """What a provider's plan may read besides desired and its own observed snapshot."""

    desired: DesiredState
    secrets: SecretValues
    image_overrides: dict[str, str] = field(default_factory=dict)  # --image SERVICE=REF
    remove_volumes: frozenset[str] = frozenset()  # --remove-volume NAME
    # secrets generated in memory for this plan; written by `generate-secret` actions, so
    # anything using one `needs` "secret:<name>" (ordered after the write)
    secrets_to_generate: frozenset[str] = frozenset()
    # --regenerate-secret NAME: generate these even though running containers use them
    regenerate_secrets: frozenset[str] = frozenset()
    # secrets an action of this plan provides (a minted auth key), from the previous planning
    # pass: an existing container using one as an ephemeral secret is recreated to get it
    secrets_provided: frozenset[str] = frozenset()
    # env GITOPS_RUNNER_NAME: the CI runner this apply runs on (ReplacePolicy.defer_on_runner)
    runner_name: str | None = None
    # `--only`: declared resources (logical names) outside the selection; never orphans,
    # their containers, networks and volumes are left exactly as they are
    left_out: frozenset[str] = frozenset()
    # every provider's snapshot by provider name, set by the planner after observe: a plan may
    # read another provider's facts (Tailscale reads the sidecars' logins from Docker's)
    observed: Mapping[str, Any] = field(default_factory=dict)


class Planned(NamedTuple):
    """A provider's plan: its actions, and notes on what it deliberately does not do (and
    why), printed above the plan (e.g. "volume x is no longer declared and is kept")."""

    actions: Sequence[Action]
    notes: Sequence[str] = ()


@dataclass
class ExecContext:
    """What an executor may use. `progress(message)` reports long work (pulls, waits)."""

    desired: DesiredState
    secrets: SecretValues
    progress: Callable[[str], None]
    completed: list[str] = field(default_factory=list)


@runtime_checkable
class Provider(Protocol):
    """One external system. Clients (docker SDK, httpx) are injected at construction."""

    name: str

    def observe(self, desired: DesiredState) -> Any:
        """One snapshot of the current state as plain values. Never writes."""
        ...

    def plan(self, observed: Any, ctx: PlanContext) -> Planned:
        """Actions turning observed into desired, with notes. Pure: no I/O."""
        ...

    def execute(self, action: Action, ctx: ExecContext) -> None:
        """Carry out one action of this provider exactly as planned. Raises ApplyError."""
        ...
