"""The service's own probes are not usage: their lines in the probed API's access log are
recognised (by User-Agent, or for uvicorn's agent-less lines by our own address and a declared
probe target) and counted per source as `probes`, never as requests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from factory_analytics import __version__
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.collectors.probes import USER_AGENT, ProbeCollector
from factory_analytics.config import AnalyticsConfig, ProbeConfig
from factory_analytics.logformats import AccessRecord, parse_line
from factory_analytics.probe_traffic import ProbeTraffic, own_addresses
from factory_analytics.store.db import open_database
from factory_analytics.web.app import create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.conftest import serve

BROWSER = "Mozilla/5.0 (X11; Linux x86_64)"


class NginxStandIn:
    """A stand-in for the nginx sidecar in front of the factory API (nginx cannot run here):
    a real HTTP server that writes one line per request in the `log_format factory` of the
    README (combined + request time + login), with the User-Agent the client really sent."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def app(self) -> Starlette:
        async def handle(request: Request) -> PlainTextResponse:
            started = time.perf_counter()
            response = PlainTextResponse("ok")
            stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            agent = request.headers.get("user-agent", "-")
            client = request.client.host if request.client else "-"
            line = (
                f'{client} - - [{stamp}] "{request.method} {request.url.path} HTTP/1.1" 200 2'
                f' "-" "{agent}" {time.perf_counter() - started:.3f} "-"\n'
            )
            with self.log.open("a", encoding="utf-8") as fh:
                fh.write(line)
            return response

        return Starlette(routes=[Route("/dashboard/complete", handle)])


def get(base: str, path: str) -> Any:
    return httpx.get(base + path, timeout=10).json()


def test_probe_requests_in_the_access_log_are_counted_apart_not_as_usage(tmp_path: Path) -> None:
    log, db = tmp_path / "access.log", tmp_path / "a.db"
    log.touch()
    with serve(NginxStandIn(log).app()) as factory:
        probe = ProbeConfig(name="dash", url=f"{factory}/dashboard/complete")
        prober = ProbeCollector(open_database(db), probe)
        for _ in range(3):
            assert prober.poll().ok
        prober.close()
        for _ in range(2):  # a person using the dashboard
            httpx.get(f"{factory}/dashboard/complete", headers={"User-Agent": BROWSER})
    ingester = LogIngester(open_database(db), "sidecar", FileLines(log), "combined")
    assert ingester.poll() == 5
    ingester.conn.close()
    with serve(create_app(AnalyticsConfig(database=db), None)) as base:
        usage = get(base, "/api/v1/usage?days=1")
        endpoints = get(base, "/api/v1/endpoints?days=1")["endpoints"]
        (source,) = get(base, "/api/v1/sources")["sources"]
        probes = get(base, "/api/v1/probes?hours=1")["probes"]
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert usage["totals"]["requests"] == 2
    assert [(e["route"], e["requests"]) for e in endpoints] == [("/dashboard/complete", 2)]
    assert (source["lines"], source["parsed"], source["probes"]) == (5, 2, 3)
    assert probes[0]["checks"] == 3  # the probes themselves are where they belong
    assert 'factory_analytics_log_lines_total{source="sidecar",result="probe"} 3' in metrics


def test_the_probe_user_agent_names_the_service_and_its_version() -> None:
    assert f"factory-analytics-probe/{__version__}" == USER_AGENT
    line = (
        '172.18.0.3 - - [25/Nov/2026:10:18:16 +0000] "GET /ready HTTP/1.1" 200 60 "-"'
        f' "{USER_AGENT}" 0.012 "-"'
    )
    record = parse_line(line)
    assert isinstance(record, AccessRecord)
    assert record.user_agent == USER_AGENT
    assert ProbeTraffic().matches(record)


class ListLines:
    """A log source stand-in that hands out a fixed list of lines once."""

    kind, target = "file", "memory"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def read(self, cursor: dict[str, Any], now: float) -> tuple[list[tuple[str, float]], dict]:
        if cursor.get("done"):
            return [], cursor
        return [(line, 1795600000.0) for line in self.lines], {"done": True}


ME = "172.18.0.3"  # this service's address on the Docker network
PROBES = [
    ProbeConfig(name="dash", url="http://factory:8000/dashboard/complete"),
    ProbeConfig(name="prices", url="http://factory:8000/ree/prices?start_date=2026-11-25"),
]


@pytest.mark.parametrize(
    ("line", "is_probe"),
    [
        # uvicorn's default line has no agent: our address + a declared target = our probe
        (f'INFO:     {ME}:40000 - "GET /dashboard/complete HTTP/1.1" 200 OK', True),
        (f'INFO:     {ME}:40001 - "GET /ree/prices?start_date=2026-11-25 HTTP/1.1" 200 OK', True),
        # from us, but not a probe target; a probe target, but not from us: usage
        (f'INFO:     {ME}:40002 - "GET /dashboard/summary HTTP/1.1" 200 OK', False),
        ('INFO:     100.64.0.5:40003 - "GET /dashboard/complete HTTP/1.1" 200 OK', False),
        # the factory calls its own endpoints over loopback: never taken for our probes
        ('INFO:     127.0.0.1:40004 - "GET /dashboard/complete HTTP/1.1" 200 OK', False),
        # a line with an agent is decided by the agent alone
        (
            f'{ME} - - [25/Nov/2026:10:18:16 +0000] "GET /dashboard/complete HTTP/1.1" 200 9'
            f' "-" "{BROWSER}" 0.100 "-"',
            False,
        ),
        (
            '100.64.0.5 - - [25/Nov/2026:10:18:16 +0000] "GET /weather/current HTTP/1.1" 200 9'
            ' "-" "factory-analytics-probe/0.0.9" 0.100 "-"',
            True,
        ),
        (
            '{"ts": 1795600000, "method": "GET", "path": "/ready", "status": 200,'
            f' "client": "{ME}", "user_agent": "{USER_AGENT}"}}',
            True,
        ),
    ],
)
def test_which_lines_are_probes(tmp_path: Path, line: str, is_probe: bool) -> None:
    traffic = ProbeTraffic.of(PROBES, [ME, "fd7a:115c:a1e0::99"])
    ingester = LogIngester(
        open_database(tmp_path / "a.db"), "api", ListLines([line]), "auto", probe_traffic=traffic
    )
    ingester.poll()
    row = ingester.conn.execute("SELECT lines, parsed, probes FROM sources").fetchone()
    ingester.conn.close()
    assert row == ((1, 0, 1) if is_probe else (1, 1, 0))


def test_own_addresses_are_asked_again_after_the_refresh_interval() -> None:
    now = [0.0]
    current = [["172.18.0.3"]]
    traffic = ProbeTraffic(
        [("GET", "/ready")], lambda: current[0], refresh_seconds=60, clock=lambda: now[0]
    )
    record = parse_line('INFO:     172.19.0.7:1 - "GET /ready HTTP/1.1" 200 OK')
    assert isinstance(record, AccessRecord)
    assert not traffic.matches(record)
    current[0] = ["172.18.0.3", "172.19.0.7"]  # a second network connected
    now[0] = 30.0
    assert not traffic.matches(record)  # still the cached list
    now[0] = 61.0
    assert traffic.matches(record)


def test_own_addresses_leave_out_loopback() -> None:
    mine = own_addresses()
    assert not {"127.0.0.1", "::1"} & mine
    assert all(":" in a or a.count(".") == 3 for a in mine)


def test_the_service_gives_every_log_source_the_declared_probe_targets(tmp_path: Path) -> None:
    from factory_analytics.service import Service

    config = AnalyticsConfig(
        database=tmp_path / "a.db",
        tailnet={"enabled": False},
        system={"enabled": False},
        logs=[{"name": "api", "file": str(tmp_path / "access.log")}],
        probes=[{"name": "dash", "url": "http://factory:8000/dashboard/complete"}],
    )
    service = Service(config)
    try:
        (task,) = [t for t in service.tasks if t.name == "logs:api"]
        traffic = task.run.__self__.probe_traffic  # type: ignore[attr-defined]
        assert traffic.targets == {("GET", "/dashboard/complete")}
        # one of this host's addresses (stable across two reads: bridges come and go here)
        mine = sorted(a for a in own_addresses() & own_addresses() if "." in a)
        assert mine, "this machine has no non-loopback IPv4 address"
        line = f'INFO:     {mine[0]}:40000 - "GET /dashboard/complete HTTP/1.1" 200 OK'
        record = parse_line(line)
        assert isinstance(record, AccessRecord)
        assert traffic.matches(record)
    finally:
        service.stop()
