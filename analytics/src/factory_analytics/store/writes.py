"""Writes: every collector's rows go in together with their hourly rollups, in one transaction.

Why together: the API reads rollups only, so a figure is never half-updated, and a log batch,
its rollups and the source's cursor commit atomically; a crash between two batches leaves the
database exactly at the last cursor, so a restart neither loses nor double-counts a line.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from factory_analytics import histogram
from factory_analytics.identity import IdentityResolver
from factory_analytics.logformats import AccessRecord
from factory_analytics.routes import MAX_PATH_CHARS, RouteTable
from factory_analytics.timeutil import HOUR

BAD_LINE_SAMPLES = 20
BAD_LINE_CHARS = 300
# a query string in a stored line or message: everything from "?" to the next blank or
# quote (escapes included: `\u0026token=…` is still the query)
_QUERY = re.compile(r"\?[^\s\"']*")


def redact_queries(text: str) -> str:
    """Drop query strings (tokens, passwords) from a raw line before it is stored or served."""
    return _QUERY.sub("?…", text) if "?" in text else text


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass
class SourceState:
    """A log source's row: its id and persisted cursor."""

    id: int
    cursor: dict[str, Any]


def ensure_source(
    conn: sqlite3.Connection, name: str, kind: str, target: str, fmt: str
) -> SourceState:
    """Find or create the source row; a changed target or format resets nothing but is
    recorded, so the cursor of a renamed container is kept only while kind+target match."""
    row = conn.execute(
        "SELECT id, kind, target, cursor FROM sources WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        with transaction(conn):
            cur = conn.execute(
                "INSERT INTO sources(name, kind, target, format) VALUES (?, ?, ?, ?)",
                (name, kind, target, fmt),
            )
        return SourceState(int(cur.lastrowid or 0), {})
    source_id, old_kind, old_target, cursor = row
    with transaction(conn):
        if (old_kind, old_target) != (kind, target):
            cursor = "{}"
        conn.execute(
            "UPDATE sources SET kind = ?, target = ?, format = ?, cursor = ? WHERE id = ?",
            (kind, target, fmt, cursor, source_id),
        )
    return SourceState(source_id, json.loads(cursor))


class AccessBatch:
    """Accumulates parsed lines of one source (raw rows + rollup deltas) until `commit`."""

    def __init__(self, source_id: int, routes: RouteTable, identity: IdentityResolver) -> None:
        self.source_id = source_id
        self._routes = routes
        self._identity = identity
        self.raw: list[tuple[Any, ...]] = []
        self.route_aggs: dict[tuple[int, str, str], list[Any]] = {}
        self.user_aggs: dict[tuple[int, str, str], list[int]] = {}
        self.lines = 0
        self.ignored = 0
        self.probes = 0
        self.bad: list[tuple[int, str, str, str]] = []
        self.rejected: Counter[str] = Counter()
        self.last_ts: float | None = None

    def add(self, rec: AccessRecord, fallback_ts: float) -> None:
        """Count one parsed request."""
        self.add_many([(rec, fallback_ts)])

    def add_many(self, items: list[tuple[AccessRecord, float]]) -> None:
        """Count parsed requests: the hot loop of ingestion, hence the local bindings and the
        plain lists ([requests, 4xx, 5xx, timed, sum ms, max ms, histogram]) for rollups."""
        template = self._routes.template
        resolve = self._identity.resolve
        bucket_of = histogram.bucket_of
        raw_append = self.raw.append
        route_aggs = self.route_aggs
        user_aggs = self.user_aggs
        source_id = self.source_id
        last_ts = self.last_ts if self.last_ts is not None else 0.0
        routes_ok, routes_404 = self._routes.caches()
        by_client = self._identity.client_cache()
        for (ts, method, path, status, duration, size, client, login, _), fallback_ts in items:
            if ts is None:
                ts = fallback_ts
            route = (routes_404 if status == 404 else routes_ok).get(path)
            if route is None:
                route = template(path, status)
            found = by_client.get(client) if login is None else None
            if found is None:
                found = resolve(login, client)
            user, device = found
            hour = int(ts // HOUR) * HOUR
            if "?" in path:
                path = path.split("?", 1)[0]
            raw_append(
                (
                    int(ts * 1000),
                    source_id,
                    method,
                    route,
                    path[:MAX_PATH_CHARS],
                    status,
                    duration,
                    size,
                    client,
                    user,
                    device,
                )
            )
            key = (hour, method, route)
            agg = route_aggs.get(key)
            if agg is None:
                agg = route_aggs[key] = [0, 0, 0, 0, 0.0, None, {}]
            agg[0] += 1
            ukey = (hour, user or "", device or "")
            uagg = user_aggs.get(ukey)
            if uagg is None:
                uagg = user_aggs[ukey] = [0, 0, 0]
            uagg[0] += 1
            if status >= 400:
                if status >= 500:
                    agg[2] += 1
                    uagg[2] += 1
                else:
                    agg[1] += 1
                    uagg[1] += 1
            if duration is not None:
                agg[3] += 1
                agg[4] += duration
                if agg[5] is None or duration > agg[5]:
                    agg[5] = duration
                hist = agg[6]
                bucket = bucket_of(duration)
                hist[bucket] = hist.get(bucket, 0) + 1
            if ts > last_ts:
                last_ts = ts
        self.lines += len(items)
        self.last_ts = last_ts or None

    def add_ignored(self) -> None:
        self.lines += 1
        self.ignored += 1

    def add_probe(self) -> None:
        """A request of this service's own probes: counted, never usage (they are stored as
        probe results by the probe collector)."""
        self.lines += 1
        self.probes += 1

    def add_bad(self, at: float, line: str, code: str, reason: str) -> None:
        """A rejected line: counted under `code`; the newest few are kept as samples, cut
        and without query strings."""
        self.lines += 1
        self.rejected[code] += 1
        if len(self.bad) >= 4 * BAD_LINE_SAMPLES:
            del self.bad[:-BAD_LINE_SAMPLES]
        sample = redact_queries(line[: 4 * BAD_LINE_CHARS])[:BAD_LINE_CHARS]
        self.bad.append((int(at), sample, code, redact_queries(reason)[:200]))

    def commit(self, conn: sqlite3.Connection, cursor: dict[str, Any]) -> None:
        """Write rows, rollups, counters and the new cursor in one transaction."""
        with transaction(conn):
            self.write(conn, cursor)

    def write(self, conn: sqlite3.Connection, cursor: dict[str, Any]) -> None:
        """The body of `commit`, for callers that manage the transaction themselves."""
        conn.executemany(
            "INSERT INTO requests(ts_ms, source_id, method, route, path, status, duration_ms,"
            " bytes, client, user, device) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            self.raw,
        )
        conn.executemany(
            "INSERT INTO route_hourly(hour, source_id, method, route, requests, client_errors,"
            " server_errors, timed, dur_sum_ms, dur_max_ms, hist) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(hour, source_id, method, route) DO UPDATE SET"
            " requests = requests + excluded.requests,"
            " client_errors = client_errors + excluded.client_errors,"
            " server_errors = server_errors + excluded.server_errors,"
            " timed = timed + excluded.timed,"
            " dur_sum_ms = dur_sum_ms + excluded.dur_sum_ms,"
            " dur_max_ms = max(coalesce(dur_max_ms, excluded.dur_max_ms),"
            "                  coalesce(excluded.dur_max_ms, dur_max_ms)),"
            " hist = hist_merge(hist, excluded.hist)",
            [
                (
                    hour,
                    self.source_id,
                    method,
                    route,
                    requests,
                    client_errors,
                    server_errors,
                    timed,
                    dur_sum,
                    dur_max,
                    histogram.encode(hist),
                )
                for (hour, method, route), (
                    requests,
                    client_errors,
                    server_errors,
                    timed,
                    dur_sum,
                    dur_max,
                    hist,
                ) in self.route_aggs.items()
            ],
        )
        conn.executemany(
            "INSERT INTO user_hourly(hour, user, device, requests, client_errors, server_errors)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(hour, user, device) DO UPDATE SET"
            " requests = requests + excluded.requests,"
            " client_errors = client_errors + excluded.client_errors,"
            " server_errors = server_errors + excluded.server_errors",
            [(h, u, d, *counts) for (h, u, d), counts in self.user_aggs.items()],
        )
        if self.route_aggs:
            totals: dict[tuple[str, str], list[int]] = {}
            for (_hour, method, route), agg in self.route_aggs.items():
                total = totals.setdefault((method, route), [0, 0, 0])
                total[0] += agg[0]
                total[1] += agg[1]
                total[2] += agg[2]
            # lifetime counters (never pruned): /metrics stays monotonic across retention
            conn.executemany(
                "INSERT INTO route_totals(source_id, method, route, requests, client_errors,"
                " server_errors) VALUES (?,?,?,?,?,?) ON CONFLICT(source_id, method, route)"
                " DO UPDATE SET requests = requests + excluded.requests,"
                " client_errors = client_errors + excluded.client_errors,"
                " server_errors = server_errors + excluded.server_errors",
                [(self.source_id, m, r, *counts) for (m, r), counts in totals.items()],
            )
        if self.rejected:
            conn.executemany(
                "INSERT INTO source_rejects(source_id, reason, lines) VALUES (?,?,?)"
                " ON CONFLICT(source_id, reason) DO UPDATE SET lines = lines + excluded.lines",
                [(self.source_id, code, n) for code, n in sorted(self.rejected.items())],
            )
        if self.bad:
            conn.executemany(
                "INSERT INTO bad_lines(source_id, at, line, code, reason) VALUES (?,?,?,?,?)",
                [
                    (self.source_id, at, line, code, reason)
                    for at, line, code, reason in self.bad[-BAD_LINE_SAMPLES:]
                ],
            )
            conn.execute(
                "DELETE FROM bad_lines WHERE source_id = ? AND id NOT IN"
                " (SELECT id FROM bad_lines WHERE source_id = ? ORDER BY id DESC LIMIT ?)",
                (self.source_id, self.source_id, BAD_LINE_SAMPLES),
            )
        parsed = len(self.raw)
        conn.execute(
            "UPDATE sources SET cursor = ?, lines = lines + ?, parsed = parsed + ?,"
            " ignored = ignored + ?, unparseable = unparseable + ?, probes = probes + ?,"
            " last_line_at = max(coalesce(last_line_at, 0), coalesce(?, 0)) WHERE id = ?",
            (
                json.dumps(cursor, sort_keys=True),
                self.lines,
                parsed,
                self.ignored,
                sum(self.rejected.values()),
                self.probes,
                None if self.last_ts is None else int(self.last_ts),
                self.source_id,
            ),
        )


def known_routes(conn: sqlite3.Connection, source_id: int) -> list[str]:
    """Every route this source has counted (lifetime), for the route cap to start from."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT route FROM route_totals WHERE source_id = ?", (source_id,)
        )
    ]


def load_cursor(conn: sqlite3.Connection, source_id: int) -> dict[str, Any]:
    """The committed cursor of a source (what a restart would resume from)."""
    row = conn.execute("SELECT cursor FROM sources WHERE id = ?", (source_id,)).fetchone()
    return {} if row is None else dict(json.loads(row[0]))


def record_source_error(conn: sqlite3.Connection, source_id: int, message: str, at: float) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE sources SET last_error = ?, last_error_at = ? WHERE id = ?",
            (message[:500], int(at), source_id),
        )


def clear_source_error(conn: sqlite3.Connection, source_id: int) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE sources SET last_error = NULL, last_error_at = NULL WHERE id = ?", (source_id,)
        )


def record_collector(
    conn: sqlite3.Connection, name: str, at: float, error: str | None = None
) -> None:
    """Remember a collector's last success, or its last error (one line, no secrets)."""
    with transaction(conn):
        if error is None:
            conn.execute(
                "INSERT INTO collector_status(name, last_success) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET last_success = excluded.last_success,"
                " last_error = NULL, last_error_at = NULL",
                (name, int(at)),
            )
        else:
            conn.execute(
                "INSERT INTO collector_status(name, last_error, last_error_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET last_error = excluded.last_error,"
                " last_error_at = excluded.last_error_at",
                (name, error[:500], int(at)),
            )


@dataclass(frozen=True)
class DeviceObservation:
    """One device as seen by one tailnet poll (already validated by the collector)."""

    node_id: str
    hostname: str
    name: str | None
    user: str | None
    tags: list[str]
    os: str | None
    addresses: list[str]
    online: bool
    connected_to_control: bool | None
    last_seen: float | None


def write_presence(
    conn: sqlite3.Connection, at: float, devices: Iterable[DeviceObservation]
) -> None:
    """Store one poll: each device's current state, a presence sample and its rollup. Devices
    missing from the poll are marked not present (and offline) but keep their history."""
    ts = int(at)
    hour = ts // HOUR * HOUR
    seen: list[str] = []
    with transaction(conn):
        for d in devices:
            seen.append(d.node_id)
            conn.execute(
                "INSERT INTO devices(node_id, hostname, name, user, tags, os, addresses, online,"
                " connected_to_control, last_seen, present, first_seen, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,1,?,?) ON CONFLICT(node_id) DO UPDATE SET"
                " hostname = excluded.hostname, name = excluded.name, user = excluded.user,"
                " tags = excluded.tags, os = excluded.os, addresses = excluded.addresses,"
                " online = excluded.online, connected_to_control = excluded.connected_to_control,"
                # Tailscale's lastSeen: null while connected to control (API.md); kept from
                # an earlier poll only when this one does not say either way
                " last_seen = CASE WHEN excluded.connected_to_control = 1 THEN NULL"
                " ELSE coalesce(excluded.last_seen, last_seen) END, present = 1,"
                " updated = excluded.updated",
                (
                    d.node_id,
                    d.hostname,
                    d.name,
                    d.user,
                    json.dumps(sorted(d.tags)),
                    d.os,
                    json.dumps(d.addresses),
                    int(d.online),
                    None if d.connected_to_control is None else int(d.connected_to_control),
                    None if d.last_seen is None else int(d.last_seen),
                    ts,
                    ts,
                ),
            )
            conn.execute(
                "INSERT OR IGNORE INTO presence(ts, node_id, online) VALUES (?,?,?)",
                (ts, d.node_id, int(d.online)),
            )
            conn.execute(
                "INSERT INTO presence_hourly(hour, node_id, samples, online_samples)"
                " VALUES (?,?,1,?) ON CONFLICT(hour, node_id) DO UPDATE SET"
                " samples = samples + 1, online_samples = online_samples + excluded.online_samples",
                (hour, d.node_id, int(d.online)),
            )
        gone = conn.execute(
            f"SELECT node_id FROM devices WHERE present = 1 AND node_id NOT IN"  # noqa: S608
            f" ({','.join('?' * len(seen))})",
            seen,
        ).fetchall()
        for (node_id,) in gone:
            conn.execute(
                "UPDATE devices SET present = 0, online = 0, updated = ? WHERE node_id = ?",
                (ts, node_id),
            )
