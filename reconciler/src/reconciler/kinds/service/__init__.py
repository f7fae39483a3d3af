"""The generic Service kind (gitops/services/*.yaml): one container per document.

Other kinds reuse `compile_service` / `apply_extensions` when they run a plain container.
"""

from __future__ import annotations

from reconciler.kinds.base import KindSpec

from .compile import apply_extensions, compile_service, http_probe, merge_compiled, secrets_of
from .model import Service

__all__ = [
    "SERVICE",
    "Service",
    "apply_extensions",
    "compile_service",
    "http_probe",
    "merge_compiled",
    "secrets_of",
]

SERVICE: KindSpec[Service] = KindSpec(
    kind="Service",
    model=Service,
    compile=compile_service,
    folder="services",
    accepts_service_extensions=True,
)
