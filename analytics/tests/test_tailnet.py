"""Tailnet presence against TAILNET's Tailscale API test double (real HTTP on loopback,
through the shared client): history accumulates, uptime is measured, a failed poll is a gap
with an error, and requests from tailnet addresses are attributed to their devices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.collectors.tailnet import TailnetCollector
from factory_analytics.config import AnalyticsConfig
from factory_analytics.store.db import open_database
from factory_analytics.web.app import create_app
from factory_common.tailscale.api import ApiToken, TailscaleClient
from factory_common.tailscale.errors import TailscaleError
from factory_common_testing.tailscale_double import RunningDouble, serve_tailscale_double

from tests.conftest import serve

T0 = 1795564800.0  # 2026-11-25T00:00:00Z


@pytest.fixture
def tailnet() -> Iterator[RunningDouble]:
    with serve_tailscale_double() as ts:
        yield ts


@pytest.fixture
def collector() -> Iterator[Callable[[RunningDouble, Path, list[float]], TailnetCollector]]:
    made: list[TailnetCollector] = []

    def make(ts: RunningDouble, db: Path, clock: list[float]) -> TailnetCollector:
        client = TailscaleClient(
            ApiToken(token=ts.api_token), base_url=ts.base_url, sleep=lambda _s: None
        )
        made.append(TailnetCollector(open_database(db), client, 300, clock=lambda: clock[0]))
        return made[-1]

    yield make
    for c in made:
        c.client.close()
        c.conn.close()


def api_get(db: Path, path: str, now: float) -> dict:
    with serve(create_app(AnalyticsConfig(database=db), None, clock=lambda: now)) as base:
        return httpx.get(base + path, timeout=10).json()


def test_presence_history_accumulates_into_uptime(
    tailnet: RunningDouble, tmp_path: Path, collector
) -> None:
    db = tmp_path / "a.db"
    server = tailnet.api.add_device("chocolate-factory", tags=["tag:server"])
    phone = tailnet.api.add_device("josé-phone", user="josé@example.com", os="iOS")
    clock = [T0]
    poller = collector(tailnet, db, clock)
    for i in range(12):  # one hour of polls every 5 minutes
        if i == 4:  # the phone drops off for a quarter of the hour
            tailnet.api.set_offline(phone["nodeId"], datetime.fromtimestamp(clock[0], tz=UTC))
        if i == 7:
            tailnet.api.devices[phone["nodeId"]]["connectedToControl"] = True
            tailnet.api.devices[phone["nodeId"]].pop("lastSeen", None)
        assert poller.poll() == 2
        clock[0] += 300
    body = api_get(db, "/api/v1/devices?hours=1", T0 + 3599)
    by_name = {d["hostname"]: d for d in body["devices"]}
    assert by_name["chocolate-factory"]["uptime_pct"] == 100.0
    assert by_name["chocolate-factory"]["tags"] == ["tag:server"]
    assert (by_name["josé-phone"]["samples"], by_name["josé-phone"]["online_samples"]) == (12, 9)
    assert by_name["josé-phone"]["uptime_pct"] == 75.0
    assert by_name["josé-phone"]["online"] is True
    assert by_name["josé-phone"]["user"] == "josé@example.com"
    assert by_name["josé-phone"]["addresses"] == phone["addresses"]
    assert body["poll"]["last_success"] is not None
    assert server["nodeId"] in {d["node_id"] for d in body["devices"]}


def test_removed_device_keeps_history(tailnet: RunningDouble, tmp_path: Path, collector) -> None:
    db = tmp_path / "a.db"
    gone = tailnet.api.add_device("old-laptop", user="ana@example.com")
    clock = [T0]
    poller = collector(tailnet, db, clock)
    poller.poll()
    del tailnet.api.devices[gone["nodeId"]]
    clock[0] += 300
    assert poller.poll() == 0
    body = api_get(db, "/api/v1/devices?hours=1", T0 + 600)
    (device,) = body["devices"]
    assert (device["hostname"], device["present"], device["online"]) == ("old-laptop", False, False)
    assert device["samples"] == 1


def test_failed_poll_is_a_gap_with_an_error_not_offline(
    tailnet: RunningDouble, tmp_path: Path, collector
) -> None:
    db = tmp_path / "a.db"
    tailnet.api.add_device("git", tags=["tag:forgejo"])
    clock = [T0]
    poller = collector(tailnet, db, clock)
    poller.poll()
    tailnet.api.inject_fault(500, times=10, path_contains="/devices")
    clock[0] += 300
    with pytest.raises(TailscaleError):
        poller.poll()
    body = api_get(db, "/api/v1/devices?hours=1", T0 + 600)
    assert body["devices"][0]["samples"] == 1
    assert body["devices"][0]["uptime_pct"] == 100.0
    assert "500" in body["poll"]["last_error"]
    assert tailnet.api_token not in str(body)


def test_requests_from_tailnet_addresses_are_attributed(
    tailnet: RunningDouble, tmp_path: Path, collector
) -> None:
    db = tmp_path / "a.db"
    laptop = tailnet.api.add_device("ana-laptop", user="ana@example.com")
    collector(tailnet, db, [T0]).poll()
    v4, v6 = laptop["addresses"]
    log = tmp_path / "access.log"
    log.write_text(
        f'{v4} - - [25/Nov/2026:00:10:00 +0000] "GET /dashboard/summary HTTP/1.1" 200 9 "-" "-"\n'
        f'INFO:     {v6}:5000 - "GET /health-monitoring/nodes HTTP/1.1" 200 OK\n'
    )
    ingester = LogIngester(open_database(db), "api", FileLines(log), clock=lambda: T0 + 700)
    ingester.poll()
    ingester.conn.close()
    usage = api_get(db, "/api/v1/usage?hours=1", T0 + 900)
    assert usage["per_user"] == [
        {
            "user": "ana@example.com",
            "requests": 2,
            "devices": ["ana-laptop"],
            "last_active_hour": "2026-11-25T00:00:00Z",
        }
    ]


def test_last_seen_is_null_while_connected_and_kept_only_when_unknown(tmp_path: Path) -> None:
    """Tailscale's lastSeen is null while a device is connected to control (API.md): an old
    value is not shown for an online device; a poll that says neither keeps the last one."""
    from factory_analytics.store.writes import DeviceObservation, write_presence

    conn = open_database(tmp_path / "a.db")

    def observe(at: float, ctc: bool | None, last_seen: float | None) -> object:
        device = DeviceObservation(
            "n1", "phone", "phone.ts.net", "ana@example.com", [], "iOS", ["100.64.0.9"],
            bool(ctc), ctc, last_seen,
        )  # fmt: skip
        write_presence(conn, at, [device])
        return conn.execute("SELECT last_seen FROM devices WHERE node_id = 'n1'").fetchone()[0]

    assert observe(1000.0, False, 940.0) == 940  # offline: seen a minute before
    assert observe(1300.0, None, None) == 940  # the poll does not say: kept
    assert observe(1600.0, True, None) is None  # connected: null, not the old 940
    conn.close()
