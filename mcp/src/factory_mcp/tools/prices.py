"""Price tools: the current price, the forecast, history with stats, optimal windows.

What this adds to the API: the 2.0TD period of every hour computed here (weekends and
holidays all-day P3), timestamps with offsets, a stale flag on the "latest" price, local-day
windows (the API cuts days at UTC midnight) and summaries before rows.
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
from factory_mcp.tariff import PERIOD_NAMES, Period, day_kind, period_at
from factory_mcp.timeutil import (
    TimestampError,
    from_aware,
    hour_start,
    hours_in_local_day,
    iso,
    local_day_bounds,
    localise_series,
    to_local,
)
from factory_mcp.tools.common import (
    TIMEZONE,
    Out,
    PricePoint,
    mean,
    median,
    need_dict,
    price_band,
    read_only,
    round4,
)
from factory_mcp.upstream import UpstreamError

MAX_HISTORY_DAYS = 31


class CurrentPrice(Out):
    summary: str
    price_eur_kwh: float = Field(description="PVPC price of hour_start, €/kWh")
    hour_start: str
    is_current_hour: bool
    stale: bool = Field(description="True when the newest stored price is older than this hour")
    age_minutes: int = Field(description="Minutes since hour_start")
    tariff_period: Period
    day_kind: str
    price_band: str
    current_tariff_period: Period
    as_of: str
    source: str | None
    timezone: str = TIMEZONE
    currency: str = "EUR"


class ForecastHour(Out):
    start: str
    predicted_eur_kwh: float
    lower_eur_kwh: float | None
    upper_eur_kwh: float | None
    tariff_period: Period


class PriceForecast(Out):
    summary: str
    horizon_hours: int
    model_type: str | None
    last_training: str | None
    min_eur_kwh: float
    max_eur_kwh: float
    mean_eur_kwh: float
    mean_by_period_eur_kwh: dict[str, float | None]
    cheapest: list[ForecastHour]
    dearest: list[ForecastHour]
    model_metrics: dict[str, float]
    notes: list[str]
    total_hours: int
    offset: int
    hours: list[ForecastHour]
    truncated: bool
    next_cursor: str | None
    timezone: str = TIMEZONE


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


def _by_period(points: list[tuple[Period, float]]) -> dict[str, float | None]:
    return {p: mean([v for q, v in points if q == p]) for p in ("P1", "P2", "P3")}


async def current_price(deps: Deps) -> CurrentPrice:
    now = deps.now()
    this_hour = hour_start(now)
    ttl = min(deps.settings.cache_ttl_s, (this_hour + timedelta(hours=1) - now).total_seconds())
    body = need_dict(
        await deps.factory.get(
            "/ree/prices/latest",
            ttl_s=max(ttl, 0.0),
            hint="No price stored in the last 7 days: REE ingestion has stopped; "
            "get_system_health shows how stale the data is.",
        ),
        "/ree/prices/latest",
    )
    row = api.parse(api.PriceRow, body, "/ree/prices/latest")
    start = hour_start(from_aware(row.timestamp))
    age = int((now - start).total_seconds() // 60)
    stale = start < this_hour
    period = period_at(start)
    local = to_local(start)
    if stale:
        summary = (
            f"STALE: no price is stored for the current hour. The newest price is "
            f"{row.price_eur_kwh:.4f} €/kWh for {local:%a %d %b %H:00} ({age // 60} h "
            f"{age % 60} min old); the factory's REE ingestion probably failed. Do not treat "
            "it as the current price."
        )
    else:
        summary = (
            f"{row.price_eur_kwh:.4f} €/kWh for {local:%H:00}-{(local + timedelta(hours=1)):%H:00}"
            f" Madrid time, period {period} ({PERIOD_NAMES[period]}), "
            f"{price_band(row.price_eur_kwh)}."
        )
    return CurrentPrice(
        summary=summary,
        price_eur_kwh=round(row.price_eur_kwh, 4),
        hour_start=iso(start),
        is_current_hour=start == this_hour,
        stale=stale,
        age_minutes=age,
        tariff_period=period,
        day_kind=day_kind(local.date()),
        price_band=price_band(row.price_eur_kwh),
        current_tariff_period=period_at(now),
        as_of=iso(now),
        source=row.source,
    )


async def price_forecast(deps: Deps, hours: int, limit: int, cursor: str | None) -> PriceForecast:
    query = fingerprint("forecast", hours)
    offset = decode_cursor(cursor, query)
    body = await deps.factory.get(
        "/predict/prices/hourly",
        {"hours": hours},
        ttl_s=deps.settings.cache_ttl_s,
        hint="hours must be 1-168.",
    )
    failure = api.failed_in_body(body)
    if failure:
        raise UpstreamError(
            f"The factory's price forecast failed: {failure}. "
            "get_system_health shows the forecast model's status."
        )
    forecast = api.parse(api.Forecast, body, "/predict/prices/hourly")
    if forecast.status != "success" or not forecast.predictions:
        raise UpstreamError(
            f"The factory returned no forecast (status {forecast.status!r}"
            f"{', ' + forecast.message if forecast.message else ''}). The Prophet model may be "
            "untrained; get_system_health shows its status."
        )
    try:
        starts = localise_series([r.timestamp for r in forecast.predictions])
        trained = localise_series([forecast.last_training])[0] if forecast.last_training else None
    except TimestampError as exc:
        raise UpstreamError(f"The forecast carries a bad timestamp: {exc}") from None
    rows = [
        ForecastHour(
            start=iso(s),
            predicted_eur_kwh=round(r.predicted_price, 4),
            lower_eur_kwh=round4(r.confidence_lower),
            upper_eur_kwh=round4(r.confidence_upper),
            tariff_period=period_at(s),
        )
        for s, r in zip(starts, forecast.predictions, strict=True)
    ]
    values = [r.predicted_eur_kwh for r in rows]
    ordered = sorted(rows, key=lambda r: r.predicted_eur_kwh)
    notes = [
        "Prophet forecast: timestamps are the factory's naive local wall times, given here with "
        "their offset; the factory trains on UTC wall-clock values, so hours may be shifted 1-2 h.",
    ]
    if min(values) < 0:
        notes.append("Some predicted prices are negative: Prophet output is unbounded.")
    metrics = {k: float(v) for k, v in forecast.model_metrics.items() if isinstance(v, int | float)}
    cheap, dear = ordered[0], ordered[-1]
    summary = (
        f"{len(rows)} h forecast: mean {mean(values):.4f} €/kWh, "
        f"cheapest {cheap.predicted_eur_kwh:.4f}"
        f" at {cheap.start}, dearest {dear.predicted_eur_kwh:.4f} at {dear.start}."
    )

    def build(page: list[ForecastHour], next_cursor: str | None) -> PriceForecast:
        return PriceForecast(
            summary=summary,
            horizon_hours=hours,
            model_type=forecast.model_type,
            last_training=iso(trained) if trained else None,
            min_eur_kwh=min(values),
            max_eur_kwh=max(values),
            mean_eur_kwh=mean(values) or 0.0,
            mean_by_period_eur_kwh=_by_period(
                [(r.tariff_period, r.predicted_eur_kwh) for r in rows]
            ),
            cheapest=ordered[:3],
            dearest=ordered[-3:][::-1],
            model_metrics=metrics,
            notes=notes,
            total_hours=len(rows),
            offset=offset,
            hours=page,
            truncated=next_cursor is not None,
            next_cursor=next_cursor,
        )

    return fit_page(rows, offset, limit, query, build)


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
            mean_by_period_eur_kwh=_by_period([(p.tariff_period, p.price_eur_kwh) for p in points]),
            cheapest=cheapest,
            dearest=dearest,
            days=days if offset == 0 else [],  # per-day stats come with the first page
            offset=offset,
            hours=page,
            truncated=next_cursor is not None,
            next_cursor=next_cursor,
        )

    return fit_page(rows, offset, limit, query, build)


def _window(raw: api.OptimalWindow, start: datetime, *, avoid: bool) -> Window:
    periods: list[Period] = []
    for h in range(max(raw.duration_hours, 1)):
        p = period_at(start + timedelta(hours=h))
        if p not in periods:
            periods.append(p)
    price = raw.avg_price if avoid else raw.avg_price_eur_kwh
    return Window(
        start=iso(start),
        end=iso(start + timedelta(hours=max(raw.duration_hours, 1))),
        duration_hours=raw.duration_hours,
        avg_price_eur_kwh=round4(price),
        quality=raw.quality.lower() if raw.quality else ("avoid" if avoid else None),
        tariff_periods=sorted(periods),
        factory_label=raw.tariff_period,
        label_corrected=bool(raw.tariff_period) and [raw.tariff_period] != sorted(periods),
        estimated_savings_eur=raw.estimated_savings_eur,
    )


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
        optimal = [
            _window(w, localise_series([w.datetime])[0], avoid=False) for w in data.optimal_windows
        ]
        avoid = [
            _window(w, localise_series([w.datetime])[0], avoid=True) for w in data.avoid_windows
        ]
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
        name="get_current_price",
        annotations=read_only("Current price"),
        description=(
            "Electricity price (PVPC, €/kWh) of the current hour with its 2.0TD period "
            "(Europe/Madrid; weekends and national holidays are P3). Use for 'what does "
            "electricity cost now?'. stale=true means no price exists for this hour: never "
            "present it as current. Example: {}"
        ),
    )
    async def get_current_price() -> Annotated[CallToolResult, CurrentPrice]:
        return await runner.run("get_current_price", lambda: current_price(deps))

    @server.tool(
        name="get_price_forecast",
        annotations=read_only("Price forecast"),
        description=(
            "Hourly price forecast (€/kWh, Prophet) for the next 1-168 hours with bounds and 2.0TD "
            "periods: summary (min/mean/max, cheapest and dearest hours, mean per period), then "
            "hours, paged. Use for 'when will electricity be cheap?'. Example: {\"hours\": 48}"
        ),
    )
    async def get_price_forecast(
        hours: Annotated[int, Field(ge=1, le=168, description="Horizon in hours (1-168)")] = 24,
        limit: Annotated[int, Field(ge=1, le=168, description="Rows per page")] = 48,
        cursor: Annotated[str | None, Field(description="next_cursor to continue")] = None,
    ) -> Annotated[CallToolResult, PriceForecast]:
        return await runner.run(
            "get_price_forecast", lambda: price_forecast(deps, hours, limit, cursor)
        )

    @server.tool(
        name="get_price_history",
        annotations=read_only("Price history"),
        description=(
            "Past hourly prices (€/kWh) for 1-31 Madrid-local days: range and per-day stats "
            "(min/max/mean/median, mean per 2.0TD period, missing hours); hourly rows with "
            "include_hours=true, paged. Use for 'what did electricity cost last week?'. "
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

    @server.tool(
        name="get_optimal_windows",
        annotations=read_only("Optimal windows"),
        description=(
            "Cheapest windows for energy-hungry processes (conching, tempering) in the next 1-14 "
            "days and windows to avoid: start/end, mean forecast €/kWh, quality, correct 2.0TD "
            "periods. Use for 'when should we run the conching this week?'. Example: {\"days\": 7}"
        ),
    )
    async def get_optimal_windows(
        days: Annotated[int, Field(ge=1, le=14, description="Days ahead to search (1-14)")] = 7,
    ) -> Annotated[CallToolResult, OptimalWindows]:
        return await runner.run("get_optimal_windows", lambda: optimal_windows(deps, days))
