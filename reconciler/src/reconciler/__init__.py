"""The engine behind `gitops`: load → validate → compile → observe → plan → apply.

See reconciler/ARCHITECTURE.md for the contracts kinds and providers build on.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
