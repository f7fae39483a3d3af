"""A stand-in of the analytics service's v1 API (analytics/API.md), for tests and the bench.

It follows the documented contract: `days` or `hours` windows with their ranges and the
`400 invalid_window` error, bearer auth with the `{"error": {code, message, hint}}` shape,
zero-filled series, RFC 3339 UTC timestamps with `Z`, sorted lists. The figures are synthetic;
`users`, `devices` and `routes` set how big the answers get (for worst-case size tests).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


@dataclass
class AnalyticsScenario:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 10, 42, 7, tzinfo=UTC))
    token: str | None = "analytics-secret"  # noqa: S105 (stand-in)
    users: int = 3
    devices: int = 4
    routes: int = 6
    poll_error: str | None = None
    # Fault injection: paths this analytics build does not serve (an older or misrouted
    # deployment); Starlette answers them with its own plain-text 404, like any unknown path.
    not_served: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)


def build_app(s: AnalyticsScenario) -> Starlette:
    def window(
        request: Request, default_days: int | None, default_hours: int | None
    ) -> dict[str, Any] | JSONResponse:
        q = request.query_params
        if "days" in q and "hours" in q:
            return _error(
                400,
                "invalid_window",
                "give either days or hours, not both",
                "e.g. /api/v1/usage?days=7",
            )
        name = "days" if "days" in q else "hours" if "hours" in q else None
        if name is None:
            days, hours = default_days, default_hours
        else:
            try:
                value = int(q[name])
            except ValueError:
                return _error(400, "invalid_window", f"{name} must be an integer")
            high = 365 if name == "days" else 8760
            if not 1 <= value <= high:
                return _error(400, "invalid_window", f"{name} must be 1-{high}")
            days, hours = (value, None) if name == "days" else (None, value)
        if days is not None:
            start = s.now.replace(hour=0, minute=0, second=0) - timedelta(days=days - 1)
            points = [start + timedelta(days=i) for i in range(days)]
        else:
            assert hours is not None
            start = s.now.replace(minute=0, second=0) - timedelta(hours=hours - 1)
            points = [start + timedelta(hours=i) for i in range(hours)]
        return {
            "window": {
                "from": _z(start),
                "to": _z(s.now),
                "days": days,
                "hours": hours,
                "resolution": "day" if days is not None else "hour",
            },
            "points": points,
        }

    def authorised(request: Request) -> JSONResponse | None:
        s.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "auth": request.headers.get("authorization") is not None,
            }
        )
        if s.token is None:
            return None
        supplied = request.headers.get("authorization", "")
        if not supplied:
            return _error(401, "unauthorized", "missing bearer token")
        if not hmac.compare_digest(supplied, f"Bearer {s.token}"):
            return _error(401, "unauthorized", "wrong bearer token")
        return None

    def top(request: Request, default: int, high: int) -> int | JSONResponse:
        try:
            value = int(request.query_params.get("top", default))
        except ValueError:
            return _error(400, "invalid_parameter", "top must be an integer")
        if not 1 <= value <= high:
            return _error(400, "invalid_parameter", f"top must be 1-{high}")
        return value

    async def usage(request: Request) -> JSONResponse:
        denied = authorised(request)
        w = window(request, 7, None)
        n = top(request, 10, 100)
        for early in (denied, w, n):
            if isinstance(early, JSONResponse):
                return early
        assert isinstance(w, dict)
        assert isinstance(n, int)
        users: list[dict[str, Any]] = [
            {
                "user": f"user{i:03d}@example.com",
                "requests": 1000 - i,
                "devices": [f"device-{i:03d}", f"phone-{i:03d}"],
                "last_active_hour": _z(s.now.replace(minute=0, second=0)),
            }
            for i in range(s.users)
        ]
        return JSONResponse(
            {
                "window": w["window"],
                "totals": {
                    "requests": sum(u["requests"] for u in users) + 12,
                    "active_users": s.users,
                    "active_devices": 2 * s.users,
                    "anonymous_requests": 12,
                    "client_errors": 20,
                    "server_errors": 3,
                },
                "series": [
                    {"start": _z(p), "requests": 100 + i, "active_users": 2, "active_devices": 2}
                    for i, p in enumerate(w["points"])
                ],
                "per_user": users[:n],
                "per_device": [
                    {
                        "device": d,
                        "user": u["user"],
                        "requests": 400,
                        "last_active_hour": u["last_active_hour"],
                    }
                    for u in users
                    for d in u["devices"]
                ][:n],
                "top_endpoints": [
                    {
                        "method": "GET",
                        "route": f"/route/{i}/{'x' * 40}",
                        "requests": 500 - i,
                        "share_pct": 10.0,
                    }
                    for i in range(s.routes)
                ][:n],
            }
        )

    async def endpoints(request: Request) -> JSONResponse:
        denied = authorised(request)
        w = window(request, 7, None)
        n = top(request, 50, 500)
        for early in (denied, w, n):
            if isinstance(early, JSONResponse):
                return early
        assert isinstance(w, dict)
        assert isinstance(n, int)
        rows = [
            {
                "method": "GET",
                "route": "/dashboard/complete" if i == 0 else f"/route/{i}",
                "requests": 400 - i,
                "client_errors": 1,
                "server_errors": 2 if i == 0 else 0,
                "error_rate_pct": 0.5 if i == 0 else 0.0,
                "timed_requests": 400 - i,
                "latency_ms": {
                    "p50": 812.3,
                    "p95": 24100.0 if i == 0 else 80.0,
                    "p99": 29800.0,
                    "mean": 2100.4,
                    "max": 31022.0,
                },
            }
            for i in range(s.routes)
        ]
        return JSONResponse({"window": w["window"], "endpoints": rows[:n]})

    async def devices(request: Request) -> JSONResponse:
        denied = authorised(request)
        w = window(request, 7, None)
        for early in (denied, w):
            if isinstance(early, JSONResponse):
                return early
        assert isinstance(w, dict)
        rows = [
            {
                "node_id": f"n{i:04d}CNTRL",
                "hostname": f"host-{i:03d}",
                "name": f"host-{i:03d}.tail1234.ts.net",
                "user": "ana@example.com",
                "tags": ["tag:server"],
                "os": "linux",
                "addresses": ["100.101.102.103"],
                "online": i % 3 != 0,
                "connected_to_control": i % 3 != 0,
                "last_seen": None if i % 3 else "2026-11-25T08:00:00Z",
                "present": True,
                "first_seen": "2026-11-01T08:00:00Z",
                "samples": 2016,
                "online_samples": 2002,
                "uptime_pct": 99.31,
                "series": [
                    {"start": _z(p), "samples": 288, "online_samples": 288, "uptime_pct": 100.0}
                    for p in w["points"]
                ],
            }
            for i in range(s.devices)
        ]
        return JSONResponse(
            {
                "window": w["window"],
                "poll": {
                    "interval_seconds": 300,
                    "last_success": "2026-11-25T10:40:00Z",
                    "last_error": s.poll_error,
                    "last_error_at": None,
                },
                "devices": rows,
            }
        )

    async def probes(request: Request) -> JSONResponse:
        denied = authorised(request)
        w = window(request, None, 24)
        for early in (denied, w):
            if isinstance(early, JSONResponse):
                return early
        assert isinstance(w, dict)
        return JSONResponse(
            {
                "window": w["window"],
                "probes": [
                    {
                        "name": "dashboard-complete",
                        "method": "GET",
                        "url": "http://factory-api:8000/dashboard/complete",
                        "interval_seconds": 300,
                        "timeout_seconds": 45,
                        "expect_status": [200],
                        "declared": True,
                        "last": {
                            "at": "2026-11-25T10:40:00Z",
                            "ok": False,
                            "status": None,
                            "duration_ms": None,
                            "error": "timeout after 45 s",
                        },
                        "checks": 288,
                        "failures": 2,
                        "success_rate_pct": 99.31,
                        "latency_ms": {
                            "p50": 812.3,
                            "p95": 24100.0,
                            "p99": 29800.0,
                            "mean": 2100.4,
                            "max": 31022.0,
                        },
                        "series": [],
                    }
                ],
            }
        )

    routes = [
        Route("/api/v1/usage", usage),
        Route("/api/v1/endpoints", endpoints),
        Route("/api/v1/devices", devices),
        Route("/api/v1/probes", probes),
    ]
    return Starlette(routes=[r for r in routes if r.path not in s.not_served])
