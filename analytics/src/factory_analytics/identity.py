"""Who made a request: the one identity decision every log format goes through.

Believed, in this order:
1. The identity header (Tailscale-User-Login, as the line logs it) when the line's client,
   the logging server's TCP peer, is one of the source's `identity_proxies`: Tailscale Serve
   clears and sets that header, so behind it (and only there) it names the caller.
2. Otherwise the client's tailnet address, mapped to its device and that device's owner by
   the Tailscale API poll (`devices` table).

Never believed: the header from any other client (it is whatever the client sent), nginx's
`$remote_user` (HTTP Basic: any client sets it; the parsers do not even read it), and any
other field a client controls. Tagged devices (servers, CI runners) belong to no person, so
their requests get a device but no user, the same way Serve sends no identity for them.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    hostname: str
    user: str | None


class IdentityResolver:
    """Maps (login header, client address) to (user, device)."""

    def __init__(
        self,
        by_address: dict[str, DeviceIdentity] | None = None,
        proxies: Sequence[str] = (),
    ) -> None:
        self._by_address = by_address or {}
        self._proxies = tuple(ipaddress.ip_network(p) for p in proxies)
        self._is_proxy: dict[str | None, bool] = {}
        self._cache: dict[tuple[str | None, str | None], tuple[str | None, str | None]] = {}
        self._by_client: dict[str | None, tuple[str | None, str | None]] = {}

    @classmethod
    def from_database(
        cls, conn: sqlite3.Connection, proxies: Sequence[str] = ()
    ) -> IdentityResolver:
        """Build the address map from the devices table the tailnet collector keeps;
        `proxies` are the source's identity proxies (config `identity_proxies`)."""
        by_address: dict[str, DeviceIdentity] = {}
        rows = conn.execute("SELECT hostname, user, tags, addresses FROM devices").fetchall()
        for hostname, user, tags, addresses in rows:
            owner = None if json.loads(tags) else user
            for address in json.loads(addresses):
                by_address[canonical_address(address) or address] = DeviceIdentity(hostname, owner)
        return cls(by_address, proxies)

    def knows(self, client: str | None) -> bool:
        """Whether the tailnet mapping has this address (back-filling asks)."""
        return bool(client) and (canonical_address(client) or client) in self._by_address

    def client_cache(self) -> dict[str | None, tuple[str | None, str | None]]:
        """address → (user, device) for requests without a login header; `resolve` fills it."""
        return self._by_client

    def resolve(self, login: str | None, client: str | None) -> tuple[str | None, str | None]:
        if login is not None and not self._from_proxy(client):
            login = None  # client input: the address decides
        if login is None:  # the common case: one lookup by address, no tuple
            found = self._by_client.get(client)
            if found is None:
                found = self._resolve(None, client)
                if len(self._by_client) > 20_000:
                    self._by_client.clear()
                self._by_client[client] = found
            return found
        key = (login, client)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(login, client)
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _from_proxy(self, client: str | None) -> bool:
        found = self._is_proxy.get(client)
        if found is None:
            found = False
            canonical = canonical_address(client)
            if canonical is not None and self._proxies:
                address = ipaddress.ip_address(canonical)
                found = any(address.version == n.version and address in n for n in self._proxies)
            if len(self._is_proxy) > 20_000:
                self._is_proxy.clear()
            self._is_proxy[client] = found
        return found

    def _resolve(self, login: str | None, client: str | None) -> tuple[str | None, str | None]:
        if login:  # from an identity proxy: the proxy's own address is not the user's device
            return login, None
        device = self._by_address.get(canonical_address(client) or client) if client else None
        if device:
            return device.user, device.hostname
        return None, None


def canonical_address(address: str | None) -> str | None:
    """One spelling per IP address (IPv6 compressed, zone dropped, IPv4-mapped unwrapped), so
    a log's and the tailnet's spellings compare equal; None when it is not an IP address."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
