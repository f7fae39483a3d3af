"""Condition tools: current weather and the merged alerts.

What this adds to the API: the weather endpoint's `error` key (HTTP 200) becomes a tool error;
the three alert sources (predictive, current conditions, Tailscale infrastructure) are merged
with one severity scale, each alert keeping its source, and a source that fails is reported as
unavailable instead of silently reading as "no alerts".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from factory_mcp import factory_api as api
from factory_mcp.deps import Deps
from factory_mcp.fanout import Source, SourceFailure, fan_out
from factory_mcp.paging import fit_items
from factory_mcp.runner import ToolRunner
from factory_mcp.timeutil import TimestampError, from_aware, from_naive_local, iso
from factory_mcp.tools.common import (
    Out,
    SourceProblem,
    blind_tailnet_monitor,
    need_dict,
    read_only,
)
from factory_mcp.upstream import UpstreamError

Severity = Literal["info", "warning", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "high": 2, "critical": 3}
MAX_ALERTS = 40
FUTURE_TOLERANCE_MIN = 5  # clock skew an observation time may show without being suspicious


class CurrentWeather(Out):
    summary: str
    observed_at: str | None
    age_minutes: int | None
    stale: bool
    source: str | None
    temperature_c: float | None
    humidity_pct: float | None
    pressure_hpa: float | None
    wind_speed: float | None = Field(description="Unit unverified: m/s (OpenWeatherMap) or km/h")
    wind_direction_deg: float | None
    precipitation_mm: float | None
    description: str | None


class Alert(Out):
    source: Literal["predictive", "current", "infrastructure"]
    severity: Severity
    type: str
    message: str
    action: str | None
    at: str | None


class Alerts(Out):
    summary: str
    complete: bool
    counts: dict[str, int]
    alerts: list[Alert]
    unavailable_sources: list[SourceProblem]
    omitted: int


async def current_weather(deps: Deps) -> CurrentWeather:
    body = need_dict(
        await deps.factory.get("/weather/current", ttl_s=deps.settings.cache_ttl_s),
        "/weather/current",
    )
    data = api.parse(api.Weather, body, "/weather/current")
    if data.error:
        raise UpstreamError(
            f"The factory has no current weather: {data.error[:200]} (neither AEMET nor "
            "OpenWeatherMap answered). Try again later; get_system_health shows data freshness."
        )
    observed = from_aware(data.timestamp) if data.timestamp else None
    age = int((deps.now() - observed).total_seconds() // 60) if observed else None
    # An observation from the future (a clock is wrong) is no fresher than an old one.
    future = age is not None and age < -FUTURE_TOLERANCE_MIN
    stale = age is None or age > 180 or future
    summary = (
        f"{_number(data.temperature)} °C, {_number(data.humidity)} % humidity"
        f"{', ' + data.weather_description if data.weather_description else ''} "
        f"({data.source}, {iso(observed) if observed else 'time unknown'})."
    )
    if age is None:
        summary = "STALE (no observation time): " + summary
    elif future:
        summary = f"STALE (timestamped {-age} min in the future; a clock is wrong): " + summary
    elif stale:
        summary = f"STALE ({age} min old): " + summary
    return CurrentWeather(
        summary=summary,
        observed_at=iso(observed) if observed else None,
        age_minutes=age,
        stale=stale,
        source=data.source,
        temperature_c=data.temperature,
        humidity_pct=data.humidity,
        pressure_hpa=data.pressure,
        wind_speed=data.wind_speed,
        wind_direction_deg=data.wind_direction,
        precipitation_mm=data.precipitation,
        description=data.weather_description,
    )


def _number(value: float | None) -> str:
    """71.0 as '71', an absent reading as 'unknown' (AEMET and OpenWeatherMap differ)."""
    return "unknown" if value is None else f"{value:g}"


def _when(text: Any, style: str) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parse = {"local": from_naive_local, "aware": from_aware}[style]
        return iso(parse(text))
    except TimestampError:
        return None


def _predictive(body: Any) -> list[Alert]:
    body = need_dict(body, "/insights/alerts")
    failure = api.failed_in_body(body)
    if failure or (not body.get("alerts") and body.get("message")):
        raise UpstreamError(
            f"predictive alerts failed: {failure or body.get('message')}", reason="error in body"
        )
    mapping = {"high": "high", "medium": "warning", "low": "info", "info": "info"}
    return [
        Alert(
            source="predictive",
            severity=mapping.get(str(a.get("severity")), "warning"),  # type: ignore[arg-type]
            type=str(a.get("type", "unknown"))[:40],
            message=str(a.get("message", ""))[:300],
            action=(str(a["recommendation"])[:200] if a.get("recommendation") else None),
            at=_when(a.get("datetime"), "local"),
        )
        for a in body.get("alerts") or []
        if isinstance(a, dict)
    ]


def _current(body: Any) -> list[Alert]:
    """Current-condition alerts from /dashboard/alerts; their `at` is always null.

    The payload's `timestamp` is a naive ISO string whose clock is unverified: the factory
    API's documentation names three styles (REE/Influx UTC-aware, Prophet naive local, health
    endpoints naive UTC) and places the dashboard in none of them; its alerts example elides
    the value and its summary example shows a bare naive time for /dashboard/summary.
    Reading it as UTC or as Madrid time would give an offset we cannot know (an hour or two
    wrong), so it is not read. Nothing is lost: these alerts describe conditions at the moment
    of the call.
    """
    body = need_dict(body, "/dashboard/alerts")
    failure = api.failed_in_body(body)
    if failure:
        raise UpstreamError(f"current-condition alerts failed: {failure}", reason="error in body")
    out = []
    for a in body.get("alerts") or []:
        if not isinstance(a, dict):
            continue
        level = str(a.get("level", "warning"))
        out.append(
            Alert(
                source="current",
                severity=level if level in SEVERITY_ORDER else "warning",  # type: ignore[arg-type]
                type=str(a.get("type", "unknown"))[:40],
                message=str(a.get("message", ""))[:300],
                action=(str(a["action"])[:200] if a.get("action") else None),
                at=None,
            )
        )
    return out


def _infrastructure(body: Any) -> list[Alert]:
    body = need_dict(body, "/health-monitoring/alerts")
    failure = api.failed_in_body(body)
    if failure:
        raise UpstreamError(f"infrastructure alerts failed: {failure}", reason="error in body")
    return [
        Alert(
            source="infrastructure",
            severity="critical" if a.get("severity") == "critical" else "warning",
            type=str(a.get("type", "node_offline"))[:40],
            message=str(a.get("message") or f"{a.get('hostname')} is offline")[:300],
            action=(str(a["action"])[:200] if a.get("action") else None),
            at=_when(a.get("last_seen"), "aware"),
        )
        for a in body.get("active_alerts") or []
        if isinstance(a, dict)
    ]


def _infrastructure_checked(
    alerts_body: Any, summary_body: Any, summary_failure: SourceFailure | None
) -> list[Alert]:
    """Infrastructure alerts, unless the monitor that produces them is blind (zero nodes)."""
    found = _infrastructure(alerts_body)
    if summary_failure is not None:
        if found:  # alerts about named nodes: the monitor clearly sees the tailnet
            return found
        raise UpstreamError(
            "no infrastructure alerts, but whether the factory's Tailscale monitor sees any "
            f"node could not be checked: {summary_failure.message}",
            endpoint=summary_failure.endpoint,
            reason=summary_failure.reason,
        )
    blind = blind_tailnet_monitor(summary_body)
    if blind:
        raise UpstreamError(blind, reason="blind")
    return found


ALERT_PATHS = {
    "predictive": "/insights/alerts",
    "current": "/dashboard/alerts",
    "infrastructure": "/health-monitoring/alerts",
    "tailnet": "/health-monitoring/summary",  # only to tell "no alerts" from "blind"
}


async def alerts(deps: Deps, min_severity: Severity) -> Alerts:
    ttl = min(30, deps.settings.cache_ttl_s)

    def source(path: str) -> Source:
        return Source(f"GET {deps.factory.url(path)}", lambda: deps.factory.get(path, ttl_s=ttl))

    got, failed = await fan_out(
        {name: source(path) for name, path in ALERT_PATHS.items()},
        deps.settings.source_deadline_s,
    )
    found: list[Alert] = []
    problems: list[SourceProblem] = []
    converters: dict[str, Any] = {
        "predictive": _predictive,
        "current": _current,
        "infrastructure": lambda body: _infrastructure_checked(
            body, got.get("tailnet"), failed.get("tailnet")
        ),
    }
    for name, convert in converters.items():
        try:
            if name in failed:
                raise UpstreamError(
                    failed[name].message,
                    endpoint=failed[name].endpoint,
                    reason=failed[name].reason,
                )
            found.extend(convert(got[name]))
        except UpstreamError as exc:
            problems.append(
                SourceProblem(
                    source=name,
                    endpoint=exc.endpoint or f"GET {deps.factory.url(ALERT_PATHS[name])}",
                    reason=exc.reason,
                    problem=str(exc)[:400],
                )
            )
    if len(problems) == len(converters):
        raise UpstreamError(
            "No alert source could be read: "
            + " | ".join(f"{p.source}: {p.problem}" for p in problems)
        )
    threshold = SEVERITY_ORDER[min_severity]
    kept = sorted(
        (a for a in found if SEVERITY_ORDER[a.severity] >= threshold),
        key=lambda a: (-SEVERITY_ORDER[a.severity], a.source, a.at or ""),
    )
    counts = {s: sum(a.severity == s for a in found) for s in SEVERITY_ORDER}
    problems.sort(key=lambda p: p.source)
    top = ", ".join(
        f"{counts[s]} {s}" for s in ("critical", "high", "warning", "info") if counts[s]
    )
    summary = f"{len(found)} alert(s){': ' + top if top else ''}."
    if problems:
        summary += (
            " INCOMPLETE: could not read "
            + ", ".join(f"{p.source} ({p.endpoint}: {p.reason})" for p in problems)
            + " alerts, so absence of alerts there means nothing."
        )

    def build(shown: list[Alert], omitted: int) -> Alerts:
        # Alerts are ranked most severe first, so what does not fit is the least severe.
        note = (
            f" {omitted} less severe alert(s) not shown; raise min_severity to see the rest."
            if omitted
            else ""
        )
        return Alerts(
            summary=summary + note,
            complete=not problems,
            counts=counts,
            alerts=shown,
            unavailable_sources=problems,
            omitted=omitted,
        )

    # A row cap and, because messages are long Spanish prose, a character budget as well.
    over_cap = max(0, len(kept) - MAX_ALERTS)
    return fit_items(kept[:MAX_ALERTS], lambda shown, left: build(shown, left + over_cap))


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_current_weather",
        annotations=read_only("Current weather"),
        description=(
            "Latest weather at the factory (Linares, Jaén): °C, humidity %, pressure hPa, wind, "
            "precipitation mm, source and age. Use for 'is it too hot for tempering?'. "
            "Example: {}."
        ),
    )
    async def get_current_weather() -> Annotated[CallToolResult, CurrentWeather]:
        return await runner.run("get_current_weather", lambda: current_weather(deps))

    @server.tool(
        name="get_alerts",
        annotations=read_only("Alerts"),
        description=(
            "Alerts merged from predictive (price spikes, heat; next 24-72 h), current "
            "conditions and infrastructure (offline tailnet nodes), with source and severity "
            "(info<warning<high<critical); complete=false names unread sources. Use for "
            "'anything to worry about?'. "
            'Example: {"min_severity": "warning"}.'
        ),
    )
    async def get_alerts(
        min_severity: Annotated[Severity, Field(description="Lowest severity to list")] = "info",
    ) -> Annotated[CallToolResult, Alerts]:
        return await runner.run("get_alerts", lambda: alerts(deps, min_severity))
