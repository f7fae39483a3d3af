"""The plan as data: frozen, typed actions with causes, dependencies and source locations.

A Plan is what `gitops plan` prints, what `--json` serialises, and what apply executes; it
holds no secret values and no engine objects. Providers add their own verbs (e.g. the
Tailscale provider's "set-policy"); the core ones are listed in `CoreVerb`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny, model_validator

from reconciler.source import SourceLocation

__all__ = [
    "PLAN_FORMAT_VERSION",
    "Action",
    "CoreVerb",
    "FieldChange",
    "GenerateSecret",
    "Payload",
    "Plan",
]

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


class Payload(BaseModel):
    """What the executor needs to carry out one verb: one subclass per verb (its `verb`),
    plain data only (ids, names, flags; never a secret value). Executors switch on the
    payload's class, so a verb's fields are typed where they are planned and used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verb: ClassVar[str]

    def __init_subclass__(cls, verb: str | None = None, **kwargs: Any) -> None:
        """`class PullImage(Payload, verb="pull-image")`: the verb it is the payload of."""
        super().__init_subclass__(**kwargs)
        if verb is not None:
            cls.verb = verb


class GenerateSecret(Payload, verb=CoreVerb.GENERATE_SECRET):
    """Write the secret generated in memory for this plan to the secrets dir."""

    name: str


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
    # what the executor needs for this verb (a Payload subclass whose `verb` is `verb`)
    payload: SerializeAsAny[Payload]

    @model_validator(mode="after")
    def _payload_fits_the_verb(self) -> Action:
        if self.payload.verb != self.verb:
            raise ValueError(
                f"action {self.id}: a {type(self.payload).__name__} payload is for verb "
                f"{str(self.payload.verb)!r}, not {str(self.verb)!r}"
            )
        return self


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
