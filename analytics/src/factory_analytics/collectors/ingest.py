"""Turn a log source's new lines into stored requests: read from the cursor, parse, resolve
identity and route, and commit rows + rollups + the new cursor in one transaction per chunk.
Every line becomes a request or is rejected with a reason (counted per reason and sampled),
and the cursor moves past it either way: no line can stop a source."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from factory_analytics.collectors.lines import MAX_LINE_CHARS
from factory_analytics.identity import IdentityResolver
from factory_analytics.logformats import (
    LINE_TOO_LONG,
    MAX_FUTURE_SECONDS,
    PARSER_ERROR,
    TIME_FLOOR,
    TIME_OUT_OF_RANGE,
    AccessRecord,
    Format,
    Unparseable,
    parse_combined_fast,
    parse_line,
)
from factory_analytics.probe_traffic import ProbeTraffic
from factory_analytics.routes import FACTORY_ROUTES, RouteTable
from factory_analytics.store import writes
from factory_analytics.timeutil import now as wall_clock

log = logging.getLogger(__name__)

MAX_CHUNKS_PER_POLL = 200
# one writer thread for all sources: commits never run concurrently on one connection, and a
# source's commits are awaited in order by its own poll
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-writer")


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
        probe_traffic: ProbeTraffic | None = None,
        identity_proxies: Sequence[str] = (),
    ) -> None:
        self.conn = conn
        self.name = name
        self.source = source
        self.fmt = fmt
        self.clock = clock
        self.probe_traffic = probe_traffic or ProbeTraffic()
        self.identity_proxies = tuple(identity_proxies)
        state = writes.ensure_source(conn, name, source.kind, source.target, fmt)
        self.source_id = state.id
        self.cursor = state.cursor
        # routes this source already has count against its cap, across restarts
        self.routes = RouteTable(
            (*FACTORY_ROUTES, *(extra_routes or [])), writes.known_routes(conn, state.id)
        )
        self._had_error = True  # a previous run's error is cleared by the first good read

    def poll(self) -> int:
        """Ingest everything new; returns the number of lines consumed. Errors reading the
        source are recorded on the source and re-raised for the scheduler to log.

        Chunk N is committed by a helper thread while chunk N+1 is read and parsed: SQLite
        releases the GIL while it writes, so parsing and writing overlap on a multi-core
        host. Commits stay in order and one at a time; if one fails, the in-memory cursor is
        reset to the last committed one, so nothing is skipped."""
        identity = IdentityResolver.from_database(self.conn, self.identity_proxies)
        total = 0
        pending: Future[None] | None = None
        try:
            for _ in range(MAX_CHUNKS_PER_POLL):
                lines, new_cursor = self._read()
                if not lines:
                    if new_cursor != self.cursor:
                        empty = writes.AccessBatch(self.source_id, self.routes, identity)
                        pending = self._commit_after(pending, empty, new_cursor)
                    break
                batch = self.build_batch(lines, identity)
                pending = self._commit_after(pending, batch, new_cursor)
                total += len(lines)
            if pending is not None:
                pending.result()
        except BaseException:
            if pending is not None and not pending.done():
                pending.exception()  # wait: never leave a commit running behind us
            self.cursor = writes.load_cursor(self.conn, self.source_id)
            raise
        return total

    def _read(self) -> tuple[list[tuple[str, float]], dict[str, Any]]:
        try:
            lines, new_cursor = self.source.read(self.cursor, self.clock())
        except Exception as exc:
            writes.record_source_error(self.conn, self.source_id, str(exc), self.clock())
            self._had_error = True
            raise
        if self._had_error:
            writes.clear_source_error(self.conn, self.source_id)
            self._had_error = False
        return lines, new_cursor

    def _commit_after(
        self, previous: Future[None] | None, batch: writes.AccessBatch, cursor: dict[str, Any]
    ) -> Future[None]:
        """Wait for the previous commit (raising its error), then start this one."""
        if previous is not None:
            previous.result()
        self.cursor = cursor
        return _WRITER.submit(batch.commit, self.conn, cursor)

    def build_batch(
        self, lines: list[tuple[str, float]], identity: IdentityResolver
    ) -> writes.AccessBatch:
        """Parse lines into a batch (no I/O): the hot loop of ingestion. The fast path only
        takes lines with a user agent that is not a probe's, so only the rest are checked
        against `probe_traffic`."""
        batch = writes.AccessBatch(self.source_id, self.routes, identity)
        fmt = self.fmt
        fast = parse_combined_fast if fmt in ("auto", "combined") else _no_fast_path
        is_probe = self.probe_traffic.matches
        parsed: list[tuple[AccessRecord, float]] = []
        append = parsed.append
        earliest, latest = TIME_FLOOR, self.clock() + MAX_FUTURE_SECONDS
        for line, fallback_ts in lines:
            try:
                if type(line) is not str:  # an OverlongLine from the reader
                    batch.add_bad(fallback_ts, line, LINE_TOO_LONG, _TOO_LONG)
                    continue
                record = fast(line)
                if record is not None:
                    ts = record[0]
                    if ts is None or earliest <= ts <= latest:
                        append((record, fallback_ts))
                    else:
                        batch.add_bad(fallback_ts, line, TIME_OUT_OF_RANGE, _OUT_OF_RANGE)
                    continue
                result = parse_line(line, fmt)
                if type(result) is AccessRecord:
                    ts = result.ts
                    if ts is not None and not earliest <= ts <= latest:
                        batch.add_bad(fallback_ts, line, TIME_OUT_OF_RANGE, _OUT_OF_RANGE)
                    elif is_probe(result):
                        batch.add_probe()
                    else:
                        append((result, fallback_ts))
                elif type(result) is Unparseable:
                    batch.add_bad(fallback_ts, line, result.code, result.reason)
                else:
                    batch.add_ignored()
            except Exception as exc:
                batch.add_bad(fallback_ts, line, PARSER_ERROR, f"failed: {type(exc).__name__}")
        batch.add_many(parsed)
        return batch


_TOO_LONG = f"line longer than {MAX_LINE_CHARS} characters"
_OUT_OF_RANGE = f"time before 2000-01-01 or more than {MAX_FUTURE_SECONDS:.0f} s after it was read"


def _no_fast_path(_line: str) -> None:
    return None
