"""Deterministic seeded data for the API and widget tests, written through the same store
functions the collectors use (nothing is inserted behind their back)."""

from __future__ import annotations

from pathlib import Path

from factory_analytics.identity import DeviceIdentity, IdentityResolver
from factory_analytics.logformats import AccessRecord
from factory_analytics.routes import RouteTable
from factory_analytics.store import writes
from factory_analytics.store.db import open_database
from factory_analytics.store.samples import (
    ContainerSample,
    HostSample,
    ProbeResult,
    write_containers,
    write_host,
    write_probe,
)
from factory_analytics.store.writes import DeviceObservation
from factory_analytics.timeutil import DAY, HOUR, day_floor

# 2026-11-25 10:42:07 UTC, a Wednesday
NOW = 1795603327.0

DEVICES = [
    DeviceObservation(
        "n1CNTRL",
        "chocolate-factory",
        "chocolate-factory.tail1.ts.net",
        "tagged-devices",
        ["tag:server"],
        "linux",
        ["100.64.0.1", "fd7a:115c:a1e0::1"],
        True,
        True,
        None,
    ),
    DeviceObservation(
        "n2CNTRL",
        "ana-laptop",
        "ana-laptop.tail1.ts.net",
        "ana@example.com",
        [],
        "macOS",
        ["100.64.0.2", "fd7a:115c:a1e0::2"],
        True,
        True,
        None,
    ),
    DeviceObservation(
        "n3CNTRL",
        "josé-phone",
        "jose-phone.tail1.ts.net",
        "josé@example.com",
        [],
        "iOS",
        ["100.64.0.3", "fd7a:115c:a1e0::3"],
        True,
        True,
        None,
    ),
]

ROUTES = [
    ("GET", "/dashboard/complete", 24000.0),
    ("GET", "/ree/prices/latest", 35.0),
    ("GET", "/health-monitoring/uptime/git", 120.0),
    ("GET", "/insights/optimal-windows?days=7", 900.0),
    ("POST", "/chat/ask", 11000.0),
]


def seed(db: Path, now: float = NOW) -> None:
    conn = open_database(db)
    # presence: every 5 min for 7 days; josé's phone offline at night (00-08 UTC)
    start = day_floor(now) - 6 * DAY
    t = start
    while t <= now:
        hour_of_day = int(t % DAY // HOUR)
        observations = []
        for d in DEVICES:
            online = not (d.node_id == "n3CNTRL" and hour_of_day < 8)
            observations.append(
                DeviceObservation(
                    d.node_id,
                    d.hostname,
                    d.name,
                    d.user,
                    d.tags,
                    d.os,
                    d.addresses,
                    online,
                    online,
                    None if online else t - 60,
                )
            )
        writes.write_presence(conn, t, observations)
        t += 300
    # requests: per day a growing number, from three identities
    state = writes.ensure_source(conn, "factory-api", "file", "/var/log/nginx/access.log", "auto")
    identity = IdentityResolver(
        {
            "100.64.0.1": DeviceIdentity("chocolate-factory", None),
            "100.64.0.2": DeviceIdentity("ana-laptop", "ana@example.com"),
            "fd7a:115c:a1e0::3": DeviceIdentity("josé-phone", "josé@example.com"),
        }
    )
    batch = writes.AccessBatch(state.id, RouteTable(), identity)
    clients = ["100.64.0.2", "fd7a:115c:a1e0::3", "100.64.0.1", "172.18.0.5"]
    for day in range(7):
        day_start = start + day * DAY
        for i in range(20 + day * 15):
            ts = day_start + 9 * HOUR + i * 97
            if ts > now:
                break
            method, path, base = ROUTES[i % len(ROUTES)]
            status = 500 if i % 23 == 0 else (404 if i % 17 == 0 else 200)
            client = clients[i % len(clients)]
            login = "ana@example.com" if client == "100.64.0.2" and i % 2 else None
            batch.add(
                AccessRecord(
                    ts, method, path, status, base * (1 + (i // 5 % 7) / 10), 512, client, login
                ),
                ts,
            )
    batch.commit(conn, {"offset": 1})
    # host and containers: every 5 minutes over the last 24 hours
    t = now - DAY
    while t <= now:
        phase = int(t // HOUR) % 24
        write_host(
            conn,
            HostSample(
                t,
                10 + 3 * phase,
                4,
                0.2 + phase / 20,
                0.3,
                0.3,
                3 * 2**30 + phase * 2**26,
                8 * 2**30,
                "/data",
                20 * 2**30,
                100 * 2**30,
            ),
        )
        write_containers(
            conn,
            t,
            [
                ContainerSample("factory-analytics", 2.5, 80 * 2**20, 2**30, True),
                ContainerSample("forgejo", 5.0 + phase, 400 * 2**20, 2**31, True),
            ],
        )
        t += 300
    # probes: the dashboard is slow, prices are fast, one failure
    t = now - DAY
    n = 0
    while t <= now:
        write_probe(
            conn,
            ProbeResult(
                t,
                "dashboard-complete",
                "GET",
                "http://factory-api:8000/dashboard/complete",
                True,
                200,
                20000.0 + (n % 7) * 1500,
                None,
            ),
        )
        ok = n % 50 != 7
        write_probe(
            conn,
            ProbeResult(
                t,
                "prices-latest",
                "GET",
                "http://factory-api:8000/ree/prices/latest",
                ok,
                200 if ok else 503,
                40.0 + n % 9,
                None if ok else "status 503",
            ),
        )
        t += 600
        n += 1
    conn.close()
