"""Against the real Docker engine: a container writing access lines is ingested through the
Docker API, a restart of the ingester neither loses nor duplicates, a recreated container is
read from its first line, and per-container CPU/memory are sampled."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from factory_analytics.collectors import dockerlogs
from factory_analytics.collectors.dockerlogs import (
    DockerConnector,
    DockerLines,
    LogSourceError,
    parse_docker_time,
)
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.system import ContainerStats
from factory_analytics.store.db import open_database

from tests.dockerenv import (
    LABEL,
    append_lines,
    docker_client,
    remove,
    start_writer,
    unique_name,
    wait_for_lines,
)

pytestmark = pytest.mark.docker


def nginx(i: int) -> str:
    return (
        f"100.64.0.{i % 4 + 1} - - [25/Nov/2026:10:00:{i % 60:02d} +0000] "
        f'"GET /health-monitoring/uptime/node-{i} HTTP/1.1" 200 12 "-" "curl" 0.0{i % 9 + 1} "-"'
    )


def uvicorn(i: int) -> str:
    return f'INFO:     100.64.0.9:{40000 + i} - "GET /dashboard/summary HTTP/1.1" 200 OK'


FIRST = (
    [nginx(i) for i in range(40)]
    + [uvicorn(i) for i in range(10)]
    + [
        "INFO:     Application startup complete.",
        "garbage that is not a log line",
    ]
)


@pytest.fixture
def client():
    c = docker_client()
    yield c
    c.close()


@pytest.fixture
def writer(client) -> Iterator:
    container = start_writer(client, unique_name("analytics-test-writer"), FIRST)
    try:
        wait_for_lines(container, len(FIRST))
        yield container
    finally:
        remove(container)


def totals(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        raw = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        rolled = conn.execute("SELECT coalesce(sum(requests),0) FROM route_hourly").fetchone()[0]
        bad = conn.execute("SELECT unparseable FROM sources").fetchone()[0]
    return raw, rolled, bad


def test_container_logs_are_ingested_exactly_once_across_restarts(
    client, writer, tmp_path: Path
) -> None:
    db = tmp_path / "a.db"
    first = LogIngester(open_database(db), "writer", DockerLines(client, writer.name))
    assert first.poll() == len(FIRST)
    assert totals(db) == (50, 50, 1)
    first.conn.close()

    append_lines(writer, [nginx(i) for i in range(100, 130)])
    wait_for_lines(writer, len(FIRST) + 30)
    second = LogIngester(open_database(db), "writer", DockerLines(client, writer.name))
    assert second.poll() == 30
    assert second.poll() == 0
    assert totals(db) == (80, 80, 1)

    with sqlite3.connect(db) as conn:
        routes = dict(
            conn.execute("SELECT route, sum(requests) FROM route_hourly GROUP BY route").fetchall()
        )
        uvicorn_ts = conn.execute(
            "SELECT min(ts_ms) FROM requests WHERE route = '/dashboard/summary'"
        ).fetchone()[0]
    assert routes == {"/health-monitoring/uptime/{hostname}": 70, "/dashboard/summary": 10}
    # uvicorn lines carry no time: Docker's timestamp (now-ish), not the year 1970
    assert uvicorn_ts > 1_700_000_000_000
    second.conn.close()


def test_recreated_container_is_read_from_its_first_line(client, tmp_path: Path) -> None:
    name = unique_name("analytics-test-recreate")
    db = tmp_path / "a.db"
    container = start_writer(client, name, [nginx(i) for i in range(5)])
    try:
        wait_for_lines(container, 5)
        ingester = LogIngester(open_database(db), "svc", DockerLines(client, name))
        assert ingester.poll() == 5
        remove(container)
        with pytest.raises(LogSourceError, match="not found"):
            ingester.poll()
        with sqlite3.connect(db) as conn:
            assert "not found" in conn.execute("SELECT last_error FROM sources").fetchone()[0]
        container = start_writer(client, name, [nginx(i) for i in range(7)])
        wait_for_lines(container, 7)
        assert ingester.poll() == 7
        assert totals(db)[0] == 12
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT last_error FROM sources").fetchone()[0] is None
        ingester.conn.close()
    finally:
        remove(container)


def test_container_cpu_and_memory_sampled_through_the_docker_api(client, writer) -> None:
    stats = ContainerStats(client, label=f"{LABEL}=analytics")
    first = {s.name: s for s in stats.sample()}
    assert writer.name in first
    assert first[writer.name].cpu_pct is None  # no previous counters yet
    assert first[writer.name].memory_bytes > 0
    second = {s.name: s for s in stats.sample()}
    assert second[writer.name].cpu_pct is not None
    assert second[writer.name].cpu_pct >= 0


def test_docker_time_parsing() -> None:
    assert parse_docker_time("2026-11-25T10:18:16.123456789Z") == 1795601896123456789
    assert parse_docker_time("2026-11-25T10:18:16.5Z") == 1795601896500000000
    assert parse_docker_time("2026-11-25T10:18:16Z") == 1795601896000000000
    assert parse_docker_time("garbage") is None


def test_unreachable_engine_is_a_source_error_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    ingester = LogIngester(
        open_database(tmp_path / "a.db"), "svc", DockerLines(DockerConnector(), "x")
    )
    with pytest.raises(LogSourceError, match=r"mount /var/run/docker\.sock or set DOCKER_HOST"):
        ingester.poll()
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert "not reachable" in conn.execute("SELECT last_error FROM sources").fetchone()[0]
    ingester.conn.close()


def test_long_logs_are_read_in_bounded_steps(
    client, writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container with more output than one read takes is streamed in steps, each ending at a
    cursor, and still every line is taken exactly once."""
    monkeypatch.setattr(dockerlogs, "MAX_LINES", 7)
    db = tmp_path / "a.db"
    ingester = LogIngester(open_database(db), "writer", DockerLines(client, writer.name))
    assert ingester.poll() == len(FIRST)
    assert totals(db) == (50, 50, 1)
    ingester.conn.close()
