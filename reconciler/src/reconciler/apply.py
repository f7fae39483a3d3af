"""Walk a plan in order, dispatching each action to its provider; report; stop on failure.

No decisions here: the plan says what, providers know how. The one policy is about
reporting: every `pull-image` is attempted before stopping, so one run names every image
that is missing rather than the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reconciler.actions import CoreVerb, Plan
from reconciler.errors import ApplyError
from reconciler.providers.base import ExecContext, Provider

__all__ = ["ApplyResult", "execute_plan"]


@dataclass
class ApplyResult:
    completed: list[str] = field(default_factory=list)
    failed: ApplyError | None = None
    seconds: float = 0.0
    attempted: int = 0
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed is None


def execute_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    ctx: ExecContext,
    on_action: Callable[[int, int, str], None] = lambda *_: None,
    on_done: Callable[[str, float, bool], None] = lambda *_: None,
) -> ApplyResult:
    result = ApplyResult(completed=ctx.completed)
    start = time.monotonic()
    pull_failures: list[ApplyError] = []
    total = len(plan.actions)
    for index, action in enumerate(plan.actions, 1):
        if pull_failures and action.verb != CoreVerb.PULL_IMAGE:
            break
        on_action(index, total, f"{action.verb} {action.resource}")
        result.attempted = index
        began = time.monotonic()
        try:
            providers[action.provider].execute(action, ctx)
        except ApplyError as exc:
            on_done(action.id, time.monotonic() - began, False)
            if action.verb == CoreVerb.PULL_IMAGE:
                pull_failures.append(exc)
                continue
            result.failed = exc
            break
        result.durations[action.id] = time.monotonic() - began
        on_done(action.id, result.durations[action.id], True)
        ctx.completed.append(action.id)
    if pull_failures:
        first = pull_failures[0]
        reasons = [f.reason for f in pull_failures]
        result.failed = ApplyError(
            first.action_id if len(pull_failures) == 1 else "docker:image",
            "; ".join(reasons),
            tuple(ctx.completed),
            (*first.details, "nothing else was changed"),
        )
    result.seconds = time.monotonic() - start
    return result
