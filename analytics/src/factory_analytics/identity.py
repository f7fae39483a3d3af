"""Who made a request: the Tailscale Serve identity header when the line carries it, else the
client's tailnet address mapped to its device and that device's user.

Tagged devices (servers, CI runners) belong to no person, so their requests get a device but
no user, the same way Tailscale Serve sends no identity headers for them.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    hostname: str
    user: str | None


class IdentityResolver:
    """Maps (login header, client address) to (user, device)."""

    def __init__(self, by_address: dict[str, DeviceIdentity] | None = None) -> None:
        self._by_address = by_address or {}
        self._cache: dict[tuple[str | None, str | None], tuple[str | None, str | None]] = {}
        self._by_client: dict[str | None, tuple[str | None, str | None]] = {}

    @classmethod
    def from_database(cls, conn: sqlite3.Connection) -> IdentityResolver:
        """Build the address map from the devices table the tailnet collector keeps."""
        by_address: dict[str, DeviceIdentity] = {}
        rows = conn.execute("SELECT hostname, user, tags, addresses FROM devices").fetchall()
        for hostname, user, tags, addresses in rows:
            owner = None if json.loads(tags) else user
            for address in json.loads(addresses):
                by_address[canonical_address(address) or address] = DeviceIdentity(hostname, owner)
        return cls(by_address)

    def client_cache(self) -> dict[str | None, tuple[str | None, str | None]]:
        """address → (user, device) for requests without a login header; `resolve` fills it."""
        return self._by_client

    def resolve(self, login: str | None, client: str | None) -> tuple[str | None, str | None]:
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

    def _resolve(self, login: str | None, client: str | None) -> tuple[str | None, str | None]:
        device = self._by_address.get(canonical_address(client) or client) if client else None
        if login:
            return login, device.hostname if device else None
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
