"""2.0TD periods and timestamp normalisation, on the calendar facts that make them hard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from factory_mcp.tariff import day_kind, is_all_day_p3, period_at
from factory_mcp.timeutil import (
    MADRID,
    TimestampError,
    from_aware,
    from_naive_local,
    from_naive_utc,
    hours_in_local_day,
    iso,
    localise_hourly_series,
)


def local(y: int, m: int, d: int, h: int) -> datetime:
    return datetime(y, m, d, h, tzinfo=MADRID)


@pytest.mark.parametrize(
    ("hour", "period"),
    [
        (0, "P3"),
        (7, "P3"),
        (8, "P2"),
        (9, "P2"),
        (10, "P1"),
        (13, "P1"),
        (14, "P2"),
        (17, "P2"),
        (18, "P1"),
        (21, "P1"),
        (22, "P2"),
        (23, "P2"),
    ],
)
def test_weekday_hours_follow_the_circular(hour: int, period: str) -> None:
    assert period_at(local(2026, 11, 25, hour)) == period  # a Wednesday


def test_weekends_are_p3_all_day() -> None:
    for hour in range(24):
        assert period_at(local(2026, 11, 28, hour)) == "P3"  # Saturday
        assert period_at(local(2026, 11, 29, hour)) == "P3"  # Sunday
    assert day_kind(date(2026, 11, 28)) == "weekend"


@pytest.mark.parametrize(
    "day",
    [date(2026, 12, 8), date(2026, 1, 6), date(2026, 5, 1), date(2026, 10, 12), date(2026, 12, 25)],
)
def test_fixed_date_national_holidays_are_p3(day: date) -> None:
    assert day.weekday() < 5
    assert is_all_day_p3(day)
    assert period_at(datetime(day.year, day.month, day.day, 11, tzinfo=MADRID)) == "P3"
    assert day_kind(day).startswith("holiday")


def test_good_friday_is_not_p3_because_its_date_moves() -> None:
    good_friday = date(2026, 4, 3)
    assert not is_all_day_p3(good_friday)
    assert period_at(datetime(2026, 4, 3, 11, tzinfo=MADRID)) == "P1"


def test_regional_holiday_is_not_national() -> None:
    # 28 February (Andalusia Day) is regional: a weekday there keeps its periods.
    assert period_at(datetime(2028, 2, 28, 11, tzinfo=MADRID)) == "P1"


def test_period_uses_local_time_not_utc() -> None:
    # 09:30 UTC in winter is 10:30 in Madrid: P1, although the UTC hour would say P2.
    assert period_at(datetime(2026, 11, 25, 9, 30, tzinfo=UTC)) == "P1"
    # Summer: 08:00 UTC is 10:00 CEST.
    assert period_at(datetime(2026, 7, 1, 8, tzinfo=UTC)) == "P1"


def test_dst_days_have_23_and_25_hours() -> None:
    assert hours_in_local_day(date(2026, 3, 29)) == 23
    assert hours_in_local_day(date(2026, 10, 25)) == 25
    assert hours_in_local_day(date(2026, 11, 25)) == 24


def test_three_timestamp_styles_are_normalised() -> None:
    assert iso(from_aware("2025-12-20T22:00:00+00:00")) == "2025-12-20T23:00:00+01:00"
    assert iso(from_naive_utc("2025-12-20T18:05:11")) == "2025-12-20T19:05:11+01:00"
    assert iso(from_naive_local("2025-12-20T19:00:00")) == "2025-12-20T19:00:00+01:00"
    assert iso(from_naive_local("2026-07-01T19:00:00")) == "2026-07-01T19:00:00+02:00"
    assert iso(from_aware("2026-11-25T10:42:07Z")) == "2026-11-25T11:42:07+01:00"


def _one_hour_apart(series: list[datetime]) -> bool:
    # In UTC: two datetimes sharing a tzinfo subtract by wall time (PEP 495).
    utc = [s.astimezone(UTC) for s in series]
    return all(b - a == timedelta(hours=1) for a, b in pairwise(utc))


def test_repeated_local_hour_in_october_is_resolved_in_order() -> None:
    series = localise_hourly_series(
        ["2026-10-25T01:00:00", "2026-10-25T02:00:00", "2026-10-25T02:00:00", "2026-10-25T03:00:00"]
    )
    assert [iso(s) for s in series] == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_naive_steps_across_october_are_consecutive_real_hours() -> None:
    # Built by adding hours to a naive wall time: 02:00 is named once, the real hour twice.
    series = localise_hourly_series(
        ["2026-10-25T01:00:00", "2026-10-25T02:00:00", "2026-10-25T03:00:00", "2026-10-25T04:00:00"]
    )
    assert [iso(s) for s in series] == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    assert _one_hour_apart(series)


def test_naive_steps_across_march_give_one_row_per_real_hour() -> None:
    # The naive series names 02:00, which does not exist on 29 March: read row by row it
    # would land on 03:00+02:00 twice.
    series = localise_hourly_series(
        ["2026-03-29T01:00:00", "2026-03-29T02:00:00", "2026-03-29T03:00:00", "2026-03-29T04:00:00"]
    )
    assert [iso(s) for s in series] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
        "2026-03-29T05:00:00+02:00",
    ]
    assert _one_hour_apart(series)


def test_a_series_with_a_gap_is_refused_not_retimed() -> None:
    with pytest.raises(TimestampError, match="not consecutive"):
        localise_hourly_series(
            ["2026-11-25T10:00:00", "2026-11-25T11:00:00", "2026-11-25T15:00:00"]
        )


def test_skipped_local_hour_in_march_moves_forward() -> None:
    assert iso(from_naive_local("2026-03-29T02:00:00")) == "2026-03-29T03:00:00+02:00"
