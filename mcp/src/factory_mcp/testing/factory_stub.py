"""A stand-in of the factory API (FastAPI 0.41.0) for tests and the bench.

It reproduces the documented shapes and traps of the factory API, not the factory's
logic: UTC-aware REE rows cut at UTC midnight, naive-local Prophet timestamps, naive-UTC health
timestamps, tariff labels that ignore weekends (as the factory's classifier does), the plan
endpoint reading *query* parameters and ignoring a JSON body, failures inside HTTP 200 bodies,
FastAPI's 422 shape, and slow endpoints. A `Scenario` sets the clock and the failure modes;
`requests` records what the server under test sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from factory_mcp.testing.factory_stub_alerts import alert_routes

MADRID = ZoneInfo("Europe/Madrid")


def stub_price(hour_utc: datetime) -> float:
    """A deterministic, plausible PVPC price (€/kWh) for an hour; dearer in factory 'P1'."""
    local = hour_utc.astimezone(MADRID)
    base = 0.09 + 0.04 * math.sin((local.hour - 6) / 24 * 2 * math.pi)
    if factory_label(local.hour) == "P1":
        base += 0.08
    return round(base + 0.003 * (local.day % 5), 4)


def factory_label(hour: int) -> str:
    """The factory's own period label: by hour only, ignoring weekends (the documented bug)."""
    if 10 <= hour <= 13 or 18 <= hour <= 21:
        return "P1"
    if hour in (8, 9) or 14 <= hour <= 17 or hour >= 22:
        return "P2"
    return "P3"


@dataclass
class Scenario:
    """What the stand-in answers; tests change fields to provoke each failure mode."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 10, 20, tzinfo=UTC))
    latest_lag_hours: int = 0  # negative: a "latest" price ahead of the clock (clock skew)
    missing_days: set[date] = field(default_factory=set)
    # Fault injection, per path: `delays` holds the answer back (a hang when longer than the
    # client waits); `forced` answers (status, JSON payload, or a str sent as an HTML page),
    # e.g. (503, {"detail": "InfluxDB unavailable"}) as the routers' HTTPException gives it.
    delays: dict[str, float] = field(default_factory=dict)
    forced: dict[str, tuple[int, Any]] = field(default_factory=dict)
    weather_error: bool = False
    ready: bool = True
    alerts_error: bool = False
    prediction_error: bool = False
    model_status: str = "available"
    batches: int | None = None
    # Fault injection: the optimiser's `plan.batches` list comes back empty while num_batches
    # and the plan's totals still count every batch (a self-contradicting answer).
    plan_batches_dropped: bool = False
    # Worst case for the context budget: each alert source answers this many alerts with long
    # Spanish messages (the API puts no bound on either).
    alert_flood: int = 0
    # The factory's socat proxy to tailscaled is down: /health-monitoring/* swallows the error
    # and reports zero nodes and no alerts (a known pitfall of the API).
    tailscale_proxy_down: bool = False
    # /insights/alerts failing the other documented way: status "success", no alerts, a message.
    alerts_quiet_failure: bool = False
    # /predict/prices/hourly: `model_metrics` may be {}; Prophet output is unbounded, so this
    # shifts every predicted price by the given €/kWh (negative values show up below zero).
    forecast_metrics_empty: bool = False
    forecast_shift_eur: float = 0.0
    # Paths whose handler raises: no exception handler is registered, so the client gets
    # uvicorn/Starlette's plain-text 500 "Internal Server Error".
    unhandled: set[str] = field(default_factory=set)
    # The factory's Tailscale middleware refuses this client (401 or 403) on every path that
    # is not public, with its own {"error", "message"} shape (as the API documents it).
    tailscale_refusal: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def naive_utc(self) -> str:
        """The clock as `datetime.utcnow().isoformat()` writes it (health endpoints)."""
        return self.now.replace(tzinfo=None).isoformat(timespec="seconds")

    def local_now(self) -> datetime:
        return self.now.astimezone(MADRID)

    def price_rows(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = []
        hour = start
        newest = self.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=24)
        while hour < end and hour <= newest:
            if hour.astimezone(MADRID).date() not in self.missing_days:
                rows.append(
                    {
                        "timestamp": hour.isoformat(),
                        "price_eur_kwh": stub_price(hour),
                        "source": "ree_pvpc",
                    }
                )
            hour += timedelta(hours=1)
        return rows


# Paths the Tailscale middleware lets anyone reach: /health by a prefix match that also covers
# /health-monitoring/* (pitfall 9), and the public endpoints of §1.
PUBLIC_PREFIXES = ("/health", "/ready", "/version")
PUBLIC_PATHS = frozenset(
    {
        "/dashboard/complete",
        "/insights/optimal-windows",
        "/insights/savings-tracking",
        "/insights/ree-deviation",
    }
)


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PATHS


def _unprocessable(loc: str, msg: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["query", loc], "msg": msg, "type": "value_error"}]}, status_code=422
    )


def _int_param(
    request: Request, name: str, default: int, low: int, high: int
) -> int | JSONResponse:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return _unprocessable(name, "Input should be a valid integer")
    if not low <= value <= high:
        return _unprocessable(name, f"Input should be between {low} and {high}")
    return value


def build_app(scenario: Scenario) -> Starlette:
    s = scenario

    async def before(request: Request) -> Response | None:
        body = await request.body()
        s.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "body": body.decode() or None,
            }
        )
        delay = s.delays.get(request.url.path)
        if delay:
            try:
                await anyio.sleep(delay)
            except anyio.get_cancelled_exc_class():
                s.cancelled.append(request.url.path)
                raise
        if s.tailscale_refusal and not _public(request.url.path):
            word = "Unauthorized" if s.tailscale_refusal == 401 else "Forbidden"
            return JSONResponse(
                {"error": word, "message": "Acceso permitido solo desde la red Tailscale"},
                status_code=s.tailscale_refusal,
            )
        if request.url.path in s.unhandled:
            return PlainTextResponse("Internal Server Error", status_code=500)
        if request.url.path in s.forced:
            status, payload = s.forced[request.url.path]
            if isinstance(payload, str):
                return Response(payload, status_code=status, media_type="text/html")
            return JSONResponse(payload, status_code=status)
        return None

    def route(path: str, methods: tuple[str, ...] = ("GET",)):  # type: ignore[no-untyped-def]
        def wrap(fn):  # type: ignore[no-untyped-def]
            async def endpoint(request: Request) -> Response:
                early = await before(request)
                return early if early is not None else await fn(request)

            return Route(path, endpoint, methods=list(methods))

        return wrap

    naive_utc, local_now = s.naive_utc, s.local_now

    @route("/health")
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "healthy", "timestamp": naive_utc(), "version": "0.41.0"})

    @route("/ready")
    async def ready(_: Request) -> Response:
        checks = {"influxdb": "pass" if s.ready else "error: connection refused"}
        return JSONResponse({"ready": s.ready, "timestamp": naive_utc(), "checks": checks})

    @route("/version")
    async def version(_: Request) -> Response:
        return JSONResponse(
            {"version": "0.41.0", "environment": "production", "python_version": "3.11+"}
        )

    @route("/gaps/summary")
    async def gaps(_: Request) -> Response:
        latest = s.now.replace(minute=0, second=0, microsecond=0) - timedelta(
            hours=s.latest_lag_hours
        )
        lag = (s.now - latest).total_seconds() / 3600
        return JSONResponse(
            {
                "🏭": "Chocolate Factory - Data Gaps",
                "timestamp": s.now.isoformat(),
                "ree_prices": {
                    "status": "✅ Actualizado",
                    "latest_data": latest.isoformat(),
                    "gap_hours": round(lag, 1),
                },
                "weather_data": {
                    "status": "✅ Actualizado",
                    "latest_data": s.now.isoformat(),
                    "gap_hours": 0.4,
                },
                "recommendations": {
                    "action_needed": lag > 6,
                    "suggested_endpoint": "/gaps/backfill",
                },
            }
        )

    @route("/predict/prices/models/price-forecast/status")
    async def model_status(_: Request) -> Response:
        if s.model_status != "available":
            return JSONResponse(
                {
                    "status": "not_trained",
                    "model_info": {"status": "No hay modelo", "last_training": None},
                    "metrics": {},
                }
            )
        return JSONResponse(
            {
                "status": "available",
                "model_info": {
                    "type": "Prophet",
                    "version": "1.1.7",
                    "last_training": local_now()
                    .replace(hour=15, tzinfo=None)
                    .isoformat(timespec="seconds"),
                },
                "metrics": {"mae": 0.031, "rmse": 0.041, "r2": 0.47},
            }
        )

    @route("/ree/prices/latest")
    async def latest(_: Request) -> Response:
        hour = s.now.replace(minute=0, second=0, microsecond=0) - timedelta(
            hours=s.latest_lag_hours
        )
        if s.latest_lag_hours > 24 * 7:
            return JSONResponse({"detail": "No recent price data available"}, status_code=404)
        return JSONResponse(
            {"timestamp": hour.isoformat(), "price_eur_kwh": stub_price(hour), "source": "ree_pvpc"}
        )

    @route("/ree/prices")
    async def prices(request: Request) -> Response:
        raw = request.query_params.get("start_date")
        if raw is None:
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["query", "start_date"], "msg": "Field required", "type": "missing"}
                    ]
                },
                status_code=422,
            )
        try:
            start = date.fromisoformat(raw)
            end = date.fromisoformat(
                request.query_params.get("end_date") or (start + timedelta(days=1)).isoformat()
            )
        except ValueError:
            return _unprocessable("start_date", "Input should be a valid date")
        lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
        hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
        return JSONResponse(s.price_rows(lo, hi))

    @route("/predict/prices/hourly")
    async def hourly(request: Request) -> Response:
        hours = _int_param(request, "hours", 24, 1, 168)
        if isinstance(hours, JSONResponse):
            return hours
        # Prophet: naive local wall time, continuous naive steps from the current local hour.
        start = local_now().replace(minute=0, second=0, microsecond=0, tzinfo=None)
        rows = []
        for i in range(hours):
            naive = start + timedelta(hours=i)
            real = naive.replace(tzinfo=MADRID).astimezone(UTC)
            price = stub_price(real) + 0.005 + s.forecast_shift_eur
            rows.append(
                {
                    "timestamp": naive.isoformat(),
                    "predicted_price": round(price, 4),
                    "confidence_lower": round(price - 0.06, 4),
                    "confidence_upper": round(price + 0.06, 4),
                }
            )
        return JSONResponse(
            {
                "status": "success",
                "forecast_horizon": f"{hours} hours",
                "model_type": "Prophet",
                "predictions_count": hours,
                "predictions": rows,
                "model_metrics": {} if s.forecast_metrics_empty else {"mae": 0.031, "r2": 0.47},
                "last_training": start.replace(hour=15).isoformat(),
                "timestamp": local_now().replace(tzinfo=None).isoformat(),
            }
        )

    @route("/insights/optimal-windows")
    async def windows(request: Request) -> Response:
        days = _int_param(request, "days", 7, 1, 14)
        if isinstance(days, JSONResponse):
            return days
        base = local_now().replace(hour=2, minute=0, second=0, microsecond=0, tzinfo=None)
        optimal = []
        for d in range(min(days, 5)):
            when = base + timedelta(days=d + 1)
            optimal.append(
                {
                    "datetime": when.isoformat(),
                    "hours": "02-05h",
                    "duration_hours": 4,
                    "avg_price_eur_kwh": 0.0641,
                    "tariff_period": "P3",
                    "quality": "EXCELLENT",
                    "icon": "🟢",
                    "recommended_process": "Conchado premium",
                    "estimated_savings_eur": 114.36,
                    "recommendation": "Producir",
                }
            )
        # Avoid windows carry no duration_hours (§2.10); their ranges include the last hour.
        avoid = []
        for d, (first, last) in enumerate([(18, 20), (19, 21), (10, 13)][: min(days, 3)]):
            when = (base + timedelta(days=d + 1)).replace(hour=first)
            avoid.append(
                {
                    "datetime": when.isoformat(),
                    "hours": f"{first:02d}-{last:02d}h",
                    "avg_price": 0.2611,
                    "tariff_period": factory_label(first),
                    "recommendation": "Evitar",
                }
            )
        return JSONResponse(
            {
                "status": "success",
                "optimal_windows": optimal,
                "avoid_windows": avoid,
                "summary": {"total_optimal_hours": 4 * len(optimal)},
            }
        )

    @route("/weather/current")
    async def weather(_: Request) -> Response:
        if s.weather_error:
            return JSONResponse(
                {
                    "error": "AEMET y OpenWeatherMap no disponibles",
                    "source": "none",
                    "timestamp": s.now.isoformat(),
                }
            )
        observed = s.now.replace(minute=0, second=0, microsecond=0).isoformat()
        if s.now.hour < 8:  # AEMET is primary for 00-07 h, taken in UTC (§2.7)
            return JSONResponse(
                {
                    "timestamp": observed,
                    "station_id": "5279X",
                    "temperature": 6.2,
                    "humidity": 88,
                    "pressure": 1021,
                    "wind_speed": 7.0,
                    "wind_direction": 30,
                    "precipitation": 0.2,
                    "source": "aemet",
                }
            )
        return JSONResponse(
            {
                "timestamp": observed,
                "station_id": "openweathermap_2514169",
                "temperature": 11.4,
                "temperature_min": 10.9,
                "temperature_max": 12.0,
                "humidity": 71,
                "pressure": 1019,
                "wind_speed": 2.6,
                "wind_direction": 240,
                "precipitation": 0.0,
                "weather_description": "cielo claro",
                "cloudiness": 0,
                "source": "openweathermap",
            }
        )

    @route("/optimize/production/daily", methods=("POST",))
    async def plan(request: Request) -> Response:
        # The real endpoint reads only query parameters; a JSON body is ignored.
        target_date = request.query_params.get("target_date") or (
            (s.now + timedelta(days=1)).date().isoformat() + "T00:00:00"
        )
        try:
            target_kg = float(request.query_params.get("target_kg", 200))
        except ValueError:
            return _unprocessable("target_kg", "Input should be a valid number")
        count = s.batches if s.batches is not None else max(1, int(target_kg // 10))
        batches = [
            {
                "batch_id": f"B{i:03d}",
                "quality_type": "premium" if i % 10 < 3 else "standard",
                "start_hour": i % 24,
                "start_time": f"{i % 24:02d}:00",
                "end_hour": (i + 6) % 24,
                "end_time": f"{(i + 6) % 24:02d}:00",
                "processes": [{"name": "Mezclado", "energy_kwh": 3.5, "cost_eur": 0.25}],
                "total_duration_hours": 6.6,
                "total_energy_kwh": 300.1,
                "total_cost_eur": 21.4,
                "avg_price_eur_kwh": 0.0713,
                "recommendation": "Lote en horas valle",
            }
            for i in range(count)
        ]
        timeline = [
            {
                "hour": h,
                "time": f"{h:02d}:00",
                "price_eur_kwh": 0.08 + h / 200,
                "tariff_period": factory_label(h),
                "tariff_color": "#10b981",
                "temperature": 9.1,
                "humidity": 78.0,
                "climate_status": "suboptimal",
                "active_batch": None,
                "active_process": "Conchado" if h < 8 else None,
                "is_production_hour": h < 8,
                "production_state": "Optimal",
            }
            for h in range(24)
        ]
        return JSONResponse(
            {
                "🏭": "Optimizador",
                "timestamp": s.now.isoformat(),
                "optimization": {
                    "target_date": target_date,
                    "target_kg": target_kg,
                    "num_batches": count,
                    "plan": {
                        "batches": [] if s.plan_batches_dropped else batches,
                        "total_duration_hours": 6.6 * count,
                        "total_energy_kwh": round(300.1 * count, 1),
                        "total_cost_eur": round(21.4 * count, 1),
                        "avg_price_eur_kwh": 0.1049,
                    },
                    "hourly_timeline": timeline,
                    "baseline": {"hours": list(range(8, 16)), "avg_price_eur_kwh": 0.16},
                    "savings": {
                        "absolute_eur": 110.2,
                        "percent": 11.5,
                        "daily_projection": 110.2,
                        "monthly_projection": 2424.4,
                        "annual_projection": 27329.6,
                    },
                    "recommendations": ["Concentrar conchado en horas valle"] * 3,
                    "metadata": {"optimization_algorithm": "greedy_heuristic"},
                },
            }
        )

    @route("/predict/production-recommendation", methods=("POST",))
    async def recommend(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        missing = [
            k
            for k in ("price_eur_kwh", "temperature", "humidity")
            if not isinstance(body, dict) or not isinstance(body.get(k), int | float)
        ]
        if missing:
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["body", k], "msg": "Field required", "type": "missing"}
                        for k in missing
                    ]
                },
                status_code=422,
            )
        if s.prediction_error:
            return JSONResponse({"status": "✅", "prediction": {"error": "Model not loaded"}})
        label = (
            "Optimal"
            if body["price_eur_kwh"] < 0.12
            else ("Moderate" if body["price_eur_kwh"] < 0.25 else "Reduced")
        )
        return JSONResponse(
            {
                "status": "✅",
                "prediction": {
                    "production_recommendation": label,
                    "confidence": 0.71,
                    "probabilities": {
                        "Halt": 0.02,
                        "Moderate": 0.71,
                        "Optimal": 0.2,
                        "Reduced": 0.07,
                    },
                    "timestamp": naive_utc(),
                },
                "analysis": {"overall_score": 71.0},
                "model": "RandomForestClassifier",
            }
        )

    @route("/insights/savings-tracking")
    async def savings(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "success",
                "disclaimer": "Cifras teóricas, no medidas",
                "calculation_breakdown": {
                    "total_consumption_kwh_day": 642,
                    "savings_pct_annual": 35.7,
                },
                "daily_savings": {
                    "optimized_cost_eur": 54.47,
                    "baseline_cost_eur": 84.73,
                    "savings_eur": 30.26,
                    "savings_pct": 35.7,
                },
                "weekly_projection": {"savings_eur": 211.82},
                "monthly_tracking": {"target_eur": 911.0, "projected_eur": 910.83},
                "annual_projection": {
                    "baseline_theoretical_savings_eur": 11045,
                    "actual_measured_savings_eur": None,
                },
            }
        )

    routes = [
        health,
        ready,
        version,
        gaps,
        model_status,
        latest,
        prices,
        hourly,
        windows,
        weather,
        plan,
        recommend,
        savings,
        *alert_routes(s, route),
    ]
    return Starlette(routes=routes)


def main() -> None:
    """`python -m factory_mcp.testing.factory_stub --port N`: serve the stand-in (bench use)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the factory API stand-in on loopback.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    scenario = Scenario(now=datetime.now(UTC))
    uvicorn.run(
        build_app(scenario), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
