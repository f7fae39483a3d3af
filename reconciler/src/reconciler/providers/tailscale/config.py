"""The YAML models of the tailnet: the `Tailnet` document and a service's `tailscale:` key.

`gitops/tailscale/tailnet.yaml` (kind `Tailnet`) declares how to reach the API (credentials
by secret name, never values), the policy file next to it, desired device tags by hostname,
opt-in pruning of duplicate and stale nodes, and DNS preferences.

A service's `tailscale:` key (`TailscaleSidecar`) asks for an official `tailscale/tailscale`
container in the service's network namespace, serving HTTPS on the node's name.

Models only: strict pydantic, unknown keys are errors with file:line (CORE's loader).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds.base import KindModel, StrictModel
from reconciler.stack import NAME_PATTERN

__all__ = [
    "DEFAULT_SIDECAR_IMAGE",
    "DnsConfig",
    "OAuthCredentials",
    "PruneConfig",
    "TailnetCredentials",
    "TailnetDoc",
    "TailscaleSidecar",
    "parse_age",
]

#: The official image, pinned (the factory ran 1.90.8 by hand).
DEFAULT_SIDECAR_IMAGE = "tailscale/tailscale:v1.90.8"

TAG_PATTERN = r"^tag:[a-z0-9][a-z0-9-]*$"
HOSTNAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]
SecretName = Annotated[str, Field(pattern=NAME_PATTERN)]

_AGE = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[mhdw])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w` → timedelta (ValueError with the accepted forms)."""
    match = _AGE.match(text.strip())
    if match is None:
        raise ValueError(f'expected an age like "30d", "12h", "90m" or "2w", got "{text}"')
    return timedelta(**{_UNIT[match["unit"]]: int(match["n"])})


Age = Annotated[str, Field(description='e.g. "30d", "12h", "2w"')]


class OAuthCredentials(StrictModel):
    """An OAuth client: both halves are secret names (resolved like every secret)."""

    client_id: SecretName
    client_secret: SecretName


class TailnetCredentials(StrictModel):
    """How the reconciler authenticates to the API. Values come from secrets, by name."""

    required: bool = Field(
        default=False,
        description="true: plan/apply fail when the credential is missing; false: the "
        "tailnet part is skipped ('skipped: no Tailscale credentials')",
    )
    api_key: SecretName | None = Field(
        default="tailscale_api_key",
        description="secret holding an API access token (tskey-api-…)",
    )
    oauth: OAuthCredentials | None = Field(
        default=None, description="an OAuth client instead of (or besides) the API key"
    )


class PruneRule(StrictModel):
    """Remove matching devices only when `enabled` and offline for at least `older_than`."""

    enabled: bool = False
    older_than: Age = "30d"

    @field_validator("older_than")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value


class PruneConfig(StrictModel):
    """Both are always reported in the plan; removal is opt-in."""

    duplicates: PruneRule = PruneRule(older_than="1d")
    stale: PruneRule = PruneRule()


class DeviceDecl(StrictModel):
    tags: list[Tag] = Field(min_length=1)


class DnsConfig(StrictModel):
    """Declared DNS preferences; keys left out are not managed."""

    magic_dns: bool | None = None
    nameservers: list[str] | None = None
    search_paths: list[str] | None = None


class TailnetDoc(KindModel):
    """gitops/tailscale/tailnet.yaml."""

    kind: Literal["Tailnet"]
    tailnet: str = Field(default="-", description='"-" = the credential\'s own tailnet')
    api_url: str = Field(
        default="https://api.tailscale.com/api/v2",
        pattern=r"^https?://",
        description="Tailscale API base URL (tests point it at the test double)",
    )
    credentials: TailnetCredentials = TailnetCredentials()
    policy: str | None = Field(
        default="policy.hujson", description="policy file next to this YAML; null = unmanaged"
    )
    devices: dict[Annotated[str, Field(pattern=HOSTNAME_PATTERN)], DeviceDecl] = Field(
        default_factory=dict, description="desired tags by hostname"
    )
    prune: PruneConfig = PruneConfig()
    dns: DnsConfig | None = None


class TailscaleSidecar(StrictModel):
    """A service's `tailscale:` key: its own node on the tailnet, HTTPS via Tailscale Serve."""

    hostname: str = Field(pattern=HOSTNAME_PATTERN, description="node name on the tailnet")
    tags: list[Tag] = Field(
        min_length=1, description="tags of the node (must be declared in tagOwners)"
    )
    state_volume: str | None = Field(
        default=None,
        description="volume (declared in stack.yaml) holding the node's state; required",
    )
    serve: dict[int, int] = Field(
        default_factory=dict, description="tailnet HTTPS port → service port, e.g. {443: 8000}"
    )
    listen: Literal["loopback", "all"] = Field(
        default="loopback",
        description="loopback: the service is reachable only through the sidecar, so the "
        "Tailscale-User-* headers can be trusted; all: also on the stack network",
    )
    bind_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(
        default=None,
        description="with listen: loopback, the environment variable the service reads its "
        "listen host from (set to 127.0.0.1), when its command and env do not show it",
    )
    bind_flag: Annotated[str, Field(pattern=r"^--?[A-Za-z0-9][A-Za-z0-9-]*$")] | None = Field(
        default=None,
        description="with listen: loopback, a flag in the service's command whose value is "
        "its listen host or host:port (rewritten to 127.0.0.1)",
    )
    image: str = Field(
        default=DEFAULT_SIDECAR_IMAGE,
        description="the official tailscale/tailscale image, pinned; tests use a stand-in",
    )
    key_expiry: Age = Field(default="10m", description="lifetime of the one-time auth key")

    @model_validator(mode="after")
    def _one_bind(self) -> TailscaleSidecar:
        if self.bind_env is not None and self.bind_flag is not None:
            raise ValueError("declare bind_env or bind_flag, not both")
        return self

    @field_validator("key_expiry")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value

    @field_validator("serve")
    @classmethod
    def _ports(cls, value: dict[int, int]) -> dict[int, int]:
        for outer, inner in value.items():
            for port in (outer, inner):
                if not 1 <= port <= 65535:
                    raise ValueError(f"{port} is not a TCP port (1-65535)")
        return value
