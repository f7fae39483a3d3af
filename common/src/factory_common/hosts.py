"""Whether a host a server binds to is loopback only: the one test behind the mcp and analytics
warnings about listening beyond the machine without a token."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (IPv6 with or without brackets); a name that is not
    an address is not known to be loopback, so it is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
