"""What every line reader shares: the longest line ingestion takes, and how an overlong one is
handed on (its start only, so one endless line can neither stall a source nor fill memory)."""

from __future__ import annotations

# Longer lines are rejected (`line_too_long`). nginx's default request line limit is 8 KiB
# and Caddy's JSON lines with headers stay well under this.
MAX_LINE_CHARS = 64 * 1024
# An unterminated tail is cut once it is this many bytes: UTF-8 has at most 4 bytes per
# character, so it certainly holds more than MAX_LINE_CHARS characters.
MAX_TAIL_BYTES = 4 * MAX_LINE_CHARS
KEEP_CHARS = 300  # what is kept of an overlong line (the samples show 300 characters)


class LogSourceError(RuntimeError):
    """The source cannot be read now (container or file missing, engine unreachable)."""


class OverlongLine(str):
    """The start of a line longer than MAX_LINE_CHARS; the ingester rejects it as such."""


def overlong(text: str | bytes) -> OverlongLine:
    if isinstance(text, bytes):
        text = text[: KEEP_CHARS * 4].decode("utf-8", "replace")
    return OverlongLine(text[:KEEP_CHARS])


def cap_lines(lines: list[str]) -> list[str]:
    """Replace lines longer than MAX_LINE_CHARS by their start (one C-speed pass when none is)."""
    if not lines or max(map(len, lines)) <= MAX_LINE_CHARS:
        return lines
    return [overlong(line) if len(line) > MAX_LINE_CHARS else line for line in lines]
