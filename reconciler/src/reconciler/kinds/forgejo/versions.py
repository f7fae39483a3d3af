"""Forgejo versions and image tags: what the declared `version` means, and what it allows.

Why a module: three decisions hang on the version and must agree everywhere: the image tag
(`<version>[-rootless]`), which runner registration flow applies (`.runner` file up to 14,
`server.connections` in the runner config from 15), and whether a change
is an upgrade (backup, then recreate) or a downgrade (refused: a database migrated by a newer
Forgejo cannot be opened by an older one). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.resources import is_downgrade

__all__ = ["LTS_DEFAULT", "ForgejoVersion", "parse_version"]

# The current LTS (Forgejo's "Supported versions": 15.0 LTS from 2026-04-16 to 2027-07-15).
LTS_DEFAULT = "15"
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


@dataclass(frozen=True, order=True)
class ForgejoVersion:
    """A declared version: `15`, `15.0` or `15.0.2` (a moving tag or a pinned one)."""

    major: int
    minor: int | None = None
    patch: int | None = None

    def __str__(self) -> str:
        parts = [self.major, self.minor, self.patch]
        return ".".join(str(p) for p in parts if p is not None)

    def tag(self, rootless: bool) -> str:
        return f"{self}-rootless" if rootless else str(self)

    @property
    def connections_in_config(self) -> bool:
        """Forgejo 15+ runners take `server.connections` in config.yml instead of `.runner`."""
        return self.major >= 15

    def is_downgrade_from(self, previous: ForgejoVersion) -> bool:
        """True when going from `previous` to self lowers any part both of them name."""
        return is_downgrade(str(self), str(previous))


def parse_version(text: str) -> ForgejoVersion:
    """Parse `15`, `15.0`, `15.0.2`; also accepts the tag forms `15-rootless`, `v15.0.2`."""
    cleaned = text.strip().removeprefix("v").removesuffix("-rootless")
    match = _VERSION.match(cleaned)
    if not match:
        raise ValueError(f"{text!r} is not a Forgejo version (expected MAJOR[.MINOR[.PATCH]])")
    major, minor, patch = (int(g) if g is not None else None for g in match.groups())
    assert major is not None
    return ForgejoVersion(major, minor, patch)
