"""The RunnerPool kind (gitops/runners/): Forgejo Actions runners, registered offline."""

from __future__ import annotations

from reconciler.kinds.base import KindSpec

from .compile import compile_runner_pool
from .model import RunnerPool, parse_label

__all__ = ["RUNNER_POOL", "RunnerPool", "compile_runner_pool", "parse_label"]

RUNNER_POOL: KindSpec[RunnerPool] = KindSpec(
    kind="RunnerPool", model=RunnerPool, compile=compile_runner_pool, folder="runners"
)
