"""What the tailnet documents compile to: the items handed to the Tailscale provider.

They travel through `DesiredState.extra["tailscale"]` (opaque to the core) from compile to
the provider's observe and plan. Plain frozen data: no secret values, only secret names.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from reconciler.providers.tailscale.policy import DesiredPolicy
from reconciler.source import SourceLocation

__all__ = ["DesiredPolicy", "SidecarNode", "TailnetSettings"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SidecarNode(_Frozen):
    """A node a service's sidecar runs; the provider mints its key when it has no state."""

    service: str  # logical name of the service container
    container: str  # logical name of the sidecar container
    hostname: str
    tags: tuple[str, ...]
    state_volume: str
    secret: str  # name of the (ephemeral) auth key secret
    key_expiry_seconds: int
    owner: str
    source: SourceLocation


class TailnetSettings(_Frozen):
    """The `Tailnet` document, resolved: where the API is, with which secrets, and what to do."""

    name: str
    tailnet: str
    api_url: str
    required: bool
    credentials_source: SourceLocation | None = None  # `credentials.required` in tailnet.yaml
    api_key_secret: str | None
    oauth_client_id_secret: str | None
    oauth_client_secret_secret: str | None
    devices: dict[str, tuple[str, ...]]  # hostname → desired tags
    device_sources: dict[str, SourceLocation]
    prune_duplicates_after_s: int | None  # None: report only
    prune_stale_after_s: int | None
    stale_report_after_s: int
    magic_dns: bool | None
    nameservers: tuple[str, ...] | None
    search_paths: tuple[str, ...] | None
    dns_source: SourceLocation | None
    policy_source: SourceLocation | None
    source: SourceLocation
