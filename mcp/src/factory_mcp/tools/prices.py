"""Price tools: the current price and the forecast.

What this adds to the API: the 2.0TD period of every hour computed here (weekends and
holidays all-day P3), timestamps with offsets, a stale flag on the "latest" price (never shown
as current), naive-local Prophet times resolved across DST changes, and summaries before rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from mcp.server.mcpserver import MCPServer
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
    from_naive_local,
    hour_start,
    iso,
    localise_hourly_series,
    to_local,
)
from factory_mcp.tools.common import (
    TIMEZONE,
    Out,
    mean,
    mean_by_period,
    need_dict,
    price_band,
    read_only,
    round4,
)
from factory_mcp.upstream import UpstreamError


class CurrentPrice(Out):
    summary: str
    price_eur_kwh: float = Field(description="PVPC price of hour_start, €/kWh")
    hour_start: str
    is_current_hour: bool
    stale: bool = Field(description="Not this hour's price")
    future: bool = Field(description="After this hour: a clock is wrong")
    age_minutes: int = Field(description="Negative if future")
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


@dataclass(frozen=True)
class PriceAge:
    """How a stored price's hour relates to the current hour, by this server's clock."""

    age_minutes: int
    stale: bool
    future: bool

    @classmethod
    def of(cls, start: datetime, now: datetime) -> PriceAge:
        """`stale` whenever the price is not for the current hour. A price stamped after it
        (the factory's clock ahead of ours, or ours behind) is as unusable as an old one:
        it is flagged `future` and never presented as current, whatever its age says."""
        this_hour = hour_start(now)
        return cls(
            age_minutes=int((now - start).total_seconds() // 60),
            stale=start != this_hour,
            future=start > this_hour,
        )

    def describe(self, start: datetime) -> str:
        """'for Wed 25 Nov 06:00 (4 h 20 min old)', or '… (100 min in the future)'."""
        when = f"{to_local(start):%a %d %b %H:00}"
        if self.future:
            return f"for {when} ({-self.age_minutes} min in the future by this server's clock)"
        return f"for {when} ({self.age_minutes // 60} h {self.age_minutes % 60} min old)"


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
    age = PriceAge.of(start, now)
    period = period_at(start)
    local = to_local(start)
    if age.future:
        summary = (
            f"STALE: the newest stored price, {row.price_eur_kwh:.4f} €/kWh, is "
            f"{age.describe(start)}: the factory's clock or this server's is wrong, and no "
            "price is known to be the current hour's. Do not treat it as the current price."
        )
    elif age.stale:
        summary = (
            f"STALE: no price is stored for the current hour. The newest price is "
            f"{row.price_eur_kwh:.4f} €/kWh {age.describe(start)}; the factory's REE "
            "ingestion probably failed. Do not treat it as the current price."
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
        stale=age.stale,
        future=age.future,
        age_minutes=age.age_minutes,
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
        starts = localise_hourly_series([r.timestamp for r in forecast.predictions], now=deps.now())
        trained = from_naive_local(forecast.last_training) if forecast.last_training else None
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
    if starts[0].utcoffset() != starts[-1].utcoffset():
        notes.append(
            "The forecast crosses a daylight-saving change: its rows are read as consecutive "
            "hours from the first one, so after the change a start may differ by an hour from "
            "the factory's own label."
        )
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
            mean_by_period_eur_kwh=mean_by_period(
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


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_current_price",
        annotations=read_only("Current price"),
        description=(
            "PVPC electricity price (€/kWh) of the current hour and its 2.0TD period "
            "(Europe/Madrid; weekends, national holidays P3). Use for 'what does power cost "
            "now?'. stale=true: no price for this hour, never present it as current. Example: {}"
        ),
    )
    async def get_current_price() -> Annotated[CallToolResult, CurrentPrice]:
        return await runner.run("get_current_price", lambda: current_price(deps))

    @server.tool(
        name="get_price_forecast",
        annotations=read_only("Price forecast"),
        description=(
            "Hourly price forecast (€/kWh, Prophet), next 1-168 h, with bounds and 2.0TD "
            "periods: summary (min/mean/max, cheapest and dearest hours, mean per period), then "
            "hours, paged. Use for 'when will power be cheap?'. Example: {\"hours\": 48}"
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
