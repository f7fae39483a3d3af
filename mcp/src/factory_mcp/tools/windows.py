"""Optimal production windows, with the tariff periods the factory gets wrong.

What this adds to the API: window times are naive local wall times and get their offset; the
factory labels weekend and holiday hours P1/P2, so each window carries the correct 2.0TD periods
of its hours and says when the factory's label was corrected.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from factory_mcp import factory_api as api
from factory_mcp.deps import Deps
from factory_mcp.hour_range import HourRangeError, parse_hour_range
from factory_mcp.runner import ToolRunner
from factory_mcp.tariff import Period, period_at
from factory_mcp.timeutil import MADRID, TimestampError, iso, local_instants, localise
from factory_mcp.tools.common import (
    Out,
    read_only,
    round4,
)
from factory_mcp.upstream import UpstreamError


class Window(Out):
    start: str
    end: str
    duration_hours: int
    avg_price_eur_kwh: float | None
    quality: str | None
    tariff_periods: list[Period] = Field(description="Correct 2.0TD periods of its hours")
    factory_label: str | None
    label_corrected: bool
    estimated_savings_eur: float | None = None


class OptimalWindows(Out):
    summary: str
    days: int
    optimal: list[Window]
    avoid: list[Window]
    notes: list[str]


def _clock_hours(raw: api.OptimalWindow, start: datetime) -> int:
    """How many clock hours a window covers, from its range ("19-21h" is 3) or its count."""
    if raw.hours:
        try:
            span = parse_hour_range(raw.hours)
        except HourRangeError as exc:
            raise UpstreamError(f"An optimal window has a bad hour range: {exc}.") from None
        if span.first != start.hour:
            raise UpstreamError(
                f"An optimal window starts at {raw.datetime} but its range is {raw.hours!r}."
            )
        if raw.duration_hours is not None and raw.duration_hours != span.hours:
            raise UpstreamError(
                f"An optimal window's range {raw.hours!r} covers {span.hours} hours but its "
                f"duration_hours is {raw.duration_hours}."
            )
        return span.hours
    if raw.duration_hours is None or raw.duration_hours < 1:
        raise UpstreamError(f"A window at {raw.datetime} has neither an hour range nor a length.")
    return raw.duration_hours


def _window(raw: api.OptimalWindow, wall: datetime, *, avoid: bool) -> Window:
    """A window of clock hours from its naive local start `wall`, each hour read through the
    one local-time conversion (a DST day's windows get the offsets really in force)."""
    hours = _clock_hours(raw, wall)
    start = localise(wall)
    end = localise(wall + timedelta(hours=hours))
    periods: list[Period] = []
    for h in range(hours):
        for instant in local_instants(wall + timedelta(hours=h)):
            p = period_at(instant)
            if p not in periods:
                periods.append(p)
    price = raw.avg_price if avoid else raw.avg_price_eur_kwh
    return Window(
        start=iso(start),
        end=iso(end),
        duration_hours=hours,
        avg_price_eur_kwh=round4(price),
        quality=raw.quality.lower() if raw.quality else ("avoid" if avoid else None),
        tariff_periods=sorted(periods),
        factory_label=raw.tariff_period,
        label_corrected=bool(raw.tariff_period) and [raw.tariff_period] != sorted(periods),
        estimated_savings_eur=raw.estimated_savings_eur,
    )


def _wall(text: str) -> datetime:
    """A window's naive local start as written (no offset is attached yet)."""
    try:
        wall = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"unparseable timestamp {text!r}") from None
    return wall.astimezone(MADRID).replace(tzinfo=None) if wall.tzinfo else wall


async def optimal_windows(deps: Deps, days: int) -> OptimalWindows:
    body = await deps.factory.get(
        "/insights/optimal-windows",
        {"days": days},
        ttl_s=deps.settings.cache_ttl_s,
        hint="days must be 1-14.",
    )
    failure = api.failed_in_body(body)
    if failure:
        raise UpstreamError(f"The factory could not compute optimal windows: {failure}.")
    data = api.parse(api.OptimalWindows, body, "/insights/optimal-windows")
    try:
        optimal = [_window(w, _wall(w.datetime), avoid=False) for w in data.optimal_windows]
        avoid = [_window(w, _wall(w.datetime), avoid=True) for w in data.avoid_windows]
    except TimestampError as exc:
        raise UpstreamError(f"An optimal window carries a bad timestamp: {exc}") from None
    corrected = sum(w.label_corrected for w in optimal + avoid)
    notes = [
        "Windows come from the factory's Prophet forecast; estimated_savings_eur is "
        "theoretical (100 kWh/h against a fixed 0.35 €/kWh peak)."
    ]
    if corrected:
        notes.append(
            f"{corrected} window(s) had a wrong tariff label from the factory (it ignores "
            "weekends and holidays); tariff_periods holds the correct 2.0TD periods."
        )
    if optimal:
        best = optimal[0]
        summary = (
            f"Best window: {best.start} for {best.duration_hours} h at "
            f"{best.avg_price_eur_kwh} €/kWh ({best.quality}); {len(optimal)} cheap and "
            f"{len(avoid)} windows to avoid in the next {days} days."
        )
    else:
        summary = f"No cheap windows found in the next {days} days; {len(avoid)} to avoid."
    return OptimalWindows(summary=summary, days=days, optimal=optimal, avoid=avoid, notes=notes)


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_optimal_windows",
        annotations=read_only("Optimal windows"),
        description=(
            "Cheapest windows for energy-hungry work (conching, tempering) in the next 1-14 days, "
            "and windows to avoid: start/end, mean forecast €/kWh, quality, correct 2.0TD "
            "periods. Use for 'when should we run the conching this week?'. Example: {\"days\": 7}"
        ),
    )
    async def get_optimal_windows(
        days: Annotated[int, Field(ge=1, le=14, description="Days ahead to search (1-14)")] = 7,
    ) -> Annotated[CallToolResult, OptimalWindows]:
        return await runner.run("get_optimal_windows", lambda: optimal_windows(deps, days))
