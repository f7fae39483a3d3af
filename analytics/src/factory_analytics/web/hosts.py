"""Which Host names the service answers to: DNS-rebinding protection.

Why: access is decided by the client's address (web/access.py), and loopback and the tailnet
read without a token. A page on attacker.example whose name the attacker re-points at
127.0.0.1 (or a tailnet address) makes the victim's browser send requests from a trusted
address, with `Host: attacker.example`, and read the answers as same-origin. So every request
(including /healthz) must name this service: anything else gets 421 `unknown_host`, a missing
or malformed Host gets 400 `invalid_host`, before auth is even looked at.

Accepted without configuration:
- `localhost` and loopback addresses (`127.0.0.1`, `[::1]`), any port;
- IP literals in the tailnet ranges (`100.64.0.0/10`, `fd7a:115c:a1e0::/48`): an address
  typed as the Host is never a rebinding, and the tailnet's are this deployment's own;
- the tailnet's MagicDNS names (`analytics.tail1234.ts.net`) as listed by the last tailnet
  poll (`devices.name`, re-read at most every `MAGICDNS_TTL` seconds, and only when a Host is
  not otherwise known): Tailscale Serve passes the browser's Host on to its backend
  (ipn/ipnlocal/serve.go sets the outgoing Host to the incoming one), and those names resolve
  only inside the tailnet, to its own devices.
Plus `http.allowed_hosts`: names (`analytics`, what the MCP server calls it on the stack
network), `*.suffix` patterns, IP addresses, or `*`, which switches the check off.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from factory_analytics.config import HttpConfig
from factory_analytics.store.db import DatabaseError, connect

log = logging.getLogger("factory_analytics.web")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

MAGICDNS_TTL = 30.0
LOOPBACK_NAMES = frozenset({"localhost"})
TAILNET_RANGES = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd7a:115c:a1e0::/48"),
)
_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_PORT = re.compile(r"^\d{1,5}$")


class InvalidHost(ValueError):
    """The Host header is missing or is not `name[:port]` / `[v6][:port]`."""


def host_name(header: str | None) -> str:
    """The Host header's name (lower case, no port, no trailing dot, IPv6 without brackets)."""
    if header is None or not header.strip() or header != header.strip():
        raise InvalidHost("missing")
    text = header.lower()
    if text.startswith("["):
        inside, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest[0] == ":" and _PORT.match(rest[1:]))):
            raise InvalidHost(header)
        try:
            return str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise InvalidHost(header) from None
    name, sep, port = text.partition(":")
    if (sep and not _PORT.match(port)) or not name:
        raise InvalidHost(header)
    name = name.removesuffix(".")
    if not _NAME.match(name):
        raise InvalidHost(header)
    return name


class MagicDnsNames:
    """The tailnet's MagicDNS names from the devices table, re-read at most every TTL."""

    def __init__(self, database: Path, ttl: float = MAGICDNS_TTL) -> None:
        self._database = database
        self._ttl = ttl
        self._names: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                self._read_at = time.monotonic()
                try:
                    conn = connect(self._database, readonly=True)
                    try:
                        rows = conn.execute(
                            "SELECT name FROM devices WHERE name IS NOT NULL"
                        ).fetchall()
                    finally:
                        conn.close()
                    self._names = frozenset(str(n).lower().removesuffix(".") for (n,) in rows)
                except (sqlite3.Error, DatabaseError) as exc:  # keep the last known names
                    log.debug("MagicDNS names not readable: %s", exc)
            return self._names


class HostPolicy:
    """The resolved allow-list; `allows(name)` for a name from `host_name`."""

    def __init__(self, config: HttpConfig, magic_names: Callable[[], frozenset[str]]) -> None:
        self.any = "*" in config.allowed_hosts
        self._names: set[str] = set(LOOPBACK_NAMES)
        self._suffixes: list[str] = []
        for entry in config.allowed_hosts:
            if entry.startswith("*."):
                self._suffixes.append(entry[1:])  # ".example.ts.net"
            elif entry != "*":
                self._names.add(entry)
        self._magic_names = magic_names

    def allows(self, name: str) -> bool:
        if self.any or name in self._names:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if any(name.endswith(s) and len(name) > len(s) for s in self._suffixes):
                return True
            return name in self._magic_names()
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback or any(
            address.version == n.version and address in n for n in TAILNET_RANGES
        )


class HostCheck:
    """ASGI middleware: 400 for a missing/malformed Host, 421 for one not allowed."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.policy.any:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"host"), None)
        text = None if header is None else header.decode("latin-1")
        try:
            name = host_name(text)
        except InvalidHost:
            await _error(
                send,
                400,
                "invalid_host",
                "the request has no valid Host header; send the name this service is reached"
                " by (loopback, a tailnet address or name, or one in http.allowed_hosts)",
            )
            return
        if self.policy.allows(name):
            await self.app(scope, receive, send)
            return
        shown = name if len(name) <= 100 else name[:100] + "…"
        await _error(
            send,
            421,
            "unknown_host",
            f"this service does not answer to the Host {shown!r} (DNS-rebinding protection);"
            " if that is one of its names, add it to http.allowed_hosts in the configuration",
        )


async def _error(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
