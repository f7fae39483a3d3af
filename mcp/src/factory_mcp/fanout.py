"""Reading several upstream sources at once: each with its own deadline, failures kept apart.

Why one helper: a tool that merges several endpoints (alerts, system health, the production
recommendation's inputs, endpoint performance) must not lose every source because one answers
5xx or hangs. An anyio task group cancels its siblings and wraps the first error in an
exception group, which a per-source `except UpstreamError` does not catch; and without a
per-source deadline one hanging endpoint spends the whole tool's budget and the call fails
without naming it. Here every source runs under its own (shorter) deadline and every failure
is caught where it happens and recorded with its endpoint and a reason the caller can act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from factory_mcp.upstream import UpstreamError, narrower_deadline

# Slack past a source's own deadline before it is abandoned: the request timeout inside fires
# first and gives the better message (the URL); this only stops what is not an HTTP wait.
_BACKSTOP_S = 0.5

E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True)
class SourceFailure:
    """One source that could not be read: which, where, why (timeout, unreachable, HTTP 503, …)."""

    source: str
    endpoint: str
    reason: str
    message: str


@dataclass(frozen=True)
class Source:
    """A named upstream read: `endpoint` names it in failures ("GET /insights/alerts")."""

    endpoint: str
    fetch: Callable[[], Awaitable[Any]]


def leaf_errors(group: BaseExceptionGroup, kind: type[E]) -> list[E] | None:
    """The leaves of a (nested) exception group when every one is a `kind`, else None: a
    task group wraps the errors it meant to report with anything else, and only the former
    may be turned into an answer (anything else is a bug and must stay visible)."""
    matched, rest = group.split(kind)
    if rest is not None or matched is None:
        return None
    leaves: list[E] = []
    stack: list[BaseException] = [matched]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        elif isinstance(item, kind):
            leaves.append(item)
    return leaves


def _failure(name: str, source: Source, error: UpstreamError) -> SourceFailure:
    return SourceFailure(
        source=name,
        endpoint=error.endpoint or source.endpoint,
        reason=error.reason,
        message=str(error),
    )


async def fan_out(
    sources: Mapping[str, Source], deadline_s: float
) -> tuple[dict[str, Any], dict[str, SourceFailure]]:
    """Run every source concurrently; return what answered and what failed, by name.

    Only upstream failures are caught; a bug (any other exception) still propagates, and
    cancelling the tool call cancels every source.
    """
    got: dict[str, Any] = {}
    failed: dict[str, SourceFailure] = {}

    async def run(name: str, source: Source) -> None:
        try:
            with narrower_deadline(deadline_s):
                with anyio.move_on_after(deadline_s + _BACKSTOP_S) as scope:
                    got[name] = await source.fetch()
            if scope.cancelled_caught:
                failed[name] = SourceFailure(
                    source=name,
                    endpoint=source.endpoint,
                    reason="timeout",
                    message=f"{source.endpoint} gave no answer within {deadline_s:g} s.",
                )
        except UpstreamError as exc:
            failed[name] = _failure(name, source, exc)
        except BaseExceptionGroup as group:
            errors = leaf_errors(group, UpstreamError)
            if not errors:
                raise
            failed[name] = _failure(name, source, errors[0])

    async with anyio.create_task_group() as tasks:
        for name, source in sources.items():
            tasks.start_soon(run, name, source)
    return got, failed


def describe(failures: Mapping[str, SourceFailure]) -> str:
    """One line per failed source for a summary or an error: endpoint, reason."""
    return "; ".join(f"{f.endpoint} ({f.reason})" for f in failures.values())
