"""The factory API's answers as pydantic models, and the checks its 200s need.

Why: the API is outside this repository; its shapes are documented outside it,
and several endpoints report failure inside an HTTP 200 body (an `error` key, `status:
"error"`, `prediction.error`, `ready: false`). Parsing through these models turns a changed or
failed answer into a clear `UpstreamError` instead of fake data. Unknown keys are ignored (the
payloads carry emoji banners and Spanish prose we do not need).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from factory_mcp.upstream import UpstreamError

T = TypeVar("T", bound=BaseModel)


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PriceRow(Loose):
    timestamp: str
    price_eur_kwh: float
    source: str | None = None


class ForecastRow(Loose):
    timestamp: str
    predicted_price: float
    confidence_lower: float | None = None
    confidence_upper: float | None = None


class Forecast(Loose):
    status: str
    predictions: list[ForecastRow] = []
    model_type: str | None = None
    model_metrics: dict[str, Any] = {}
    last_training: str | None = None
    timestamp: str | None = None
    message: str | None = None
    error: str | None = None


class OptimalWindow(Loose):
    datetime: str
    hours: str | None = None  # "02-05h": first to last clock hour, both included
    duration_hours: int | None = None  # optimal windows only; avoid windows have none
    avg_price_eur_kwh: float | None = None
    avg_price: float | None = None
    tariff_period: str | None = None
    quality: str | None = None
    recommended_process: str | None = None
    estimated_savings_eur: float | None = None
    recommendation: str | None = None


class OptimalWindows(Loose):
    status: str
    optimal_windows: list[OptimalWindow] = []
    avoid_windows: list[OptimalWindow] = []
    summary: dict[str, Any] = {}
    message: str | None = None
    error: str | None = None


class Weather(Loose):
    timestamp: str | None = None
    station_id: str | None = None
    temperature: float | None = None
    temperature_min: float | None = None
    temperature_max: float | None = None
    humidity: float | None = None
    pressure: float | None = None
    wind_speed: float | None = None
    wind_direction: float | None = None
    precipitation: float | None = None
    weather_description: str | None = None
    cloudiness: float | None = None
    source: str | None = None
    error: str | None = None


def parse(model: type[T], body: Any, what: str) -> T:
    """Validate an upstream answer; a mismatch names the endpoint and the first problem."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise UpstreamError(
            f"The factory API's answer for {what} does not have the documented shape "
            f"({where}: {first.get('msg')}). Check that FACTORY_API_URL points at the factory "
            "API 0.41.x."
        ) from None


def failed_in_body(body: Any) -> str | None:
    """The failure an HTTP 200 body reports, if any (error key or status error)."""
    if not isinstance(body, dict):
        return None
    if body.get("error"):
        return str(body["error"])[:300]
    if str(body.get("status", "")).lower() in ("error", "failed", "❌"):
        return str(body.get("message") or body.get("detail") or "status error")[:300]
    return None
