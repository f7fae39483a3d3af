"""Hostile and broken log lines (issue 10): every line becomes a request or is rejected with a
reason, the cursor always moves on, nothing stored can break the API afterwards, and routes,
methods and /metrics series stay bounded. Real files, real SQLite, real HTTP."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.config import AnalyticsConfig
from factory_analytics.routes import MAX_ROUTES, OTHER_ROUTE
from factory_analytics.store.db import open_database
from factory_analytics.store.retention import prune
from factory_analytics.web.app import create_app

from tests.conftest import serve

# 2026-11-25T12:00:00Z: the ingest clock; the lines below are from that morning
NOW = 1795608000.0
STAMP = "25/Nov/2026:10:00:00 +0000"


def good(i: int = 0, path: str = "/health") -> str:
    return f'100.64.0.2 - - [{STAMP}] "GET {path} HTTP/1.1" 200 10 "-" "ua" 0.01{i % 10} "-"'


def jline(**fields: object) -> str:
    base: dict[str, object] = {
        "time": "2026-11-25T10:00:00Z",
        "method": "GET",
        "path": "/health",
        "status": 200,
        "duration_ms": 1.5,
    }
    base.update(fields)
    return json.dumps(base)


def ingester(db: Path, log: Path, name: str = "src", fmt: str = "auto") -> LogIngester:
    return LogIngester(open_database(db), name, FileLines(log), fmt, clock=lambda: NOW)  # type: ignore[arg-type]


def sources_api(db: Path) -> list[dict]:
    with serve(create_app(AnalyticsConfig(database=db), None, clock=lambda: NOW)) as base:
        answer = httpx.get(f"{base}/api/v1/sources", timeout=10)
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert answer.status_code == 200, answer.text
    sources = answer.json()["sources"]
    for source in sources:
        rejected = source["rejected"]
        assert sum(rejected.values()) == source["unparseable"]
        for reason, n in rejected.items():
            want = (
                f'factory_analytics_log_lines_rejected_total{{source="{source["name"]}",'
                f'reason="{reason}"}} {n}'
            )
            assert want in metrics
    return sources


BAD_LINES: dict[str, tuple[str, str]] = {
    # name: (line, reason)
    "json NaN duration": (jline(duration_ms=float("nan")), "invalid_json"),
    "json Infinity duration": (
        '{"method":"GET","path":"/x","status":200,"duration_ms":Infinity}',
        "invalid_json",
    ),
    "json 1e400 duration": (
        '{"method":"GET","path":"/x","status":200,"duration_ms":1e400}',
        "bad_field",
    ),
    "json nested 10000 deep": ("[" * 10_000 + "]" * 10_000, "json_too_deep"),
    "json object nested deep": (
        '{"method":"GET","path":"/x","status":200,"x":' + '{"a":' * 5000 + "1" + "}" * 5001,
        "json_too_deep",
    ),
    "json status true": (jline(status=True), "bad_field"),
    "json status 2^63": (jline(status=2**63), "bad_field"),
    "json status 999": (jline(status=999), "bad_field"),
    "json size 2^63": (jline(size=2**63), "bad_field"),
    "json size string": (jline(size="big"), "bad_field"),
    "json negative duration": (jline(duration_ms=-5), "bad_field"),
    "json duration string": (jline(duration_ms="fast"), "bad_field"),
    "json seconds string": (jline(duration_ms=None, duration="fast"), "bad_field"),
    "json path object": (jline(path={"a": 1}), "bad_field"),
    "json method number": (jline(method=7), "bad_field"),
    "json user number": (jline(user=12), "bad_field"),
    "json surrogate path": (
        '{"method":"GET","path":"/x\\ud800","status":200}',
        "bad_field",
    ),
    "json surrogate user": (jline(user="\ud800a@example.com"), "bad_field"),
    "json time year 9999": (jline(time="9999-12-31T23:59:59-14:00"), "time_out_of_range"),
    "json time far future": (jline(time="2030-01-01T00:00:00Z"), "time_out_of_range"),
    "json time before 2000": (jline(time="1970-01-01T00:00:01Z"), "time_out_of_range"),
    "json epoch 2^63": (jline(time=2**63), "time_out_of_range"),
    "json time bool": (jline(time=True), "bad_field"),
    "combined request_time 1.2.3": (good().replace("0.010", "1.2.3"), "bad_field"),
    "combined year 9999": (good().replace("2026", "9999"), "time_out_of_range"),
    "combined year 9999 -1400": (
        good().replace(STAMP, "31/Dec/9999:23:59:59 -1400"),
        "time_out_of_range",
    ),
    "combined next hour": (good().replace("10:00:00", "13:00:00"), "time_out_of_range"),
    "combined size 2^63": (good().replace(" 200 10 ", f" 200 {2**63} "), "bad_field"),
    "combined status 999": (good().replace(" 200 10 ", " 999 10 "), "bad_field"),
    "combined huge request_time": (good().replace("0.010", "9" * 400), "bad_field"),
    "not a log line": ("hello world", "unrecognised"),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_line_is_rejected_with_its_reason_and_the_source_goes_on(
    tmp_path: Path, name: str
) -> None:
    bad, reason = BAD_LINES[name]
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text(f"{good(1)}\n{bad}\n{good(2)}\n")
    ing = ingester(db, log)
    assert ing.poll() == 3
    with log.open("a") as fh:
        fh.write(good(3) + "\n")
    assert ing.poll() == 1  # the cursor moved past the bad line
    ing.conn.close()
    (source,) = sources_api(db)
    assert (source["lines"], source["parsed"], source["unparseable"]) == (4, 3, 1)
    assert source["rejected"] == {reason: 1}
    assert source["samples"][0]["code"] == reason
    assert source["state"] == "ok"


def test_a_line_longer_than_any_read_is_rejected_and_skipped(tmp_path: Path) -> None:
    """A 5 MiB line (more than one 4 MiB read) neither stalls the file nor is held in memory."""
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    huge = good(0, "/" + "a" * (5 * 2**20))
    log.write_text(f"{good(1)}\n{huge}\n{good(2)}\n")
    ing = ingester(db, log)
    ing.poll()
    assert ing.poll() == 0
    ing.conn.close()
    (source,) = sources_api(db)
    assert (source["parsed"], source["unparseable"]) == (2, 1)
    assert source["rejected"] == {"line_too_long": 1}
    assert len(source["samples"][0]["line"]) <= 300


def test_a_long_line_still_being_written_waits_then_is_rejected_once(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text(f"{good(1)}\n" + "x" * (5 * 2**20))  # no newline yet
    ing = ingester(db, log)
    ing.poll()
    with log.open("a") as fh:
        fh.write("y" * 2**20 + "\n" + good(2) + "\n")
    ing.poll()
    ing.conn.close()
    (source,) = sources_api(db)
    assert (source["parsed"], source["unparseable"], source["lines"]) == (2, 1, 3)


def test_query_strings_never_reach_the_samples(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text(
        "GET /reset?token=s3cret-1 HTTP/1.1 ???\n"
        + jline(path="/login?password=s3cret-2", status="yes")
        + "\n"
        + good(0, "/x?api_key=s3cret-3").replace(" 200 ", " 999 ")
        + "\n"
        + '{"method":"GET","path":"/y?a=1\\u0026token=s3cret-4","status":true}\n'
    )
    ing = ingester(db, log)
    ing.poll()
    ing.conn.close()
    (source,) = sources_api(db)
    assert source["unparseable"] == 4
    assert "s3cret" not in json.dumps(source)
    with sqlite3.connect(db) as conn:
        stored = " ".join(str(r) for r in conn.execute("SELECT * FROM bad_lines"))
    assert "s3cret" not in stored


def test_routes_methods_and_metrics_series_are_bounded(tmp_path: Path) -> None:
    rng = random.Random(7)
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    lines = [good(i, f"/scan/{rng.getrandbits(64):x}g/{i}") for i in range(20_000)]
    lines += [good(0, "/" + "b" * 40_000)]  # a path longer than any route may be
    lines += [
        good(0).replace('"GET ', f'"X{chr(65 + i % 26) * (1 + i // 26)} ') for i in range(50)
    ]  # invented methods
    lines += [good(i) for i in range(10)]  # a known route keeps its own series
    log.write_text("\n".join(lines) + "\n")
    ing = ingester(db, log)
    ing.poll()
    ing.conn.close()
    with sqlite3.connect(db) as conn:
        routes = {r[0] for r in conn.execute("SELECT DISTINCT route FROM route_hourly")}
        methods = {r[0] for r in conn.execute("SELECT DISTINCT method FROM route_hourly")}
        total = conn.execute("SELECT sum(requests) FROM route_hourly").fetchone()[0]
    assert total == len(lines)  # bounded, not dropped
    assert len(routes) <= MAX_ROUTES + 5
    assert OTHER_ROUTE in routes
    assert "/health" in routes
    assert max(len(r) for r in routes) <= 500
    assert methods == {"GET", "OTHER"}
    with serve(create_app(AnalyticsConfig(database=db), None, clock=lambda: NOW)) as base:
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    series = [m for m in metrics.splitlines() if m.startswith("factory_analytics_http_requests")]
    assert len(series) <= 3 * 2 * (MAX_ROUTES + 5)
    # the cap survives a restart: a new process does not admit another MAX_ROUTES routes
    log.write_text("\n".join(good(i, f"/later/{i}x") for i in range(100)) + "\n")
    again = LogIngester(open_database(db), "src", FileLines(log), "auto", clock=lambda: NOW)
    again.poll()
    with sqlite3.connect(db) as conn:
        assert not conn.execute("SELECT 1 FROM route_hourly WHERE route LIKE '/later/%'").fetchall()


def _counter(metrics: str, route: str) -> int:
    m = re.search(
        r'factory_analytics_http_requests_total\{method="GET",route="'
        + re.escape(route)
        + r'",status_class="ok"\} (\d+)',
        metrics,
    )
    return int(m.group(1)) if m else 0


def test_metrics_counters_never_go_down_when_rollups_expire(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.write_text("".join(good(i) + "\n" for i in range(7)))
    ing = ingester(db, log)
    ing.poll()
    app = create_app(AnalyticsConfig(database=db), None, clock=lambda: NOW)
    with serve(app) as base:
        before = _counter(httpx.get(f"{base}/metrics", timeout=10).text, "/health")
        prune(ing.conn, NOW + 400 * 86400, raw_days=30, rollup_days=365)  # everything expires
        after = _counter(httpx.get(f"{base}/metrics", timeout=10).text, "/health")
    assert before == after == 7


def test_an_endless_container_line_is_cut_not_held() -> None:
    """The engine's stream is split into lines without holding an overlong one: it is
    handed on once (its start only) and its rest dropped up to the next newline."""
    from factory_analytics.collectors.dockerlogs import DockerLines
    from factory_analytics.collectors.lines import KEEP_CHARS, OverlongLine

    stamp = "2026-11-25T10:00:00.000000001Z "
    frames = [
        (stamp + good(1) + "\n").encode(),
        (stamp + "x" * 2**20).encode(),  # one endless line, in 1 MiB frames
        b"x" * 2**20,
        b"x" * 10 + b"\n" + (stamp.replace("01Z", "02Z") + good(2) + "\n").encode(),
    ]
    lines, _cursor = DockerLines._take(iter(frames), {"id": "c", "ns": 0, "n": 0})
    assert [type(line) for line, _ in lines] == [str, OverlongLine, str]
    assert len(lines[1][0]) <= KEEP_CHARS
    assert lines[2][0] == good(2)


def test_a_database_broken_by_a_far_future_line_answers_again_after_upgrade(
    tmp_path: Path,
) -> None:
    """Before times were bounded, one line past the year 9999 made /api/v1/sources answer
    500 for good: the upgrade's migration clears that time and keeps the counts."""
    from factory_analytics.store import db as dbmod

    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        for version, script in enumerate(dbmod.MIGRATIONS[:3], 1):
            conn.executescript(f"{script}\nPRAGMA user_version = {version};")
        conn.execute(
            "INSERT INTO sources(name, kind, target, format, lines, parsed, unparseable,"
            " last_line_at) VALUES ('old', 'file', '/x', 'auto', 9, 4, 5, 253402300799 + 86400)"
        )
        conn.execute(
            "INSERT INTO route_hourly VALUES (0, 1, 'GET', '/health', 4, 0, 0, 0, 0, NULL, x'')"
        )
    open_database(db).close()
    (source,) = sources_api(db)
    assert source["last_line_at"] is None
    assert source["rejected"] == {"unclassified": 5}
    with serve(create_app(AnalyticsConfig(database=db), None, clock=lambda: NOW)) as base:
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert _counter(metrics, "/health") == 4  # lifetime totals start from the old rollups
