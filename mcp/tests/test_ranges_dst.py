"""Hour ranges, DST days and self-contradicting plans (issue 10, mcp), through a real MCP
client against the factory stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from factory_mcp.hour_range import HourRangeError, parse_hour_range

from .conftest import structured

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("text", "first", "last", "hours"),
    [
        ("02-05h", 2, 5, 4),  # optimal windows (§2.10: duration_hours 4)
        ("18-20h", 18, 20, 3),  # avoid windows carry no duration_hours
        ("19-21h", 19, 21, 3),
        ("10-13h", 10, 13, 4),  # the tariff table's "10-13 h" is 10:00-14:00
        ("19-19h", 19, 19, 1),
        ("23-01h", 23, 1, 3),  # windows can run across midnight
        ("2-5h", 2, 5, 4),
        ("19:00-21:00", 19, 21, 3),
        ("19\u201321 h", 19, 21, 3),
    ],
)
def test_every_hour_range_format_includes_its_last_hour(text, first, last, hours) -> None:
    span = parse_hour_range(text)
    assert (span.first, span.last, span.hours) == (first, last, hours)


@pytest.mark.parametrize("text", ["", "19h", "19-24h", "evening", "19-21h-23h"])
def test_a_malformed_range_is_refused(text) -> None:
    with pytest.raises(HourRangeError):
        parse_hour_range(text)


async def test_avoid_window_19_21h_lasts_three_hours(client) -> None:
    out = structured(await client.call_tool("get_optimal_windows", {"days": 3}))
    by_day = {w["start"][:10]: w for w in out["avoid"]}
    friday = by_day["2026-11-27"]  # "19-21h", no duration_hours
    assert (friday["start"], friday["end"]) == (
        "2026-11-27T19:00:00+01:00",
        "2026-11-27T22:00:00+01:00",
    )
    assert friday["duration_hours"] == 3
    assert by_day["2026-11-26"]["end"] == "2026-11-26T21:00:00+01:00"  # "18-20h"
    assert by_day["2026-11-28"]["duration_hours"] == 4  # "10-13h"
    cheap = out["optimal"][0]  # "02-05h" with duration_hours 4: both agree
    assert cheap["duration_hours"] == 4
    assert cheap["end"][11:19] == "06:00:00"


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # 02-05h on 25 October: 02:00 is still summer time, 06:00 is winter time.
        (datetime(2026, 10, 24, 9, tzinfo=UTC), "2026-10-25T02:00:00+02:00", "T06:00:00+01:00"),
        # 02-05h on 29 March: 02:00 does not exist, the window's real hours start at 03:00.
        (datetime(2026, 3, 28, 9, tzinfo=UTC), "2026-03-29T03:00:00+02:00", "T06:00:00+02:00"),
    ],
    ids=["october", "march"],
)
async def test_windows_on_dst_days_carry_the_offsets_in_force(
    client, scenario, now, start, end
) -> None:
    scenario.now = now
    out = structured(await client.call_tool("get_optimal_windows", {"days": 1}))
    [window] = out["optimal"]
    assert window["start"] == start
    assert window["end"] == start[:10] + end
    assert window["tariff_periods"] == ["P3"]  # a Sunday


def _starts(out) -> list[datetime]:
    return [datetime.fromisoformat(h["start"]) for h in out["timeline"]]


async def test_plan_on_the_march_change_has_23_distinct_hours(client) -> None:
    out = structured(await client.call_tool("get_production_plan", {"date": "2026-03-29"}))
    starts = _starts(out)
    assert len(starts) == 23
    assert [b - a for a, b in pairwise(starts)] == [timedelta(hours=1)] * 22
    texts = [h["start"] for h in out["timeline"]]
    assert texts.count("2026-03-29T03:00:00+02:00") == 1
    assert texts[:3] == [
        "2026-03-29T00:00:00+01:00",
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
    ]
    assert any("02:00, a clock hour that does not exist" in n for n in out["notes"])


async def test_plan_on_the_october_change_has_both_2am_hours(client) -> None:
    out = structured(await client.call_tool("get_production_plan", {"date": "2026-10-25"}))
    starts = _starts(out)
    assert len(starts) == 25
    assert [b - a for a, b in pairwise(starts)] == [timedelta(hours=1)] * 24
    texts = [h["start"] for h in out["timeline"]]
    assert "2026-10-25T02:00:00+02:00" in texts
    assert "2026-10-25T02:00:00+01:00" in texts
    assert texts[-1] == "2026-10-25T23:00:00+01:00"
    first, second = (h for h in out["timeline"] if h["start"][11:13] == "02")
    assert first["price_eur_kwh"] == second["price_eur_kwh"]  # one clock-hour entry for both
    assert any("two 02:00 hours" in n for n in out["notes"])


@pytest.mark.parametrize(
    ("now", "first"),
    [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25T02:00:00+02:00"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25T02:00:00+01:00"),
    ],
    ids=["first-2am", "second-2am"],
)
async def test_forecast_starting_in_the_repeated_hour_starts_at_the_current_hour(
    client, scenario, now, first
) -> None:
    scenario.now = now  # the factory starts its forecast at the current local hour
    out = structured(await client.call_tool("get_price_forecast", {"hours": 4, "limit": 4}))
    starts = [datetime.fromisoformat(h["start"]) for h in out["hours"]]
    assert out["hours"][0]["start"] == first
    assert starts[0] <= now < starts[0] + timedelta(hours=1)
    assert [b - a for a, b in pairwise(starts)] == [timedelta(hours=1)] * 3


async def test_plan_summary_uses_num_batches_and_flags_contradictions(client, scenario) -> None:
    out = structured(await client.call_tool("get_production_plan", {"target_kg": 500}))
    assert out["consistent"] is True
    assert out["inconsistencies"] == []
    assert "500 kg in 50 batches" in out["summary"]
    scenario.plan_batches_dropped = True  # batches list empty; num_batches and cost still 50
    out = structured(await client.call_tool("get_production_plan", {"target_kg": 500}))
    assert "in 0 batches" not in out["summary"]
    assert "500 kg in 50 batches" in out["summary"]
    assert out["summary"].startswith("INCONSISTENT PLAN")
    assert out["batches_total"] == 50
    assert out["consistent"] is False
    assert out["inconsistencies"] == ["num_batches is 50 but the plan lists 0 batches."]


async def test_plan_of_kilograms_in_zero_batches_is_inconsistent(client, scenario) -> None:
    scenario.batches = 0  # the optimiser answers num_batches 0 for 500 kg
    out = structured(await client.call_tool("get_production_plan", {"target_kg": 500}))
    assert out["consistent"] is False
    assert "500 kg are planned in 0 batches." in out["inconsistencies"]
