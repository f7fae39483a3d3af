"""Where a piece of desired state was written, so every message can point at it.

Locations travel from the loader through compile into every resource and plan action;
they never hold values, only a path relative to the repository and a 1-based line:col.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SourceLocation(BaseModel):
    """A position in a file under gitops/ (1-based line and column)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"
