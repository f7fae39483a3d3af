"""Probes against a real HTTP server on loopback, host metrics from psutil, retention, and the
schema migrations."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from factory_analytics.collectors.probes import ProbeCollector
from factory_analytics.collectors.system import SystemCollector
from factory_analytics.config import ProbeConfig
from factory_analytics.store import writes
from factory_analytics.store.db import SCHEMA_VERSION, DatabaseError, migrate, open_database
from factory_analytics.store.retention import prune
from factory_analytics.testing.seed import NOW
from factory_analytics.timeutil import DAY
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.conftest import free_port, serve


def _slow(_request):
    time.sleep(1.0)
    return PlainTextResponse("late")


def _ok(_request):
    return PlainTextResponse("ok")


def _down(_request):
    return PlainTextResponse("influx down", status_code=503)


@pytest.fixture(scope="module")
def factory():
    app = Starlette(routes=[Route("/slow", _slow), Route("/ok", _ok), Route("/down", _down)])
    with serve(app) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "timeout", "ok", "status", "error"),
    [
        ("/ok", 5.0, True, 200, None),
        ("/down", 5.0, False, 503, "status 503"),
        ("/slow", 0.3, False, None, "timeout after 0.3 s"),
    ],
)
def test_probe_outcomes(factory, tmp_path: Path, path, timeout, ok, status, error) -> None:
    probe = ProbeConfig(name="p", url=factory + path, timeout_seconds=timeout)
    collector = ProbeCollector(open_database(tmp_path / "a.db"), probe)
    result = collector.poll()
    collector.close()
    assert (result.ok, result.status, result.error) == (ok, status, error)
    if status is None:
        assert result.duration_ms is None
    else:
        assert result.duration_ms > 0


def test_probe_connection_refused(tmp_path: Path) -> None:
    probe = ProbeConfig(name="p", url=f"http://127.0.0.1:{free_port()}/health")
    collector = ProbeCollector(open_database(tmp_path / "a.db"), probe)
    result = collector.poll()
    collector.close()
    assert (result.ok, result.status, result.error) == (False, None, "connection refused")
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("SELECT checks, failures, answered FROM probe_hourly").fetchone() == (
            1,
            1,
            0,
        )


def test_host_sample_is_real(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "a.db")
    SystemCollector(conn, str(tmp_path), None, clock=lambda: NOW).poll()
    row = conn.execute(
        "SELECT cpu_count, memory_total_bytes, disk_total_bytes, disk_path FROM host_samples"
    ).fetchone()
    assert row[0] >= 1
    assert row[1] > 100 * 2**20
    assert row[2] > 0
    assert row[3] == str(tmp_path)
    conn.close()


def test_retention_drops_raw_rows_before_rollups(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "a.db")
    old, recent = NOW - 40 * DAY, NOW - DAY
    for at in (old, recent):
        writes.write_presence(
            conn,
            at,
            [
                writes.DeviceObservation(
                    "n1",
                    "git",
                    None,
                    None,
                    ["tag:forgejo"],
                    "linux",
                    ["100.64.0.1"],
                    True,
                    True,
                    None,
                )
            ],
        )
    removed = prune(conn, NOW, raw_days=30, rollup_days=365)
    assert removed["presence"] == 1
    assert removed["presence_hourly"] == 0
    assert conn.execute("SELECT count(*) FROM presence").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM presence_hourly").fetchone()[0] == 2
    assert prune(conn, NOW, raw_days=30, rollup_days=10)["presence_hourly"] == 1
    conn.close()


def test_migrations_are_idempotent_and_refuse_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    conn = open_database(db)
    assert migrate(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseError, match="newer than this program"):
        migrate(conn)
    conn.close()


def test_unwritable_database_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="ANALYTICS_DB"):
        open_database(blocker / "sub" / "a.db")


def test_upgrade_from_schema_1_keeps_the_data(tmp_path: Path) -> None:
    from factory_analytics.store.db import MIGRATIONS, connect

    db = tmp_path / "a.db"
    old = connect(db)
    old.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    old.execute(
        "INSERT INTO requests(ts_ms, source_id, method, route, path, status)"
        " VALUES (1, 1, 'GET', '/health', '/health', 200)"
    )
    old.close()
    conn = open_database(db)  # what a new image does on start
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 1
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "requests_ts" not in indexes
    conn.close()
