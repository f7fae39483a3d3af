"""The Registry kind (gitops/registry/): a private distribution registry, auth always on."""

from __future__ import annotations

from reconciler.kinds.base import KindSpec

from .compile import HTPASSWD_FUNCTION, compile_registry, htpasswd_function
from .model import Registry

__all__ = ["HTPASSWD_FUNCTION", "REGISTRY", "Registry", "compile_registry", "htpasswd_function"]

REGISTRY: KindSpec[Registry] = KindSpec(
    kind="Registry",
    model=Registry,
    compile=compile_registry,
    folder="registry",
    accepts_service_extensions=True,  # `tailscale:`
)
