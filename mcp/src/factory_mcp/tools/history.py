"""Price history with statistics, on Madrid-local days.

What this adds to the API: `/ree/prices` cuts days at UTC midnight, so a local day spans two
UTC days; this asks for the neighbouring days and keeps the local ones (23, 24 or 25 hours),
reports missing hours instead of inventing them, computes the 2.0TD period of every hour and
pages the rows under the context budget, per-day stats on the first page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from factory_mcp import factory_api as api
from factory_mcp.deps import Deps
from factory_mcp.paging import decode_cursor, fingerprint, fit_page
from factory_mcp.runner import ToolRunner
from factory_mcp.tariff import day_kind, period_at
from factory_mcp.timeutil import (
    from_aware,
    hour_start,
    hours_in_local_day,
    iso,
    local_day_bounds,
    to_local,
)
from factory_mcp.tools.common import (
    TIMEZONE,
    Out,
    PricePoint,
    mean,
    mean_by_period,
    median,
    read_only,
)
from factory_mcp.upstream import UpstreamError

MAX_HISTORY_DAYS = 31


class DayStats(Out):
    date: str
    day_kind: str
    hours_expected: int
    hours_found: int
    min_eur_kwh: float | None
    max_eur_kwh: float | None
    mean_eur_kwh: float | None


class PriceHistory(Out):
    summary: str
    start_date: str
    end_date: str
    hours_expected: int
    hours_found: int
    min_eur_kwh: float | None
    max_eur_kwh: float | None
    mean_eur_kwh: float | None
    median_eur_kwh: float | None
    mean_by_period_eur_kwh: dict[str, float | None]
    cheapest: PricePoint | None
    dearest: PricePoint | None
    days: list[DayStats]
    offset: int
    hours: list[PricePoint]
    truncated: bool
    next_cursor: str | None
    timezone: str = TIMEZONE
    currency: str = "EUR"


async def price_history(
    deps: Deps,
    start_date: date,
    end_date: date | None,
    include_hours: bool,
    limit: int,
    cursor: str | None,
) -> PriceHistory:
    end_date = end_date or start_date
    today = to_local(deps.now()).date()
    if end_date < start_date:
        raise ToolError(f"end_date {end_date} is before start_date {start_date}; swap them.")
    if (end_date - start_date).days + 1 > MAX_HISTORY_DAYS:
        raise ToolError(
            f"The range has {(end_date - start_date).days + 1} days; the maximum is "
            f"{MAX_HISTORY_DAYS}. Ask for a shorter range, e.g. one month at a time."
        )
    if start_date > today + timedelta(days=1):
        raise ToolError(
            f"{start_date} is in the future: REE publishes next-day prices around 20:15 Madrid "
            "time, so history ends tomorrow at the latest. Use get_price_forecast for later hours."
        )
    query = fingerprint("history", start_date, end_date, include_hours)
    offset = decode_cursor(cursor, query)
    # The API cuts days at UTC midnight; a Madrid day spans two UTC days, so ask one more on
    # each side and keep the hours whose local date is in range.
    past = end_date < today
    body = await deps.factory.get(
        "/ree/prices",
        {
            "start_date": (start_date - timedelta(days=1)).isoformat(),
            "end_date": (end_date + timedelta(days=1)).isoformat(),
        },
        ttl_s=deps.settings.cache_ttl_s * (10 if past else 1),
        hint="start_date and end_date are YYYY-MM-DD.",
    )
    if not isinstance(body, list):
        raise UpstreamError("The factory API's /ree/prices answer is not a list of hourly prices.")
    range_start = local_day_bounds(start_date)[0]
    range_end = local_day_bounds(end_date)[1]
    seen: dict[datetime, float] = {}
    for raw in body:
        row = api.parse(api.PriceRow, raw, "/ree/prices")
        start = hour_start(from_aware(row.timestamp))
        if range_start <= start < range_end:
            seen[start] = round(row.price_eur_kwh, 4)
    points = [
        PricePoint(start=iso(s), price_eur_kwh=p, tariff_period=period_at(s))
        for s, p in sorted(seen.items())
    ]
    days: list[DayStats] = []
    day = start_date
    while day <= end_date:
        lo, hi = local_day_bounds(day)
        values = [p for s, p in seen.items() if lo <= s < hi]
        days.append(
            DayStats(
                date=day.isoformat(),
                day_kind=day_kind(day),
                hours_expected=hours_in_local_day(day),
                hours_found=len(values),
                min_eur_kwh=min(values, default=None),
                max_eur_kwh=max(values, default=None),
                mean_eur_kwh=mean(values),
            )
        )
        day += timedelta(days=1)
    values = [p.price_eur_kwh for p in points]
    expected = sum(d.hours_expected for d in days)
    cheapest = min(points, key=lambda p: p.price_eur_kwh, default=None)
    dearest = max(points, key=lambda p: p.price_eur_kwh, default=None)
    if points:
        summary = (
            f"{start_date}..{end_date} (Madrid days): {len(points)}/{expected} hours, mean "
            f"{mean(values):.4f} €/kWh, min {cheapest.price_eur_kwh:.4f} at {cheapest.start}, "  # type: ignore[union-attr]
            f"max {dearest.price_eur_kwh:.4f} at {dearest.start}."  # type: ignore[union-attr]
        )
        if len(points) < expected:
            summary += f" {expected - len(points)} hours have no stored price (data gaps)."
    else:
        summary = (
            f"No prices are stored for {start_date}..{end_date}: the factory had no data "
            "for those days (the host is not always on, or ingestion failed)."
        )
    rows = points if include_hours else []

    def build(page: list[PricePoint], next_cursor: str | None) -> PriceHistory:
        return PriceHistory(
            summary=summary,
            start_date=start_date.isoformat(),
            end_date=end_date.isoformat(),
            hours_expected=expected,
            hours_found=len(points),
            min_eur_kwh=min(values, default=None),
            max_eur_kwh=max(values, default=None),
            mean_eur_kwh=mean(values),
            median_eur_kwh=median(values),
            mean_by_period_eur_kwh=mean_by_period(
                [(p.tariff_period, p.price_eur_kwh) for p in points]
            ),
            cheapest=cheapest,
            dearest=dearest,
            days=days if offset == 0 else [],  # per-day stats come with the first page
            offset=offset,
            hours=page,
            truncated=next_cursor is not None,
            next_cursor=next_cursor,
        )

    return fit_page(rows, offset, limit, query, build)


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_price_history",
        annotations=read_only("Price history"),
        description=(
            "Past hourly prices (€/kWh), 1-31 Madrid days: range and per-day stats "
            "(min/max/mean/median, mean per 2.0TD period, missing hours); hourly rows with "
            "include_hours=true, paged. Use for 'what did power cost last week?'. "
            'Example: {"start_date": "2026-11-20", "end_date": "2026-11-24"}'
        ),
    )
    async def get_price_history(
        start_date: Annotated[date, Field(description="First local day, YYYY-MM-DD")],
        end_date: Annotated[
            date | None, Field(description="Last local day (inclusive), default start_date")
        ] = None,
        include_hours: Annotated[bool, Field(description="Also return hourly rows")] = False,
        limit: Annotated[int, Field(ge=1, le=200, description="Rows per page")] = 48,
        cursor: Annotated[str | None, Field(description="next_cursor to continue")] = None,
    ) -> Annotated[CallToolResult, PriceHistory]:
        return await runner.run(
            "get_price_history",
            lambda: price_history(deps, start_date, end_date, include_hours, limit, cursor),
        )
