"""Retention: raw rows older than `raw_days` and rollups older than `rollup_days` are deleted,
in bounded chunks so a big first cleanup never holds the write lock for long."""

from __future__ import annotations

import sqlite3

from factory_analytics.store.writes import transaction
from factory_analytics.timeutil import DAY

_CHUNK = 50_000

# (table, time column, multiplier to epoch seconds)
RAW_TABLES = (
    ("requests", "ts_ms", 1000),
    ("presence", "ts", 1),
    ("host_samples", "ts", 1),
    ("container_samples", "ts", 1),
    ("probe_results", "ts", 1),
)
_ROWID_TABLES = {"requests", "host_samples", "probe_results"}
ROLLUP_TABLES = (
    "route_hourly",
    "user_hourly",
    "presence_hourly",
    "host_hourly",
    "container_hourly",
    "probe_hourly",
)


def prune(conn: sqlite3.Connection, now: float, raw_days: int, rollup_days: int) -> dict[str, int]:
    """Delete expired rows; returns how many rows each table lost."""
    removed: dict[str, int] = {}
    raw_cutoff = int(now) - raw_days * DAY
    for table, column, scale in RAW_TABLES:
        removed[table] = _delete_chunked(conn, table, column, raw_cutoff * scale)
    rollup_cutoff = int(now) - rollup_days * DAY
    for table in ROLLUP_TABLES:
        removed[table] = _delete_chunked(conn, table, "hour", rollup_cutoff)
    return removed


def _delete_chunked(conn: sqlite3.Connection, table: str, column: str, cutoff: int) -> int:
    if table not in _ROWID_TABLES:
        with transaction(conn):
            # WITHOUT ROWID tables are small (samples, rollups): one statement
            cur = conn.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,))  # noqa: S608
        return cur.rowcount
    total = 0
    while True:
        with transaction(conn):
            # table/column names come from the constants above, never from input
            cur = conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"  # noqa: S608
                f" WHERE {column} < ? LIMIT {_CHUNK})",
                (cutoff,),
            )
        total += cur.rowcount
        if cur.rowcount < _CHUNK:
            return total
