"""The Forgejo kind (gitops/forgejo/): a rootless Forgejo with every safety setting pinned."""

from __future__ import annotations

from reconciler.kinds.base import KindSpec

from .compile import compile_forgejo, internal_url
from .model import Forgejo
from .versions import ForgejoVersion, parse_version

__all__ = [
    "FORGEJO",
    "Forgejo",
    "ForgejoVersion",
    "compile_forgejo",
    "internal_url",
    "parse_version",
]

# accepts_service_extensions: `tailscale:`
FORGEJO = KindSpec("Forgejo", Forgejo, compile_forgejo, "forgejo", accepts_service_extensions=True)
