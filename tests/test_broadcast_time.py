"""Wall time ↔ instant across DST gaps and folds, and broadcast days that cross midnight."""

from datetime import date, datetime, time, timedelta

import pytest

from schedule_service.broadcast_time import (
    AmbiguousTime,
    NonexistentTime,
    broadcast_day,
    day_bounds,
    to_instant,
    zone,
)
from tests.conftest import utc

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")
MOSCOW = zone("Europe/Moscow")


@pytest.mark.parametrize(
    ("tz", "wall"),
    [(BERLIN, datetime(2026, 3, 29, 2, 30)), (NEW_YORK, datetime(2026, 3, 8, 2, 15))],
)
def test_a_wall_time_in_the_spring_gap_does_not_exist(tz, wall):
    with pytest.raises(NonexistentTime, match="does not exist"):
        to_instant(wall, tz)


@pytest.mark.parametrize(
    ("tz", "wall", "first", "second"),
    [
        (BERLIN, datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
        (NEW_YORK, datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)),
    ],
)
def test_a_wall_time_in_the_autumn_fold_needs_fold_to_say_which(tz, wall, first, second):
    with pytest.raises(AmbiguousTime, match="happens twice"):
        to_instant(wall, tz)
    assert to_instant(wall, tz, fold=0) == first
    assert to_instant(wall, tz, fold=1) == second


def test_an_ordinary_wall_time_ignores_fold():
    assert to_instant(datetime(2026, 7, 1, 20, 0), BERLIN, fold=1) == utc(2026, 7, 1, 18, 0)


def test_after_midnight_in_moscow_belongs_to_the_broadcast_day_before():
    instant = to_instant(datetime(2026, 11, 28, 0, 5), MOSCOW)
    assert instant == utc(2026, 11, 27, 21, 5)
    assert broadcast_day(instant, MOSCOW, time(5, 0)) == date(2026, 11, 27)
    assert broadcast_day(instant + timedelta(hours=5), MOSCOW, time(5, 0)) == date(2026, 11, 28)


def test_a_day_starting_at_six_holds_five_in_the_morning_in_the_night_before():
    five = to_instant(datetime(2026, 6, 2, 5, 59), BERLIN)
    six = to_instant(datetime(2026, 6, 2, 6, 0), BERLIN)
    assert broadcast_day(five, BERLIN, time(6)) == date(2026, 6, 1)
    assert broadcast_day(six, BERLIN, time(6)) == date(2026, 6, 2)


def test_broadcast_days_across_dst_last_23_and_25_hours():
    start, end = day_bounds(date(2026, 3, 29), BERLIN, time(0, 0))
    assert end - start == timedelta(hours=23)
    start, end = day_bounds(date(2026, 11, 1), NEW_YORK, time(0, 0))
    assert end - start == timedelta(hours=25)


def test_a_day_start_inside_the_gap_begins_where_the_gap_ends():
    start, _ = day_bounds(date(2026, 3, 29), BERLIN, time(2, 30))
    assert start == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the first instant after 02:30 would have been
    assert broadcast_day(start, BERLIN, time(2, 30)) == date(2026, 3, 29)
    assert broadcast_day(start - timedelta(minutes=1), BERLIN, time(2, 30)) == date(2026, 3, 28)


@pytest.mark.parametrize("name", ["Nowhere/Else", "", "+03:00", "EST5EDT-junk", "../../etc/passwd"])
def test_only_iana_zones_are_zones(name):
    with pytest.raises(ValueError, match="IANA"):
        zone(name)
