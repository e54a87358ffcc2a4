"""The when-phrase of SPEC §5: every rule in English and Russian, and properties over random instants."""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import get_day_names, get_month_names
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from schedule_service.promos import when_phrase as wp
from schedule_service.promos.when_phrase import PromoNotTrue, when_phrase

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
FIVE = time(5, 0)


def at(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def say(start, minutes, read_at, lang, tz=MOSCOW, day_start=FIVE):
    return when_phrase(start, start + timedelta(minutes=minutes), read_at, tz, day_start, lang)


# The table: 2031-11-21 is a Friday. Mir: Moscow, broadcast day from 05:00.
FRI = (2031, 11, 21)
SAT = (2031, 11, 22)

TABLE = [
    # rule 2: on air from the first second to the last
    ("on air at the start", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 0, 5), "on air now", "уже в эфире"),
    ("on air a second before the end", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 1, 4, 59), "on air now", "уже в эфире"),
    # rule 3: minutes, with Russian's three plural forms
    ("60 minutes ahead", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *FRI, 23, 5), "in 60 minutes", "через 60 минут"),
    ("1 minute", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 0, 4), "in 1 minute", "через 1 минуту"),
    ("2 minutes", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 0, 3), "in 2 minutes", "через 2 минуты"),
    ("5 minutes", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 0, 0), "in 5 minutes", "через 5 минут"),
    ("11 minutes", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *FRI, 23, 54), "in 11 minutes", "через 11 минут"),
    ("21 minutes", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *FRI, 23, 44), "in 21 minutes", "через 21 минуту"),
    ("22 minutes", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *FRI, 23, 43), "in 22 minutes", "через 22 минуты"),
    ("seconds ahead round up", at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *SAT, 0, 4, 30), "in 1 minute", "через 1 минуту"),
    # rule 4: SPEC's own example, and from the very start of the broadcast day
    (
        "right after midnight",
        at(MOSCOW, *SAT, 0, 5),
        at(MOSCOW, *FRI, 18, 0),
        "tonight right after midnight",
        "сегодня сразу после полуночи",
    ),
    (
        "right after midnight, read at day start",
        at(MOSCOW, *SAT, 0, 29),
        at(MOSCOW, *FRI, 5, 0),
        "tonight right after midnight",
        "сегодня сразу после полуночи",
    ),
    # rule 5
    ("tonight at night", at(MOSCOW, *SAT, 1, 30), at(MOSCOW, *FRI, 18), "tonight at 01:30", "сегодня ночью в 01:30"),
    (
        "00:30 is no longer right after",
        at(MOSCOW, *SAT, 0, 30),
        at(MOSCOW, *FRI, 9),
        "tonight at 00:30",
        "сегодня ночью в 00:30",
    ),
    # rule 6
    (
        "tonight in the evening",
        at(MOSCOW, *FRI, 21),
        at(MOSCOW, *FRI, 12),
        "tonight at 21:00",
        "сегодня вечером в 21:00",
    ),
    ("evening from 17:00", at(MOSCOW, *FRI, 17), at(MOSCOW, *FRI, 9), "tonight at 17:00", "сегодня вечером в 17:00"),
    ("later this night", at(MOSCOW, *SAT, 2), at(MOSCOW, *SAT, 0, 10), "tonight at 02:00", "сегодня ночью в 02:00"),
    # rule 7
    ("today", at(MOSCOW, *FRI, 14), at(MOSCOW, *FRI, 9), "today at 14:00", "сегодня в 14:00"),
    ("today until 17:00", at(MOSCOW, *FRI, 16, 59), at(MOSCOW, *FRI, 9), "today at 16:59", "сегодня в 16:59"),
    # rule 8: SPEC's example, and the Russian prepositions со/во
    (
        "overnight Saturday to Sunday",
        at(MOSCOW, 2031, 11, 23, 0, 5),
        at(MOSCOW, 2031, 11, 20, 12),
        "overnight Saturday to Sunday at 00:05",
        "в ночь с субботы на воскресенье в 00:05",
    ),
    (
        "overnight, read before the day start the night before",
        at(MOSCOW, *SAT, 0, 5),
        at(MOSCOW, *FRI, 4, 59),
        "overnight Friday to Saturday at 00:05",
        "в ночь с пятницы на субботу в 00:05",
    ),
    (
        "overnight into Wednesday",
        at(MOSCOW, 2031, 11, 26, 3),
        at(MOSCOW, *FRI, 12),
        "overnight Tuesday to Wednesday at 03:00",
        "в ночь со вторника на среду в 03:00",
    ),
    (
        "overnight into Thursday",
        at(MOSCOW, 2031, 11, 27, 3),
        at(MOSCOW, *FRI, 12),
        "overnight Wednesday to Thursday at 03:00",
        "в ночь со среды на четверг в 03:00",
    ),
    (
        "overnight a week ahead",
        at(MOSCOW, 2031, 11, 23, 0, 5),
        at(MOSCOW, 2031, 11, 16, 12),
        "overnight Saturday to Sunday at 00:05",
        "в ночь с субботы на воскресенье в 00:05",
    ),
    # rule 9
    ("tomorrow", at(MOSCOW, *SAT, 20), at(MOSCOW, *FRI, 12), "tomorrow at 20:00", "завтра в 20:00"),
    ("tomorrow from day start", at(MOSCOW, *SAT, 5), at(MOSCOW, *FRI, 12), "tomorrow at 05:00", "завтра в 05:00"),
    # rule 10
    ("Tuesday", at(MOSCOW, 2031, 11, 25, 20), at(MOSCOW, *FRI, 12), "on Tuesday at 20:00", "во вторник в 20:00"),
    ("Wednesday", at(MOSCOW, 2031, 11, 26, 20), at(MOSCOW, *FRI, 12), "on Wednesday at 20:00", "в среду в 20:00"),
    ("six days on", at(MOSCOW, 2031, 11, 27, 20), at(MOSCOW, *FRI, 12), "on Thursday at 20:00", "в четверг в 20:00"),
    # rule 11: SPEC's example; a year ahead says the year
    ("a week on", at(MOSCOW, 2031, 11, 28, 20), at(MOSCOW, *FRI, 12), "on 28 November at 20:00", "28 ноября в 20:00"),
    ("into next year", at(MOSCOW, 2032, 1, 5, 20), at(MOSCOW, *FRI, 12), "on 5 January at 20:00", "5 января в 20:00"),
    (
        "a year on",
        at(MOSCOW, 2032, 11, 28, 20),
        at(MOSCOW, *FRI, 12),
        "on 28 November 2032 at 20:00",
        "28 ноября 2032 г. в 20:00",
    ),
    # rule 8 counts broadcast days: a week ahead, read during the night of the same name, gets its date
    (
        "a week on, read during that night",
        at(MOSCOW, 2031, 11, 30, 2),
        at(MOSCOW, 2031, 11, 23, 1),
        "on 30 November at 02:00",
        "30 ноября в 02:00",
    ),
    (
        "a week on, read on the broadcast day after that night",
        at(MOSCOW, 2031, 11, 30, 2),
        at(MOSCOW, 2031, 11, 23, 5),
        "overnight Saturday to Sunday at 02:00",
        "в ночь с субботы на воскресенье в 02:00",
    ),
]


@pytest.mark.parametrize(("case", "start", "read_at", "en", "ru"), TABLE, ids=[row[0] for row in TABLE])
def test_every_rule_in_english_and_russian(case, start, read_at, en, ru):
    assert say(start, 60, read_at, "en") == en
    assert say(start, 60, read_at, "ru") == ru


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_after_the_end_nothing_is_true(lang):
    start = at(MOSCOW, *SAT, 0, 5)
    with pytest.raises(PromoNotTrue, match="ended"):
        say(start, 60, start + timedelta(minutes=60), lang)
    with pytest.raises(PromoNotTrue):
        say(start, 60, start + timedelta(days=3), lang)


@pytest.mark.parametrize(
    ("tz", "day_start", "start", "night_before", "day_after"),
    [
        # Berlin, broadcast day from 06:00: a week across the end of summer time (26 October 2031).
        (BERLIN, time(6), at(BERLIN, 2031, 10, 26, 1, 30), at(BERLIN, 2031, 10, 19, 1), at(BERLIN, 2031, 10, 19, 7)),
        # New York, across the start of its summer time (9 March 2031), broadcast day from 05:00.
        (NEW_YORK, FIVE, at(NEW_YORK, 2031, 3, 16, 2), at(NEW_YORK, 2031, 3, 9, 1), at(NEW_YORK, 2031, 3, 9, 5)),
        # Kolkata reads a Moscow night in its own zone and days: Sunday 02:00 there.
        (KOLKATA, FIVE, at(KOLKATA, 2031, 11, 30, 2), at(KOLKATA, 2031, 11, 23, 1, 30), at(KOLKATA, 2031, 11, 23, 12)),
    ],
)
def test_a_night_a_week_on_counts_broadcast_days_across_dst_and_zones(tz, day_start, start, night_before, day_after):
    date_en = f"on {start.day} {start:%B} at {start:%H:%M}"
    for lang, dated in (("en", date_en), ("ru", None)):
        read_in_that_night = say(start, 60, night_before, lang, tz=tz, day_start=day_start)
        if dated:
            assert read_in_that_night == dated
        else:
            assert read_in_that_night.startswith(f"{start.day} ") and "в ночь" not in read_in_that_night
        overnight = say(start, 60, day_after, lang, tz=tz, day_start=day_start)
        assert overnight.startswith(
            "overnight Saturday to Sunday" if lang == "en" else "в ночь с субботы на воскресенье"
        )


def test_the_audience_zone_decides_the_day_and_the_time():
    start, read_at = at(MOSCOW, *SAT, 0, 5), at(MOSCOW, *FRI, 18)
    assert say(start, 60, read_at, "en", tz=MOSCOW) == "tonight right after midnight"
    # 02:35 in Kolkata, read at 20:30 there.
    assert say(start, 60, read_at, "en", tz=KOLKATA) == "tonight at 02:35"
    assert say(start, 60, read_at, "ru", tz="Asia/Kolkata") == "сегодня ночью в 02:35"
    # 16:05 in New York, read at 10:00 there.
    assert say(start, 60, read_at, "en", tz=NEW_YORK) == "today at 16:05"


def test_the_broadcast_day_start_decides_what_is_still_tonight():
    start, read_at = at(MOSCOW, *SAT, 1, 30), at(MOSCOW, *FRI, 18)
    assert say(start, 60, read_at, "en", day_start=time(6)) == "tonight at 01:30"
    # With the day starting at 01:00, 01:30 on Saturday is Saturday's own day.
    assert say(start, 60, read_at, "en", day_start=time(1)) == "tomorrow at 01:30"


def test_minutes_are_exact_across_a_dst_gap_and_a_fold():
    # Berlin springs forward at 02:00 CET on 30 March 2031: 01:55 CET to 03:05 CEST is 10 minutes.
    assert say(at(BERLIN, 2031, 3, 30, 3, 5), 60, at(BERLIN, 2031, 3, 30, 1, 55), "en", BERLIN) == "in 10 minutes"
    # New York falls back at 02:00 EDT on 2 November 2031: 01:50 EDT to 01:10 EST is 20 minutes.
    first, second = datetime(2031, 11, 2, 5, 50, tzinfo=UTC), datetime(2031, 11, 2, 6, 10, tzinfo=UTC)
    assert (first.astimezone(NEW_YORK).hour, second.astimezone(NEW_YORK).hour) == (1, 1)
    assert say(second, 30, first, "ru", NEW_YORK) == "через 20 минут"


def test_a_night_across_the_spring_gap_is_still_tonight():
    start = datetime(2031, 3, 30, 3, 30, tzinfo=BERLIN)  # CEST, just after the gap
    assert say(start, 60, at(BERLIN, 2031, 3, 29, 12), "en", BERLIN, time(6)) == "tonight at 03:30"
    assert say(start, 60, at(BERLIN, 2031, 3, 29, 12), "ru", BERLIN, time(6)) == "сегодня ночью в 03:30"


def test_an_unknown_language_is_refused_by_name():
    with pytest.raises(ValueError, match="'de'"):
        say(at(MOSCOW, *SAT, 0, 5), 60, at(MOSCOW, *FRI, 18), "de")


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        when_phrase(datetime(2031, 11, 22), datetime(2031, 11, 22, 1), at(MOSCOW, *FRI, 18), MOSCOW, FIVE, "en")


# The one hand-kept table, and the catalogs


def test_the_russian_weekday_table_covers_exactly_cldrs_weekday_names():
    assert set(wp.RU_WEEKDAY_FORMS) == set(get_day_names("wide", "format", "ru").values())
    assert set(wp.RU_WEEKDAY_FORMS) == set(get_day_names("wide", "stand-alone", "ru").values())
    for forms in wp.RU_WEEKDAY_FORMS.values():
        assert forms["on"].split()[0] in ("в", "во")
        assert forms["from"].split()[0] in ("с", "со")
        assert forms["to"].startswith("на ")


TRANSLATIONS = Path(wp.__file__).resolve().parent.parent / "translations"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_phrases_catalog_is_complete_and_compiled(lang):
    with (TRANSLATIONS / "phrases.pot").open("rb") as f:
        template = read_po(f)
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "phrases.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "phrases.mo").open("rb") as f:
        compiled = read_mo(f)
    wanted = {(m.id, m.context) for m in template if m.id}
    assert wanted == {(m.id, m.context) for m in catalog if m.id}
    for message in catalog:
        if not message.id:
            continue
        assert message.string and not message.fuzzy, message.id
        got = compiled.get(message.id, message.context).string
        assert _strings(got) == _strings(message.string), "run pybabel compile -D phrases"
    assert not catalog.check() or all(not errors for _, errors in catalog.check())


def _strings(value) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


# Properties over random instants, zones and broadcast day starts

ZONES = [MOSCOW, BERLIN, NEW_YORK, KOLKATA, ZoneInfo("UTC")]
DAY_STARTS = [time(0), time(2, 30), time(4, 30), time(5), time(6)]
#: Instants near the DST changes of 2031, where wall clocks and days misbehave.
TRANSITIONS = [
    datetime(2031, 3, 30, 1, tzinfo=UTC),  # Berlin forward
    datetime(2031, 10, 26, 1, tzinfo=UTC),  # Berlin back
    datetime(2031, 3, 9, 7, tzinfo=UTC),  # New York forward
    datetime(2031, 11, 2, 6, tzinfo=UTC),  # New York back
]

instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)),
    st.builds(lambda t, m: t + timedelta(minutes=m), st.sampled_from(TRANSITIONS), st.integers(-3000, 3000)),
)
leads = st.one_of(
    st.integers(-400, 400),  # around air time: on air, minutes, the end
    st.integers(-3 * 1440, 9 * 1440),  # the coming week
    st.integers(0, 400 * 1440),  # the coming year
).map(lambda m: timedelta(minutes=m))
cases = st.fixed_dictionaries(
    {
        "read_at": instants,
        "lead": leads,
        "seconds": st.integers(0, 59),
        "minutes": st.integers(1, 300),
        "tz": st.sampled_from(ZONES),
        "day_start": st.sampled_from(DAY_STARTS),
    }
)
PROPERTY = settings(max_examples=300, deadline=None)

EN_WEEKDAYS = {name: i for i, name in get_day_names("wide", "format", "en").items()}
RU_NAMES = {name: i for i, name in get_day_names("wide", "format", "ru").items()}
RU_FORM = {
    role: {forms[role]: RU_NAMES[name] for name, forms in wp.RU_WEEKDAY_FORMS.items()} for role in ("on", "from", "to")
}
EN_MONTHS = {name: i for i, name in get_month_names("wide", "format", "en").items()}
RU_MONTHS = {name: i for i, name in get_month_names("wide", "format", "ru").items()}
RU_MINUTES = {"one": "минуту", "few": "минуты", "many": "минут", "other": "минуты"}


def _show(case):
    start = (case["read_at"] + case["lead"]).replace(second=case["seconds"], microsecond=0)
    return start, start + timedelta(minutes=case["minutes"])


def _claims(phrase: str, lang: str) -> dict:
    """What a reader learns from the phrase: which rule spoke, and the weekday, date, time it names."""
    patterns = {
        "en": [
            ("now", r"on air now"),
            ("minutes", r"in (?P<n>\d+) minutes?"),
            ("midnight", r"tonight right after midnight"),
            ("tonight", r"tonight at (?P<hm>\d\d:\d\d)"),
            ("today", r"today at (?P<hm>\d\d:\d\d)"),
            ("overnight", r"overnight (?P<from>\w+) to (?P<to>\w+) at (?P<hm>\d\d:\d\d)"),
            ("tomorrow", r"tomorrow at (?P<hm>\d\d:\d\d)"),
            ("weekday", r"on (?P<on>[A-Z]\w+) at (?P<hm>\d\d:\d\d)"),
            ("date", r"on (?P<d>\d+) (?P<month>\w+)(?: (?P<y>\d{4}))? at (?P<hm>\d\d:\d\d)"),
        ],
        "ru": [
            ("now", r"уже в эфире"),
            ("minutes", r"через (?P<n>\d+) (?P<unit>минуту|минуты|минут)"),
            ("midnight", r"сегодня сразу после полуночи"),
            ("tonight", r"сегодня (?P<part>ночью|вечером) в (?P<hm>\d\d:\d\d)"),
            ("today", r"сегодня в (?P<hm>\d\d:\d\d)"),
            ("overnight", r"в ночь (?P<from>со? \w+) (?P<to>на \w+) в (?P<hm>\d\d:\d\d)"),
            ("tomorrow", r"завтра в (?P<hm>\d\d:\d\d)"),
            ("weekday", r"(?P<on>во? \w+) в (?P<hm>\d\d:\d\d)"),
            ("date", r"(?P<d>\d+) (?P<month>\w+)(?: (?P<y>\d{4}) г\.)? в (?P<hm>\d\d:\d\d)"),
        ],
    }[lang]
    for kind, pattern in patterns:
        found = re.fullmatch(pattern, phrase)
        if found:
            return {"kind": kind, **{k: v for k, v in found.groupdict().items() if v is not None}}
    raise AssertionError(f"{phrase!r} is no phrase of SPEC §5 in {lang}")


def _next_date(after: date, month: int, day: int) -> date:
    for year in range(after.year, after.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29 February
            continue
        if candidate > after:
            return candidate
    raise AssertionError("no such date")


def _weekday(name: str, lang: str, role: str) -> int:
    return EN_WEEKDAYS[name] if lang == "en" else RU_FORM[role][name]


def _check_claims(claims: dict, lang: str, start, end, read_at, tz, day_start) -> None:
    """Assert that everything the phrase says is true of the show."""
    a, p = start.astimezone(tz), read_at.astimezone(tz)
    day_a, day_p = a.date(), p.date()
    time_a = a.time().replace(tzinfo=None)
    days = (day_a - day_p).days
    kind = claims["kind"]
    if kind == "now":
        assert start <= read_at < end
        return
    assert read_at < start
    if kind == "minutes":
        n = int(claims["n"])
        assert (n - 1) * 60 < (start - read_at).total_seconds() <= n * 60
        if lang == "ru":
            assert claims["unit"] == RU_MINUTES[Locale.parse("ru").plural_form(n)]
        return
    if "hm" in claims:
        assert claims["hm"] == f"{a.hour:02d}:{a.minute:02d}"
    time_p = p.time().replace(tzinfo=None)
    if kind == "midnight":
        # Said during the broadcast day before, not in the small hours of the night before that.
        assert days == 1 and time_a < time(0, 30) and time_p >= day_start
    elif kind == "tonight":
        # This evening, or the night that follows it before the next broadcast day.
        assert days == 0 or (days == 1 and time_a < day_start and time_p >= day_start)
        if claims.get("part") == "вечером":
            assert time_a >= time(17)
        if claims.get("part") == "ночью":
            assert time_a < day_start
    elif kind == "today":
        assert days == 0
    elif kind == "overnight":
        assert time_a < day_start and 1 <= days <= 7
        # Within six broadcast days: never the same-named night a week on.
        bday_p = day_p - timedelta(days=1) if time_p < day_start else day_p
        assert (day_a - timedelta(days=1) - bday_p).days <= 6
        assert _weekday(claims["to"], lang, "to") == day_a.weekday()
        assert _weekday(claims["from"], lang, "from") == (day_a - timedelta(days=1)).weekday()
    elif kind == "tomorrow":
        assert days == 1
    elif kind == "weekday":
        assert 2 <= days <= 6 and _weekday(claims["on"], lang, "on") == day_a.weekday()
    elif kind == "date":
        months = EN_MONTHS if lang == "en" else RU_MONTHS
        assert (int(claims["d"]), months[claims["month"]]) == (day_a.day, day_a.month)
        if "y" in claims:
            assert int(claims["y"]) == day_a.year
        else:  # without a year, a reader takes the next such date
            assert _next_date(day_p, day_a.month, day_a.day) == day_a
        assert days >= 7


@PROPERTY
@given(cases)
def test_the_phrase_is_true_when_it_is_read(case):
    start, end = _show(case)
    read_at, tz, day_start = case["read_at"], case["tz"], case["day_start"]
    for lang in ("en", "ru"):
        if read_at >= end:
            with pytest.raises(PromoNotTrue):
                when_phrase(start, end, read_at, tz, day_start, lang)
            continue
        phrase = when_phrase(start, end, read_at, tz, day_start, lang)
        _check_claims(_claims(phrase, lang), lang, start, end, read_at, tz, day_start)


@PROPERTY
@given(cases)
def test_on_air_now_exactly_while_on_air(case):
    start, end = _show(case)
    read_at = case["read_at"]
    if read_at >= end:
        return
    en = when_phrase(start, end, read_at, case["tz"], case["day_start"], "en")
    ru = when_phrase(start, end, read_at, case["tz"], case["day_start"], "ru")
    assert (en == "on air now") == (start <= read_at < end) == (ru == "уже в эфире")


@PROPERTY
@given(cases)
def test_both_languages_say_the_same_thing(case):
    start, end = _show(case)
    if case["read_at"] >= end:
        return
    args = (start, end, case["read_at"], case["tz"], case["day_start"])
    en, ru = _claims(when_phrase(*args, "en"), "en"), _claims(when_phrase(*args, "ru"), "ru")
    assert en["kind"] == ru["kind"]
    assert en.get("hm") == ru.get("hm") and en.get("n") == ru.get("n")
