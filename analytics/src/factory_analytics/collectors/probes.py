"""Synthetic probes: request each declared endpoint at its interval, the way a user would,
and store status and time. This is how `/dashboard/complete` taking 30 s becomes visible even
when nobody's access log carries timing.

The probed API's access log is usually ingested too, so every probe request also shows up
there. Those lines are measurements, not usage: `ProbeTraffic` recognises them, and ingestion
counts them per source (`probes` in /api/v1/sources) instead of as requests.
"""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

import httpx
import psutil

from factory_analytics import __version__
from factory_analytics.config import ProbeConfig
from factory_analytics.logformats import PROBE_USER_AGENT, AccessRecord
from factory_analytics.store.samples import ProbeResult, write_probe
from factory_analytics.timeutil import now as wall_clock

USER_AGENT = f"{PROBE_USER_AGENT}{__version__}"


def run_probe(
    probe: ProbeConfig,
    client: httpx.Client,
    clock: Callable[[], float] = wall_clock,
) -> ProbeResult:
    """One check. Never raises: every failure is a result with a short reason."""
    at = clock()
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        response = client.request(probe.method, probe.url, timeout=probe.timeout_seconds)
        response.read()
        status = response.status_code
    except httpx.TimeoutException:
        error = f"timeout after {probe.timeout_seconds:g} s"
    except httpx.ConnectError as exc:
        error = "connection refused" if "refused" in str(exc).lower() else f"connect: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    ok = status is not None and status in probe.expect_status
    if status is not None and not ok:
        error = f"status {status}"
    return ProbeResult(
        at=at,
        name=probe.name,
        method=probe.method,
        url=probe.url,
        ok=ok,
        status=status,
        duration_ms=elapsed_ms if status is not None else None,
        error=error,
    )


class ProbeCollector:
    def __init__(self, conn: sqlite3.Connection, probe: ProbeConfig) -> None:
        self.conn = conn
        self.probe = probe
        # redirects are not followed: a probe measures the endpoint itself
        self.client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})

    def poll(self) -> ProbeResult:
        result = run_probe(self.probe, self.client)
        write_probe(self.conn, result)
        return result

    def close(self) -> None:
        self.client.close()


def _canonical(address: str | None) -> str | None:
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def _target(url: str) -> str:
    """The request target as an access log writes it, percent-decoded for comparison."""
    parts = urlsplit(url)
    target = parts.path or "/"
    return unquote(f"{target}?{parts.query}" if parts.query else target)


def own_addresses() -> frozenset[str]:
    """This host's (in a container: this container's) non-loopback addresses."""
    found: set[str] = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = _canonical(entry.address)
            if address is not None and not ipaddress.ip_address(address).is_loopback:
                found.add(address)
    return frozenset(found)


class ProbeTraffic:
    """Recognises this service's probe requests in an access log.

    A line that carries a User-Agent (nginx/Caddy combined, JSON with an agent field) is a
    probe exactly when the agent is ours. uvicorn's default access line carries none; there a
    request is a probe when it comes from one of this service's own non-loopback addresses and
    asks for a declared probe's method and target: the service sends nothing else to those
    URLs. Loopback is left out on purpose, because the factory API calls its own endpoints over
    localhost (shared/factory-api.md), and those calls are the API's, not ours.

    `addresses` is a fixed list or a function returning the current ones (`own_addresses`),
    asked again after `refresh_seconds`: interfaces come and go (a network connected to the
    container, bridges on a host), and only lines that already match a target ask at all.
    """

    def __init__(
        self,
        targets: Iterable[tuple[str, str]] = (),
        addresses: Iterable[str] | Callable[[], Iterable[str]] = (),
        refresh_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = frozenset(targets)
        self._source = addresses if callable(addresses) else None
        self._addresses = _canonical_set(() if callable(addresses) else addresses)
        self._refresh = refresh_seconds
        self._clock = clock
        self._fetched = float("-inf")

    @classmethod
    def of(
        cls,
        probes: Iterable[ProbeConfig],
        addresses: Iterable[str] | Callable[[], Iterable[str]],
    ) -> ProbeTraffic:
        return cls(((p.method, _target(p.url)) for p in probes), addresses)

    def addresses(self) -> frozenset[str]:
        if self._source is not None and self._clock() - self._fetched >= self._refresh:
            self._addresses = _canonical_set(self._source())
            self._fetched = self._clock()
        return self._addresses

    def matches(self, record: AccessRecord) -> bool:
        agent = record.user_agent
        if agent is not None:
            return agent.startswith(PROBE_USER_AGENT)
        if (record.method, unquote(record.path)) not in self.targets:
            return False
        return _canonical(record.client) in self.addresses()


def _canonical_set(addresses: Iterable[str]) -> frozenset[str]:
    return frozenset(a for a in map(_canonical, addresses) if a is not None)
