"""Query windows: `days=N` or `hours=N`, aligned to whole UTC days/hours (see API.md).

Alignment is what lets every figure come from hourly rollups: the same question gives the same
answer whether the raw rows still exist or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from factory_analytics.timeutil import DAY, HOUR, day_floor, hour_floor, iso

MAX_DAYS = 365
MAX_HOURS = 8760


class WindowError(ValueError):
    """A bad `days`/`hours` combination; the message says how to fix it."""


@dataclass(frozen=True)
class Window:
    start: int
    end: float
    days: int | None
    hours: int | None

    @property
    def resolution(self) -> Literal["day", "hour"]:
        return "day" if self.days is not None else "hour"

    @property
    def step(self) -> int:
        return DAY if self.days is not None else HOUR

    @property
    def stop(self) -> int:
        """End of the last bucket (exclusive): rows stamped in the future are not counted."""
        count = self.days if self.days is not None else self.hours
        return self.start + (count or 0) * self.step

    def buckets(self) -> list[int]:
        """Start of every day/hour of the window, oldest first."""
        count = self.days if self.days is not None else self.hours
        return [self.start + i * self.step for i in range(count or 0)]

    def bucket_of(self, hour: int) -> int:
        return hour - (hour - self.start) % self.step

    def as_json(self) -> dict[str, object]:
        return {
            "from": iso(self.start),
            "to": iso(self.end),
            "days": self.days,
            "hours": self.hours,
            "resolution": self.resolution,
        }


def make_window(
    days: int | None,
    hours: int | None,
    now: float,
    *,
    default_days: int | None = None,
    default_hours: int | None = None,
) -> Window:
    """Validate the parameters and build the window ending now."""
    if days is not None and hours is not None:
        raise WindowError("give either days or hours, not both")
    if days is None and hours is None:
        days, hours = default_days, default_hours
    if days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise WindowError(f"days must be between 1 and {MAX_DAYS}, got {days}")
        return Window(day_floor(now) - (days - 1) * DAY, now, days, None)
    if hours is None or not 1 <= hours <= MAX_HOURS:
        raise WindowError(f"hours must be between 1 and {MAX_HOURS}, got {hours}")
    return Window(hour_floor(now) - (hours - 1) * HOUR, now, None, hours)
