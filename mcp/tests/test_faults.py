"""One failing or hanging upstream source must not take the others down, and every failure
names the upstream, the endpoint and the reason (issue 10, mcp).

Driven through a real MCP client against the stand-ins; faults are the stand-ins' named
injections (`forced`, `delays`, `unhandled`, `not_served`) or a real refused connection.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from mcp import Client

from factory_mcp.config import load_settings
from factory_mcp.deps import build_deps
from factory_mcp.server import build_server
from factory_mcp.testing import factory_stub

from .conftest import FACTORY_URL, error_text, structured

pytestmark = pytest.mark.anyio

ALERT_SOURCES = [
    ("/insights/alerts", "predictive"),
    ("/dashboard/alerts", "current"),
    ("/health-monitoring/alerts", "infrastructure"),
]
HEALTH_PATHS = [
    "/health",
    "/ready",
    "/version",
    "/gaps/summary",
    "/predict/prices/models/price-forecast/status",
    "/health-monitoring/summary",
]
FAST = {"FACTORY_MCP_SOURCE_DEADLINE": "1", "FACTORY_MCP_RETRIES": "1"}


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("path", "source"), ALERT_SOURCES)
async def test_alert_source_answering_5xx_is_named_and_the_others_kept(
    make_client, scenario, path, source
) -> None:
    scenario.alert_flood = 1  # every source has something to lose
    scenario.forced[path] = (503, {"detail": "InfluxDB unavailable"})
    async with make_client(FAST) as client:
        out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is False
    [problem] = out["unavailable_sources"]
    assert problem["source"] == source
    assert problem["endpoint"] == f"GET {FACTORY_URL}{path}"
    assert problem["reason"] == "HTTP 503"
    assert "InfluxDB unavailable" in problem["problem"]
    kept = {a["source"] for a in out["alerts"]}
    assert kept == {"predictive", "current", "infrastructure"} - {source}
    assert f"{source} (GET {FACTORY_URL}{path}: HTTP 503)" in out["summary"]


@pytest.mark.parametrize(("path", "source"), ALERT_SOURCES)
async def test_hanging_alert_source_is_named_within_its_own_deadline(
    make_client, scenario, path, source
) -> None:
    scenario.delays[path] = 30
    started = time.monotonic()
    async with make_client(FAST) as client:
        out = structured(await client.call_tool("get_alerts", {}))
    assert time.monotonic() - started < 5  # the source's 1 s, not the tool's 45 s
    [problem] = out["unavailable_sources"]
    assert (problem["source"], problem["reason"]) == (source, "timeout")
    assert problem["endpoint"] == f"GET {FACTORY_URL}{path}"
    assert len({a["source"] for a in out["alerts"]}) == 2


async def test_alert_source_answering_html_or_plain_500_says_so(make_client, scenario) -> None:
    scenario.forced["/dashboard/alerts"] = (200, "<html><body>login</body></html>")
    scenario.unhandled.add("/insights/alerts")
    async with make_client(FAST) as client:
        out = structured(await client.call_tool("get_alerts", {}))
    reasons = {p["source"]: p["reason"] for p in out["unavailable_sources"]}
    assert reasons == {"current": "bad JSON", "predictive": "HTTP 500"}
    assert [a["source"] for a in out["alerts"]] == ["infrastructure"]


@pytest.mark.parametrize("path", HEALTH_PATHS)
@pytest.mark.parametrize("fault", ["5xx", "hang"])
async def test_system_health_keeps_every_other_source(make_client, scenario, path, fault) -> None:
    if fault == "5xx":
        scenario.forced[path] = (500, {"detail": "boom"})
    else:
        scenario.delays[path] = 30
    async with make_client(FAST) as client:
        out = structured(await client.call_tool("get_system_health", {}))
    assert out["complete"] is False
    reason = "HTTP 500" if fault == "5xx" else "timeout"
    assert out["problems"][0].startswith(f"GET {FACTORY_URL}{path} ({reason}): ")
    assert f"INCOMPLETE: could not read GET {FACTORY_URL}{path} ({reason})" in out["summary"]
    # What the others said is still there.
    assert out["version"] == "0.41.0"
    if path != "/gaps/summary":
        assert out["prices"]["gap_hours"] is not None
    if path != "/ready":
        assert out["ready"] is True


async def test_healthy_system_is_complete(client) -> None:
    out = structured(await client.call_tool("get_system_health", {}))
    assert out["complete"] is True
    assert out["problems"] == []


async def test_recommendation_uses_a_given_price_when_there_is_no_latest(client, scenario) -> None:
    scenario.latest_lag_hours = 24 * 8  # /ree/prices/latest answers 404
    out = structured(
        await client.call_tool("get_production_recommendation", {"price_eur_kwh": 0.11})
    )
    assert out["price_eur_kwh"] == 0.11
    assert out["recommendation"] == "Optimal"
    assert not any(r["path"] == "/ree/prices/latest" for r in scenario.requests)


async def test_recommendation_without_a_price_says_why_and_what_to_pass(client, scenario) -> None:
    scenario.latest_lag_hours = 24 * 8
    text = error_text(await client.call_tool("get_production_recommendation", {}))
    assert f"GET {FACTORY_URL}/ree/prices/latest" in text
    assert "404" in text
    assert "No recent price data available" in text
    assert "Pass price_eur_kwh" in text


async def test_recommendation_with_hanging_weather_names_it(make_client, scenario) -> None:
    scenario.delays["/weather/current"] = 30
    async with make_client(FAST) as client:
        text = error_text(
            await client.call_tool("get_production_recommendation", {"price_eur_kwh": 0.2})
        )
    assert f"GET {FACTORY_URL}/weather/current" in text
    assert "within 1 s" in text
    assert "Pass temperature_c and humidity_pct" in text


@pytest.mark.parametrize("path", ["/api/v1/endpoints", "/api/v1/probes"])
async def test_endpoint_performance_404_names_the_endpoint(make_client, analytics, path) -> None:
    analytics.not_served = {path}
    async with make_client() as client:
        result = await client.call_tool("get_endpoint_performance", {})
    if path == "/api/v1/endpoints":
        text = error_text(result)
        assert "analytics service" in text
        assert "/api/v1/endpoints with 404" in text
        assert "ANALYTICS_URL" in text
    else:  # routes are still worth reporting; the missing probes are named
        out = structured(result)
        assert out["complete"] is False
        [problem] = out["unavailable_sources"]
        assert problem["reason"] == "HTTP 404"
        assert problem["endpoint"].endswith("/api/v1/probes")
        assert out["endpoints"]
        assert "INCOMPLETE" in out["summary"]


async def test_endpoint_performance_unreachable_names_the_service(scenario) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = load_settings(
        {"FACTORY_API_URL": FACTORY_URL, "ANALYTICS_URL": url, "FACTORY_MCP_RETRIES": "0"}
    )
    deps = build_deps(
        settings,
        transport=httpx.ASGITransport(factory_stub.build_app(scenario)),
        now=lambda: scenario.now,
    )
    async with Client(build_server(deps), mode="legacy") as client:
        text = error_text(await client.call_tool("get_endpoint_performance", {}))
    assert f"Cannot reach the analytics service at {url}" in text
    assert "/api/v1/endpoints" in text
    assert "connection refused" in text
    assert "ANALYTICS_URL" in text


@pytest.mark.parametrize(
    ("tool", "args", "fault", "endpoint"),
    [
        ("get_current_weather", {}, "weather_error", "GET /weather/current → HTTP 200"),
        (
            "get_production_recommendation",
            {"price_eur_kwh": 0.1, "temperature_c": 20, "humidity_pct": 50},
            "prediction_error",
            "POST /predict/production-recommendation → HTTP 200",
        ),
        ("get_price_forecast", {}, "tailscale_refusal", "GET /predict/prices/hourly"),
    ],
    ids=["weather-error-in-200", "model-error-in-200", "middleware-403"],
)
async def test_every_failure_names_its_endpoint(client, scenario, tool, args, fault, endpoint):
    setattr(scenario, fault, 403 if fault == "tailscale_refusal" else True)
    text = error_text(await client.call_tool(tool, args))
    method, path = endpoint.split(" ", 1)
    assert f"{method} {FACTORY_URL}{path}" in text


async def test_a_tool_stopped_at_its_deadline_names_the_hanging_call(make_client, scenario):
    scenario.delays["/insights/savings-tracking"] = 10
    env = {
        "FACTORY_MCP_DEADLINE": "1",
        "FACTORY_MCP_REQUEST_TIMEOUT": "1",
        "FACTORY_MCP_RETRIES": "0",
    }
    async with make_client(env) as client:
        text = error_text(await client.call_tool("get_savings", {}))
    assert f"GET {FACTORY_URL}/insights/savings-tracking" in text
