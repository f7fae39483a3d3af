"""Runs one tool call: deadline, logging, and the structured-plus-text result.

Why a runner: every tool must finish within the deadline (Claude Desktop cancels at about
60 s), log one JSON line, and return its pydantic model both as `structuredContent` and as a
compact JSON text block for clients that only read text. Doing that in one place keeps the
tool functions to their domain logic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from factory_mcp.fanout import leaf_errors
from factory_mcp.upstream import UpstreamError, calls_made, deadline_scope

log = logging.getLogger("factory_mcp.tools")


def _with_calls(error: UpstreamError) -> UpstreamError:
    """An error about an answer (a failure inside a 200, a shape that does not match) names
    the calls that produced it; one about a request already names its endpoint."""
    calls = calls_made()
    if error.endpoint is not None or not calls:
        return error
    return UpstreamError(
        f"{error} (Upstream calls: {calls}.)", status=error.status, reason=error.reason
    )


def _tool_error_of(group: BaseExceptionGroup) -> BaseException:
    """The ToolErrors inside a task group's exception group, as one ToolError.

    Why: an error raised inside a task group reaches the runner wrapped in an exception group,
    which the SDK would mask as "Error executing tool" and so hide the upstream, endpoint and
    reason the ToolError names. Anything but ToolErrors inside is a bug: the group is kept.
    """
    errors = leaf_errors(group, ToolError)
    if errors is None:
        return group
    return ToolError(" Also: ".join(sorted({str(error) for error in errors})))


class ToolRunner:
    """Wraps tool bodies with the overall deadline and the call log."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s

    async def run(self, tool: str, work: Callable[[], Awaitable[BaseModel]]) -> CallToolResult:
        started = time.perf_counter()
        outcome = "ok"
        size = 0
        statuses: list[int] = []
        try:
            with deadline_scope(self.deadline_s) as statuses:
                try:
                    with anyio.fail_after(self.deadline_s):
                        model = await work()
                except BaseExceptionGroup as group:
                    raise _tool_error_of(group) from None
                except UpstreamError as exc:
                    raise _with_calls(exc) from None
                except TimeoutError:
                    raise ToolError(
                        f"{tool} did not finish within {self.deadline_s:.0f} s, so it was stopped "
                        "(the upstream service is slow or hanging). Try again in a minute, or ask "
                        f"for a smaller range. Upstream calls: {calls_made() or 'none'}."
                    ) from None
            text = model.model_dump_json(by_alias=True)
            size = len(text)
            return CallToolResult(
                content=[TextContent(type="text", text=text)],
                structured_content=model.model_dump(mode="json", by_alias=True),
            )
        except ToolError as exc:
            outcome = "error"
            size = len(str(exc))
            raise
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "crash"
            log.exception("tool crashed", extra={"tool": tool})
            raise
        finally:
            log.info(
                "tool call",
                extra={
                    "tool": tool,
                    "outcome": outcome,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "upstream_status": statuses[-1] if statuses else None,
                    "upstream_calls": len(statuses),
                    "result_chars": size,
                },
            )
