"""The v1 API on seeded data: shapes and units of API.md, windows, errors and auth."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from factory_analytics.config import AnalyticsConfig
from factory_analytics.web.app import create_app
from pydantic import SecretStr

from tests.seed import NOW


def call(app, path: str, peer: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request through the in-process ASGI transport, from a chosen peer address."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


def test_usage_totals_series_and_per_user(api: httpx.Client) -> None:
    body = api.get("/api/v1/usage?days=7").json()
    assert body["window"] == {
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-25T10:42:07Z",
        "days": 7,
        "hours": None,
        "resolution": "day",
    }
    totals = body["totals"]
    assert totals["requests"] == sum(p["requests"] for p in body["series"])
    assert [p["start"][:10] for p in body["series"]] == [f"2026-11-{d}" for d in range(19, 26)]
    assert totals["active_users"] == 2
    assert totals["active_devices"] == 3
    users = {u["user"]: u for u in body["per_user"]}
    assert set(users) == {"ana@example.com", "josé@example.com"}
    assert users["josé@example.com"]["devices"] == ["josé-phone"]
    # anonymous = no person: the tagged server and the non-tailnet client
    assert (
        sum(u["requests"] for u in body["per_user"]) + totals["anonymous_requests"]
        == (totals["requests"])
    )
    server = next(d for d in body["per_device"] if d["device"] == "chocolate-factory")
    assert server["user"] is None
    assert body["per_device"][0]["requests"] >= body["per_device"][-1]["requests"]
    shares = [e["share_pct"] for e in body["top_endpoints"]]
    assert shares == sorted(shares, reverse=True)
    assert round(sum(shares)) == 100


def test_usage_hours_window_is_hourly_and_zero_filled(api: httpx.Client) -> None:
    body = api.get("/api/v1/usage?hours=6").json()
    assert body["window"]["resolution"] == "hour"
    assert [p["start"][11:16] for p in body["series"]] == [
        "05:00",
        "06:00",
        "07:00",
        "08:00",
        "09:00",
        "10:00",
    ]
    assert [p["requests"] for p in body["series"]][:4] == [0, 0, 0, 0]  # seeded from 09:00
    assert body["totals"]["requests"] == sum(p["requests"] for p in body["series"]) > 0


def test_endpoints_latency_and_error_rate(api: httpx.Client) -> None:
    body = api.get("/api/v1/endpoints?days=7").json()
    by_route = {e["route"]: e for e in body["endpoints"]}
    dash = by_route["/dashboard/complete"]
    assert dash["error_rate_pct"] == round(100 * dash["server_errors"] / dash["requests"], 2)
    lat = dash["latency_ms"]
    assert 20000 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] * 1.05
    assert lat["max"] == pytest.approx(24000 * 1.6)
    prices = by_route["/ree/prices/latest"]["latency_ms"]
    assert prices["p95"] < 100
    assert "/health-monitoring/uptime/{hostname}" in by_route
    assert "/insights/optimal-windows" in by_route  # query string dropped


def test_endpoints_unknown_source_is_a_400(api: httpx.Client) -> None:
    r = api.get("/api/v1/endpoints?source=nope")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_parameter"
    ok = api.get("/api/v1/endpoints?source=factory-api&top=2").json()
    assert len(ok["endpoints"]) == 2


def test_devices_uptime_from_history(api: httpx.Client) -> None:
    body = api.get("/api/v1/devices?days=7").json()
    phone = next(d for d in body["devices"] if d["hostname"] == "josé-phone")
    # offline 00:00-08:00 UTC every day (seed): a third of the samples
    assert phone["uptime_pct"] == pytest.approx(
        100 * phone["online_samples"] / phone["samples"], abs=0.01
    )
    assert 60 < phone["uptime_pct"] < 70
    assert [s["uptime_pct"] for s in phone["series"][:-1]] == [66.67] * 6
    laptop = next(d for d in body["devices"] if d["hostname"] == "ana-laptop")
    assert laptop["uptime_pct"] == 100.0
    assert laptop["addresses"] == ["100.64.0.2", "fd7a:115c:a1e0::2"]
    assert body["poll"]["interval_seconds"] == 300


def test_system_now_and_hourly_series(api: httpx.Client) -> None:
    body = api.get("/api/v1/system?hours=24").json()
    assert body["now"]["at"] == "2026-11-25T10:42:07Z"
    assert body["now"]["memory_pct"] == pytest.approx(
        100 * body["now"]["memory_used_bytes"] / body["now"]["memory_total_bytes"], abs=0.01
    )
    assert len(body["series"]) == 24
    assert all(p["samples"] > 0 for p in body["series"])
    names = [c["name"] for c in body["containers"]]
    assert names == ["factory-analytics", "forgejo"]
    assert body["containers"][0]["now"]["running"] is True


def test_probes_declared_and_results(api: httpx.Client) -> None:
    body = api.get("/api/v1/probes?hours=24").json()
    dash, prices = body["probes"]
    assert dash["name"] == "dashboard-complete"
    assert dash["declared"] is True
    assert dash["timeout_seconds"] == 45
    assert dash["latency_ms"]["p95"] > 20000
    assert prices["checks"] == sum(p["checks"] for p in prices["series"])
    assert prices["success_rate_pct"] == pytest.approx(
        100 * (prices["checks"] - prices["failures"]) / prices["checks"], abs=0.01
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=7&hours=3", "not both"),
        ("days=0", "between 1 and 365"),
        ("hours=9000", "between 1 and 8760"),
        ("days=seven", "must be an integer"),
    ],
)
def test_bad_windows(api: httpx.Client, query: str, message: str) -> None:
    r = api.get(f"/api/v1/usage?{query}")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_window"
    assert message in error["message"]


def test_unknown_path_and_method(api: httpx.Client) -> None:
    assert api.get("/api/v1/nope").json()["error"]["code"] == "not_found"
    r = api.post("/api/v1/usage")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_metrics_in_prometheus_text_format(api: httpx.Client) -> None:
    r = api.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert "# TYPE factory_analytics_http_requests_total counter" in text
    assert (
        'factory_analytics_http_requests_total{method="GET",'
        'route="/health-monitoring/uptime/{hostname}",status_class="5xx"}'
    ) in text
    assert 'factory_analytics_device_online{hostname="josé-phone"} 1' in text
    assert 'factory_analytics_probe_up{probe="prices-latest"}' in text
    assert "factory_analytics_host_load1 " in text


def test_healthz_open_and_degraded_when_the_database_is_gone(tmp_path) -> None:
    cfg = AnalyticsConfig(database=tmp_path / "missing" / "a.db")
    app = create_app(cfg, SecretStr("t0ken"), clock=lambda: NOW)
    r = call(app, "/healthz", "203.0.113.9")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"


@pytest.mark.parametrize(
    ("peer", "headers", "status"),
    [
        ("127.0.0.1", None, 200),
        ("::1", None, 200),
        ("100.101.102.103", None, 200),
        ("fd7a:115c:a1e0::42", None, 200),
        ("::ffff:100.64.0.1", None, 200),
        ("172.18.0.5", None, 401),  # the MCP container on the Docker network
        ("192.168.1.20", {"X-Forwarded-For": "100.64.0.1"}, 401),  # forwarding headers ignored
        ("172.18.0.5", {"Authorization": "Bearer t0ken"}, 200),
        ("172.18.0.5", {"Authorization": "Bearer wrong"}, 401),
        ("127.0.0.1", {"Authorization": "Bearer wrong"}, 401),
        ("172.18.0.5", {"Authorization": "Basic dDBrZW4="}, 401),
    ],
)
def test_auth(seeded_config: AnalyticsConfig, peer: str, headers, status: int) -> None:
    app = create_app(seeded_config, SecretStr("t0ken"), clock=lambda: NOW)
    r = call(app, "/api/v1/usage?days=1", peer, headers)
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "unauthorized"
        assert "t0ken" not in r.text


def test_without_a_configured_token_only_trusted_peers_get_in(seeded_config) -> None:
    app = create_app(seeded_config, None, clock=lambda: NOW)
    assert call(app, "/widget", "172.18.0.5").status_code == 401
    assert call(app, "/widget", "100.64.0.3").status_code == 200
    assert call(app, "/healthz", "172.18.0.5").status_code == 200


def test_widget_headers_allow_framing_and_forbid_external_assets(api: httpx.Client) -> None:
    r = api.get("/widget")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors *" in csp
    assert "default-src 'self'" in csp
    assert "x-frame-options" not in r.headers
    for asset in ("widget.js", "charts.js", "widget.css"):
        assert api.get(f"/static/{asset}").status_code == 200
    assert "http" not in r.text.replace("http-equiv", "")  # no CDN, no external URL
    assert api.get("/static/../cli.py").status_code == 404


def test_database_errors_are_503(seeded_config: AnalyticsConfig) -> None:
    with sqlite3.connect(seeded_config.database) as conn:
        conn.execute("DROP TABLE route_hourly")
    app = create_app(seeded_config, None, clock=lambda: NOW)
    r = call(app, "/api/v1/endpoints", "127.0.0.1")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "database_unavailable"
