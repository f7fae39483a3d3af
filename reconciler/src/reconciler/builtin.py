"""Every kind, service extension, computed-secret function and provider the engine knows.

Registration is this module, read top to bottom: nothing registers itself by being imported.
Adding a kind is writing its package (a model, a pure compile function, a `KindSpec` constant)
and listing the constant in `KINDS`; adding a provider is listing its factory in `PROVIDERS`.
The lists are read by `reconciler.kinds` (validate, compile, schema) and by the CLI session
(which builds every provider once per run with the one Docker client).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds.base import KindSpec, ServiceExtension
from reconciler.kinds.forgejo import FORGEJO
from reconciler.kinds.registry import HTPASSWD_FUNCTION, REGISTRY, htpasswd_function
from reconciler.kinds.runners import RUNNER_POOL
from reconciler.kinds.service import SERVICE
from reconciler.providers import ProviderFactory
from reconciler.providers.docker.factory import build_docker_provider
from reconciler.providers.tailscale.kind import SIDECAR_EXTENSION, TAILNET_KIND
from reconciler.providers.tailscale.provider import build_provider as build_tailscale_provider

__all__ = ["KINDS", "PROVIDERS", "SECRET_FUNCTIONS", "SERVICE_EXTENSIONS"]

#: `kind:` values a gitops/ document may have (besides `Stack`).
KINDS: tuple[KindSpec[Any], ...] = (SERVICE, FORGEJO, RUNNER_POOL, REGISTRY, TAILNET_KIND)

#: Optional keys of every kind with `accepts_service_extensions=True` (Service, Forgejo, ...).
SERVICE_EXTENSIONS: tuple[ServiceExtension[Any], ...] = (SIDECAR_EXTENSION,)

#: `ComputedSecret(function=NAME)`: NAME → function(inputs, params) -> value.
SECRET_FUNCTIONS: Mapping[str, Any] = {HTPASSWD_FUNCTION: htpasswd_function}

#: Providers besides the built-in "secrets" one, in the order they observe and plan.
PROVIDERS: Mapping[str, ProviderFactory] = {
    "docker": build_docker_provider,
    "tailscale": build_tailscale_provider,
}
