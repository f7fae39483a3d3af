"""The plan as data: frozen, typed actions with causes, dependencies and source locations.

A Plan is what `gitops plan` prints, what `--json` serialises, and what apply executes; it
holds no secret values and no engine objects. Providers add their own verbs (e.g. the
Tailscale provider's "set-policy"); the core ones are listed in `CoreVerb`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.source import SourceLocation

__all__ = ["PLAN_FORMAT_VERSION", "Action", "CoreVerb", "FieldChange", "Plan"]

PLAN_FORMAT_VERSION = 1


class CoreVerb(StrEnum):
    """Verbs of the secrets store and the Docker provider."""

    GENERATE_SECRET = "generate-secret"  # noqa: S105 (a verb, not a password)
    CREATE_NETWORK = "create-network"
    CREATE_VOLUME = "create-volume"
    PULL_IMAGE = "pull-image"
    CREATE = "create"  # container missing
    RECREATE = "recreate"  # spec/image changed: create-tmp → health gate → swap
    UPDATE = "update"  # restart policy / limits, in place, no restart
    START = "start"  # exists with the right spec but is not running
    RUN_JOB = "run-job"  # one-shot container, must exit 0
    BOOTSTRAP = "bootstrap"  # exec a command in a healthy container
    REMOVE_ORPHAN = "remove-orphan"  # project-labelled container no longer declared
    REMOVE_VOLUME = "remove-volume"  # only when named by --remove-volume
    REMOVE_NETWORK = "remove-network"  # project network no longer declared


class FieldChange(BaseModel):
    """One changed field, values already redacted/canonical (JSON-able)."""

    model_config = ConfigDict(frozen=True)

    field: str
    before: Any = None
    after: Any = None


class Action(BaseModel):
    """One step. `id` is unique in the plan and what `depends_on` refers to.

    `provides`/`needs` link actions across providers without either knowing the other:
    an action that needs "secret:ts-authkey-mcp" depends on whichever action provides it
    (e.g. the Tailscale provider's mint-auth-key) — the planner adds that edge.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str  # "docker:container:mcp", "tailscale:policy", "secret:analytics_token"
    provider: str  # "docker", "secrets", "tailscale"
    verb: str
    resource: str  # human reference, e.g. "container mcp"
    causes: tuple[str, ...]  # short, lower-case: "image id differs", "container missing"
    changes: tuple[FieldChange, ...] = ()
    depends_on: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    source: SourceLocation | None = None
    # Executor parameters that are plain data (no secrets): e.g. the spec hash to stamp.
    params: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    """Ordered (topologically, ties by id) list of actions. Empty = nothing to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = PLAN_FORMAT_VERSION
    project: str
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "tailscale: skipped, no credentials"

    @property
    def empty(self) -> bool:
        return not self.actions

    def action(self, action_id: str) -> Action:
        for action in self.actions:
            if action.id == action_id:
                return action
        raise KeyError(action_id)
