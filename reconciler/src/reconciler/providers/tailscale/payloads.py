"""The Tailscale provider's verbs as data: one payload model per verb (see actions.Payload).

Planned in planning.py, carried out by TailscaleProvider's executor (one method per verb).
"""

from __future__ import annotations

from reconciler.actions import Payload

__all__ = [
    "DeleteDevice",
    "MintAuthKey",
    "SetDeviceTags",
    "SetDnsNameservers",
    "SetDnsPreferences",
    "SetDnsSearchPaths",
    "SetPolicy",
]


class SetPolicy(Payload, verb="set-policy"):
    """Validate, then write the policy only if it is still the one observed (its ETag)."""

    etag: str
    digest: str  # sha256 of the normalised desired policy (the marker line)


class SetDeviceTags(Payload, verb="set-device-tags"):
    node_id: str
    tags: tuple[str, ...]


class DeleteDevice(Payload, verb="delete-device"):
    node_id: str


class SetDnsNameservers(Payload, verb="set-dns-nameservers"):
    nameservers: tuple[str, ...]


class SetDnsPreferences(Payload, verb="set-dns-preferences"):
    magic_dns: bool


class SetDnsSearchPaths(Payload, verb="set-dns-searchpaths"):
    search_paths: tuple[str, ...]


class MintAuthKey(Payload, verb="mint-auth-key"):
    """A single-use, preauthorized key for the sidecar's node, handed over in memory."""

    container: str  # logical name of the sidecar (its SidecarNode)
    hostname: str
    expiry_seconds: int
