"""Test support: a deterministic week of seeded data, written through the same store functions
the collectors use (nothing is inserted behind their back).

Why it ships with the package: the analytics service's API and widget tests and the MCP
server's contract tests (mcp/tests/test_analytics_contract.py) all check figures against the
same ground truth. The data is defined by plain generators (`seeded_requests`,
`presence_times` with `device_online`, `sample_times`, `seeded_probes`) that depend only on
`now` (default `NOW`): `seed` writes them, and tests compute their expected figures from the
same generators with plain Python, never from an API answer, so a rollup that drops or
double-counts rows fails them. `analytics_config` is the service configuration the data was
collected under (its declared probes). Serve the seeded database with the clock at `NOW`.
Never imported by the service at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from factory_analytics.collectors.tailnet import COLLECTOR as TAILNET_COLLECTOR
from factory_analytics.config import AnalyticsConfig, HttpConfig, ProbeConfig
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

# who each client address is (the tailnet collector's view): (device, person or None)
CLIENT_IDENTITY: dict[str, tuple[str | None, str | None]] = {
    "100.64.0.1": ("chocolate-factory", None),  # tagged server: a device, no person
    "100.64.0.2": ("ana-laptop", "ana@example.com"),
    "fd7a:115c:a1e0::3": ("josé-phone", "josé@example.com"),
    "172.18.0.5": (None, None),  # a container on the Docker network: anonymous
}
CLIENTS = list(CLIENT_IDENTITY)

# The route template each seeded path must be counted under (API.md, "Routes"), written out
# by hand so that expectations computed from the seed do not reuse the code under test.
ROUTE_TEMPLATE = {
    "/dashboard/complete": "/dashboard/complete",
    "/ree/prices/latest": "/ree/prices/latest",
    "/health-monitoring/uptime/git": "/health-monitoring/uptime/{hostname}",
    "/insights/optimal-windows?days=7": "/insights/optimal-windows",
    "/chat/ask": "/chat/ask",
}
PROBE_INTERVAL = 600
PRESENCE_INTERVAL = 300
SAMPLE_INTERVAL = 300


class SeededRequest(NamedTuple):
    """One request as the seed defines it: the ground truth the API tests compare with."""

    ts: float
    method: str
    path: str
    status: int
    duration_ms: float
    client: str
    login: str | None


class SeededProbe(NamedTuple):
    """One synthetic probe check as the seed defines it."""

    at: float
    name: str
    ok: bool
    status: int
    duration_ms: float


# Clients whose identity header is believed (a source's `identity_proxies`, identity.py):
# none. The seeded lines come straight from their clients, so a login in them is the
# client's own claim: ana's laptop sends hers, a container on the Docker network claims to
# be mallory, and only the addresses decide.
IDENTITY_PROXIES: tuple[str, ...] = ()


def user_of(r: SeededRequest) -> str | None:
    """Who a seeded request counts for (identity.py): the login header only from an identity
    proxy, else the owner of the client's tailnet device."""
    if r.login is not None and r.client in IDENTITY_PROXIES:
        return r.login
    return CLIENT_IDENTITY[r.client][1]


def device_of(r: SeededRequest) -> str | None:
    """The tailnet device a seeded request came from (None: anonymous)."""
    return CLIENT_IDENTITY[r.client][0]


def seed_start(now: float = NOW) -> int:
    """00:00 UTC six days before `now`: the seeded week is exactly the `days=7` window."""
    return day_floor(now) - 6 * DAY


def seeded_requests(now: float = NOW) -> list[SeededRequest]:
    """Per day a growing number of requests from 09:00 UTC, 97 s apart, from four clients; one
    in 31 is a slow outlier (3x), two or three per route over the week, so p99 is not p95."""
    out: list[SeededRequest] = []
    start = seed_start(now)
    for day in range(7):
        day_start = start + day * DAY
        for i in range(20 + day * 15):
            ts = day_start + 9 * HOUR + i * 97
            if ts > now:
                break
            method, path, base = ROUTES[i % len(ROUTES)]
            status = 500 if i % 23 == 0 else (404 if i % 17 == 0 else 200)
            client = CLIENTS[i % len(CLIENTS)]
            login = None
            if client == "100.64.0.2" and i % 2:
                login = "ana@example.com"
            elif client == "172.18.0.5" and i % 3 == 0:
                login = "mallory@example.com"  # spoofed: must count for nobody
            duration = base * (1 + (i // 5 % 7) / 10)
            if (i + day) % 31 == 30:
                duration *= 3
            out.append(SeededRequest(ts, method, path, status, duration, client, login))
    return out


def device_online(node_id: str, t: float) -> bool:
    """josé's phone is offline at night (00-08 UTC); everything else is always online."""
    return not (node_id == "n3CNTRL" and int(t % DAY // HOUR) < 8)


def presence_times(now: float = NOW) -> list[int]:
    """A tailnet poll every 5 minutes over the seeded week."""
    return list(range(seed_start(now), int(now) + 1, PRESENCE_INTERVAL))


def host_sample(t: float) -> HostSample:
    phase = int(t // HOUR) % 24
    return HostSample(
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
    )


def sample_times(now: float = NOW) -> list[float]:
    """Host and container samples every 5 minutes over the last 24 hours."""
    out: list[float] = []
    t = now - DAY
    while t <= now:
        out.append(t)
        t += SAMPLE_INTERVAL
    return out


def seeded_probes(now: float = NOW) -> list[SeededProbe]:
    """Every 10 minutes over the last 24 hours: the dashboard is slow, prices are fast and
    fail one check in fifty."""
    out: list[SeededProbe] = []
    t, n = now - DAY, 0
    while t <= now:
        out.append(SeededProbe(t, "dashboard-complete", True, 200, 20000.0 + (n % 7) * 1500))
        ok = n % 50 != 7
        out.append(SeededProbe(t, "prices-latest", ok, 200 if ok else 503, 40.0 + n % 9))
        t += PROBE_INTERVAL
        n += 1
    return out


PROBE_URLS = {
    "dashboard-complete": "http://factory-api:8000/dashboard/complete",
    "prices-latest": "http://factory-api:8000/ree/prices/latest",
}


def analytics_config(db: Path) -> AnalyticsConfig:
    """The configuration the seeded probes ran under: both declared, every `PROBE_INTERVAL`
    seconds, the slow dashboard with a 45 s timeout (the factory's own slowest answer)."""
    return AnalyticsConfig(
        database=db,
        # the name the MCP server reads it by on the stack network, as deployed
        # (gitops/services/analytics-config.yaml); loopback and tailnet names need no entry
        http=HttpConfig(allowed_hosts=["analytics"]),
        probes=[
            ProbeConfig(
                name="dashboard-complete",
                url=PROBE_URLS["dashboard-complete"],
                interval_seconds=PROBE_INTERVAL,
                timeout_seconds=45,
            ),
            ProbeConfig(
                name="prices-latest",
                url=PROBE_URLS["prices-latest"],
                interval_seconds=PROBE_INTERVAL,
            ),
        ],
    )


def seed(db: Path, now: float = NOW) -> None:
    """Write the generators' data for `now` into a new database at `db` (migrated here)."""
    conn = open_database(db)
    for t in presence_times(now):
        observations = [
            DeviceObservation(
                d.node_id,
                d.hostname,
                d.name,
                d.user,
                d.tags,
                d.os,
                d.addresses,
                device_online(d.node_id, t),
                device_online(d.node_id, t),
                None if device_online(d.node_id, t) else t - 60,
            )
            for d in DEVICES
        ]
        writes.write_presence(conn, t, observations)
        writes.record_collector(conn, TAILNET_COLLECTOR, t)  # as the tailnet collector does
    state = writes.ensure_source(conn, "factory-api", "file", "/var/log/nginx/access.log", "auto")
    identity = IdentityResolver(
        {
            client: DeviceIdentity(device, user)
            for client, (device, user) in CLIENT_IDENTITY.items()
            if device is not None
        },
        IDENTITY_PROXIES,
    )
    batch = writes.AccessBatch(state.id, RouteTable(), identity)
    for r in seeded_requests(now):
        batch.add(
            AccessRecord(r.ts, r.method, r.path, r.status, r.duration_ms, 512, r.client, r.login),
            r.ts,
        )
    batch.commit(conn, {"offset": 1})
    for at in sample_times(now):
        write_host(conn, host_sample(at))
        phase = int(at // HOUR) % 24
        write_containers(
            conn,
            at,
            [
                ContainerSample("factory-analytics", 2.5, 80 * 2**20, 2**30, True),
                ContainerSample("forgejo", 5.0 + phase, 400 * 2**20, 2**31, True),
            ],
        )
    for p in seeded_probes(now):
        write_probe(
            conn,
            ProbeResult(
                p.at,
                p.name,
                "GET",
                PROBE_URLS[p.name],
                p.ok,
                p.status,
                p.duration_ms,
                None if p.ok else f"status {p.status}",
            ),
        )
    conn.close()
