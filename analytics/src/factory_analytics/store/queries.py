"""Read side for access logs: the `/api/v1/usage` and `/api/v1/endpoints` answers, built from
the hourly rollups only (see `window` for why). Every ordering has a tie-breaker so answers are
deterministic."""

from __future__ import annotations

import sqlite3
from typing import Any

from factory_analytics import histogram
from factory_analytics.store.writes import redact_queries
from factory_analytics.timeutil import iso
from factory_analytics.window import Window

QUANTILES = (0.50, 0.95, 0.99)


def pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 2)


def latency(hist: dict[int, int], dur_sum: float, timed: int, dur_max: float | None) -> dict:
    """The `latency_ms` object shared by endpoints and probes."""
    if not timed:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    p50, p95, p99 = histogram.percentiles(hist, QUANTILES)
    return {
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "mean": round(dur_sum / timed, 1),
        "max": None if dur_max is None else round(dur_max, 1),
    }


def usage(conn: sqlite3.Connection, w: Window, top: int) -> dict[str, Any]:
    start = w.start
    requests, client_errors, server_errors, anonymous, users, devices = conn.execute(
        "SELECT coalesce(sum(requests), 0), coalesce(sum(client_errors), 0),"
        " coalesce(sum(server_errors), 0),"
        " coalesce(sum(CASE WHEN user = '' THEN requests ELSE 0 END), 0),"
        " count(DISTINCT nullif(user, '')), count(DISTINCT nullif(device, ''))"
        " FROM user_hourly WHERE hour >= ? AND hour < ?",
        (start, w.stop),
    ).fetchone()
    series_rows = {
        b: (n, u, d)
        for b, n, u, d in conn.execute(
            "SELECT ? + ((hour - ?) / ?) * ? AS b, sum(requests),"
            " count(DISTINCT nullif(user, '')), count(DISTINCT nullif(device, ''))"
            " FROM user_hourly WHERE hour >= ? AND hour < ? GROUP BY b",
            (start, start, w.step, w.step, start, w.stop),
        )
    }
    series = [
        {
            "start": iso(b),
            "requests": series_rows.get(b, (0, 0, 0))[0],
            "active_users": series_rows.get(b, (0, 0, 0))[1],
            "active_devices": series_rows.get(b, (0, 0, 0))[2],
        }
        for b in w.buckets()
    ]
    pairs = conn.execute(
        "SELECT user, device, sum(requests), max(hour) FROM user_hourly"
        " WHERE hour >= ? AND hour < ? AND (user != '' OR device != '') GROUP BY user, device",
        (start, w.stop),
    ).fetchall()
    per_user: dict[str, dict[str, Any]] = {}
    per_device: dict[str, dict[str, Any]] = {}
    for user, device, n, last in pairs:
        if user:
            entry = per_user.setdefault(user, {"requests": 0, "devices": set(), "last": 0})
            entry["requests"] += n
            entry["last"] = max(entry["last"], last)
            if device:
                entry["devices"].add(device)
        if device:
            dentry = per_device.setdefault(device, {"requests": 0, "users": {}, "last": 0})
            dentry["requests"] += n
            dentry["last"] = max(dentry["last"], last)
            if user:
                dentry["users"][user] = dentry["users"].get(user, 0) + n
    top_routes = conn.execute(
        "SELECT method, route, sum(requests) AS n FROM route_hourly WHERE hour >= ? AND hour < ?"
        " GROUP BY method, route ORDER BY n DESC, route, method LIMIT ?",
        (start, w.stop, top),
    ).fetchall()
    return {
        "window": w.as_json(),
        "totals": {
            "requests": requests,
            "active_users": users,
            "active_devices": devices,
            "anonymous_requests": anonymous,
            "client_errors": client_errors,
            "server_errors": server_errors,
        },
        "series": series,
        "per_user": [
            {
                "user": user,
                "requests": e["requests"],
                "devices": sorted(e["devices"]),
                "last_active_hour": iso(e["last"]),
            }
            for user, e in sorted(per_user.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))[
                :top
            ]
        ],
        "per_device": [
            {
                "device": device,
                "user": _most_seen(e["users"]),
                "requests": e["requests"],
                "last_active_hour": iso(e["last"]),
            }
            for device, e in sorted(per_device.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))[
                :top
            ]
        ],
        "top_endpoints": [
            {"method": m, "route": r, "requests": n, "share_pct": pct(n, requests)}
            for m, r, n in top_routes
        ],
    }


def _most_seen(users: dict[str, int]) -> str | None:
    if not users:
        return None
    return sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def endpoints(
    conn: sqlite3.Connection, w: Window, top: int, source_id: int | None
) -> dict[str, Any]:
    where = "hour >= ? AND hour < ?" + ("" if source_id is None else " AND source_id = ?")
    args: tuple[Any, ...] = (w.start, w.stop)
    if source_id is not None:
        args = (*args, source_id)
    rows = conn.execute(
        "SELECT method, route, sum(requests) AS n, sum(client_errors), sum(server_errors),"  # noqa: S608
        f" sum(timed), sum(dur_sum_ms), max(dur_max_ms) FROM route_hourly WHERE {where}"
        " GROUP BY method, route ORDER BY n DESC, route, method LIMIT ?",
        (*args, top),
    ).fetchall()
    wanted = {(m, r) for m, r, *_ in rows}
    hists: dict[tuple[str, str], dict[int, int]] = {key: {} for key in wanted}
    for method, route, blob in conn.execute(
        f"SELECT method, route, hist FROM route_hourly WHERE {where} AND timed > 0",  # noqa: S608
        args,
    ):
        target = hists.get((method, route))
        if target is not None:
            histogram.merge_into(target, blob)
    return {
        "window": w.as_json(),
        "endpoints": [
            {
                "method": m,
                "route": r,
                "requests": n,
                "client_errors": ce,
                "server_errors": se,
                "error_rate_pct": pct(se, n),
                "timed_requests": timed,
                "latency_ms": latency(hists[(m, r)], dur_sum, timed, dur_max),
            }
            for m, r, n, ce, se, timed, dur_sum, dur_max in rows
        ],
    }


def source_id(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def sources(conn: sqlite3.Connection) -> dict[str, Any]:
    out = []
    for row in conn.execute(
        "SELECT id, name, kind, target, format, lines, parsed, ignored, unparseable, probes,"
        " last_line_at, last_error, last_error_at FROM sources ORDER BY name"
    ).fetchall():
        sid, name, kind, target, fmt, lines, parsed, ignored, bad, probes, last_at, err, err_at = (
            row
        )
        samples = [
            {"at": iso(at), "line": redact_queries(line), "code": code, "reason": reason}
            for at, line, code, reason in conn.execute(
                "SELECT at, line, code, reason FROM bad_lines WHERE source_id = ? ORDER BY id DESC",
                (sid,),
            )
        ]
        rejected = dict(
            conn.execute(
                "SELECT reason, lines FROM source_rejects WHERE source_id = ? AND lines > 0"
                " ORDER BY reason",
                (sid,),
            ).fetchall()
        )
        out.append(
            {
                "name": name,
                "kind": kind,
                "target": target,
                "format": fmt,
                "lines": lines,
                "parsed": parsed,
                "ignored": ignored,
                "unparseable": bad,
                "rejected": rejected,
                "probes": probes,
                "state": "error" if err else "ok",
                "last_line_at": iso(last_at),
                "last_error": err,
                "last_error_at": iso(err_at),
                "samples": samples,
            }
        )
    return {"sources": out}
