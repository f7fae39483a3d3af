"""The Docker provider's verbs as data: one payload model per verb (see actions.Payload).

The plan fills them (plan.py, plan_container.py, plan_bootstrap.py, plan_interrupted.py);
the executor (execute.py, replace.py) reads them and decides nothing. Containers are named
by their logical name; the executor reads the spec itself from the desired state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from reconciler.actions import CoreVerb, Payload

__all__ = [
    "Bootstrap",
    "Create",
    "CreateNetwork",
    "CreateVolume",
    "PullImage",
    "Recreate",
    "RemoveNetwork",
    "RemoveOrphan",
    "RemoveVolume",
    "Restore",
    "RunJob",
    "Start",
    "Update",
]


class PullImage(Payload, verb=CoreVerb.PULL_IMAGE):
    ref: str


class CreateNetwork(Payload, verb=CoreVerb.CREATE_NETWORK):
    name: str  # logical


class CreateVolume(Payload, verb=CoreVerb.CREATE_VOLUME):
    name: str  # logical


class RemoveNetwork(Payload, verb=CoreVerb.REMOVE_NETWORK):
    network_id: str
    name: str  # engine name


class RemoveVolume(Payload, verb=CoreVerb.REMOVE_VOLUME):
    name: str  # engine name


class RemoveOrphan(Payload, verb=CoreVerb.REMOVE_ORPHAN):
    container_id: str
    name: str  # engine name


class _Placement(Payload):
    """Where a new container goes, resolved by the plan: the networks to join now (absent
    optional external ones left out) and numeric `group_add` (the `docker-socket` symbol
    resolved). None: not resolved, the spec's own values are used."""

    name: str  # logical container name
    networks: tuple[str, ...] | None = None
    group_add: tuple[str, ...] | None = None


class Create(_Placement, verb=CoreVerb.CREATE):
    """A missing service container: create, start, gate on its health."""


class RunJob(_Placement, verb=CoreVerb.RUN_JOB):
    replace: str | None = None  # id of the previous run's container, removed first


class Restore(BaseModel):
    """After an interrupted apply: the leftover to rename back first, the unproven one to
    discard (plan_interrupted.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    discard: str | None = None


class Recreate(_Placement, verb=CoreVerb.RECREATE):
    replace: str  # id of the container replaced
    strategy: Literal["start-first", "stop-first"]
    before: tuple[str, ...] | None = None  # ReplacePolicy.before, run in the old container
    start_for_before: bool = False  # the old container is not running: start it for `before`
    version_change: str | None = None  # "10 → 11": a failed gate leaves the old one stopped
    restore: Restore | None = None


class Update(Payload, verb=CoreVerb.UPDATE):
    """Restart policy / limits in place; `start` too when the container is not running."""

    name: str
    container_id: str
    start: bool = False


class Start(Payload, verb=CoreVerb.START):
    name: str
    container_id: str


class Bootstrap(Payload, verb=CoreVerb.BOOTSTRAP):
    step: str  # BootstrapStep.id
