"""Production tools: the daily plan, a recommendation for given conditions, savings.

What this adds to the API: the plan is requested with *query* parameters (the endpoint
silently ignores a JSON body and plans 200 kg for tomorrow), hours get real timestamps and the
correct 2.0TD period, batches are paged, and every savings figure says what it is measured
against (a fixed 08-16 h baseline or hard-coded constants, never measured savings).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from factory_mcp import factory_api as api
from factory_mcp.deps import Deps
from factory_mcp.fanout import Source, fan_out
from factory_mcp.paging import decode_cursor, fingerprint, fit_page
from factory_mcp.runner import ToolRunner
from factory_mcp.tariff import Period, day_kind, period_at
from factory_mcp.timeutil import (
    from_aware,
    hour_start,
    iso,
    local_clock_hours,
    localise,
    to_local,
)
from factory_mcp.tools.common import Out, need_dict, obj, read_only, round4
from factory_mcp.tools.prices import PriceAge
from factory_mcp.upstream import UpstreamError


class PlanHour(Out):
    start: str
    price_eur_kwh: float | None
    tariff_period: Period
    state: str | None
    process: str | None
    climate: str | None


class Batch(Out):
    batch_id: str
    quality: str | None
    start: str
    end: str
    energy_kwh: float | None
    cost_eur: float | None
    avg_price_eur_kwh: float | None


class PlanSavings(Out):
    absolute_eur: float | None
    percent: float | None
    monthly_projection_eur: float | None
    annual_projection_eur: float | None
    compared_with: str = "the factory's fixed 08:00-16:00 baseline schedule (not measured savings)"


class ProductionPlan(Out):
    summary: str
    date: str
    day_kind: str
    target_kg: float
    batches_total: int
    consistent: bool
    inconsistencies: list[str]
    energy_kwh: float | None
    cost_eur: float | None
    avg_price_eur_kwh: float | None
    savings: PlanSavings
    timeline: list[PlanHour]
    recommendations: list[str]
    notes: list[str]
    offset: int
    batches: list[Batch]
    truncated: bool
    next_cursor: str | None


class Recommendation(Out):
    summary: str
    recommendation: str = Field(description="Optimal, Moderate, Reduced or Halt")
    confidence: float | None
    probabilities: dict[str, float]
    score: float | None
    price_eur_kwh: float
    price_stale: bool | None = Field(description="Stored price not this hour's; null if given")
    price_age_minutes: int | None
    temperature_c: float
    humidity_pct: float
    inputs_from: list[str]
    notes: list[str]


class Savings(Out):
    summary: str
    theoretical: bool = True
    measured_savings_eur: float | None = Field(description="Always null: nothing is measured")
    daily_savings_eur: float | None
    daily_savings_pct: float | None
    weekly_savings_eur: float | None
    monthly_target_eur: float | None
    annual_theoretical_savings_eur: float | None
    consumption_kwh_per_day: float | None
    assumptions: list[str]
    disclaimer: str | None


def _num(block: Any, key: str) -> float | None:
    value = block.get(key) if isinstance(block, dict) else None
    return round(float(value), 4) if isinstance(value, int | float) else None


def _at(day: date, hour_text: Any, fallback: int, *, clock: bool = False) -> datetime:
    """A plan time ("02:00" or 2) on `day`: the instant, or with `clock` the naive wall time."""
    try:
        hour, _, minute = str(hour_text).partition(":")
        moment = time(int(hour) % 24, int(minute or 0))
    except ValueError:
        moment = time(fallback % 24)
    wall = datetime.combine(day, moment)
    return wall if clock else localise(wall)


def _dst_notes(day: date, by_hour: dict[int, Any], real_hours: list[datetime]) -> list[str]:
    """What a 23- or 25-hour day does to a plan of 24 clock hours, said once."""
    notes = []
    seen = [h.hour for h in real_hours]
    for hour in sorted(set(by_hour) - set(seen)):
        notes.append(
            f"The plan has an entry for {hour:02d}:00, a clock hour that does not exist on {day} "
            "(clocks go from 02:00 to 03:00); it is left out of the timeline."
        )
    for hour in sorted({h for h in seen if seen.count(h) > 1} & set(by_hour)):
        notes.append(
            f"{day} has two {hour:02d}:00 hours (+02:00, then +01:00); the factory plans by clock "
            f"hour, so its one {hour:02d}:00 entry is shown for both."
        )
    return notes


def _inconsistencies(
    opt: dict[str, Any], plan: dict[str, Any], listed: int, target_kg: float
) -> list[str]:
    """Where the plan contradicts itself (counts, kilograms, totals), said in words."""
    found = []
    num = opt.get("num_batches")
    if not isinstance(num, int) or isinstance(num, bool):
        found.append(f"num_batches is missing or not a number ({num!r}).")
        num = None
    if num is not None and num != listed:
        found.append(f"num_batches is {num} but the plan lists {listed} batches.")
    echoed = opt.get("target_kg")
    if isinstance(echoed, int | float) and abs(float(echoed) - target_kg) > 1e-6:
        found.append(f"The plan is for {echoed:g} kg, not the {target_kg:g} kg asked for.")
    if target_kg > 0 and (num or 0) == 0 and listed == 0:
        found.append(f"{target_kg:g} kg are planned in 0 batches.")
    cost = plan.get("total_cost_eur")
    if isinstance(cost, int | float) and cost > 0 and not (num or listed):
        found.append(f"A cost of {cost:g} € is given for a plan with no batches.")
    return found


def _span(day: date, batch: dict[str, Any]) -> tuple[datetime, datetime]:
    """A batch's start and end. The API gives clock times only ("22:00" to "04:00"), so an end
    at or before the start is on the next day: a batch never ends before it starts."""
    start_text = batch.get("start_time", batch.get("start_hour", 0))
    end_text = batch.get("end_time", batch.get("end_hour", 0))
    start, end = _at(day, start_text, 0), _at(day, end_text, 0)
    if end <= start:
        end = _at(day + timedelta(days=1), end_text, 0)
    return start, end


def _text(value: Any, limit: int) -> str | None:
    """An optional label from the payload, cut to `limit` so one odd value cannot flood it."""
    return None if value is None else str(value)[:limit]


async def production_plan(
    deps: Deps, day: date | None, target_kg: float, limit: int, cursor: str | None
) -> ProductionPlan:
    day = day or to_local(deps.now()).date() + timedelta(days=1)
    query = fingerprint("plan", day, target_kg)
    offset = decode_cursor(cursor, query)
    # Query parameters, not a JSON body: the endpoint ignores a body.
    body = need_dict(
        await deps.factory.post(
            "/optimize/production/daily",
            params={"target_date": day.isoformat(), "target_kg": target_kg},
            hint="target_date is YYYY-MM-DD, target_kg a positive number of kilograms.",
        ),
        "/optimize/production/daily",
    )
    failure = api.failed_in_body(body)
    opt = body.get("optimization")
    if failure or not isinstance(opt, dict):
        raise UpstreamError(
            f"The factory could not build a production plan for {day}: "
            f"{failure or 'the answer has no optimization block'}."
        )
    plan = obj(opt.get("plan"))
    # The factory plans 24 clock hours (hour 0-23) whatever the day's length: map each real
    # hour of the Madrid day to its clock hour's entry (local_clock_hours is the one reading).
    by_hour: dict[int, dict[str, Any]] = {}
    for i, h in enumerate(opt.get("hourly_timeline") or []):
        if isinstance(h, dict):
            by_hour.setdefault(_at(day, h.get("time", h.get("hour", i)), i, clock=True).hour, h)
    real_hours = local_clock_hours(day)
    timeline: list[PlanHour] = []
    for start in real_hours:
        h = by_hour.get(start.hour)
        if h is None:
            continue
        timeline.append(
            PlanHour(
                start=iso(start),
                price_eur_kwh=_num(h, "price_eur_kwh"),
                tariff_period=period_at(start),
                state=_text(h.get("production_state"), 20),
                process=_text(h.get("active_process"), 60),
                climate=_text(h.get("climate_status"), 20),
            )
        )
    batches: list[Batch] = []
    for i, b in enumerate(plan.get("batches") or []):
        if not isinstance(b, dict):
            continue
        start, end = _span(day, b)
        batches.append(
            Batch(
                batch_id=str(b.get("batch_id", i))[:40],
                quality=_text(b.get("quality_type"), 20),
                start=iso(start),
                end=iso(end),
                energy_kwh=_num(b, "total_energy_kwh"),
                cost_eur=_num(b, "total_cost_eur"),
                avg_price_eur_kwh=_num(b, "avg_price_eur_kwh"),
            )
        )
    raw_savings = obj(opt.get("savings"))
    savings = PlanSavings(
        absolute_eur=_num(raw_savings, "absolute_eur"),
        percent=_num(raw_savings, "percent"),
        monthly_projection_eur=_num(raw_savings, "monthly_projection"),
        annual_projection_eur=_num(raw_savings, "annual_projection"),
    )
    production_hours = [t for t in timeline if t.process]
    cost = _num(plan, "total_cost_eur")
    problems = _inconsistencies(opt, plan, len(batches), target_kg)
    num = opt.get("num_batches")
    total = num if isinstance(num, int) and not isinstance(num, bool) else len(batches)
    summary = (
        ("INCONSISTENT PLAN (see inconsistencies): " if problems else "")
        + f"Plan for {day} ({day_kind(day)}): {target_kg:g} kg in {total} batches, "
        f"{len(production_hours)} production hours, cost {cost} €; "
        f"{savings.absolute_eur} € ({savings.percent} %) cheaper than the fixed 08-16 h baseline."
    )
    notes = [
        "Hours are Madrid local clock hours of the plan's day, shown with their UTC offset.",
        "Missing prices are planned at 0.15 €/kWh, missing weather at 22 °C / 55 % by the factory.",
        *_dst_notes(day, by_hour, real_hours),
    ]
    recs = [str(r)[:300] for r in (opt.get("recommendations") or [])[:5]]

    def build(page: list[Batch], next_cursor: str | None) -> ProductionPlan:
        return ProductionPlan(
            summary=summary,
            date=day.isoformat(),
            day_kind=day_kind(day),
            target_kg=target_kg,
            batches_total=total,
            consistent=not problems,
            inconsistencies=problems,
            energy_kwh=_num(plan, "total_energy_kwh"),
            cost_eur=cost,
            avg_price_eur_kwh=_num(plan, "avg_price_eur_kwh"),
            savings=savings,
            timeline=timeline,
            recommendations=recs,
            notes=notes,
            offset=offset,
            batches=page,
            truncated=next_cursor is not None,
            next_cursor=next_cursor,
        )

    return fit_page(batches, offset, limit, query, build)


async def _current_inputs(
    deps: Deps, *, price: bool, weather: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Only the current conditions the caller did not give, each read on its own.

    A missing one is a tool error that says which endpoint failed, why, and which argument to
    pass instead; a given price is never looked up (a 404 there cannot fail the answer).
    """
    ttl = min(deps.settings.cache_ttl_s, 60)
    wanted = {"price": ("/ree/prices/latest", price), "weather": ("/weather/current", weather)}
    sources = {
        key: Source(f"GET {deps.factory.url(path)}", _getter(deps, path, ttl))
        for key, (path, needed) in wanted.items()
        if needed
    }
    got, failed = await fan_out(sources, deps.settings.source_deadline_s)
    if failed:
        instead = {"price": "price_eur_kwh", "weather": "temperature_c and humidity_pct"}
        raise UpstreamError(
            " ".join(
                f"No current {key} to use: {f.message} Pass {instead[key]} to decide without it."
                for key, f in sorted(failed.items())
            )
        )
    return (
        need_dict(got["price"], "/ree/prices/latest") if price else None,
        need_dict(got["weather"], "/weather/current") if weather else None,
    )


def _getter(deps: Deps, path: str, ttl: float) -> Callable[[], Awaitable[Any]]:
    return lambda: deps.factory.get(path, ttl_s=ttl)


async def recommendation(
    deps: Deps, price: float | None, temperature: float | None, humidity: float | None
) -> Recommendation:
    inputs_from: list[str] = []
    notes = [
        "A deterministic business-rule score (the factory's sklearn model learns its own "
        "rule); it uses the factory server's current hour and weekday, not a chosen time."
    ]
    age: PriceAge | None = None
    stale_note = ""
    need_weather = temperature is None or humidity is None
    if price is None or need_weather:
        raw_price, raw_weather = await _current_inputs(
            deps, price=price is None, weather=need_weather
        )
        if raw_price is not None:
            row = api.parse(api.PriceRow, raw_price, "/ree/prices/latest")
            price = row.price_eur_kwh
            start = hour_start(api_time(row.timestamp))
            age = PriceAge.of(start, deps.now())
            inputs_from.append(f"price: latest stored price for {iso(start)}")
            if age.stale:
                stale_note = (
                    f"STALE PRICE: no price is known for the current hour; this uses the newest "
                    f"stored one, {price:.4f} €/kWh {age.describe(start)}. Pass price_eur_kwh "
                    "for an answer about the real current price. "
                )
                notes.append(stale_note.strip())
        if raw_weather is not None:
            weather = api.parse(api.Weather, raw_weather, "/weather/current")
            if weather.error or weather.temperature is None or weather.humidity is None:
                raise UpstreamError(
                    "The factory has no current weather "
                    f"({weather.error or 'temperature or humidity missing'}); pass temperature_c "
                    "and humidity_pct explicitly."
                )
            temperature = weather.temperature if temperature is None else temperature
            humidity = weather.humidity if humidity is None else humidity
            observed = iso(api_time(weather.timestamp)) if weather.timestamp else "unknown time"
            inputs_from.append(f"weather: {weather.source} at {observed}")
    body = need_dict(
        await deps.factory.post(
            "/predict/production-recommendation",
            body={"price_eur_kwh": price, "temperature": temperature, "humidity": humidity},
            hint="price_eur_kwh, temperature and humidity must be numbers.",
        ),
        "/predict/production-recommendation",
    )
    prediction = body.get("prediction")
    if not isinstance(prediction, dict) or prediction.get("error"):
        reason = prediction.get("error") if isinstance(prediction, dict) else "no prediction"
        raise UpstreamError(
            f"The factory's recommendation model gave no answer ({reason}). Its models are "
            "probably not trained or loaded; an operator must retrain them on the factory."
        )
    label = str(prediction.get("production_recommendation") or "unknown")
    probabilities = {
        str(k): round(float(v), 4)
        for k, v in (prediction.get("probabilities") or {}).items()
        if isinstance(v, int | float)
    }
    analysis = obj(body.get("analysis"))
    confidence = _num(prediction, "confidence")
    return Recommendation(
        summary=(
            f"{stale_note}{label} (confidence {confidence}) at {price:.4f} €/kWh, "
            f"{temperature:g} °C, {humidity:g} % humidity."
        ),
        recommendation=label,
        confidence=confidence,
        probabilities=probabilities,
        score=_num(analysis, "overall_score"),
        price_eur_kwh=round4(price) or 0.0,
        price_stale=None if age is None else age.stale,
        price_age_minutes=None if age is None else age.age_minutes,
        temperature_c=temperature,
        humidity_pct=humidity,
        inputs_from=inputs_from or ["all inputs given"],
        notes=notes,
    )


def api_time(text: str) -> datetime:
    """REE and weather timestamps are UTC-aware ISO strings."""
    return from_aware(text)


async def savings(deps: Deps) -> Savings:
    body = need_dict(
        await deps.factory.get("/insights/savings-tracking", ttl_s=deps.settings.cache_ttl_s * 10),
        "/insights/savings-tracking",
    )
    failure = api.failed_in_body(body)
    if failure:
        raise UpstreamError(f"The factory could not report savings: {failure}.")
    daily = body.get("daily_savings") or {}
    weekly = body.get("weekly_projection") or {}
    monthly = body.get("monthly_tracking") or {}
    annual = body.get("annual_projection") or {}
    breakdown = body.get("calculation_breakdown") or {}
    d_eur, d_pct = _num(daily, "savings_eur"), _num(daily, "savings_pct")
    return Savings(
        summary=(
            f"THEORETICAL, not measured: {d_eur} €/day ({d_pct} %) computed by the factory "
            "from fixed machine consumption and assumed period prices; no real savings are "
            "measured."
        ),
        measured_savings_eur=_num(annual, "actual_measured_savings_eur"),
        daily_savings_eur=d_eur,
        daily_savings_pct=d_pct,
        weekly_savings_eur=_num(weekly, "savings_eur"),
        monthly_target_eur=_num(monthly, "target_eur"),
        annual_theoretical_savings_eur=_num(annual, "baseline_theoretical_savings_eur"),
        consumption_kwh_per_day=_num(breakdown, "total_consumption_kwh_day"),
        assumptions=[
            "Hard-coded constants in the factory API (/insights/savings-tracking).",
            "Assumed mean prices P1 0.22, P2 0.14, P3 0.07 €/kWh; 642 kWh/day.",
        ],
        disclaimer=str(body.get("disclaimer"))[:300] if body.get("disclaimer") else None,
    )


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_production_plan",
        annotations=read_only("Production plan"),
        description=(
            "The optimiser's plan for one day: hourly timeline (€/kWh, 2.0TD period, process), "
            "batches (paged), kWh, cost €, savings vs the fixed 08-16 h baseline; "
            "consistent=false flags contradictions. Use for 'what does 300 kg on Friday cost?'. "
            'Example: {"date": "2026-11-26", "target_kg": 200}.'
        ),
    )
    async def get_production_plan(
        date: Annotated[
            str | None,
            Field(
                pattern=r"^\d{4}-\d{2}-\d{2}$", description="Local day YYYY-MM-DD, default tomorrow"
            ),
        ] = None,
        target_kg: Annotated[
            float, Field(gt=0, le=2000, description="Chocolate to make, kg")
        ] = 200,
        limit: Annotated[int, Field(ge=1, le=100, description="Batches per page")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor to continue")] = None,
    ) -> Annotated[CallToolResult, ProductionPlan]:
        day = _parse_day(date)
        return await runner.run(
            "get_production_plan", lambda: production_plan(deps, day, target_kg, limit, cursor)
        )

    @server.tool(
        name="get_production_recommendation",
        annotations=read_only("Production recommendation"),
        description=(
            "Production level (Optimal, Moderate, Reduced or Halt) for a price (€/kWh), "
            "temperature (°C) and humidity (%); omitted ones: current conditions. Use "
            "for 'should we produce now?'. Example: {\"price_eur_kwh\": 0.25}"
        ),
    )
    async def get_production_recommendation(
        price_eur_kwh: Annotated[
            float | None, Field(ge=-1, le=5, description="Price, €/kWh")
        ] = None,
        temperature_c: Annotated[float | None, Field(ge=-30, le=60, description="°C")] = None,
        humidity_pct: Annotated[float | None, Field(ge=0, le=100, description="%")] = None,
    ) -> Annotated[CallToolResult, Recommendation]:
        return await runner.run(
            "get_production_recommendation",
            lambda: recommendation(deps, price_eur_kwh, temperature_c, humidity_pct),
        )

    @server.tool(
        name="get_savings",
        annotations=read_only("Theoretical savings"),
        description=(
            "The factory's savings (€/day, week, month, year): THEORETICAL constants from "
            "machine specs and assumed prices, not measured; say so when quoting them. Use "
            "for 'how much do we save?'. "
            "Example: {}."
        ),
    )
    async def get_savings() -> Annotated[CallToolResult, Savings]:
        return await runner.run("get_savings", lambda: savings(deps))


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ToolError(f"date {text!r} is not a calendar day; use YYYY-MM-DD.") from None
