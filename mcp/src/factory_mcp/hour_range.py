"""The factory API's hour ranges ("02-05h", "19-21h"), read one way everywhere.

Why: the API writes a window of clock hours as "<first>-<last>h" and the last hour is
*included*: "02-05h" is four hours, 02:00 to 06:00 (its `duration_hours` says 4; shared/
factory-api.md §2.10). Avoid windows carry no `duration_hours` at all, so reading the range as
"start to end" or falling back to one hour cut "19-21h" to 19:00-20:00. Windows may run across
midnight ("23-01h" is 23, 00 and 01). Every range field goes through `parse_hour_range`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^\s*(\d{1,2})(?::00)?\s*[-\u2013]\s*(\d{1,2})(?::00)?\s*h?\s*$")


class HourRangeError(ValueError):
    """Text that is not one of the API's hour-range formats."""


@dataclass(frozen=True)
class HourRange:
    """Clock hours `first` to `last`, both included (may wrap past midnight)."""

    first: int
    last: int

    @property
    def hours(self) -> int:
        """How many clock hours the range covers: "19-21h" is 3, "23-01h" is 3."""
        return (self.last - self.first) % 24 + 1


def parse_hour_range(text: str) -> HourRange:
    """Read "HH-HHh" (also "H-Hh", "HH:00-HH:00", an en dash, no "h"); the last hour counts."""
    match = _RANGE.match(text or "")
    if not match:
        raise HourRangeError(f"{text!r} is not an hour range like '19-21h'")
    first, last = int(match[1]), int(match[2])
    if not (0 <= first <= 23 and 0 <= last <= 23):
        raise HourRangeError(f"{text!r} names an hour outside 00-23")
    return HourRange(first, last)
