"""Timestamps: the factory API's three styles, normalised to explicit offsets.

Why: the API mixes UTC-aware ISO (REE, Influx, weather), naive UTC (`utcnow()` in health
endpoints) and naive Europe/Madrid wall time (Prophet forecasts, optimal windows). A naive
string carries no hint of which it is, so every call site states the style it expects and gets
back an aware datetime; everything the server returns goes out with its UTC offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MADRID = ZoneInfo("Europe/Madrid")


class TimestampError(ValueError):
    """A timestamp from the API could not be parsed."""


def _parse(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise TimestampError(f"unparseable timestamp {text!r}") from None


def from_aware(text: str) -> datetime:
    """An ISO string that should carry an offset (REE, Influx, weather); naive means UTC."""
    value = _parse(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def from_naive_utc(text: str) -> datetime:
    """A naive string written by `datetime.utcnow()` (health endpoints)."""
    value = _parse(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def from_naive_local(text: str, *, fold: int = 0) -> datetime:
    """A naive Europe/Madrid wall-clock string (Prophet output, optimal windows).

    `fold` picks the first (0) or second (1) occurrence of the repeated hour when clocks go
    back in October. A wall time that does not exist (the skipped hour in March) is moved
    forward across the gap, the PEP 495 reading.
    """
    value = _parse(text)
    if value.tzinfo is not None:
        return value
    return localise(value, fold=fold)


def localise(naive: datetime, *, fold: int = 0, near: datetime | None = None) -> datetime:
    """Attach Europe/Madrid to a naive wall time, resolving DST gaps and repeats.

    In October's repeated hour `near` (an aware instant the time is known to be in or close to,
    such as "now" for a series that starts at the current hour) picks the occurrence; without it,
    `fold` does. A wall time in March's skipped hour has no instant: it is moved forward
    across the gap (PEP 495).
    """
    if near is not None:
        candidates = local_instants(naive)
        if len(candidates) > 1:
            # The occurrence whose hour holds `near`, else the one closest to it.
            # In UTC: adding an hour to an aware Madrid time is wall-clock arithmetic.
            holding = [c for c in candidates if c <= near < c.astimezone(UTC) + timedelta(hours=1)]
            return holding[0] if holding else min(candidates, key=lambda c: abs(c - near))
    aware = naive.replace(tzinfo=MADRID, fold=fold)
    # The round trip through UTC normalises a non-existent wall time (spring-forward gap) to
    # the instant PEP 495 gives it, shown with the offset that is really in force.
    return aware.astimezone(UTC).astimezone(MADRID)


def local_instants(naive: datetime) -> list[datetime]:
    """Every real instant a Madrid wall-clock time names, in order.

    One on ordinary days; none in March's skipped hour (02:00-02:59 on the last Sunday of
    March); two in October's repeated hour (02:00-02:59 at +02:00, then at +01:00). The API
    writes local times without an offset (Prophet rows, optimal windows, the plan's clock
    hours), so every reading of them starts here.
    """
    # Compared in UTC: two aware times in the same zone compare by wall time, fold ignored.
    found: dict[datetime, datetime] = {}
    for fold in (0, 1):
        instant = naive.replace(tzinfo=MADRID, fold=fold).astimezone(UTC)
        local = instant.astimezone(MADRID)
        if local.replace(tzinfo=None) == naive:
            found.setdefault(instant, local)
    return [found[k] for k in sorted(found)]


def local_clock_hours(day: date) -> list[datetime]:
    """The real hours of a Madrid day, in order: 23 in March, 25 in October, otherwise 24."""
    start, _ = local_day_bounds(day)
    first = start.astimezone(UTC)
    return [(first + timedelta(hours=i)).astimezone(MADRID) for i in range(hours_in_local_day(day))]


def localise_hourly_series(texts: list[str], *, now: datetime | None = None) -> list[datetime]:
    """Read a Prophet series as consecutive real hours starting at its first instant.

    Why not row by row: the factory builds its forecast frame by adding whole hours to a naive
    local wall time, so across the March change a series names the skipped 02:00 (which PEP 495
    moves to 03:00+02:00, the instant of the next row: two rows for one hour), and across the
    October change it names the repeated hour once or twice depending on how it was built. Row
    i is therefore taken as the first instant plus i hours, which gives one distinct hour per
    row either way. Each row's own label must agree with that reading to within the one hour a
    clock change shifts it; a series with a gap is an error, never silently re-timed. A first
    row in October's repeated hour is the occurrence nearest `now`: the factory starts its
    forecast at the current local hour, so at 02:30+01:00 its first row "02:00" is the second
    02:00, not the first (which would shift the whole series an hour early).
    """
    if not texts:
        return []
    parsed = [_parse(text) for text in texts]
    first = parsed[0] if parsed[0].tzinfo is not None else localise(parsed[0], near=now)
    out: list[datetime] = []
    for i, label in enumerate(parsed):
        instant = (first.astimezone(UTC) + timedelta(hours=i)).astimezone(MADRID)
        if label.tzinfo is not None:
            drift = abs(label - instant)
        else:
            drift = abs(label - instant.replace(tzinfo=None))
        if drift > timedelta(hours=1):
            raise TimestampError(
                f"row {i} ({texts[i]!r}) does not follow {texts[0]!r} by {i} hours: "
                "the series is not consecutive hours"
            )
        out.append(instant)
    return out


def to_local(value: datetime) -> datetime:
    """Any aware datetime shown in Europe/Madrid (the offset says which)."""
    return value.astimezone(MADRID)


def iso(value: datetime) -> str:
    """ISO 8601 with an explicit offset, seconds precision, in Madrid local time."""
    if value.tzinfo is None:
        raise TimestampError("refusing to format a naive datetime")
    return to_local(value).isoformat(timespec="seconds")


def hour_start(value: datetime) -> datetime:
    """Truncate an aware datetime to its UTC hour (all Spanish offsets are whole hours)."""
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Madrid calendar day as aware datetimes (23, 24 or 25 hours long)."""
    start = datetime.combine(day, time(0), tzinfo=MADRID)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=MADRID)
    return start, end


def hours_in_local_day(day: date) -> int:
    """How many clock hours a Madrid day has: 23 in March, 25 in October, otherwise 24."""
    start, end = local_day_bounds(day)
    return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 3600)
