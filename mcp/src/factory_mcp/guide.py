"""The resource and the prompts: reference text and ready-made conversations.

Why a resource: the tariff table and the units/time-zone glossary are what a model needs to
read the tools' numbers correctly; serving them once beats repeating them in every
description (which would cost context on every `tools/list`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import Completion, PromptReference
from pydantic import Field

from factory_mcp.tariff import TARIFF_TABLE
from factory_mcp.timeutil import to_local

GUIDE_URI = "factory://reference/tariff-and-units"

GLOSSARY = """
## Units
- Prices: € per kWh (`_eur_kwh`), PVPC consumer price from REE including tolls, 4 decimals.
- Energy kWh, cost €, temperature °C, humidity %, pressure hPa, precipitation mm.
- Wind speed: unit unverified (m/s from OpenWeatherMap, km/h in AEMET comments).
- Latency ms, error rates and uptime in percent (0-100).

## Time
- Every timestamp is ISO 8601 with its UTC offset, shown in Europe/Madrid local time
  (+01:00 in winter, +02:00 in summer). Local days have 23 hours on the last Sunday of March
  and 25 on the last Sunday of October.
- Price history works on Madrid local days; analytics windows are whole UTC days or hours.
- A price is for one clock hour starting at its timestamp. `stale: true` means no price is
  known for the current hour (the newest is older, or `future: true`: stamped after this hour,
  so a clock is wrong): say so, never quote it as the current price. The production
  recommendation's `price_stale` means the same for the price it used.
- `at: null` on a current-conditions alert: the API's time for it has no documented clock.

## Price bands (factory thresholds, €/kWh)
excellent < 0.08, optimal < 0.12, acceptable < 0.20, expensive < 0.30, avoid >= 0.30.

## Caveats
- Savings figures are theoretical constants, not measurements.
- The production recommendation is a deterministic business-rule score.
- Forecasts come from Prophet; their hours may be shifted by 1-2 h (factory training quirk).
"""


def suggestions(prompt: str, argument: str, now: datetime) -> list[str]:
    """Values worth offering for a prompt argument (dates start tomorrow, Madrid time)."""
    if argument == "date":
        today = to_local(now).date()
        return [(today + timedelta(days=i)).isoformat() for i in range(1, 8)]
    if argument == "target_kg":
        return ["100", "200", "300", "500", "1000"]
    if argument == "days" and prompt == "weekly_energy_plan":
        return [str(d) for d in range(1, 15)]
    return []


def register(server: MCPServer, now: Callable[[], datetime]) -> None:
    @server.completion()
    async def complete(ref: Any, argument: Any, _context: Any) -> Completion | None:
        """Argument completion for the prompts (clients show these as suggestions)."""
        if not isinstance(ref, PromptReference):
            return None
        values = [
            v
            for v in suggestions(ref.name, argument.name, now())
            if v.startswith(argument.value or "")
        ]
        return Completion(values=values, total=len(values), has_more=False)

    @server.resource(
        GUIDE_URI,
        name="tariff-and-units",
        title="2.0TD tariff and units",
        mime_type="text/markdown",
    )
    def tariff_and_units() -> str:
        """Spain's 2.0TD tariff periods (P1/P2/P3 by local hour, weekends and holidays) and a
        glossary of the units and time zones used by every factory tool."""
        return "# 2.0TD tariff periods (Europe/Madrid)\n\n" + TARIFF_TABLE + "\n" + GLOSSARY

    @server.prompt(name="daily_production_briefing", title="Daily production briefing")
    def daily_production_briefing(
        date: Annotated[str, Field(description="Local day YYYY-MM-DD; empty for tomorrow")] = "",
        target_kg: Annotated[str, Field(description="Kilograms to produce, default 200")] = "200",
    ) -> str:
        """A morning briefing for one production day: price now and ahead, the plan, weather,
        alerts and system health, ending with a clear go/adjust recommendation."""
        day = date or "tomorrow"
        return (
            f"Prepare the daily production briefing for {day} ({target_kg} kg).\n"
            "1. get_system_health: if prices or weather are stale, say so first.\n"
            "2. get_current_price and get_price_forecast (hours=36): price now, cheapest and "
            "dearest hours, with 2.0TD periods.\n"
            f"3. get_production_plan (date={date or 'omit for tomorrow'}, target_kg={target_kg}): "
            "batches, cost and the savings versus the fixed 08-16 h baseline.\n"
            "4. get_current_weather and get_alerts (min_severity=warning).\n"
            "Answer in short sections: Prices, Plan, Conditions, Alerts, Recommendation. Quote "
            "times in Madrid local time, say when a figure is theoretical, and read "
            f"{GUIDE_URI} if a unit or period is unclear."
        )

    @server.prompt(name="weekly_energy_plan", title="Weekly energy plan")
    def weekly_energy_plan(
        days: Annotated[str, Field(description="Days ahead to plan, 1-14 (default 7)")] = "7",
    ) -> str:
        """A plan for the coming days: when to run the energy-hungry processes (conching,
        tempering) and which windows to avoid, based on the forecast and optimal windows."""
        return (
            f"Make an energy plan for the next {days} days.\n"
            f"1. get_optimal_windows (days={days}) and get_price_forecast (hours=168 or fewer).\n"
            "2. Rank the cheap windows by price and length; list the windows to avoid.\n"
            "3. Weekends and national holidays are all-day P3 (off-peak): point out where that "
            "helps.\n"
            "Answer with a day-by-day table (local times with offsets, expected €/kWh, tariff "
            "period, suggested process) and a one-paragraph summary. Mention that forecasts are "
            "model estimates and savings are theoretical."
        )
