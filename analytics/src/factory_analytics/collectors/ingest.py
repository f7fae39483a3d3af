"""Turn a log source's new lines into stored requests: read from the cursor, parse, resolve
identity and route, and commit rows + rollups + the new cursor in one transaction per chunk.
Unparseable lines are counted and sampled, never fatal."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from factory_analytics.identity import IdentityResolver
from factory_analytics.logformats import (
    AccessRecord,
    Format,
    Unparseable,
    parse_combined_fast,
    parse_line,
)
from factory_analytics.routes import FACTORY_ROUTES, RouteTable
from factory_analytics.store import writes
from factory_analytics.timeutil import now as wall_clock

log = logging.getLogger(__name__)

MAX_CHUNKS_PER_POLL = 200


class LineSource(Protocol):
    kind: str
    target: str

    def read(
        self, cursor: dict[str, Any], now: float
    ) -> tuple[list[tuple[str, float]], dict[str, Any]]: ...


class LogIngester:
    """One configured log source bound to the database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        source: LineSource,
        fmt: Format = "auto",
        extra_routes: list[str] | None = None,
        clock: Callable[[], float] = wall_clock,
    ) -> None:
        self.conn = conn
        self.name = name
        self.source = source
        self.fmt = fmt
        self.routes = RouteTable((*FACTORY_ROUTES, *(extra_routes or [])))
        self.clock = clock
        state = writes.ensure_source(conn, name, source.kind, source.target, fmt)
        self.source_id = state.id
        self.cursor = state.cursor
        self._had_error = False

    def poll(self) -> int:
        """Ingest everything new; returns the number of lines consumed. Errors reading the
        source are recorded on the source and re-raised for the scheduler to log."""
        identity = IdentityResolver.from_database(self.conn)
        total = 0
        for _ in range(MAX_CHUNKS_PER_POLL):
            try:
                lines, new_cursor = self.source.read(self.cursor, self.clock())
            except Exception as exc:
                writes.record_source_error(self.conn, self.source_id, str(exc), self.clock())
                self._had_error = True
                raise
            if self._had_error:
                writes.clear_source_error(self.conn, self.source_id)
                self._had_error = False
            if not lines:
                if new_cursor != self.cursor:
                    batch = writes.AccessBatch(self.source_id, self.routes, identity)
                    batch.commit(self.conn, new_cursor)
                    self.cursor = new_cursor
                break
            batch = self.build_batch(lines, identity)
            batch.commit(self.conn, new_cursor)
            self.cursor = new_cursor
            total += len(lines)
        return total

    def build_batch(
        self, lines: list[tuple[str, float]], identity: IdentityResolver
    ) -> writes.AccessBatch:
        """Parse lines into a batch (no I/O): the hot loop of ingestion."""
        batch = writes.AccessBatch(self.source_id, self.routes, identity)
        fmt = self.fmt
        fast = parse_combined_fast if fmt in ("auto", "combined") else _no_fast_path
        parsed: list[tuple[AccessRecord, float]] = []
        append = parsed.append
        for line, fallback_ts in lines:
            record = fast(line)
            if record is not None:
                append((record, fallback_ts))
                continue
            result = parse_line(line, fmt)
            if type(result) is AccessRecord:
                append((result, fallback_ts))
            elif type(result) is Unparseable:
                batch.add_bad(fallback_ts, line, result.reason)
            else:
                batch.add_ignored()
        batch.add_many(parsed)
        return batch


def _no_fast_path(_line: str) -> None:
    return None
