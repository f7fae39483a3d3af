"""Writes for sampled figures: host and container metrics and probe results, each with its
hourly rollup in the same transaction (see `writes` for why)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from factory_analytics import histogram
from factory_analytics.store.writes import transaction
from factory_analytics.timeutil import HOUR


@dataclass(frozen=True)
class HostSample:
    at: float
    cpu_pct: float
    cpu_count: int
    load_1: float
    load_5: float
    load_15: float
    memory_used_bytes: int
    memory_total_bytes: int
    disk_path: str
    disk_used_bytes: int
    disk_total_bytes: int

    @property
    def memory_pct(self) -> float:
        return (
            100.0 * self.memory_used_bytes / self.memory_total_bytes
            if self.memory_total_bytes
            else 0.0
        )

    @property
    def disk_pct(self) -> float:
        return (
            100.0 * self.disk_used_bytes / self.disk_total_bytes if self.disk_total_bytes else 0.0
        )


@dataclass(frozen=True)
class ContainerSample:
    name: str
    cpu_pct: float | None
    memory_bytes: int | None
    memory_limit_bytes: int | None
    running: bool


@dataclass(frozen=True)
class ProbeResult:
    at: float
    name: str
    method: str
    url: str
    ok: bool
    status: int | None
    duration_ms: float | None
    error: str | None


def write_host(conn: sqlite3.Connection, s: HostSample) -> None:
    ts = int(s.at)
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO host_samples VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                ts,
                s.cpu_pct,
                s.cpu_count,
                s.load_1,
                s.load_5,
                s.load_15,
                s.memory_used_bytes,
                s.memory_total_bytes,
                s.disk_path,
                s.disk_used_bytes,
                s.disk_total_bytes,
            ),
        )
        conn.execute(
            "INSERT INTO host_hourly VALUES (?,1,?,?,?,?,?,?,?) ON CONFLICT(hour) DO UPDATE SET"
            " samples = samples + 1, cpu_sum = cpu_sum + excluded.cpu_sum,"
            " cpu_max = max(cpu_max, excluded.cpu_max),"
            " load_1_sum = load_1_sum + excluded.load_1_sum,"
            " load_1_max = max(load_1_max, excluded.load_1_max),"
            " memory_pct_sum = memory_pct_sum + excluded.memory_pct_sum,"
            " memory_pct_max = max(memory_pct_max, excluded.memory_pct_max),"
            " disk_pct_max = max(disk_pct_max, excluded.disk_pct_max)",
            (
                ts // HOUR * HOUR,
                s.cpu_pct,
                s.cpu_pct,
                s.load_1,
                s.load_1,
                s.memory_pct,
                s.memory_pct,
                s.disk_pct,
            ),
        )


def write_containers(conn: sqlite3.Connection, at: float, samples: list[ContainerSample]) -> None:
    ts = int(at)
    hour = ts // HOUR * HOUR
    with transaction(conn):
        for s in samples:
            conn.execute(
                "INSERT OR REPLACE INTO container_samples VALUES (?,?,?,?,?,?)",
                (ts, s.name, s.cpu_pct, s.memory_bytes, s.memory_limit_bytes, int(s.running)),
            )
            if s.cpu_pct is None or s.memory_bytes is None:
                continue  # first sight of a container: no CPU delta yet
            conn.execute(
                "INSERT INTO container_hourly VALUES (?,?,1,?,?,?,?)"
                " ON CONFLICT(hour, name) DO UPDATE SET samples = samples + 1,"
                " cpu_sum = cpu_sum + excluded.cpu_sum, cpu_max = max(cpu_max, excluded.cpu_max),"
                " memory_sum = memory_sum + excluded.memory_sum,"
                " memory_max = max(memory_max, excluded.memory_max)",
                (hour, s.name, s.cpu_pct, s.cpu_pct, s.memory_bytes, s.memory_bytes),
            )


def write_probe(conn: sqlite3.Connection, r: ProbeResult) -> None:
    ts = int(r.at)
    answered = r.duration_ms is not None and r.status is not None
    hist = b""
    if r.duration_ms is not None and r.status is not None:
        hist = histogram.encode({histogram.bucket_of(r.duration_ms): 1})
    with transaction(conn):
        conn.execute(
            "INSERT INTO probe_results(ts, name, method, url, ok, status, duration_ms, error)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (ts, r.name, r.method, r.url, int(r.ok), r.status, r.duration_ms, r.error),
        )
        conn.execute(
            "INSERT INTO probe_hourly VALUES (?,?,1,?,?,?,?,?) ON CONFLICT(hour, name) DO UPDATE"
            " SET checks = checks + 1, failures = failures + excluded.failures,"
            " answered = answered + excluded.answered,"
            " dur_sum_ms = dur_sum_ms + excluded.dur_sum_ms,"
            " dur_max_ms = max(coalesce(dur_max_ms, excluded.dur_max_ms),"
            "                  coalesce(excluded.dur_max_ms, dur_max_ms)),"
            " hist = hist_merge(hist, excluded.hist)",
            (
                ts // HOUR * HOUR,
                r.name,
                0 if r.ok else 1,
                int(answered),
                r.duration_ms if answered else 0.0,
                r.duration_ms if answered else None,
                hist,
            ),
        )
