"""Attribute requests that were read before the tailnet mapping knew their address.

Why: ingestion resolves identity with the mapping it has (identity.py). Lines read before the
first tailnet poll (a backlog at start, a service without the Tailscale API for a while), or
from a device that joined between two polls, would otherwise stay anonymous forever. After
every successful poll, the anonymous raw rows stored since the previous one (by row id: the
order they were written) are resolved again with the new mapping, and each one that now has
a device moves from the anonymous rollup of its hour to its user's and device's, in the same
transaction as the new high-water mark, so a row is never moved twice.

Only rows with neither user nor device are looked at: a row with a believed identity header
is settled. Rows stored before the previous poll are not: that poll did not know their
address either, so a device listed now was not that address's owner then. Rows older than
`raw_days` are gone, and their anonymous rollups stay as they were. The first poll (also the
first after an upgrade to this version) looks at every retained row, in batches.
"""

from __future__ import annotations

import sqlite3

from factory_analytics.identity import IdentityResolver
from factory_analytics.store.writes import transaction
from factory_analytics.timeutil import HOUR

# rows per transaction: the write lock is held for a fraction of a second at a time, so
# ingestion (waiting up to busy_timeout) keeps committing during a large first back-fill
BATCH_ROWS = 50_000


def backfill_identity(conn: sqlite3.Connection, resolver: IdentityResolver) -> int:
    """Attribute the anonymous rows stored since the last call; returns how many moved."""
    row = conn.execute("SELECT request_id FROM identity_backfill WHERE id = 1").fetchone()
    start = row[0] if row else 0
    top = conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0]
    moved = 0
    while True:
        stop = min(start + BATCH_ROWS, top)
        moved += _backfill_range(conn, resolver, start, stop)
        if stop >= top:
            return moved
        start = stop


def _backfill_range(
    conn: sqlite3.Connection, resolver: IdentityResolver, start: int, stop: int
) -> int:
    """Rows `start < id <= stop`, their rollups and the mark `stop`, in one transaction."""
    with transaction(conn):
        updates: list[tuple[str | None, str | None, int]] = []
        moves: dict[tuple[int, str, str], list[int]] = {}
        for request_id, ts_ms, status, client in conn.execute(
            "SELECT id, ts_ms, status, client FROM requests WHERE id > ? AND id <= ?"
            " AND user IS NULL AND device IS NULL AND client IS NOT NULL",
            (start, stop),
        ):
            if not resolver.knows(client):
                continue
            user, device = resolver.resolve(None, client)
            updates.append((user, device, request_id))
            hour = ts_ms // 1000 // HOUR * HOUR
            counts = moves.setdefault((hour, user or "", device or ""), [0, 0, 0])
            counts[0] += 1
            counts[1] += 400 <= status < 500
            counts[2] += status >= 500
        conn.executemany("UPDATE requests SET user = ?, device = ? WHERE id = ?", updates)
        for (hour, user, device), (requests, client_errors, server_errors) in moves.items():
            conn.execute(
                "UPDATE user_hourly SET requests = requests - ?,"
                " client_errors = client_errors - ?, server_errors = server_errors - ?"
                " WHERE hour = ? AND user = '' AND device = ''",
                (requests, client_errors, server_errors, hour),
            )
            conn.execute(
                "INSERT INTO user_hourly(hour, user, device, requests, client_errors,"
                " server_errors) VALUES (?,?,?,?,?,?) ON CONFLICT(hour, user, device) DO UPDATE"
                " SET requests = requests + excluded.requests,"
                " client_errors = client_errors + excluded.client_errors,"
                " server_errors = server_errors + excluded.server_errors",
                (hour, user, device, requests, client_errors, server_errors),
            )
        for hour in {hour for hour, _, _ in moves}:
            conn.execute(
                "DELETE FROM user_hourly WHERE hour = ? AND user = '' AND device = ''"
                " AND requests <= 0",
                (hour,),
            )
        conn.execute(
            "INSERT INTO identity_backfill(id, request_id) VALUES (1, ?)"
            " ON CONFLICT(id) DO UPDATE SET request_id = excluded.request_id",
            (stop,),
        )
    return len(updates)
