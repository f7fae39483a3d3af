"""Contract check: the analytics tools read the real factory-analytics app, not just our stand-in.

Runs when the analytics package is installed (it is in the shared test environment): its
FastAPI app, in-process through `httpx.ASGITransport`, on two databases.

- Fresh and migrated: an empty database is the case most likely to break a reader (null
  figures, empty lists), and every field we read must parse.
- Seeded by `factory_analytics.testing.seed` (a deterministic week of presence polls, access
  lines and probe checks, written through the collectors' store functions) and served with the
  seed's clock: every figure `get_usage`, `get_endpoint_performance` and `get_tailnet_devices`
  report must equal the analytics API's answer for the same query (GET directly through the
  same transport) and the figure computed in plain Python from the seed's generators. The
  widget reads the same API (analytics/tests/test_widget_browser.py), so tool and widget agree.

What the tools do to the API's figures, and so what the comparisons apply:
- timestamps: the API's UTC `Z` strings are given in Europe/Madrid time with their offset;
- counts and `_pct` figures are passed through unrounded (the API already rounds to 2 places),
  latency percentiles and max are the API's `latency_ms` values renamed `p50_ms`…`max_ms`;
- lists: `top` is sent to the API (usage 10, performance 20 by default) and a result is cut only
  to fit the 20,000-character budget (`omitted` says how many); a user's devices are capped at
  10 and probes at 20. The seed has 2 users, 3 devices, 5 routes and 2 probes, so nothing is cut.
- `busiest_period` is the start of the first day/hour with the most requests; `online_only`
  filters the device list while `online`/`offline` still count every device.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from mcp import Client
from pydantic import SecretStr

from factory_mcp.server import build_server
from factory_mcp.testing import analytics_stub, factory_stub

from .conftest import ANALYTICS_URL, ERAS, make_deps, structured

analytics_app = pytest.importorskip("factory_analytics.web.app")
analytics_config = pytest.importorskip("factory_analytics.config")
analytics_db = pytest.importorskip("factory_analytics.store.db")
seed = pytest.importorskip("factory_analytics.testing.seed")

pytestmark = pytest.mark.anyio

TOKEN = "analytics-secret"
MADRID = ZoneInfo("Europe/Madrid")
HOUR, DAY = 3600, 86400


@pytest.fixture
def real_analytics(tmp_path, scenario) -> httpx.ASGITransport:
    database = tmp_path / "analytics.db"
    analytics_db.open_database(database).close()
    config = reachable(analytics_config.AnalyticsConfig(database=database))
    app = analytics_app.create_app(config, SecretStr(TOKEN), clock=lambda: scenario.now.timestamp())
    return httpx.ASGITransport(app=app)


def reachable(config: Any) -> Any:
    """The analytics configuration with the name the MCP server calls it by (ANALYTICS_URL's
    host) in `http.allowed_hosts`, as a deployment lists it (analytics refuses other Host
    names: DNS-rebinding protection)."""
    host = httpx.URL(ANALYTICS_URL).host
    allowed = analytics_config.HttpConfig(allowed_hosts=[host])
    return config.model_copy(update={"http": allowed})


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_usage", {"days": 2}),
        ("get_tailnet_devices", {"days": 7}),
        ("get_endpoint_performance", {"hours": 24}),
    ],
)
async def test_tools_parse_the_real_analytics_api(
    tool, args, scenario, analytics, real_analytics
) -> None:
    deps = make_deps(scenario, analytics)
    assert deps.analytics is not None
    deps.analytics.client = httpx.AsyncClient(transport=real_analytics)
    async with Client(build_server(deps)) as client:
        out = structured(await client.call_tool(tool, args))
    assert out["window"]["end"] == "2026-11-25T11:20:00+01:00"
    assert out["summary"]


# --- the seeded database -------------------------------------------------------------------

# The seed's own clock (10:42:07 UTC: every device online, the day's traffic under way) and
# five hours earlier (05:42:07 UTC: josé's phone offline, nothing yet today), so `online`,
# `last_seen` and an empty current day are compared too.
CLOCKS = {"day": seed.NOW, "night": seed.NOW - 5 * HOUR}


@dataclass(frozen=True)
class Seeded:
    now: float
    database: Path


@pytest.fixture(scope="module", params=sorted(CLOCKS))
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """One seeded database per clock, shared by the module's read-only tests."""
    now = CLOCKS[request.param]
    database = tmp_path_factory.mktemp(f"seeded-{request.param}") / "analytics.db"
    seed.seed(database, now)
    return Seeded(now, database)


@pytest.fixture
def seeded_app(seeded: Seeded) -> httpx.ASGITransport:
    """The real app on the seeded database, with its declared probes and the seed's clock."""
    app = analytics_app.create_app(
        reachable(seed.analytics_config(seeded.database)),
        SecretStr(TOKEN),
        clock=lambda: seeded.now,
    )
    return httpx.ASGITransport(app=app)


async def call_tool(
    seeded: Seeded, transport: httpx.ASGITransport, era: str, tool: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Call `tool` through the in-process MCP client of `era`, the tools reading `transport`."""
    clock = factory_stub.Scenario(now=datetime.fromtimestamp(seeded.now, UTC))
    deps = make_deps(clock, analytics_stub.AnalyticsScenario())
    assert deps.analytics is not None
    await deps.analytics.client.aclose()  # the stand-in's client, replaced by the real app's
    deps.analytics.client = httpx.AsyncClient(transport=transport)
    try:
        async with Client(build_server(deps), mode=era) as client:
            assert client.protocol_version == ERAS[era]
            return structured(await client.call_tool(tool, args))
    finally:
        await deps.aclose()


async def api_get(transport: httpx.ASGITransport, path: str, **params: Any) -> dict[str, Any]:
    """The analytics API's own answer, through the same transport and token as the tools."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=ANALYTICS_URL, headers=headers
    ) as api:
        response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def madrid(text: str | None) -> str | None:
    """An API timestamp (`2026-11-25T10:42:07Z`) as the tools give it (`…T11:42:07+01:00`)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(MADRID).isoformat(timespec="seconds")


def madrid_at(epoch: float | None) -> str | None:
    """A seed time (epoch seconds) as the tools give it."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, MADRID).isoformat(timespec="seconds")


def without(out: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k not in keys}


# --- windows: the API's rules (API.md "Windows"), written out from the seed's clock ----------


@dataclass(frozen=True)
class Span:
    start: int  # first bucket's start, epoch seconds
    step: int  # DAY or HOUR
    buckets: int
    days: int | None
    hours: int | None

    def holds(self, ts: float, now: float) -> bool:
        return self.start <= ts <= now


def span(now: float, days: int | None = None, hours: int | None = None) -> Span:
    """`days=N`: today (partial) and the N-1 UTC days before it; `hours=N` likewise in hours."""
    if hours is not None:
        return Span(int(now // HOUR) * HOUR - (hours - 1) * HOUR, HOUR, hours, None, hours)
    assert days is not None
    return Span(int(now // DAY) * DAY - (days - 1) * DAY, DAY, days, days, None)


def window_from_seed(now: float, s: Span) -> dict[str, Any]:
    return {"start": madrid_at(s.start), "end": madrid_at(now), "days": s.days, "hours": s.hours}


def window_from_api(body: dict[str, Any]) -> dict[str, Any]:
    w = body["window"]
    return {
        "start": madrid(w["from"]),
        "end": madrid(w["to"]),
        "days": w["days"],
        "hours": w["hours"],
    }


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def in_reported_bucket(reported: float, exact: float) -> bool:
    """API.md: a percentile is the geometric middle, to 0.1 ms, of the log bucket holding that
    rank (bounds grow by 2^(1/8)): the exact value lies within half a bucket of the report."""
    half = 2 ** (1 / 16)
    return reported / half - 0.05 <= exact <= reported * half + 0.05


# --- get_usage ------------------------------------------------------------------------------

TOTALS = (
    "requests",
    "active_users",
    "active_devices",
    "anonymous_requests",
    "client_errors",
    "server_errors",
)


def usage_from_api(body: dict[str, Any]) -> dict[str, Any]:
    busiest = max(body["series"], key=lambda p: p["requests"])  # first of equals, as the tool
    return {
        "window": window_from_api(body),
        **{key: body["totals"][key] for key in TOTALS},
        "per_user": [
            {
                "user": u["user"],
                "requests": u["requests"],
                "devices": u["devices"][:10],
                "last_active_hour": madrid(u["last_active_hour"]),
            }
            for u in body["per_user"]
        ],
        "top_endpoints": [
            {k: e[k] for k in ("method", "route", "requests", "share_pct")}
            for e in body["top_endpoints"]
        ],
        "busiest_period": madrid(busiest["start"]) if busiest["requests"] else None,
        "omitted": 0,
    }


def usage_from_seed(now: float, s: Span) -> dict[str, Any]:
    rows = [r for r in seed.seeded_requests(now) if s.holds(r.ts, now)]
    users = Counter(seed.user_of(r) for r in rows)
    routes = Counter((r.method, seed.ROUTE_TEMPLATE[r.path]) for r in rows)
    per_bucket = [
        sum(s.start + i * s.step <= r.ts < s.start + (i + 1) * s.step for r in rows)
        for i in range(s.buckets)
    ]
    busiest = per_bucket.index(max(per_bucket))
    per_user = []
    for user, n in sorted(users.items(), key=lambda kv: (-kv[1], kv[0] or "")):
        if user is None:
            continue
        mine = [r for r in rows if seed.user_of(r) == user]
        per_user.append(
            {
                "user": user,
                "requests": n,
                "devices": sorted({seed.device_of(r) for r in mine} - {None}),
                "last_active_hour": madrid_at(max(r.ts for r in mine) // HOUR * HOUR),
            }
        )
    return {
        "window": window_from_seed(now, s),
        "requests": len(rows),
        "active_users": len(set(users) - {None}),
        "active_devices": len({seed.device_of(r) for r in rows} - {None}),
        "anonymous_requests": users[None],
        "client_errors": sum(400 <= r.status < 500 for r in rows),
        "server_errors": sum(r.status >= 500 for r in rows),
        "per_user": per_user,
        "top_endpoints": [
            {"method": m, "route": route, "requests": n, "share_pct": round(100 * n / len(rows), 2)}
            for (m, route), n in sorted(routes.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))
        ],
        "busiest_period": madrid_at(s.start + busiest * s.step) if max(per_bucket) else None,
        "omitted": 0,
    }


@pytest.mark.parametrize("args", [{"days": 7}, {"hours": 24}], ids=["days=7", "hours=24"])
async def test_usage_figures_are_the_apis_and_the_seeds(
    seeded: Seeded, seeded_app: httpx.ASGITransport, era: str, args: dict[str, int]
) -> None:
    out = await call_tool(seeded, seeded_app, era, "get_usage", args)
    body = await api_get(seeded_app, "/api/v1/usage", **args, top=10)  # the tool's default top
    expected = usage_from_seed(seeded.now, span(seeded.now, **args))
    assert without(out, "summary") == usage_from_api(body) == expected
    assert expected["requests"] > expected["anonymous_requests"] > 0
    assert len(expected["per_user"]) == 2
    assert len(expected["top_endpoints"]) == 5
    assert (
        f"{expected['requests']} requests from {expected['active_users']} users on "
        f"{expected['active_devices']} devices"
    ) in out["summary"]
    for user in expected["per_user"]:
        assert f"{user['user']} ({user['requests']})" in out["summary"]


# --- get_endpoint_performance ---------------------------------------------------------------

PERCENTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}


def performance_from_api(endpoints: dict[str, Any], probes: dict[str, Any]) -> dict[str, Any]:
    return {
        "complete": True,  # both endpoints answered
        "unavailable_sources": [],
        "window": window_from_api(endpoints),
        "endpoints": [
            {
                **{k: e[k] for k in ("method", "route", "requests", "error_rate_pct")},
                **{k: e[k] for k in ("client_errors", "server_errors")},
                **{f"{k}_ms": e["latency_ms"][k] for k in ("p50", "p95", "p99", "max")},
            }
            for e in endpoints["endpoints"]
        ],
        "probes": [
            {
                "name": p["name"],
                "ok": p["last"]["ok"] if p["last"] else None,
                "last_error": p["last"]["error"] if p["last"] else None,
                "success_rate_pct": p["success_rate_pct"],
                "p95_ms": p["latency_ms"]["p95"],
            }
            for p in probes["probes"]
        ],
        "omitted": 0,
    }


def performance_from_seed(now: float, s: Span) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Everything but the percentiles, and the durations each percentile is taken over."""
    by_route: dict[tuple[str, str], list[Any]] = {}
    for r in seed.seeded_requests(now):
        if s.holds(r.ts, now):
            by_route.setdefault((r.method, seed.ROUTE_TEMPLATE[r.path]), []).append(r)
    endpoints, durations = [], {}
    for method, route in sorted(by_route, key=lambda k: (-len(by_route[k]), k[1], k[0])):
        rows = by_route[(method, route)]
        server_errors = sum(r.status >= 500 for r in rows)
        endpoints.append(
            {
                "method": method,
                "route": route,
                "requests": len(rows),
                "error_rate_pct": round(100 * server_errors / len(rows), 2),
                "client_errors": sum(400 <= r.status < 500 for r in rows),
                "server_errors": server_errors,
                "max_ms": round(max(r.duration_ms for r in rows), 1),
            }
        )
        durations[route] = [r.duration_ms for r in rows]
    probes = []
    checks = [p for p in seed.seeded_probes(now) if s.holds(p.at, now)]
    for name in sorted({p.name for p in checks}):
        mine = sorted((p for p in checks if p.name == name), key=lambda p: p.at)
        last = mine[-1]
        probes.append(
            {
                "name": name,
                "ok": last.ok,
                "last_error": None if last.ok else f"status {last.status}",
                "success_rate_pct": round(100 * sum(p.ok for p in mine) / len(mine), 2),
            }
        )
        durations[name] = [p.duration_ms for p in mine]  # every seeded check got an answer
    window = window_from_seed(now, s)
    complete = {"complete": True, "unavailable_sources": []}  # both endpoints answered
    return {**complete, "window": window, "endpoints": endpoints, "probes": probes, "omitted": 0}, (
        durations
    )


@pytest.mark.parametrize("args", [{"hours": 24}, {"days": 7}], ids=["hours=24", "days=7"])
async def test_endpoint_performance_is_the_apis_and_the_seeds(
    seeded: Seeded, seeded_app: httpx.ASGITransport, era: str, args: dict[str, int]
) -> None:
    out = await call_tool(seeded, seeded_app, era, "get_endpoint_performance", args)
    endpoints = await api_get(seeded_app, "/api/v1/endpoints", **args, top=20)
    probes = await api_get(seeded_app, "/api/v1/probes", **args)
    assert without(out, "summary") == performance_from_api(endpoints, probes)

    expected, durations = performance_from_seed(seeded.now, span(seeded.now, **args))
    assert {
        **out,
        "endpoints": [without(e, *PERCENTILES) for e in out["endpoints"]],
        "probes": [without(p, "p95_ms") for p in out["probes"]],
    } == {**expected, "summary": out["summary"]}
    for e in out["endpoints"]:
        for key, q in PERCENTILES.items():
            exact = nearest_rank(durations[e["route"]], q)
            assert in_reported_bucket(e[key], exact), (e["route"], key, e[key], exact)
    for p in out["probes"]:
        exact = nearest_rank(durations[p["name"]], 0.95)
        assert in_reported_bucket(p["p95_ms"], exact), (p["name"], p["p95_ms"], exact)
    assert any(e["server_errors"] for e in expected["endpoints"])  # rates are not all 0
    if "days" in args:  # the seed's slow outliers: over the week p99 is not p95, nor p95 p50
        assert all(e["p50_ms"] < e["p95_ms"] < e["p99_ms"] for e in out["endpoints"])
    assert any(p["success_rate_pct"] < 100 for p in expected["probes"])
    slowest = max(out["endpoints"], key=lambda e: e["p95_ms"])
    assert slowest["route"] == "/dashboard/complete"  # 24 s base latency in the seed
    assert f"slowest p95: GET /dashboard/complete {slowest['p95_ms']} ms" in out["summary"]


# --- get_tailnet_devices --------------------------------------------------------------------


def devices_from_api(body: dict[str, Any], online_only: bool) -> dict[str, Any]:
    listed = [
        {
            "hostname": d["hostname"],
            "user": d["user"],
            "online": d["online"],
            "present": d["present"],
            "last_seen": madrid(d["last_seen"]),
            "tags": d["tags"],
            "os": d["os"],
            "uptime_pct": d["uptime_pct"],
        }
        for d in body["devices"]
    ]
    online = sum(d["online"] for d in listed)
    return {
        "window": window_from_api(body),
        "online": online,
        "offline": len(listed) - online,
        "last_poll": madrid(body["poll"]["last_success"]),
        "poll_error": body["poll"]["last_error"],
        "devices": [d for d in listed if d["online"] or not online_only],
        "omitted": 0,
    }


def devices_from_seed(now: float, s: Span, online_only: bool) -> dict[str, Any]:
    polls = [t for t in seed.presence_times(now) if s.holds(t, now)]
    last_poll = max(polls)
    listed = []
    for d in sorted(seed.DEVICES, key=lambda d: d.hostname):
        up = [seed.device_online(d.node_id, t) for t in polls]
        online_now = seed.device_online(d.node_id, last_poll)
        listed.append(
            {
                "hostname": d.hostname,
                "user": d.user,
                "online": online_now,
                "present": True,
                # an offline device is reported seen one minute before the poll (seed.seed)
                "last_seen": None if online_now else madrid_at(last_poll - 60),
                "tags": sorted(d.tags),
                "os": d.os,
                "uptime_pct": round(100 * sum(up) / len(up), 2),
            }
        )
    online = sum(d["online"] for d in listed)
    return {
        "window": window_from_seed(now, s),
        "online": online,
        "offline": len(listed) - online,
        "last_poll": madrid_at(last_poll),
        "poll_error": None,
        "devices": [d for d in listed if d["online"] or not online_only],
        "omitted": 0,
    }


@pytest.mark.parametrize("online_only", [False, True], ids=["all", "online_only"])
@pytest.mark.parametrize("days", [7, 1])
async def test_devices_online_and_uptime_are_the_apis_and_the_seeds(
    seeded: Seeded, seeded_app: httpx.ASGITransport, era: str, days: int, online_only: bool
) -> None:
    args = {"days": days, "online_only": online_only}
    out = await call_tool(seeded, seeded_app, era, "get_tailnet_devices", args)
    body = await api_get(seeded_app, "/api/v1/devices", days=days)  # the tool sends days only
    assert without(out, "summary") == devices_from_api(body, online_only)

    expected = devices_from_seed(seeded.now, span(seeded.now, days=days), online_only)
    # last_seen too: null while a device is connected (Tailscale's lastSeen, API.md)
    assert without(out, "summary") == expected
    assert all(
        d["uptime_pct"] == 100.0 for d in expected["devices"] if d["hostname"] != "josé-phone"
    )
    total = expected["online"] + expected["offline"]
    assert out["summary"].startswith(f"{expected['online']} of {total} tailnet devices online")
    if seeded.now == CLOCKS["night"]:  # the phone is offline: listed unless online_only
        assert expected["offline"] == 1
        assert [d["hostname"] for d in out["devices"]] == (
            ["ana-laptop", "chocolate-factory"]
            if online_only
            else ["ana-laptop", "chocolate-factory", "josé-phone"]
        )
        assert "offline: josé-phone." in out["summary"]
    else:
        assert expected["offline"] == 0
        assert len(out["devices"]) == 3
