"""Who a request counts for (API.md, "Identity"): a log line's identity header is believed
only from a configured identity proxy (Tailscale Serve on loopback), otherwise the client's
tailnet address decides; `$remote_user` (HTTP Basic, set by any client) never does. Lines read
before the tailnet is first polled are attributed once the poll lands.

Everything goes through a real log file, the real ingester, SQLite and the HTTP API; the
tailnet is TAILNET's Tailscale API test double (factory_common_testing.tailscale_double)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from factory_analytics.collectors.ingest import LogIngester
from factory_analytics.collectors.logfiles import FileLines
from factory_analytics.collectors.tailnet import TailnetCollector
from factory_analytics.config import AnalyticsConfig, ConfigError, load_config
from factory_analytics.store.db import open_database
from factory_analytics.web.app import create_app
from factory_common.tailscale.api import ApiToken, TailscaleClient
from factory_common_testing.tailscale_double import RunningDouble, serve_tailscale_double

from tests.conftest import serve

T0 = 1795564800.0  # 2026-11-25T00:00:00Z
STAMP = "25/Nov/2026:00:10:00 +0000"
ISO = "2026-11-25T00:10:00Z"
MALLORY = "mallory@example.com"  # the login every spoofing line claims


@pytest.fixture
def tailnet() -> Iterator[RunningDouble]:
    with serve_tailscale_double() as ts:
        yield ts


def poll_tailnet(ts: RunningDouble, db: Path, at: float) -> None:
    client = TailscaleClient(ApiToken(token=ts.api_token), base_url=ts.base_url)
    conn = open_database(db)
    try:
        TailnetCollector(conn, client, 300, clock=lambda: at).poll()
    finally:
        client.close()
        conn.close()


def ingest(db: Path, log: Path, fmt: str = "auto", proxies: tuple[str, ...] = ()) -> None:
    conn = open_database(db)
    try:
        LogIngester(
            conn, "api", FileLines(log), fmt, clock=lambda: T0 + 700, identity_proxies=proxies
        ).poll()
    finally:
        conn.close()


def usage(db: Path) -> dict:
    config = AnalyticsConfig(database=db)
    with serve(create_app(config, None, clock=lambda: T0 + 900)) as base:
        return httpx.get(base + "/api/v1/usage?hours=1", timeout=10).json()


def rows(db: Path) -> list[tuple[str | None, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT user, device FROM requests ORDER BY id").fetchall()


def combined(client: str, remote_user: str = "-", header: str | None = None) -> str:
    line = f'{client} - {remote_user} [{STAMP}] "GET /dashboard/summary HTTP/1.1" 200 9 "-" "curl"'
    return line + (" 0.012" + (f' "{header}"' if header is not None else "")) + "\n"


def combined_keyed(client: str, login: str) -> str:
    return (
        f'{client} - - [{STAMP}] "GET /dashboard/summary HTTP/1.1" 200 9 "-" "-"'
        f" rt=0.012 login={login}\n"
    )


def uvicorn(client: str) -> str:
    return f'INFO:     {client}:51234 - "GET /dashboard/summary HTTP/1.1" 200 OK\n'


def json_line(client: str, **identity: object) -> str:
    doc = {"time": ISO, "method": "GET", "path": "/dashboard/summary", "status": 200}
    return json.dumps({**doc, "client": client, **identity}) + "\n"


def caddy(remote: str, login: str) -> str:
    doc = {
        "ts": T0 + 600,
        "request": {
            "remote_ip": remote,
            "method": "GET",
            "uri": "/dashboard/summary",
            "headers": {"Tailscale-User-Login": [login], "User-Agent": ["curl"]},
        },
        "status": 200,
        "duration": 0.012,
    }
    return json.dumps(doc) + "\n"


# every way a line can name a user, each from a client that is not an identity proxy
SPOOFS = {
    "nginx $remote_user (Basic auth)": lambda c: combined(c, remote_user=MALLORY),
    "nginx login header field": lambda c: combined(c, header=MALLORY),
    "nginx login= field": lambda c: combined_keyed(c, MALLORY),
    "json user": lambda c: json_line(c, user=MALLORY),
    "json user_login": lambda c: json_line(c, user_login=MALLORY),
    "json tailscale_user_login": lambda c: json_line(c, tailscale_user_login=MALLORY),
    "json login": lambda c: json_line(c, login=MALLORY),
    "caddy header": lambda c: caddy(c, MALLORY),
}


def add_devices(ts: RunningDouble) -> tuple[dict, dict]:
    laptop = ts.api.add_device("ana-laptop", user="ana@example.com")
    runner = ts.api.add_device("ci-runner", tags=["tag:ci"])
    return laptop, runner


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_a_login_in_the_line_is_not_believed_from_a_client(
    spoof: str, tailnet: RunningDouble, tmp_path: Path
) -> None:
    """From outside the tailnet: anonymous. From ana's laptop: ana, whatever the line claims.
    From a tagged device: that device, no person. From loopback not configured as a proxy:
    anonymous (any local process can send the header)."""
    laptop, runner = add_devices(tailnet)
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    poll_tailnet(tailnet, db, T0)
    make = SPOOFS[spoof]
    clients = ["203.0.113.7", laptop["addresses"][0], laptop["addresses"][1]]
    clients += [runner["addresses"][0], "127.0.0.1"]
    log.write_text("".join(make(c) for c in clients))
    ingest(db, log)
    assert rows(db) == [
        (None, None),
        ("ana@example.com", "ana-laptop"),
        ("ana@example.com", "ana-laptop"),
        (None, "ci-runner"),
        (None, None),
    ]
    body = usage(db)
    assert [u["user"] for u in body["per_user"]] == ["ana@example.com"]
    assert body["totals"]["anonymous_requests"] == 3  # no person: outside, tagged, loopback


@pytest.mark.parametrize(
    "make",
    [
        lambda c: combined(c, header="zoe@example.com"),
        lambda c: combined_keyed(c, "zoe@example.com"),
        lambda c: json_line(c, user_login="zoe@example.com"),
        lambda c: caddy(c, "zoe@example.com"),
    ],
    ids=["nginx-header-field", "nginx-login-field", "json", "caddy"],
)
def test_the_header_is_believed_from_a_configured_identity_proxy(
    make, tailnet: RunningDouble, tmp_path: Path
) -> None:
    """Tailscale Serve proxies from loopback and sets Tailscale-User-Login (cleared first):
    with 127.0.0.1 and ::1 declared as the source's identity proxies, the header names the
    user; the proxy's own address is no device. Other clients are still judged by address."""
    laptop, _ = add_devices(tailnet)
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    poll_tailnet(tailnet, db, T0)
    log.write_text(make("127.0.0.1") + make("::1") + make(laptop["addresses"][0]))
    ingest(db, log, proxies=("127.0.0.1/32", "::1/128"))
    assert rows(db) == [
        ("zoe@example.com", None),
        ("zoe@example.com", None),
        ("ana@example.com", "ana-laptop"),
    ]


def test_remote_user_is_never_an_identity_even_from_a_proxy(
    tailnet: RunningDouble, tmp_path: Path
) -> None:
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    poll_tailnet(tailnet, db, T0)
    log.write_text(combined("127.0.0.1", remote_user=MALLORY))
    ingest(db, log, proxies=("127.0.0.1/32",))
    assert rows(db) == [(None, None)]


def test_uvicorn_lines_are_judged_by_address_only(tailnet: RunningDouble, tmp_path: Path) -> None:
    laptop, _ = add_devices(tailnet)
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    poll_tailnet(tailnet, db, T0)
    log.write_text(uvicorn(laptop["addresses"][0]) + uvicorn("172.18.0.5"))
    ingest(db, log, "uvicorn")
    assert rows(db) == [("ana@example.com", "ana-laptop"), (None, None)]


def test_lines_read_before_the_first_poll_are_attributed_when_it_lands(
    tailnet: RunningDouble, tmp_path: Path
) -> None:
    """The service starts, reads a backlog of log lines, and only then completes its first
    tailnet poll: those requests are not anonymous forever."""
    laptop, runner = add_devices(tailnet)
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    log.write_text(
        combined(laptop["addresses"][0])
        + uvicorn(laptop["addresses"][1])
        + json_line(runner["addresses"][0])
        + combined("203.0.113.7", header=MALLORY)
        + combined(laptop["addresses"][0], remote_user=MALLORY)
    )
    ingest(db, log)
    before = usage(db)
    assert before["per_user"] == []
    assert before["totals"]["anonymous_requests"] == 5
    poll_tailnet(tailnet, db, T0 + 800)
    after = usage(db)
    assert after["per_user"] == [
        {
            "user": "ana@example.com",
            "requests": 3,
            "devices": ["ana-laptop"],
            "last_active_hour": "2026-11-25T00:00:00Z",
        }
    ]
    assert {d["device"]: d["requests"] for d in after["per_device"]} == {
        "ana-laptop": 3,
        "ci-runner": 1,
    }
    assert after["totals"]["requests"] == before["totals"]["requests"] == 5
    assert after["totals"]["anonymous_requests"] == 2  # the tagged runner and 203.0.113.7
    assert after["totals"]["active_devices"] == 2
    # the next poll moves nothing twice
    poll_tailnet(tailnet, db, T0 + 1100)
    assert usage(db) == after


def test_a_device_that_joins_later_gets_only_its_own_requests(
    tailnet: RunningDouble, tmp_path: Path
) -> None:
    """After a poll, requests from an address the tailnet did not know are attributed when
    the next poll knows it (the device joined in between), counted once; requests from it
    before the earlier poll, which did not know it either, stay as they were."""
    db, log = tmp_path / "a.db", tmp_path / "access.log"
    log.write_text(combined("100.64.0.77"))
    poll_tailnet(tailnet, db, T0)
    ingest(db, log)  # read after the first poll: the address was nobody's then
    poll_tailnet(tailnet, db, T0 + 300)
    phone = tailnet.api.add_device("zoe-phone", user="zoe@example.com")
    with log.open("a") as fh:
        fh.write(combined(phone["addresses"][0]) + combined(phone["addresses"][0]))
    ingest(db, log)
    assert rows(db)[1:] == [(None, None), (None, None)]
    poll_tailnet(tailnet, db, T0 + 600)
    assert rows(db)[1:] == [("zoe@example.com", "zoe-phone")] * 2
    body = usage(db)
    assert body["totals"]["requests"] == 3
    assert [(u["user"], u["requests"]) for u in body["per_user"]] == [("zoe@example.com", 2)]


def test_identity_proxies_must_be_on_a_trusted_network(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        "logs:\n  - name: api\n    file: /var/log/a.log\n"
        "    identity_proxies:\n      - 127.0.0.1\n      - 0.0.0.0/0\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert f"{path}:6: logs.0.identity_proxies.1" in message
    assert "0.0.0.0/0 is not on a trusted network" in message
    path.write_text("logs:\n  - {name: api, file: /a.log, identity_proxies: [203.0.113.9]}\n")
    with pytest.raises(ConfigError, match=r"203\.0\.113\.9 is not on a trusted network"):
        load_config(path, environ={})
    path.write_text("logs:\n  - {name: api, file: /a.log, identity_proxies: ['::1', 10.0.0.2]}\n")
    assert load_config(path, environ={}).logs[0].identity_proxies == ["::1/128", "10.0.0.2/32"]
