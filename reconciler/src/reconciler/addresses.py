"""Host addresses ports are published on: IP addresses only, and exposure always said.

Docker reads a HostIp it cannot parse (`localhost`, `300.1.1.1`, "") as "every interface",
so a name or a typo silently published Forgejo and the registry on 0.0.0.0 and [::]. Every
model field that takes a publish address uses `PublishIP`; anything but an IPv4/IPv6
literal is refused with the fix. A non-loopback address is allowed only when written, and
`exposed_ports` lists each port it publishes, for the plan to say so every time.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

if TYPE_CHECKING:  # resources uses PublishIP for every PortSpec
    from reconciler.resources import DesiredState, PortSpec

__all__ = ["PublishIP", "canonical_ip", "exposed_ports", "is_loopback", "overlaps", "shown"]

_NAMES = {"localhost": "127.0.0.1", "ip6-localhost": "::1", "ip6-loopback": "::1"}


def canonical_ip(value: str) -> str:
    """`value` as a canonical IP address literal; ValueError with the fix otherwise."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(_not_an_address(value)) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise ValueError(f"{value!r}: scoped IPv6 addresses (%zone) cannot be published on")
    return str(address)


def _not_an_address(value: str) -> str:
    fix = "write an IPv4 or IPv6 address, e.g. 127.0.0.1 (this machine only) or ::1"
    name = value.strip().lower()
    if name in _NAMES:
        fix = f"write {_NAMES[name]}: a name is not resolved, Docker would publish everywhere"
    elif value.startswith("[") and value.endswith("]"):
        fix = f"write {value[1:-1]} without brackets"
    elif "/" in value:
        fix = "write one address, not a network"
    return f"{value!r} is not an IP address (fix: {fix})"


PublishIP = Annotated[str, AfterValidator(canonical_ip)]


def is_loopback(host_ip: str) -> bool:
    return ipaddress.ip_address(host_ip).is_loopback


def is_unspecified(host_ip: str) -> bool:
    """0.0.0.0 or ::, i.e. every interface of that family."""
    return ipaddress.ip_address(host_ip).is_unspecified


def overlaps(first: str, second: str) -> bool:
    """Two host addresses one port number cannot be published on twice: the same one, or
    an unspecified address (every interface) and any address of its family."""
    a, b = ipaddress.ip_address(first), ipaddress.ip_address(second)
    return a == b or (a.version == b.version and (a.is_unspecified or b.is_unspecified))


def shown(port: PortSpec) -> str:
    host = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
    return f"{host}:{port.host_port} -> {port.container_port}/{port.protocol}"


def exposed_ports(desired: DesiredState) -> list[str]:
    """One line per port published beyond loopback (and per container on the host's
    network, where Docker publishes nothing and everything is reachable), with where it is
    declared."""
    lines = []
    for spec in desired.containers:
        if spec.network_mode == "host":
            lines.append(
                f"container {spec.name}: network_mode host: every port it listens on is on "
                f"all interfaces of the host, unpublished (declared at {spec.source})"
            )
        for port in spec.ports:
            if is_loopback(port.host_ip):
                continue
            where = (
                "all interfaces"
                if is_unspecified(port.host_ip)
                else f"{port.host_ip}, reachable from that network"
            )
            lines.append(
                f"container {spec.name}: {shown(port)} is published on {where} "
                f"(declared at {spec.source})"
            )
    return lines
