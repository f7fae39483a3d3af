"""The RunnerPool kind (gitops/runners/): Forgejo Actions runners, registered offline."""

from __future__ import annotations

from reconciler.kinds import register_kind
from reconciler.kinds.base import KindSpec

from .compile import compile_runner_pool
from .model import RunnerPool, parse_label

__all__ = ["RunnerPool", "compile_runner_pool", "parse_label"]

register_kind(
    KindSpec(kind="RunnerPool", model=RunnerPool, compile=compile_runner_pool, folder="runners")
)
