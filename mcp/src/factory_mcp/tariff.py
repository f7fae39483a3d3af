"""Spain's 2.0TD access-tariff periods, computed from the calendar in Europe/Madrid.

Why the server does this itself: the factory labels hours P1/P2 on weekends and holidays and
its config table contradicts its classifier. The rule implemented
here is CNMC Circular 3/2020 (RD 148/2021), local clock hours, start hour inclusive:

- Monday to Friday: P1 punta 10-14 h and 18-22 h; P2 llano 08-10 h, 14-18 h, 22-24 h;
  P3 valle 00-08 h.
- Saturdays, Sundays, 6 January and the national holidays all 24 hours P3. The Circular counts
  only national holidays with a fixed date that no region may substitute, so Good Friday (a
  national holiday whose date moves with Easter) is *not* P3 unless it falls on a weekend.

The holiday calendar is the maintained `holidays` package (Spain, national level), so the list
follows the BOE each year without a table in this repository.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

import holidays
from dateutil.easter import easter

from factory_mcp.timeutil import to_local

Period = Literal["P1", "P2", "P3"]

_WEEKDAY_PERIODS: tuple[Period, ...] = (
    *("P3",) * 8,  # 00-07
    "P2",  # 08
    "P2",  # 09
    *("P1",) * 4,  # 10-13
    *("P2",) * 4,  # 14-17
    *("P1",) * 4,  # 18-21
    "P2",  # 22
    "P2",  # 23
)

PERIOD_NAMES: dict[Period, str] = {
    "P1": "punta (peak)",
    "P2": "llano (shoulder)",
    "P3": "valle (off-peak)",
}


@lru_cache(maxsize=64)
def _national(year: int) -> dict[date, str]:
    """Spain's national holidays of one year (built once: the package loads lazily)."""
    return dict(holidays.country_holidays("ES", years=year).items())


@lru_cache(maxsize=64)
def _off_peak_holidays(year: int) -> frozenset[date]:
    national = _national(year)
    movable = {easter(year) + timedelta(days=offset) for offset in (-3, -2, 1)}
    days = {d for d in national if d not in movable}
    days.add(date(year, 1, 6))  # named explicitly by the Circular
    return frozenset(days)


def holiday_name(day: date) -> str | None:
    """The national holiday that makes `day` all-P3, if any."""
    if day not in _off_peak_holidays(day.year):
        return None
    return _national(day.year).get(day) or "Epiphany"


def is_all_day_p3(day: date) -> bool:
    """Weekend or a fixed-date national holiday: every hour is P3."""
    return day.weekday() >= 5 or day in _off_peak_holidays(day.year)


def period_at(moment: datetime) -> Period:
    """The 2.0TD period in force at an aware instant (evaluated in Madrid local time)."""
    local = to_local(moment)
    if is_all_day_p3(local.date()):
        return "P3"
    return _WEEKDAY_PERIODS[local.hour]


def day_kind(day: date) -> str:
    """'weekday', 'weekend' or 'holiday: <name>' (why a day's hours are what they are)."""
    if day.weekday() >= 5:
        return "weekend"
    name = holiday_name(day)
    return f"holiday: {name}" if name else "weekday"


TARIFF_TABLE = (
    "| Period | Name | Monday-Friday local hours (Europe/Madrid) |\n"
    "|---|---|---|\n"
    "| P1 | punta (peak) | 10:00-14:00 and 18:00-22:00 |\n"
    "| P2 | llano (shoulder) | 08:00-10:00, 14:00-18:00, 22:00-24:00 |\n"
    "| P3 | valle (off-peak) | 00:00-08:00 |\n"
    "\nSaturdays, Sundays, 6 January and fixed-date national holidays: P3 all 24 hours "
    "(CNMC Circular 3/2020; Good Friday is not included because its date moves)."
)
