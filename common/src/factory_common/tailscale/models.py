"""Typed views of what the Tailscale API v2 returns (facts: Tailscale's API v2 reference).

Everything read from the API goes through these pydantic models so a renamed or missing
field fails loudly in one place instead of as a ``KeyError`` deep in the planner. Unknown
fields are kept (``extra="allow"``): the API grows, and analytics may want them.

Field names follow the API's camelCase on the wire and snake_case in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

__all__ = [
    "ONLINE_WINDOW",
    "AuthKey",
    "CreatedAuthKey",
    "Device",
    "DnsNameservers",
    "DnsPreferences",
    "PolicyFile",
    "PolicyValidation",
]

#: A device that is not connected to control counts as online when seen this recently.
ONLINE_WINDOW = timedelta(minutes=5)


class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Device(_ApiModel):
    """One node of the tailnet (``GET /tailnet/{t}/devices``).

    The API has no ``online`` field (Tailscale's advice: derive it from
    ``connectedToControl`` / ``lastSeen``), so :meth:`is_online` uses only those two:
    ``connectedToControl`` when present, else ``lastSeen`` (absent or null while the node is
    connected; otherwise online if seen within :data:`ONLINE_WINDOW`). A body that does carry
    an ``online`` key (a proxy, an old fixture) keeps it in ``model_extra``, never trusted.
    """

    id: str = ""
    node_id: str = ""
    name: str = ""
    hostname: str = ""
    addresses: list[str] = Field(default_factory=list)
    user: str = ""
    tags: list[str] = Field(default_factory=list)
    authorized: bool = True
    os: str = ""
    client_version: str = ""
    update_available: bool = False
    created: datetime | None = None
    last_seen: datetime | None = None
    connected_to_control: bool | None = None
    expires: datetime | None = None
    key_expiry_disabled: bool = False
    is_external: bool = False
    is_ephemeral: bool = False
    blocks_incoming_connections: bool = False

    @property
    def ref(self) -> str:
        """The id to address this device by: ``nodeId`` (preferred) or the legacy ``id``."""
        return self.node_id or self.id

    def is_online(self, now: datetime | None = None) -> bool:
        """Online as derived from the fields the API really returns."""
        if self.connected_to_control is not None:
            return self.connected_to_control
        if self.last_seen is None:
            return True
        moment = now or datetime.now(UTC)
        return moment - self.last_seen <= ONLINE_WINDOW

    @property
    def online(self) -> bool:
        return self.is_online()

    def offline_for(self, now: datetime | None = None) -> timedelta:
        """How long the device has been offline (zero when online or never seen)."""
        if self.is_online(now) or self.last_seen is None:
            return timedelta(0)
        return (now or datetime.now(UTC)) - self.last_seen


class AuthKey(_ApiModel):
    """An auth key as listed or fetched: never carries the secret (the API returns it once)."""

    id: str
    key_type: str = "auth"
    created: datetime | None = None
    expires: datetime | None = None
    revoked: datetime | None = None
    invalid: bool = False
    capabilities: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    user_id: str = ""

    @property
    def device_tags(self) -> list[str]:
        create = self.capabilities.get("devices", {}).get("create", {})
        return list(create.get("tags", []) or self.tags)


class CreatedAuthKey(AuthKey):
    """The answer to ``POST /keys``: the only time the secret is seen. Keep it in memory,
    hand it to the node as a file, never log it (``SecretStr`` hides it from repr)."""

    key: SecretStr


class PolicyFile(BaseModel):
    """The policy file as HuJSON text plus the ETag the API sent with it (quotes included)."""

    text: str
    etag: str


class PolicyValidation(BaseModel):
    """The outcome of ``POST /acl/validate``: a failure still arrives as HTTP 200."""

    ok: bool
    message: str = ""
    data: list[dict[str, Any]] = Field(default_factory=list)

    def describe(self) -> str:
        """Tailscale's message followed by each failing user's errors, one per line."""
        if self.ok:
            return "policy is valid and its tests pass"
        lines = [self.message or "policy rejected"]
        for entry in self.data:
            who = entry.get("user") or "policy"
            for item in list(entry.get("errors") or []) + list(entry.get("warnings") or []):
                lines.append(f"  {who}: {item}")
        return "\n".join(lines)


class DnsNameservers(_ApiModel):
    dns: list[str] = Field(default_factory=list)
    magic_dns: bool | None = Field(default=None, alias="magicDNS")


class DnsPreferences(_ApiModel):
    magic_dns: bool = Field(alias="magicDNS")
