"""Recognise this service's own probe requests in an ingested access log.

Every probe (collectors/probes.py) also lands in the probed API's access log. Those lines are
measurements, not usage, so ingestion counts them apart. Kept out of collectors/probes.py on
purpose: ingestion is the hot path and has no business importing the HTTP client.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import unquote, urlsplit

from factory_analytics.identity import canonical_address
from factory_analytics.logformats import PROBE_USER_AGENT, AccessRecord


class Probe(Protocol):
    """What a declared probe needs here (config.ProbeConfig has it)."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...


def _target(url: str) -> str:
    """The request target as an access log writes it, percent-decoded for comparison."""
    parts = urlsplit(url)
    target = parts.path or "/"
    return unquote(f"{target}?{parts.query}" if parts.query else target)


def own_addresses() -> frozenset[str]:
    """This host's (in a container: this container's) non-loopback addresses."""
    import psutil  # only when asked: the parsers' tests and the bench never need it

    found: set[str] = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = canonical_address(entry.address)
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
    localhost (its health checks and redirects), and those calls are the API's, not ours.

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
        probes: Iterable[Probe],
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
        return canonical_address(record.client) in self.addresses()


def _canonical_set(addresses: Iterable[str]) -> frozenset[str]:
    return frozenset(a for a in map(canonical_address, addresses) if a is not None)
