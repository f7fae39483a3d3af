"""Open the SQLite database the way every part of the service needs it, and migrate it.

WAL lets the API read while collectors write; `busy_timeout` makes concurrent writers wait
instead of failing. Migrations are numbered SQL scripts applied in order inside one
transaction each, recorded in `PRAGMA user_version`, so an upgraded image migrates the
database on its volume in place and a failed migration leaves it as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from factory_analytics.histogram import merge_blobs


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated (path, permissions, newer schema)."""


MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        format TEXT NOT NULL,
        cursor TEXT NOT NULL DEFAULT '{}',
        lines INTEGER NOT NULL DEFAULT 0,
        parsed INTEGER NOT NULL DEFAULT 0,
        ignored INTEGER NOT NULL DEFAULT 0,
        unparseable INTEGER NOT NULL DEFAULT 0,
        last_line_at INTEGER,
        last_error TEXT,
        last_error_at INTEGER
    );
    CREATE TABLE bad_lines (
        id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL REFERENCES sources(id),
        at INTEGER NOT NULL,
        line TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX bad_lines_source ON bad_lines(source_id, id);

    -- raw requests (kept raw_days); query strings are never stored
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        source_id INTEGER NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        duration_ms REAL,
        bytes INTEGER,
        client TEXT,
        user TEXT,
        device TEXT
    );
    CREATE INDEX requests_ts ON requests(ts_ms);

    -- hourly rollups (kept rollup_days): every API figure is read from these
    CREATE TABLE route_hourly (
        hour INTEGER NOT NULL,
        source_id INTEGER NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        requests INTEGER NOT NULL,
        client_errors INTEGER NOT NULL,
        server_errors INTEGER NOT NULL,
        timed INTEGER NOT NULL,
        dur_sum_ms REAL NOT NULL,
        dur_max_ms REAL,
        hist BLOB NOT NULL,
        PRIMARY KEY (hour, source_id, method, route)
    ) WITHOUT ROWID;
    CREATE TABLE user_hourly (
        hour INTEGER NOT NULL,
        user TEXT NOT NULL,      -- '' = anonymous
        device TEXT NOT NULL,    -- '' = unknown
        requests INTEGER NOT NULL,
        client_errors INTEGER NOT NULL,
        server_errors INTEGER NOT NULL,
        PRIMARY KEY (hour, user, device)
    ) WITHOUT ROWID;

    -- tailnet presence
    CREATE TABLE devices (
        node_id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        name TEXT,
        user TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        os TEXT,
        addresses TEXT NOT NULL DEFAULT '[]',
        online INTEGER NOT NULL,
        connected_to_control INTEGER,
        last_seen INTEGER,
        present INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE TABLE presence (
        ts INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        online INTEGER NOT NULL,
        PRIMARY KEY (node_id, ts)
    ) WITHOUT ROWID;
    CREATE INDEX presence_ts ON presence(ts);
    CREATE TABLE presence_hourly (
        hour INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        samples INTEGER NOT NULL,
        online_samples INTEGER NOT NULL,
        PRIMARY KEY (hour, node_id)
    ) WITHOUT ROWID;

    -- host and container metrics
    CREATE TABLE host_samples (
        ts INTEGER PRIMARY KEY,
        cpu_pct REAL NOT NULL,
        cpu_count INTEGER NOT NULL,
        load_1 REAL NOT NULL,
        load_5 REAL NOT NULL,
        load_15 REAL NOT NULL,
        memory_used_bytes INTEGER NOT NULL,
        memory_total_bytes INTEGER NOT NULL,
        disk_path TEXT NOT NULL,
        disk_used_bytes INTEGER NOT NULL,
        disk_total_bytes INTEGER NOT NULL
    );
    CREATE TABLE host_hourly (
        hour INTEGER PRIMARY KEY,
        samples INTEGER NOT NULL,
        cpu_sum REAL NOT NULL, cpu_max REAL NOT NULL,
        load_1_sum REAL NOT NULL, load_1_max REAL NOT NULL,
        memory_pct_sum REAL NOT NULL, memory_pct_max REAL NOT NULL,
        disk_pct_max REAL NOT NULL
    );
    CREATE TABLE container_samples (
        ts INTEGER NOT NULL,
        name TEXT NOT NULL,
        cpu_pct REAL,
        memory_bytes INTEGER,
        memory_limit_bytes INTEGER,
        running INTEGER NOT NULL,
        PRIMARY KEY (name, ts)
    ) WITHOUT ROWID;
    CREATE INDEX container_samples_ts ON container_samples(ts);
    CREATE TABLE container_hourly (
        hour INTEGER NOT NULL,
        name TEXT NOT NULL,
        samples INTEGER NOT NULL,
        cpu_sum REAL NOT NULL, cpu_max REAL NOT NULL,
        memory_sum REAL NOT NULL, memory_max INTEGER NOT NULL,
        PRIMARY KEY (hour, name)
    ) WITHOUT ROWID;

    -- synthetic probes
    CREATE TABLE probe_results (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        name TEXT NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        ok INTEGER NOT NULL,
        status INTEGER,
        duration_ms REAL,
        error TEXT
    );
    CREATE INDEX probe_results_name_ts ON probe_results(name, ts);
    CREATE INDEX probe_results_ts ON probe_results(ts);
    CREATE TABLE probe_hourly (
        hour INTEGER NOT NULL,
        name TEXT NOT NULL,
        checks INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        answered INTEGER NOT NULL,
        dur_sum_ms REAL NOT NULL,
        dur_max_ms REAL,
        hist BLOB NOT NULL,
        PRIMARY KEY (hour, name)
    ) WITHOUT ROWID;

    -- collector status (last success / last error), shown by the API
    CREATE TABLE collector_status (
        name TEXT PRIMARY KEY,
        last_success INTEGER,
        last_error TEXT,
        last_error_at INTEGER
    );
    """,
    # 2: no time index on raw requests. No API query reads raw rows (all read rollups), and
    # the index cost about 5 % of ingest throughput; hourly retention scans the table in
    # rowid order instead, which is time order for appended log lines.
    """
    DROP INDEX requests_ts;
    """,
    # 3: requests of this service's own probes are counted per source, never as usage
    """
    ALTER TABLE sources ADD COLUMN probes INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: rejected lines counted per reason; lifetime per-route counters for /metrics (the
    # hourly rollups expire, a Prometheus counter must not go down); a last_line_at past
    # the year 9999 (stored before times were bounded) no longer breaks /api/v1/sources
    """
    ALTER TABLE bad_lines ADD COLUMN code TEXT NOT NULL DEFAULT 'unclassified';
    CREATE TABLE source_rejects (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        reason TEXT NOT NULL,
        lines INTEGER NOT NULL,
        PRIMARY KEY (source_id, reason)
    ) WITHOUT ROWID;
    INSERT INTO source_rejects(source_id, reason, lines)
        SELECT id, 'unclassified', unparseable FROM sources WHERE unparseable > 0;
    CREATE TABLE route_totals (
        source_id INTEGER NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        requests INTEGER NOT NULL,
        client_errors INTEGER NOT NULL,
        server_errors INTEGER NOT NULL,
        PRIMARY KEY (source_id, method, route)
    ) WITHOUT ROWID;
    INSERT INTO route_totals
        SELECT source_id, method, route, sum(requests), sum(client_errors), sum(server_errors)
        FROM route_hourly GROUP BY source_id, method, route;
    UPDATE sources SET last_line_at = NULL
        WHERE last_line_at > 253402300799 OR last_line_at < 0;
    """,
    # 5: how far the tailnet poll has attributed anonymous requests (store/backfill.py)
    """
    CREATE TABLE identity_backfill (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        request_id INTEGER NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database with WAL, a busy timeout and the `hist_merge` function.

    Autocommit mode (`isolation_level=None`): callers open explicit transactions with
    `BEGIN IMMEDIATE`, so a batch and its cursor are committed together or not at all.
    """
    target = Path(path)
    if not readonly and str(path) != ":memory:":
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"cannot create the database directory {target.parent}: {exc.strerror}; "
                "mount a writable volume there or set ANALYTICS_DB"
            ) from exc
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{target}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(str(target), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the database {target}: {exc}") from exc
    conn.create_function("hist_merge", 2, merge_blobs, deterministic=True)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every pending migration; returns the schema version now in the database."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"the database has schema version {current}, newer than this program's "
            f"{SCHEMA_VERSION}; run the newer factory-analytics image or restore a backup"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        script = MIGRATIONS[version - 1]
        # executescript commits implicitly, so BEGIN/COMMIT are part of the script itself
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise DatabaseError(f"migration {version} failed and was rolled back: {exc}") from exc
    return SCHEMA_VERSION


def open_database(path: str | Path) -> sqlite3.Connection:
    """Connect and migrate: what every writer calls first."""
    conn = connect(path)
    migrate(conn)
    return conn
