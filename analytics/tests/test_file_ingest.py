"""Ingesting a log file: cursor across restarts, rotation in the middle of a read, truncation,
half-written lines, unparseable lines counted and sampled, identity and routes resolved."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from factory_analytics.collectors import logfiles
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.store import writes
from factory_analytics.store.db import open_database
from factory_analytics.store.writes import DeviceObservation

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1795608000.0  # 2026-11-25T12:00:00Z, after every line below


def line(i: int, login: str = "-", client: str = "100.64.0.2") -> str:
    return (
        f"{client} - - [25/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "
        f'"GET /health-monitoring/uptime/node{i % 3}?token=s3cret HTTP/1.1" 200 10 "-" "ua" '
        f'0.0{i % 10} "{login}"\n'
    )


def ingester(db: Path, log: Path) -> LogIngester:
    return LogIngester(open_database(db), "sidecar", FileLines(log), "auto", clock=lambda: NOW)


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM requests").fetchone()[0]


def rollup_total(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT coalesce(sum(requests), 0) FROM route_hourly").fetchone()[0]


def test_restart_neither_loses_nor_double_counts(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(line(i) for i in range(100)))
    first = ingester(db, log)
    assert first.poll() == 100
    first.conn.close()
    with log.open("a") as fh:
        fh.write("".join(line(i) for i in range(100, 130)))
    second = ingester(db, log)  # a new process: cursor comes from the database
    assert second.poll() == 30
    assert second.poll() == 0
    assert count(db) == 130 == rollup_total(db)


def test_rotation_in_the_middle_of_a_read(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    writer = log.open("a", buffering=1)
    writer.write("".join(line(i) for i in range(50)))
    ing = ingester(db, log)
    assert ing.poll() == 50
    # the writer keeps writing to the old file, logrotate renames it, a new file starts,
    # and only then does the writer reopen: lines 50-69 exist only in access.log.1
    writer.write("".join(line(i) for i in range(50, 60)))
    os.rename(log, tmp_path / "access.log.1")
    writer.write("".join(line(i) for i in range(60, 70)))
    writer.close()
    log.write_text("".join(line(i) for i in range(70, 85)))
    assert ing.poll() == 35
    assert count(db) == 85
    with sqlite3.connect(db) as conn:
        times = [r[0] for r in conn.execute("SELECT ts_ms FROM requests ORDER BY id")]
    assert len(set(times)) == 85  # each line once


def test_rotation_while_a_chunk_is_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rotated file bigger than one read is drained over several chunks before the new one."""
    monkeypatch.setattr(logfiles, "MAX_READ", 4096)
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(line(i) for i in range(10)))
    ing = ingester(db, log)
    assert ing.poll() == 10
    with log.open("a") as fh:
        fh.write("".join(line(i) for i in range(10, 400)))
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("".join(line(i) for i in range(400, 420)))
    assert ing.poll() == 410
    assert count(db) == 420


def test_truncation_copytruncate_starts_over(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(line(i) for i in range(40)))
    ing = ingester(db, log)
    ing.poll()
    log.write_text("".join(line(i) for i in range(40, 45)))  # same inode, shorter
    assert ing.poll() == 5
    assert count(db) == 45


def test_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    full = line(1)
    log.write_text(line(0) + full[:30])
    ing = ingester(db, log)
    assert ing.poll() == 1
    with log.open("a") as fh:
        fh.write(full[30:])
    assert ing.poll() == 1
    assert count(db) == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT unparseable FROM sources").fetchone()[0] == 0


def test_unparseable_lines_are_counted_and_sampled_never_fatal(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    body = (FIXTURES / "nginx_combined.log").read_text()
    log.write_text(body + "".join(f"garbage {i} {'ü' * 400}\n" for i in range(30)) + line(5))
    ing = ingester(db, log)
    assert ing.poll() == 41
    with sqlite3.connect(db) as conn:
        lines, parsed, bad = conn.execute(
            "SELECT lines, parsed, unparseable FROM sources"
        ).fetchone()
        samples = conn.execute("SELECT line FROM bad_lines ORDER BY id").fetchall()
    assert (lines, parsed, bad) == (41, 8, 33)
    assert len(samples) == writes.BAD_LINE_SAMPLES  # the newest 20 only
    assert samples[-1][0].startswith("garbage 29")
    assert all(len(s[0]) <= writes.BAD_LINE_CHARS for s in samples)


def test_query_strings_are_never_stored_and_routes_are_templated(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(line(i) for i in range(6)))
    ingester(db, log).poll()
    with sqlite3.connect(db) as conn:
        paths = {r[0] for r in conn.execute("SELECT path FROM requests")}
        routes = {r[0] for r in conn.execute("SELECT route FROM route_hourly")}
    assert not any("s3cret" in p for p in paths)
    assert routes == {"/health-monitoring/uptime/{hostname}"}


def test_identity_from_the_tailnet_address_not_the_header(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    conn = open_database(db)
    writes.write_presence(
        conn,
        1.0e9,
        [
            DeviceObservation(
                "n1",
                "ana-laptop",
                None,
                "ana@example.com",
                [],
                "macOS",
                ["100.64.0.2", "fd7a:115c:a1e0::2"],
                True,
                True,
                None,
            ),
            DeviceObservation(
                "n2",
                "ci-runner",
                None,
                "tagged-devices",
                ["tag:ci"],
                "linux",
                ["100.64.0.9"],
                True,
                True,
                None,
            ),
        ],
    )
    log.write_text(
        # a login header straight from a client is client input: the address decides
        line(0, login="josé@example.com", client="100.64.0.2")
        + line(1, client="fd7a:115c:a1e0::2")  # no header: the device's user
        + line(2, client="100.64.0.9")  # tagged device: a device but no person
        + line(3, client="203.0.113.5")  # outside the tailnet: anonymous
    )
    ingester(db, log).poll()
    rows = conn.execute("SELECT user, device FROM requests ORDER BY id").fetchall()
    assert rows == [
        ("ana@example.com", "ana-laptop"),
        ("ana@example.com", "ana-laptop"),
        (None, "ci-runner"),
        (None, None),
    ]


def test_missing_file_is_reported_once_until_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing or misspelled `file:` is an error on /api/v1/sources (state + reason, with
    the names that do exist nearby) and one warning in the log, not one per poll."""
    import httpx
    from factory_analytics.config import AnalyticsConfig, LogSourceConfig
    from factory_analytics.service import Service
    from factory_analytics.web.app import create_app

    from tests.conftest import serve

    log, db = tmp_path / "access.log", tmp_path / "a.db"
    (tmp_path / "acess.log").write_text("")  # the misspelling is what exists
    config = AnalyticsConfig(
        database=db,
        logs=[LogSourceConfig(name="sidecar", file=log)],
        tailnet={"enabled": False},
        system={"enabled": False},
    )
    service = Service(config)
    with caplog.at_level("WARNING"):
        for _ in range(3):
            service.run_once()
    warnings = [r for r in caplog.records if "sidecar" in r.getMessage()]
    assert len(warnings) == 1
    assert str(log) in warnings[0].getMessage()
    app = create_app(AnalyticsConfig(database=db), None, clock=lambda: NOW)
    with serve(app) as base:
        (source,) = httpx.get(f"{base}/api/v1/sources", timeout=10).json()["sources"]
        assert source["state"] == "error"
        assert str(log) in source["last_error"]
        assert "acess.log" in source["last_error"]
        log.write_text(line(0))
        service.run_once()
        (source,) = httpx.get(f"{base}/api/v1/sources", timeout=10).json()["sources"]
    service.stop()
    assert (source["state"], source["last_error"], source["parsed"]) == ("ok", None, 1)


def test_lines_written_to_the_renamed_file_after_the_switch_are_read(tmp_path: Path) -> None:
    """nginx keeps writing to the renamed file until it reopens: those lines count too."""
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    writer = log.open("a", buffering=1)
    writer.write("".join(line(i) for i in range(10)))
    ing = ingester(db, log)
    assert ing.poll() == 10
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("".join(line(i) for i in range(10, 15)))
    assert ing.poll() == 5  # switched to the new file
    writer.write("".join(line(i) for i in range(15, 18)))  # late lines in the old one
    writer.close()
    assert ing.poll() == 3
    ing.conn.close()
    again = ingester(db, log)  # and a restart neither loses nor repeats them
    with (tmp_path / "access.log.1").open("a") as fh:
        fh.write(line(18))
    assert again.poll() == 1
    assert again.poll() == 0
    assert count(db) == 19 == rollup_total(db)


def test_two_rotations_while_down_lose_no_middle_file(tmp_path: Path) -> None:
    """logrotate ran twice while the service was stopped: access.log → .1 → .2, and the
    file that was access.log in between (now .1) was never seen; all three are read."""
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    (tmp_path / "access.log.3").write_text("".join(line(i) for i in range(900, 905)))
    log.write_text("".join(line(i) for i in range(10)))
    # an old rotation is old: written before the file being read was
    hour_ago = time.time() - 3600
    os.utime(tmp_path / "access.log.3", (hour_ago, hour_ago))
    os.utime(log, (hour_ago + 60, hour_ago + 60))
    first = ingester(db, log)
    assert first.poll() == 10
    first.conn.close()
    with log.open("a") as fh:
        fh.write("".join(line(i) for i in range(10, 12)))  # unread tail of the first file
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("".join(line(i) for i in range(20, 27)))  # the middle file
    os.rename(tmp_path / "access.log.1", tmp_path / "access.log.2")
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("".join(line(i) for i in range(30, 34)))
    second = ingester(db, log)
    assert second.poll() == 2 + 7 + 4
    assert second.poll() == 0
    assert count(db) == 23 == rollup_total(db)


def test_a_failed_commit_resumes_from_the_last_committed_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are committed while the next one is parsed; when a commit fails (disk full,
    lock timeout) the next poll resumes exactly after the last chunk that did commit."""
    monkeypatch.setattr(logfiles, "MAX_READ", 4096)
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(line(i) for i in range(300)))
    ing = ingester(db, log)
    real_commit = writes.AccessBatch.commit
    calls = {"n": 0}

    def flaky(self, conn, cursor):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real_commit(self, conn, cursor)

    monkeypatch.setattr(writes.AccessBatch, "commit", flaky)
    with pytest.raises(sqlite3.OperationalError):
        ing.poll()
    committed = count(db)
    assert 0 < committed < 300
    monkeypatch.setattr(writes.AccessBatch, "commit", real_commit)
    assert ing.poll() == 300 - committed
    assert count(db) == 300 == rollup_total(db)


def test_sources_api_explains_what_was_read(tmp_path: Path) -> None:
    import httpx
    from factory_analytics.config import AnalyticsConfig
    from factory_analytics.web.app import create_app

    from tests.conftest import serve

    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text((FIXTURES / "uvicorn.log").read_text())
    ing = ingester(db, log)
    ing.poll()
    ing.conn.close()
    with serve(create_app(AnalyticsConfig(database=db), None)) as base:
        (source,) = httpx.get(f"{base}/api/v1/sources", timeout=10).json()["sources"]
    assert (source["name"], source["kind"], source["target"]) == ("sidecar", "file", str(log))
    parts = ("parsed", "ignored", "unparseable", "probes")
    assert source["lines"] == sum(source[p] for p in parts) == 13
    assert tuple(source[p] for p in parts) == (5, 5, 3, 0)
    assert source["samples"][0]["line"].startswith('INFO:     100.64.0.5:52345 - "GET /broken')
    assert source["samples"][0]["reason"] == "broken uvicorn access line"
