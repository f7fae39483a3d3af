"""Engine names derived from logical names (one place, so plan and execute agree)."""

from __future__ import annotations

NEXT_SUFFIX = "--next"  # a candidate started beside the old container, before a swap
OLD_SUFFIX = "--old"  # the old container, renamed while its replacement starts


def container_name(project: str, name: str) -> str:
    return f"{project}-{name}"


def network_name(project: str, name: str) -> str:
    return f"{project}_{name}"


def volume_name(project: str, name: str) -> str:
    return f"{project}_{name}"


def lock_name(project: str) -> str:
    return f"{project}-gitops-lock"
