"""Read side for sampled figures: `/api/v1/devices`, `/api/v1/system` and `/api/v1/probes`,
from the hourly rollups plus the newest raw sample for "now"."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from factory_analytics import histogram
from factory_analytics.store.queries import latency, pct
from factory_analytics.timeutil import iso
from factory_analytics.window import Window


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def collector_status(conn: sqlite3.Connection, name: str) -> tuple[Any, Any, Any]:
    row = conn.execute(
        "SELECT last_success, last_error, last_error_at FROM collector_status WHERE name = ?",
        (name,),
    ).fetchone()
    return row or (None, None, None)


def devices(conn: sqlite3.Connection, w: Window, interval_seconds: int) -> dict[str, Any]:
    per_bucket: dict[str, dict[int, list[int]]] = {}
    for node_id, hour, samples, online in conn.execute(
        "SELECT node_id, hour, samples, online_samples FROM presence_hourly"
        " WHERE hour >= ? AND hour < ?",
        (w.start, w.stop),
    ):
        bucket = per_bucket.setdefault(node_id, {}).setdefault(w.bucket_of(hour), [0, 0])
        bucket[0] += samples
        bucket[1] += online
    out = []
    for row in conn.execute(
        "SELECT node_id, hostname, name, user, tags, os, addresses, online, connected_to_control,"
        " last_seen, present, first_seen FROM devices ORDER BY hostname, node_id"
    ).fetchall():
        node_id, hostname, name, user, tags, os_, addrs, online, ctc, last_seen, present, first = (
            row
        )
        buckets = per_bucket.get(node_id, {})
        if not present and not buckets:
            continue
        samples = sum(b[0] for b in buckets.values())
        online_samples = sum(b[1] for b in buckets.values())
        out.append(
            {
                "node_id": node_id,
                "hostname": hostname,
                "name": name,
                "user": user,
                "tags": json.loads(tags),
                "os": os_,
                "addresses": json.loads(addrs),
                "online": bool(online),
                "connected_to_control": None if ctc is None else bool(ctc),
                "last_seen": iso(last_seen),
                "present": bool(present),
                "first_seen": iso(first),
                "samples": samples,
                "online_samples": online_samples,
                "uptime_pct": pct(online_samples, samples),
                "series": [
                    {
                        "start": iso(b),
                        "samples": buckets.get(b, [0, 0])[0],
                        "online_samples": buckets.get(b, [0, 0])[1],
                        "uptime_pct": pct(buckets.get(b, [0, 0])[1], buckets.get(b, [0, 0])[0]),
                    }
                    for b in w.buckets()
                ],
            }
        )
    last_success, last_error, last_error_at = collector_status(conn, "tailnet")
    return {
        "window": w.as_json(),
        "poll": {
            "interval_seconds": interval_seconds,
            "last_success": iso(last_success),
            "last_error": last_error,
            "last_error_at": iso(last_error_at),
        },
        "devices": out,
    }


def system(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    latest = conn.execute("SELECT * FROM host_samples ORDER BY ts DESC LIMIT 1").fetchone()
    now = None
    if latest is not None:
        ts, cpu, ncpu, l1, l5, l15, mem_used, mem_total, disk_path, disk_used, disk_total = latest
        now = {
            "at": iso(ts),
            "cpu_pct": _r(cpu),
            "cpu_count": ncpu,
            "load_1": _r(l1),
            "load_5": _r(l5),
            "load_15": _r(l15),
            "memory_used_bytes": mem_used,
            "memory_total_bytes": mem_total,
            "memory_pct": pct(mem_used, mem_total),
            "disk_path": disk_path,
            "disk_used_bytes": disk_used,
            "disk_total_bytes": disk_total,
            "disk_pct": pct(disk_used, disk_total),
        }
    host: dict[int, list[float]] = {}
    for hour, n, cpu_sum, cpu_max, l1_sum, l1_max, mem_sum, mem_max, disk_max in conn.execute(
        "SELECT * FROM host_hourly WHERE hour >= ? AND hour < ?", (w.start, w.stop)
    ):
        acc = host.setdefault(w.bucket_of(hour), [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        acc[0] += n
        acc[1] += cpu_sum
        acc[2] = max(acc[2], cpu_max)
        acc[3] += l1_sum
        acc[4] = max(acc[4], l1_max)
        acc[5] += mem_sum
        acc[6] = max(acc[6], mem_max)
        acc[7] = max(acc[7], disk_max)
    series = []
    for b in w.buckets():
        point = host.get(b)
        if point is None or not point[0]:
            series.append(
                dict.fromkeys(
                    (
                        "cpu_pct_avg",
                        "cpu_pct_max",
                        "load_1_avg",
                        "load_1_max",
                        "memory_pct_avg",
                        "memory_pct_max",
                        "disk_pct_max",
                    )
                )
                | {"start": iso(b), "samples": 0}
            )
            continue
        n = point[0]
        series.append(
            {
                "start": iso(b),
                "samples": int(n),
                "cpu_pct_avg": _r(point[1] / n),
                "cpu_pct_max": _r(point[2]),
                "load_1_avg": _r(point[3] / n),
                "load_1_max": _r(point[4]),
                "memory_pct_avg": _r(point[5] / n),
                "memory_pct_max": _r(point[6]),
                "disk_pct_max": _r(point[7]),
            }
        )
    return {"window": w.as_json(), "now": now, "series": series, "containers": _containers(conn, w)}


def _containers(conn: sqlite3.Connection, w: Window) -> list[dict[str, Any]]:
    newest_tick = conn.execute("SELECT max(ts) FROM container_samples").fetchone()[0]
    hourly: dict[str, dict[int, list[float]]] = {}
    for hour, name, n, cpu_sum, cpu_max, mem_sum, mem_max in conn.execute(
        "SELECT * FROM container_hourly WHERE hour >= ? AND hour < ?", (w.start, w.stop)
    ):
        acc = hourly.setdefault(name, {}).setdefault(w.bucket_of(hour), [0, 0.0, 0.0, 0.0, 0])
        acc[0] += n
        acc[1] += cpu_sum
        acc[2] = max(acc[2], cpu_max)
        acc[3] += mem_sum
        acc[4] = max(acc[4], mem_max)
    names = set(hourly)
    names.update(
        name
        for (name,) in conn.execute(
            "SELECT DISTINCT name FROM container_samples WHERE ts >= ?", (w.start,)
        )
    )
    out = []
    for name in sorted(names):
        latest = conn.execute(
            "SELECT ts, cpu_pct, memory_bytes, memory_limit_bytes, running FROM container_samples"
            " WHERE name = ? ORDER BY ts DESC LIMIT 1",
            (name,),
        ).fetchone()
        now = None
        if latest is not None:
            ts, cpu, mem, limit, running = latest
            now = {
                "at": iso(ts),
                "cpu_pct": _r(cpu),
                "memory_bytes": mem,
                "memory_limit_bytes": limit,
                "running": bool(running) and ts == newest_tick,
            }
        buckets = hourly.get(name, {})
        series = []
        for b in w.buckets():
            cell = buckets.get(b)
            n = int(cell[0]) if cell else 0
            series.append(
                {
                    "start": iso(b),
                    "samples": n,
                    "cpu_pct_avg": _r(cell[1] / n) if cell and n else None,
                    "cpu_pct_max": _r(cell[2]) if cell and n else None,
                    "memory_bytes_avg": int(cell[3] / n) if cell and n else None,
                    "memory_bytes_max": int(cell[4]) if cell and n else None,
                }
            )
        out.append({"name": name, "now": now, "series": series})
    return out


def probes(conn: sqlite3.Connection, w: Window, declared: list[dict[str, Any]]) -> dict[str, Any]:
    agg: dict[str, dict[str, Any]] = {}
    for hour, name, checks, failures, answered, dur_sum, dur_max, blob in conn.execute(
        "SELECT * FROM probe_hourly WHERE hour >= ? AND hour < ?", (w.start, w.stop)
    ):
        a = agg.setdefault(
            name,
            {
                "checks": 0,
                "failures": 0,
                "answered": 0,
                "sum": 0.0,
                "max": None,
                "hist": {},
                "buckets": {},
            },
        )
        a["checks"] += checks
        a["failures"] += failures
        a["answered"] += answered
        a["sum"] += dur_sum
        if dur_max is not None:
            a["max"] = dur_max if a["max"] is None else max(a["max"], dur_max)
        histogram.merge_into(a["hist"], blob)
        b = a["buckets"].setdefault(w.bucket_of(hour), [0, 0, 0, 0.0, None])
        b[0] += checks
        b[1] += failures
        b[2] += answered
        b[3] += dur_sum
        if dur_max is not None:
            b[4] = dur_max if b[4] is None else max(b[4], dur_max)
    by_name = {p["name"]: p for p in declared}
    out = []
    for name in sorted(set(agg) | set(by_name)):
        spec = by_name.get(name)
        a = agg.get(name) or {
            "checks": 0,
            "failures": 0,
            "answered": 0,
            "sum": 0.0,
            "max": None,
            "hist": {},
            "buckets": {},
        }
        last_row = conn.execute(
            "SELECT ts, ok, status, duration_ms, error, method, url FROM probe_results"
            " WHERE name = ? ORDER BY ts DESC, id DESC LIMIT 1",
            (name,),
        ).fetchone()
        last = None
        if last_row is not None:
            ts, ok, status, duration, error = last_row[:5]
            last = {
                "at": iso(ts),
                "ok": bool(ok),
                "status": status,
                "duration_ms": _r(duration, 1),
                "error": error,
            }
        out.append(
            {
                "name": name,
                "method": spec["method"] if spec else (last_row[5] if last_row else None),
                "url": spec["url"] if spec else (last_row[6] if last_row else None),
                "interval_seconds": spec["interval_seconds"] if spec else None,
                "timeout_seconds": spec["timeout_seconds"] if spec else None,
                "expect_status": spec["expect_status"] if spec else None,
                "declared": spec is not None,
                "last": last,
                "checks": a["checks"],
                "failures": a["failures"],
                "success_rate_pct": pct(a["checks"] - a["failures"], a["checks"]),
                "latency_ms": latency(a["hist"], a["sum"], a["answered"], a["max"]),
                "series": [
                    {
                        "start": iso(b),
                        "checks": a["buckets"].get(b, [0])[0],
                        "failures": a["buckets"].get(b, [0, 0])[1],
                        "latency_ms_mean": _r(a["buckets"][b][3] / a["buckets"][b][2], 1)
                        if b in a["buckets"] and a["buckets"][b][2]
                        else None,
                        "latency_ms_max": _r(a["buckets"][b][4], 1) if b in a["buckets"] else None,
                    }
                    for b in w.buckets()
                ],
            }
        )
    return {"window": w.as_json(), "probes": out}
