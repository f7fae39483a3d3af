"""The Registry kind (gitops/registry/): a private distribution registry, auth always on."""

from __future__ import annotations

from reconciler.kinds.base import KindSpec

from .compile import HTPASSWD_FUNCTION, compile_registry, htpasswd_function
from .model import Registry

__all__ = ["HTPASSWD_FUNCTION", "REGISTRY", "Registry", "compile_registry", "htpasswd_function"]

# accepts_service_extensions: `tailscale:`
REGISTRY = KindSpec(
    "Registry", Registry, compile_registry, "registry", accepts_service_extensions=True
)
