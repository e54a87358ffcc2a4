"""When a show airs, said relative to the moment a promo is read (SPEC §5), in English and Russian.

The phrases come from the gettext domain ``phrases`` (translations/<lang>/LC_MESSAGES/phrases.po),
kept apart from the UI's ``messages`` domain. Weekday and month names and plural rules come from
CLDR through Babel; the one hand-kept table holds the Russian weekday case forms, which CLDR lacks.

After changing a phrase, re-extract and compile the catalogs from the project root::

    pybabel extract --no-default-keywords -k _p:2 -k _np:2,3 -k _pp:2c,3 --add-comments=TRANSLATORS: \\
        -o schedule_service/translations/phrases.pot schedule_service/promos/when_phrase.py
    pybabel update -D phrases -i schedule_service/translations/phrases.pot -d schedule_service/translations
    pybabel compile -D phrases -d schedule_service/translations
"""

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, get_day_names
from babel.support import NullTranslations, Translations

from schedule_service.broadcast_time import zone

DOMAIN = "phrases"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

#: Up to this far ahead, a promo counts the minutes (rule 3).
MINUTES_AHEAD = timedelta(minutes=60)
#: A show starting before this, the night after the promo, is "right after midnight" (rule 4).
RIGHT_AFTER_MIDNIGHT = time(0, 30)
#: From this time on, a show today is "tonight" (rule 6).
EVENING = time(17, 0)

#: Russian weekday case forms, keyed by CLDR's nominative names (``ru``, wide): the form after
#: "в/во" ("во вторник", accusative), after "с/со" ("с субботы", genitive) and after "на"
#: ("на воскресенье", accusative). CLDR has no grammatical cases, so this table is ours.
RU_WEEKDAY_FORMS = {
    "понедельник": {"on": "в понедельник", "from": "с понедельника", "to": "на понедельник"},
    "вторник": {"on": "во вторник", "from": "со вторника", "to": "на вторник"},
    "среда": {"on": "в среду", "from": "со среды", "to": "на среду"},
    "четверг": {"on": "в четверг", "from": "с четверга", "to": "на четверг"},
    "пятница": {"on": "в пятницу", "from": "с пятницы", "to": "на пятницу"},
    "суббота": {"on": "в субботу", "from": "с субботы", "to": "на субботу"},
    "воскресенье": {"on": "в воскресенье", "from": "с воскресенья", "to": "на воскресенье"},
}
WEEKDAY_FORMS = {"ru": RU_WEEKDAY_FORMS}


class PromoNotTrue(ValueError):
    """No when-phrase is true at that moment: the show has ended (SPEC §5 rule 1), or will not air."""


def _p(t: NullTranslations, message: str) -> str:
    return t.gettext(message)


def _np(t: NullTranslations, singular: str, plural: str, n: int) -> str:
    return t.ngettext(singular, plural, n)


def _pp(t: NullTranslations, context: str, message: str) -> str:
    return t.pgettext(context, message)


@cache
def translations(lang: str) -> NullTranslations:
    """Return the ``phrases`` catalog of ``lang``; raise ``ValueError`` for a language without one."""
    if lang not in languages():
        raise ValueError(f"no when-phrases in {lang!r}; there are: {', '.join(languages())}")
    return Translations.load(str(TRANSLATIONS), [lang], DOMAIN)


@cache
def languages() -> tuple[str, ...]:
    """Return the languages that have a compiled ``phrases`` catalog."""
    found = {p.parent.parent.name for p in TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return tuple(sorted(found | {"en"}))


def when_phrase(
    start: datetime, end: datetime, at: datetime, tz: ZoneInfo | str, day_start: time, lang: str = "en"
) -> str:
    """Say when the show [start, end) airs, as read at ``at`` by an audience in ``tz`` (SPEC §5).

    :param day_start: the channel's broadcast day start, a local time of day.
    :raises PromoNotTrue: at or after ``end``, when no phrase would be true.
    """
    for name, value in (("start", start), ("end", end), ("at", at)):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be an aware instant")
    # In UTC, because Python compares and subtracts two times of one zone by their wall clocks.
    start, end, at = (value.astimezone(UTC) for value in (start, end, at))
    if end <= start:
        raise ValueError("a show ends after it starts")
    tz = zone(tz) if isinstance(tz, str) else tz
    t = translations(lang)
    # Rule 1: once the show is over, nothing is true any more.
    if at >= end:
        raise PromoNotTrue(f"the show ended at {end.isoformat()}; no promo is true at {at.isoformat()}")
    # Rule 2.
    if start <= at:
        return _p(t, "on air now")
    # Rule 3: exact minutes, rounded up so "in 10 minutes" never promises more time than there is.
    if start - at <= MINUTES_AHEAD:
        minutes = max(1, math.ceil((start - at).total_seconds() / 60))
        return _np(t, "in %(num)s minute", "in %(num)s minutes", minutes) % {"num": minutes}

    a, p = start.astimezone(tz), at.astimezone(tz)
    day_a, day_p = a.date(), p.date()
    time_a, time_p = a.time().replace(tzinfo=None), p.time().replace(tzinfo=None)
    days = (day_a - day_p).days
    hhmm = {"time": f"{a.hour:02d}:{a.minute:02d}"}

    if days == 1 and time_a < RIGHT_AFTER_MIDNIGHT and time_p >= day_start:
        return _p(t, "tonight right after midnight")
    if days == 1 and time_a < day_start and time_p >= day_start:
        # TRANSLATORS: a show after midnight but before the broadcast day starts: "сегодня ночью в 01:30".
        return _pp(t, "night", "tonight at %(time)s") % hhmm
    if days == 0 and time_a >= EVENING:
        # TRANSLATORS: a show from 17:00 on, today: "сегодня вечером в 21:00".
        return _pp(t, "evening", "tonight at %(time)s") % hhmm
    if days == 0 and time_a < day_start:
        return _pp(t, "night", "tonight at %(time)s") % hhmm
    if days == 0:
        return _p(t, "today at %(time)s") % hhmm
    # Rule 8 counts broadcast days: a night exactly a week ahead, read during the night of the
    # same name (Sunday 01:00 for the next Sunday 02:00), gets its date, never "overnight".
    broadcast_days = (_broadcast_day(day_a, time_a, day_start) - _broadcast_day(day_p, time_p, day_start)).days
    if time_a < day_start and broadcast_days <= 6:
        # TRANSLATORS: from_day and to_day are weekdays in the forms after "from" and "to"
        # (Russian: "с субботы", "на воскресенье", from the module's table).
        return _p(t, "overnight %(from_day)s to %(to_day)s at %(time)s") % {
            "from_day": weekday(day_a - timedelta(days=1), lang, "from"),
            "to_day": weekday(day_a, lang, "to"),
            **hhmm,
        }
    if days == 1:
        return _p(t, "tomorrow at %(time)s") % hhmm
    if days <= 6:
        # TRANSLATORS: weekday is a weekday in the form after "on" (Russian: "во вторник", with its preposition).
        return _p(t, "on %(weekday)s at %(time)s") % {"weekday": weekday(day_a, lang, "on"), **hhmm}
    return _p(t, "on %(date)s at %(time)s") % {"date": day_and_month(day_a, day_p, lang), **hhmm}


def _broadcast_day(day: date, at: time, day_start: time) -> date:
    """The broadcast day (SPEC §4) of a local date and time: before ``day_start``, the day before."""
    return day - timedelta(days=1) if at < day_start else day


def weekday(day: date, lang: str, role: str = "on") -> str:
    """Name the weekday of ``day`` in ``lang``, in the form ``role`` ("on", "from", "to") asks for."""
    name = get_day_names("wide", "format", lang)[day.weekday()]
    forms = WEEKDAY_FORMS.get(lang)
    return forms[name][role] if forms else name


def day_and_month(day: date, today: date, lang: str) -> str:
    """Say ``day`` as "28 November" / "28 ноября", with the year when it is a year or more ahead."""
    t = translations(lang)
    if day.year == today.year or (day.year == today.year + 1 and (day.month, day.day) < (today.month, today.day)):
        # TRANSLATORS: a CLDR date pattern for day and month; MMMM is the month's name as in a date.
        return format_date(day, _pp(t, "date pattern", "d MMMM"), locale=lang)
    # TRANSLATORS: a CLDR date pattern for day, month and year.
    return format_date(day, _pp(t, "date pattern", "d MMMM y"), locale=lang)
