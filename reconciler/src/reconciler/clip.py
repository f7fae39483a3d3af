"""Shortening text for messages without cutting a word or a line in half.

Error messages quote commands, engine errors and a container's own output; a bound keeps
them readable, but a cut mid-word (`….sta`) reads like a different word and a tail cut
mid-line loses the line that says what went wrong. So: heads are cut at a word boundary,
tails keep whole last lines, and every cut is marked with an ellipsis.
"""

from __future__ import annotations

__all__ = ["ELLIPSIS", "clip", "tail_lines"]

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters (plus the ellipsis), cut at the last space if there is
    one in the second half, else at the limit; unchanged when it fits."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + " " + ELLIPSIS


def tail_lines(text: str, limit: int) -> list[str]:
    """The last whole lines of `text` that fit in `limit` characters, after an ellipsis
    line when earlier lines were left out; a last line longer than `limit` alone is
    clipped at a word boundary (its beginning is what names the error)."""
    lines = text.rstrip("\n").splitlines()
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) > limit:
            break
        kept.insert(0, line)
        used += len(line)
    if not kept and lines:
        return [clip(lines[-1], limit)] if len(lines) == 1 else [ELLIPSIS, clip(lines[-1], limit)]
    if len(kept) < len(lines):
        kept.insert(0, ELLIPSIS)
    return kept
