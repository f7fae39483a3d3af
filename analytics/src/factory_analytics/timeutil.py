"""Time helpers: one representation (UTC epoch seconds/ms) inside, RFC 3339 `Z` at the edge.

Every figure is stored with integer epoch times so SQLite compares numbers, not strings, and
hourly rollups are keyed by the epoch second of the hour's start.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

HOUR = 3600
DAY = 86400


def now() -> float:
    """Current UTC epoch seconds (a function so tests can pass their own clock)."""
    return time.time()


def hour_floor(ts: float) -> int:
    """Start of the UTC hour containing `ts`, as epoch seconds."""
    return int(ts // HOUR) * HOUR


def day_floor(ts: float) -> int:
    """Start of the UTC day containing `ts`, as epoch seconds."""
    return int(ts // DAY) * DAY


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC with whole seconds and a `Z`, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 timestamp (with `Z` or an offset; naive means UTC) to epoch seconds."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python 3.11 accepts at most 6 fractional digits; Tailscale and Docker send up to 9.
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
