"""The v1 API on seeded data: shapes and units of API.md, windows, errors and auth."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from factory_analytics.config import AnalyticsConfig
from factory_analytics.testing.seed import (
    DEVICES,
    NOW,
    ROUTE_TEMPLATE,
    SeededRequest,
    device_of,
    device_online,
    host_sample,
    presence_times,
    sample_times,
    seed_start,
    seeded_probes,
    seeded_requests,
    user_of,
)
from factory_analytics.timeutil import DAY, HOUR
from factory_analytics.web.app import create_app
from pydantic import SecretStr


def call(app, path: str, peer: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request through the in-process ASGI transport, from a chosen peer address."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def per_bucket(requests: list[SeededRequest], start: int, step: int, count: int) -> list[dict]:
    """requests and distinct users/devices per day (or hour), computed from the seed."""
    out = []
    for i in range(count):
        lo = start + i * step
        inside = [r for r in requests if lo <= r.ts < lo + step]
        out.append(
            {
                "start": iso(lo),
                "requests": len(inside),
                "active_users": len({user_of(r) for r in inside} - {None}),
                "active_devices": len({device_of(r) for r in inside} - {None}),
            }
        )
    return out


def test_usage_totals_series_and_per_user_match_the_seed(api: httpx.Client) -> None:
    body = api.get("/api/v1/usage?days=7").json()
    assert body["window"] == {
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-25T10:42:07Z",
        "days": 7,
        "hours": None,
        "resolution": "day",
    }
    seeded = seeded_requests()  # the whole seeded week is the 7-day window
    users = Counter(user_of(r) for r in seeded)
    devices = Counter(device_of(r) for r in seeded)
    assert body["totals"] == {
        "requests": len(seeded),
        "active_users": len(set(users) - {None}),
        "active_devices": len(set(devices) - {None}),
        "anonymous_requests": users[None],
        "client_errors": sum(400 <= r.status < 500 for r in seeded),
        "server_errors": sum(r.status >= 500 for r in seeded),
    }
    assert body["series"] == per_bucket(seeded, seed_start(), DAY, 7)
    assert {u["user"]: u["requests"] for u in body["per_user"]} == {
        user: n for user, n in users.items() if user is not None
    }
    assert {u["user"]: u["devices"] for u in body["per_user"]} == {
        "ana@example.com": ["ana-laptop"],
        "josé@example.com": ["josé-phone"],
    }
    assert {d["device"]: (d["requests"], d["user"]) for d in body["per_device"]} == {
        "ana-laptop": (devices["ana-laptop"], "ana@example.com"),
        "josé-phone": (devices["josé-phone"], "josé@example.com"),
        "chocolate-factory": (devices["chocolate-factory"], None),  # tagged: no person
    }
    routes = Counter((r.method, ROUTE_TEMPLATE[r.path]) for r in seeded)
    expected_top = sorted(routes.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))
    assert [
        (e["method"], e["route"], e["requests"], e["share_pct"]) for e in body["top_endpoints"]
    ] == [(m, route, n, round(100 * n / len(seeded), 2)) for (m, route), n in expected_top]


def test_usage_hours_window_is_hourly_zero_filled_and_matches_the_seed(
    api: httpx.Client,
) -> None:
    body = api.get("/api/v1/usage?hours=6").json()
    assert body["window"]["resolution"] == "hour"
    start = int(NOW // HOUR) * HOUR - 5 * HOUR  # 05:00 UTC today
    expected = per_bucket(seeded_requests(), start, HOUR, 6)
    assert [p["start"][11:16] for p in expected] == [
        "05:00",
        "06:00",
        "07:00",
        "08:00",
        "09:00",
        "10:00",
    ]
    assert [p["requests"] for p in expected][:4] == [0, 0, 0, 0]  # seeded from 09:00
    assert body["series"] == expected
    assert body["totals"]["requests"] == sum(p["requests"] for p in expected) > 0


def test_endpoints_counts_error_rates_and_latency_match_the_seed(api: httpx.Client) -> None:
    body = api.get("/api/v1/endpoints?days=7").json()
    seeded = seeded_requests()
    by_route: dict[tuple[str, str], list[SeededRequest]] = {}
    for r in seeded:
        by_route.setdefault((r.method, ROUTE_TEMPLATE[r.path]), []).append(r)
    assert [(e["method"], e["route"]) for e in body["endpoints"]] == sorted(
        by_route, key=lambda k: (-len(by_route[k]), k[1], k[0])
    )
    for e in body["endpoints"]:
        rows = by_route[(e["method"], e["route"])]
        server_errors = sum(r.status >= 500 for r in rows)
        durations = [r.duration_ms for r in rows]
        assert (e["requests"], e["client_errors"], e["server_errors"], e["timed_requests"]) == (
            len(rows),
            sum(400 <= r.status < 500 for r in rows),
            server_errors,
            len(rows),
        ), e["route"]
        assert e["error_rate_pct"] == round(100 * server_errors / len(rows), 2)
        lat = e["latency_ms"]
        assert lat["max"] == round(max(durations), 1)
        assert lat["mean"] == pytest.approx(sum(durations) / len(durations), abs=0.05)
        for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = nearest_rank(durations, q)
            assert abs(lat[key] - exact) <= 0.05 * exact, (e["route"], key, lat[key], exact)
    dash = next(e for e in body["endpoints"] if e["route"] == "/dashboard/complete")
    assert dash["server_errors"] > 0  # the seed has 5xx here: the rate above is not trivially 0


def test_endpoints_unknown_source_is_a_400(api: httpx.Client) -> None:
    r = api.get("/api/v1/endpoints?source=nope")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_parameter"
    ok = api.get("/api/v1/endpoints?source=factory-api&top=2").json()
    assert len(ok["endpoints"]) == 2


def test_devices_uptime_over_the_window_matches_the_presence_history(api: httpx.Client) -> None:
    body = api.get("/api/v1/devices?days=7").json()
    polls = presence_times()
    by_host = {d["hostname"]: d for d in body["devices"]}
    assert sorted(by_host) == sorted(d.hostname for d in DEVICES)
    for d in DEVICES:
        got = by_host[d.hostname]
        online = sum(device_online(d.node_id, t) for t in polls)
        assert (got["samples"], got["online_samples"]) == (len(polls), online), d.hostname
        assert got["uptime_pct"] == round(100 * online / len(polls), 2)
        series = []
        for day in range(7):
            lo = seed_start() + day * DAY
            inside = [t for t in polls if lo <= t < lo + DAY]
            up = sum(device_online(d.node_id, t) for t in inside)
            series.append((iso(lo), len(inside), up, round(100 * up / len(inside), 2)))
        assert [
            (s["start"], s["samples"], s["online_samples"], s["uptime_pct"]) for s in got["series"]
        ] == series
    assert body["poll"]["last_success"] == iso(polls[-1])  # the newest poll, as the collector notes
    phone = by_host["josé-phone"]
    assert 60 < phone["uptime_pct"] < 70  # offline 00-08 UTC every day
    assert [s["uptime_pct"] for s in phone["series"][:-1]] == [66.67] * 6
    assert by_host["ana-laptop"]["addresses"] == ["100.64.0.2", "fd7a:115c:a1e0::2"]
    assert body["poll"]["interval_seconds"] == 300


def test_devices_uptime_over_an_hours_window(api: httpx.Client) -> None:
    # 10 hours back from 10:42 is 01:00-10:42 UTC: the phone was offline 01:00-08:00
    body = api.get("/api/v1/devices?hours=10").json()
    phone = next(d for d in body["devices"] if d["hostname"] == "josé-phone")
    start = int(NOW // HOUR) * HOUR - 9 * HOUR
    polls = [t for t in presence_times() if t >= start]
    online = sum(device_online("n3CNTRL", t) for t in polls)
    assert (phone["samples"], phone["online_samples"]) == (len(polls), online)
    assert phone["uptime_pct"] == round(100 * online / len(polls), 2)


def test_system_now_and_hourly_series_match_the_samples(api: httpx.Client) -> None:
    body = api.get("/api/v1/system?hours=24").json()
    times = sample_times()
    newest = host_sample(times[-1])
    assert body["now"]["at"] == iso(times[-1])
    assert body["now"]["memory_used_bytes"] == newest.memory_used_bytes
    assert body["now"]["memory_pct"] == round(
        100 * newest.memory_used_bytes / newest.memory_total_bytes, 2
    )
    assert body["now"]["cpu_pct"] == round(newest.cpu_pct, 2)
    start = int(NOW // HOUR) * HOUR - 23 * HOUR
    expected = []
    for i in range(24):
        lo = start + i * HOUR
        inside = [host_sample(t) for t in times if lo <= t < lo + HOUR]
        expected.append(
            (iso(lo), len(inside), round(sum(h.cpu_pct for h in inside) / len(inside), 2))
        )
    assert [(p["start"], p["samples"], p["cpu_pct_avg"]) for p in body["series"]] == expected
    names = [c["name"] for c in body["containers"]]
    assert names == ["factory-analytics", "forgejo"]
    assert body["containers"][0]["now"]["running"] is True


def test_probes_declared_and_results_match_the_seed(api: httpx.Client) -> None:
    body = api.get("/api/v1/probes?hours=24").json()
    start = int(NOW // HOUR) * HOUR - 23 * HOUR  # checks before 11:00 yesterday are outside
    in_window = [p for p in seeded_probes() if p.at >= start]
    dash, prices = body["probes"]
    assert dash["name"] == "dashboard-complete"
    assert dash["declared"] is True
    assert dash["timeout_seconds"] == 45
    for got in (dash, prices):
        mine = [p for p in in_window if p.name == got["name"]]
        failures = sum(not p.ok for p in mine)
        assert (got["checks"], got["failures"]) == (len(mine), failures), got["name"]
        assert got["success_rate_pct"] == round(100 * (len(mine) - failures) / len(mine), 2)
        exact = nearest_rank([p.duration_ms for p in mine], 0.95)
        assert abs(got["latency_ms"]["p95"] - exact) <= 0.05 * exact
        assert got["latency_ms"]["max"] == max(p.duration_ms for p in mine)
    assert prices["failures"] > 0  # the seed fails one check in fifty: the rate is not 100


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
    r = call(app, "/healthz", "203.0.113.9", {"Host": "127.0.0.1:8000"})
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


def test_widget_headers_allow_same_origin_framing_and_forbid_external_assets(
    api: httpx.Client,
) -> None:
    r = api.get("/widget")
    csp = r.headers["content-security-policy"]
    assert csp.endswith("frame-ancestors 'self'")  # embedders: widget.frame_ancestors
    assert "default-src 'self'" in csp
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
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
