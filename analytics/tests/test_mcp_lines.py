"""The MCP server's stderr: one JSON line per HTTP request (method, path, status, duration,
client, user from Tailscale-User-Login, time) among its other JSON log lines, which are not
requests and must be skipped as such, never counted as parse errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from factory_analytics.collectors.dockerlogs import DockerLines
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.config import AnalyticsConfig
from factory_analytics.identity import IdentityResolver
from factory_analytics.logformats import IGNORED, AccessRecord, parse_line
from factory_analytics.store.backfill import backfill_identity
from factory_analytics.store.db import open_database
from factory_analytics.store.writes import DeviceObservation, write_presence
from factory_analytics.timeutil import parse_iso
from factory_analytics.web.app import create_app

from tests.conftest import serve
from tests.dockerenv import BASE_IMAGE, LABEL, docker_client, remove, unique_name, wait_for_lines

FIXTURE = Path(__file__).parent / "fixtures" / "mcp.log"
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
REQUEST = (
    '{"time":"2026-11-25T10:00:00.123+00:00","level":"info","event":"http_request",'
    '"method":"POST","path":"/mcp","status":200,"duration_ms":12.3,'
    '"client":"100.101.102.103","user":"alice@example.com"}'
)


@pytest.mark.parametrize("fmt", ["json", "auto"])
def test_the_mcp_request_line_has_user_latency_and_status(fmt: str) -> None:
    assert parse_line(REQUEST, fmt) == AccessRecord(
        ts=parse_iso("2026-11-25T10:00:00.123Z"),
        method="POST",
        path="/mcp",
        status=200,
        duration_ms=12.3,
        bytes=None,
        client="100.101.102.103",
        login="alice@example.com",
    )


def test_the_line_mcp_access_log_writes() -> None:
    # the shape of mcp/src/factory_mcp/access_log.py through its JSON-lines formatter
    line = (
        '{"ts": "2026-11-25T10:02:00.250+00:00", "level": "info", "logger": "factory_mcp.access",'
        ' "msg": "http request", "method": "POST", "path": "/mcp", "status": 200,'
        ' "duration_ms": 48.1, "bytes": 1532, "client_ip": "127.0.0.1",'
        ' "user_login": "ana@example.com"}'
    )
    assert parse_line(line) == AccessRecord(
        ts=parse_iso("2026-11-25T10:02:00.250Z"),
        method="POST",
        path="/mcp",
        status=200,
        duration_ms=48.1,
        bytes=1532,
        client="127.0.0.1",
        login="ana@example.com",
    )


def test_client_with_port_and_missing_user() -> None:
    record = parse_line(LINES[6])
    assert isinstance(record, AccessRecord)
    assert (record.client, record.login, record.status) == ("172.18.0.9", None, 401)


@pytest.mark.parametrize(
    "index",
    [0, 1, 3, 4, 8, 9],
    ids=["startup", "listening", "tool-call", "uvicorn-access", "crash", "upstream-call"],
)
def test_other_mcp_log_lines_are_not_requests(index: int) -> None:
    # a tool call has a duration, uvicorn's own access line names the request in `msg`, an
    # upstream call has method, URL and status: none of them is a request the MCP served
    assert parse_line(LINES[index]) == IGNORED


def map_the_callers(db: Path) -> None:
    """What a tailnet poll does (collectors/tailnet.py): store the devices, then attribute
    the requests read before it."""
    conn = open_database(db)
    devices = [
        DeviceObservation(f"n{i}", host, None, user, [], "linux", [address], True, True, None)
        for i, (host, user, address) in enumerate(
            [
                ("alice-laptop", "alice@example.com", "100.101.102.103"),
                ("jose-phone", "josé@example.com", "fd7a:115c:a1e0::5"),
            ]
        )
    ]
    write_presence(conn, parse_iso("2026-11-25T10:05:00Z"), devices)
    backfill_identity(conn, IdentityResolver.from_database(conn))
    conn.close()


def check(db: Path) -> None:
    """What the API says after ingesting the fixture once: the MCP server is reached directly
    here (its client is the caller's tailnet address, no Tailscale Serve in between), so the
    login header it logs is the caller's own claim and counts for nobody until the tailnet
    poll maps the addresses to their owners."""
    with serve(create_app(AnalyticsConfig(database=db), None)) as base:

        def get(path: str) -> dict:
            return httpx.get(base + path, timeout=10).json()

        (source,) = get("/api/v1/sources")["sources"]
        assert get("/api/v1/usage?days=365")["per_user"] == []
        map_the_callers(db)
        usage = get("/api/v1/usage?days=365")
        endpoints = {
            (e["method"], e["route"]): e for e in get("/api/v1/endpoints?days=365")["endpoints"]
        }
    counts = (source["lines"], source["parsed"], source["ignored"], source["unparseable"])
    assert counts == (10, 4, 6, 0)
    assert source["samples"] == []
    assert {u["user"]: u["requests"] for u in usage["per_user"]} == {
        "alice@example.com": 1,
        "josé@example.com": 1,
    }
    mcp = endpoints[("POST", "/mcp")]
    assert (mcp["requests"], mcp["client_errors"], mcp["timed_requests"]) == (3, 1, 3)
    assert (mcp["latency_ms"]["max"], mcp["latency_ms"]["mean"]) == (250.0, round(263.2 / 3, 1))
    assert endpoints[("GET", "/healthz")]["requests"] == 1


def test_an_mcp_log_file_is_ingested(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    ingester = LogIngester(open_database(db), "mcp", FileLines(FIXTURE), "json")
    assert ingester.poll() == 10
    ingester.conn.close()
    check(db)


@pytest.mark.docker
def test_the_mcp_containers_stderr_is_ingested(tmp_path: Path) -> None:
    client = docker_client()
    script = (
        "import sys, time\n"
        "for line in sys.argv[1:]:\n"
        "    print(line, file=sys.stderr, flush=True)\n"
        "time.sleep(3600)\n"
    )
    container = client.containers.run(
        BASE_IMAGE,
        ["python3", "-c", script, *LINES],
        name=unique_name("analytics-mcp-stderr"),
        detach=True,
        labels={LABEL: "analytics"},
        network_mode="none",
    )
    try:
        wait_for_lines(container, len(LINES))
        db = tmp_path / "a.db"
        ingester = LogIngester(open_database(db), "mcp", DockerLines(client, container.name))
        assert ingester.poll() == 10
        assert ingester.poll() == 0
        ingester.conn.close()
        check(db)
    finally:
        remove(container)
        client.close()
