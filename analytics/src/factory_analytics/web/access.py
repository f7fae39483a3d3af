"""Which client a request comes from, and whether that client may read without a token.

The client is the TCP peer, except when the peer is one of `auth.trusted_proxies`: only then is
`X-Forwarded-For` read, right to left, skipping the trusted proxies, and the first address that
is not one of them is the client (what nginx's `real_ip_recursive` and Tailscale Serve's
forwarding produce). Any other peer's forwarding headers are client input and are ignored:
that is exactly how the factory's own middleware could be fooled
(it trusted X-Forwarded-For from anyone, one of its known auth weaknesses).

The client may read without a token when it is in `auth.trusted_networks`. The keyword
`docker-gateway` stands for this container's default IPv4 gateway, read from /proc/net/route
when the app is built: the address Docker's port publishing makes every host connection come
from. On several networks (the stack's analytics joins `factory` and the factory API's
network), Docker publishes through the endpoint that holds the default route, so it is still
that gateway (tests/test_access_docker.py checks both). Trusting it trusts everyone who can
reach the published port, which is why the stack publishes analytics on 127.0.0.1 only
(README, "Access").

Never does: read the identity headers (`Tailscale-User-*`) for access; they are for figures.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from factory_common.hosts import is_loopback_host

from factory_analytics.config import DOCKER_GATEWAY, AuthConfig, ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ROUTE_TABLE = Path("/proc/net/route")
_RTF_GATEWAY = 0x2


def parse_address(text: str | None) -> Address | None:
    """One spelling per address: zone dropped, IPv4-mapped IPv6 unwrapped; None if not an IP.
    Accepts the `[v6]:port` and `v4:port` forms some proxies write into X-Forwarded-For."""
    if not text:
        return None
    value = text.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def default_ipv4_gateway(route_table: Path = ROUTE_TABLE) -> str | None:
    """The default route's gateway from /proc/net/route (Docker's bridge gateway inside a
    container), or None when there is none or the file cannot be read."""
    try:
        rows = route_table.read_text(encoding="ascii").splitlines()[1:]
    except (OSError, UnicodeDecodeError):
        return None
    for row in rows:
        fields = row.split()
        if len(fields) < 4 or fields[1] != "00000000":
            continue
        try:
            gateway, flags = int(fields[2], 16), int(fields[3], 16)
        except ValueError:
            continue
        if flags & _RTF_GATEWAY and gateway:
            # the kernel prints the network-order word in host order
            return socket.inet_ntoa(struct.pack("=L", gateway))
    return None


def _networks(entries: Iterable[str], gateway: Callable[[], str | None], key: str) -> list[Network]:
    out: list[Network] = []
    for entry in entries:
        if entry == DOCKER_GATEWAY:
            found = gateway()
            if found is None:
                raise ConfigError(
                    f"auth.{key}: {DOCKER_GATEWAY}: this process has no default IPv4 route in"
                    f" {ROUTE_TABLE} (not in a Docker container?); give the address instead"
                )
            out.append(ipaddress.ip_network(found))
        else:
            out.append(ipaddress.ip_network(entry))  # validated by AuthConfig
    return out


@dataclass(frozen=True)
class AccessPolicy:
    """The resolved `auth` settings: networks trusted without a token, and proxies whose
    X-Forwarded-For is believed."""

    trusted_networks: tuple[Network, ...]
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_config(
        cls, config: AuthConfig, gateway: Callable[[], str | None] = default_ipv4_gateway
    ) -> AccessPolicy:
        return cls(
            tuple(_networks(config.trusted_networks, gateway, "trusted_networks")),
            tuple(_networks(config.trusted_proxies, gateway, "trusted_proxies")),
        )

    def client(self, peer: str | None, forwarded_for: list[str]) -> Address | None:
        """The address access is decided on (None: unknown, never trusted)."""
        address = parse_address(peer)
        if address is None or not _within(address, self.trusted_proxies):
            return address
        hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            hop_address = parse_address(hop)
            if hop_address is None or not _within(hop_address, self.trusted_proxies):
                return hop_address
            address = hop_address
        return address

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and _within(address, self.trusted_networks)

    def describe(self) -> str:
        """One log line: who needs no token, whose forwarding is believed."""
        trusted = ", ".join(str(n) for n in self.trusted_networks) or "nobody"
        proxies = ", ".join(str(n) for n in self.trusted_proxies) or "no proxy"
        return f"no token needed from {trusted}; X-Forwarded-For believed from {proxies}"


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def exposure_warning(bind_host: str, has_token: bool, policy: AccessPolicy) -> str | None:
    """The line `serve` logs when it listens beyond loopback without a bearer token: then
    every client in the trusted networks reads without one and every other client (the MCP
    container on the Docker network, a reverse proxy's clients) is refused with no way to
    authenticate. Not shown on the open /healthz: it would tell anyone how the service is
    exposed."""
    if has_token or is_loopback_host(bind_host):
        return None
    trusted = ", ".join(str(n) for n in policy.trusted_networks) or "nobody"
    return (
        f"listening on {bind_host} without a token (ANALYTICS_TOKEN/ANALYTICS_TOKEN_FILE"
        f" unset): clients in auth.trusted_networks ({trusted}) read without one, every other"
        " client is refused and cannot authenticate. Set ANALYTICS_TOKEN(_FILE), or serve"
        " on 127.0.0.1"
    )
