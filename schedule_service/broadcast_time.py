"""Wall time ↔ instant in a zone (DST gaps and folds), and the broadcast day of an instant."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import isodate


class WallTimeError(ValueError):
    """A wall time that cannot be turned into one instant."""


class NonexistentTime(WallTimeError):
    """The wall time falls in a DST gap: the clocks skipped it."""


class AmbiguousTime(WallTimeError):
    """The wall time falls in a DST fold: it happened twice; ``fold`` must say which."""


#: The years of the instants the service keeps: wider than any schedule, narrow enough that every
#: zone, duration and format (iCalendar, XMLTV, RFC 3339) can represent them.
FIRST_YEAR, LAST_YEAR = 1900, 2199
SUPPORTED = f"a time from {FIRST_YEAR} to {LAST_YEAR}"


def supported(value: datetime | date) -> bool:
    """Whether ``value`` (an instant, a wall time or a date) lies in the years the service keeps.

    Checked on the value as given, before any conversion: near year 1 or 9999 turning it into
    another zone would itself overflow.
    """
    return FIRST_YEAR <= value.year <= LAST_YEAR


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name``; raise ``ValueError`` for anything else."""
    if not name or name not in _zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"{name!r} is not an IANA time zone") from e


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def to_instant(wall: datetime, tz: ZoneInfo, fold: int | None = None) -> datetime:
    """Return the UTC instant of the naive wall time ``wall`` in ``tz``.

    :param fold: 0 for the first of two repeated wall times, 1 for the second; required
        when the wall time is ambiguous, ignored otherwise.
    """
    if wall.tzinfo is not None:
        raise ValueError("a wall time has no offset")
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either a gap (the round trip does not come back) or a fold (both are real).
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back != wall:
            raise NonexistentTime(
                f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key}: the clocks skip it (daylight saving)"
            )
        if fold is None:
            raise AmbiguousTime(
                f"{wall:%Y-%m-%d %H:%M} happens twice in {tz.key} (clocks go back); "
                "give fold 0 for the first, 1 for the second"
            )
        return (second if fold else first).astimezone(UTC)
    return first.astimezone(UTC)


def local(instant: datetime, tz: ZoneInfo) -> datetime:
    """Return ``instant`` on the wall clock of ``tz`` (aware)."""
    return instant.astimezone(tz)


def broadcast_day(instant: datetime, tz: ZoneInfo, day_start: time) -> date:
    """Return the broadcast day ``instant`` belongs to: local times before ``day_start`` are the day before."""
    wall = instant.astimezone(tz)
    day = wall.date()
    if wall.time().replace(tzinfo=None) < day_start:
        day -= timedelta(days=1)
    return day


def day_bounds(day: date, tz: ZoneInfo, day_start: time) -> tuple[datetime, datetime]:
    """Return the UTC instants where broadcast day ``day`` begins and ends.

    A day start inside a DST gap begins at the first instant after the gap.
    """
    return _day_start_instant(day, tz, day_start), _day_start_instant(day + timedelta(days=1), tz, day_start)


def _day_start_instant(day: date, tz: ZoneInfo, day_start: time) -> datetime:
    wall = datetime.combine(day, day_start)
    try:
        return to_instant(wall, tz, fold=0)
    except NonexistentTime:
        # The day begins at the first instant whose wall time is not before day_start: the
        # end of the gap. fold=1 lands before the gap; walk forward a minute at a time.
        instant = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        while instant.astimezone(tz).replace(tzinfo=None) < wall:
            instant += timedelta(minutes=1)
        return instant


def parse_day_start(text: str) -> time:
    """Parse "HH:MM" into a time; raise ``ValueError`` otherwise."""
    try:
        parsed = datetime.strptime(text, "%H:%M").time()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{text!r} is not a time of day as HH:MM") from e
    return parsed


def exact_duration(text: Any, example: str) -> timedelta:
    """Parse an exact ISO 8601 duration (days are 24 hours); years and months, which are not, are refused.

    :param example: a duration shown in the messages ("-PT10M").
    """
    if not isinstance(text, str):
        raise ValueError(f'an ISO 8601 duration such as "{example}"')
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as e:
        raise ValueError(f'{text!r} is not an ISO 8601 duration such as "{example}"') from e
    if not isinstance(value, timedelta):
        raise ValueError("years and months are not exact; use days, hours, minutes or seconds")
    return value
