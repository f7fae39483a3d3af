"""System health: liveness, readiness, data freshness and the forecast model in one report.

Why one tool: "is the factory OK?" needs six endpoints; reading them in parallel keeps the
call fast, and every part that fails is named in `problems` with what to do. `ready: false`
inside a 200 is a finding reported as such, never hidden behind an "ok"; so is a Tailscale
monitor that reports zero nodes (its proxy is down, yet it answers as if all were well).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult

from factory_mcp.deps import Deps
from factory_mcp.fanout import Source, describe, fan_out
from factory_mcp.runner import ToolRunner
from factory_mcp.timeutil import TimestampError, from_aware, from_naive_local, iso
from factory_mcp.tools.common import (
    Out,
    blind_tailnet_monitor,
    obj,
    read_only,
)
from factory_mcp.upstream import UpstreamError

PRICE_STALE_HOURS = 6.0
WEATHER_STALE_HOURS = 2.0


class Freshness(Out):
    latest: str | None
    gap_hours: float | None
    fresh: bool | None


class ModelStatus(Out):
    status: str | None
    last_training: str | None
    mae: float | None
    rmse: float | None
    r2: float | None


class SystemHealth(Out):
    summary: str
    overall: Literal["healthy", "degraded", "down"]
    live: bool
    ready: bool | None
    readiness_checks: dict[str, str]
    version: str | None
    environment: str | None
    prices: Freshness
    weather: Freshness
    forecast_model: ModelStatus
    problems: list[str]
    complete: bool
    checked_at: str


def _num(block: Any, key: str) -> float | None:
    value = block.get(key) if isinstance(block, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _freshness(block: Any, limit_h: float) -> Freshness:
    if not isinstance(block, dict):
        return Freshness(latest=None, gap_hours=None, fresh=None)
    latest = None
    if isinstance(block.get("latest_data"), str):
        try:
            latest = iso(from_aware(block["latest_data"]))
        except TimestampError:
            latest = None
    gap = _num(block, "gap_hours")
    return Freshness(latest=latest, gap_hours=gap, fresh=None if gap is None else gap < limit_h)


def _reader(deps: Deps, path: str) -> Callable[[], Awaitable[Any]]:
    return lambda: deps.factory.get(path)


async def system_health(deps: Deps) -> SystemHealth:
    paths = {
        "health": "/health",
        "ready": "/ready",
        "version": "/version",
        "gaps": "/gaps/summary",
        "model": "/predict/prices/models/price-forecast/status",
        "tailnet": "/health-monitoring/summary",
    }
    got, failures = await fan_out(
        {
            key: Source(f"GET {deps.factory.url(path)}", _reader(deps, path))
            for key, path in paths.items()
        },
        deps.settings.source_deadline_s,
    )
    if len(failures) == len(paths):
        raise UpstreamError("The factory API is down or unreachable: " + failures["health"].message)
    failed = {k: f.message for k, f in failures.items()}
    # Each unread source leads `problems` as "<endpoint> (<reason>): <message>"; the list of
    # them is not repeated as objects (tools/list budget), complete=false says there are some.
    problems = [
        f"{f.endpoint} ({f.reason}): {f.message[:300]}" for _, f in sorted(failures.items())
    ]
    health = obj(got.get("health"))
    live = health.get("status") == "healthy"
    if "health" not in failed and not live:
        problems.append(f"/health reports status {health.get('status')!r}.")
    ready_body = got.get("ready") if isinstance(got.get("ready"), dict) else None
    ready = bool(ready_body.get("ready")) if ready_body is not None else None
    checks = {str(k): str(v)[:200] for k, v in ((ready_body or {}).get("checks") or {}).items()}
    if ready is False:
        problems.append(
            "The API is not ready: "
            + (", ".join(f"{k}={v}" for k, v in checks.items()) or "no detail")
            + ". Its database (InfluxDB) is probably down; check the factory's containers."
        )
    gaps = obj(got.get("gaps"))
    prices = _freshness(gaps.get("ree_prices"), PRICE_STALE_HOURS)
    weather = _freshness(gaps.get("weather_data"), WEATHER_STALE_HOURS)
    if prices.fresh is False:
        problems.append(f"Prices are {prices.gap_hours} h old: REE ingestion is failing.")
    if weather.fresh is False:
        problems.append(
            f"Weather is {weather.gap_hours} h old: AEMET/OpenWeatherMap ingestion is failing."
        )
    model_body = obj(got.get("model"))
    info = obj(model_body.get("model_info"))
    metrics = obj(model_body.get("metrics"))
    trained = None
    if isinstance(info.get("last_training"), str):
        try:
            trained = iso(from_naive_local(info["last_training"]))
        except TimestampError:
            trained = None
    model = ModelStatus(
        status=model_body.get("status"),
        last_training=trained,
        mae=_num(metrics, "mae"),
        rmse=_num(metrics, "rmse"),
        r2=_num(metrics, "r2"),
    )
    if model.status and model.status != "available":
        problems.append(
            f"The price-forecast model is {model.status!r}: forecasts will be trained "
            "inside the first request (slow) or fail."
        )
    blind = blind_tailnet_monitor(got["tailnet"]) if "tailnet" in got else None
    if blind:
        problems.append(f"Tailscale node monitoring is unavailable: {blind}")
    version = obj(got.get("version"))
    overall: Literal["healthy", "degraded", "down"]
    if not live and "health" in failed:
        overall = "down"
    elif problems:
        overall = "degraded"
    else:
        overall = "healthy"
    summary = f"Factory API {overall}" + (
        f": {len(problems)} problem(s)." if problems else ", data fresh, forecast model available."
    )
    if failures:
        summary += " INCOMPLETE: could not read " + describe(failures) + "."
    return SystemHealth(
        summary=summary,
        overall=overall,
        live=live,
        ready=ready,
        readiness_checks=checks,
        version=version.get("version") or health.get("version"),
        environment=version.get("environment"),
        prices=prices,
        weather=weather,
        forecast_model=model,
        problems=problems,
        complete=not failures,
        checked_at=iso(deps.now()),
    )


def register(server: MCPServer, deps: Deps, runner: ToolRunner) -> None:
    @server.tool(
        name="get_system_health",
        annotations=read_only("System health"),
        description=(
            "Factory API health: liveness, readiness (database), version, age of the newest "
            "prices and weather (h), forecast model, problems and what they mean. Use for 'is "
            "everything working?' or after stale data. Example: {}"
        ),
    )
    async def get_system_health() -> Annotated[CallToolResult, SystemHealth]:
        return await runner.run("get_system_health", lambda: system_health(deps))
