"""Pieces every tool module shares: annotations, price bands, small output models."""

from __future__ import annotations

from typing import Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from factory_mcp.tariff import Period
from factory_mcp.upstream import UpstreamError

TIMEZONE = "Europe/Madrid"


def read_only(title: str) -> ToolAnnotations:
    """Every tool here only reads: safe to call in parallel and to repeat."""
    return ToolAnnotations(
        title=title,
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    )


class Out(BaseModel):
    """Base of every tool result: every field always present (nullable ones as null)."""

    model_config = ConfigDict(extra="ignore")


# A source of a merged answer that failed (the answer then says complete=false). No docstring:
# it would be repeated in the output schema of every tool that merges sources.
class SourceProblem(Out):
    source: str
    endpoint: str
    reason: str  # timeout, unreachable, HTTP <code>, bad JSON, error in body, …
    problem: str


class PricePoint(Out):
    start: str
    price_eur_kwh: float
    tariff_period: Period


def price_band(price: float) -> str:
    """The factory's price-quality buckets (insights service thresholds, €/kWh)."""
    if price < 0.08:
        return "excellent"
    if price < 0.12:
        return "optimal"
    if price < 0.20:
        return "acceptable"
    if price < 0.30:
        return "expensive"
    return "avoid"


def need_dict(body: Any, what: str) -> dict[str, Any]:
    """The API answered; make sure it is the object we expect, else a clear error."""
    if not isinstance(body, dict):
        raise UpstreamError(
            f"The factory API returned an unexpected shape for {what} (expected an object). "
            "FACTORY_API_URL may point at a different service or version."
        )
    return body


def blind_tailnet_monitor(summary: Any) -> str | None:
    """Why the factory's Tailscale monitor cannot be trusted, if it reports no nodes at all.

    /health-monitoring/* answers zero nodes instead of an error when the socat proxy to
    tailscaled is down (a known pitfall of the API): /alerts then lists nothing and
    /critical reports 100 % healthy for the empty list. A tailnet with no nodes cannot be
    serving this API, so `total_nodes == 0` means the monitor is blind, not that all is well.
    """
    if not isinstance(summary, dict):
        return "/health-monitoring/summary did not answer with an object"
    nodes = summary.get("total_nodes")
    if not isinstance(nodes, int) or isinstance(nodes, bool):
        return "/health-monitoring/summary has no total_nodes count"
    if nodes > 0:
        return None
    return (
        "the factory's Tailscale monitor sees no nodes at all (total_nodes 0): its socat proxy "
        "to tailscaled is probably down, so offline nodes cannot be detected. Check the "
        "factory's Tailscale sidecar; get_tailnet_devices asks the analytics service instead."
    )


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (optional blocks of a payload)."""
    return value if isinstance(value, dict) else {}


def round4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def mean_by_period(points: list[tuple[Period, float]]) -> dict[str, float | None]:
    """Mean price per 2.0TD period (null for a period with no hours)."""
    return {p: mean([v for q, v in points if q == p]) for p in ("P1", "P2", "P3")}


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return round(ordered[mid], 4)
    return round((ordered[mid - 1] + ordered[mid]) / 2, 4)
