"""The demo schedule of SPEC §3: Mir, and its world-exclusive interview tonight right after midnight."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import schedule
from schedule_service.broadcast_time import to_instant
from schedule_service.clock import now
from schedule_service.models import Channel

ACTOR = "system"

EXCLUSIVE = {
    "title": "Serzh Sargsyan: the exclusive interview",
    "summary": (
        "On the 25th anniversary of the Collective Security Treaty and the 15th of the CSTO, "
        "the President of Armenia speaks to Mir about the alliance and its future."
    ),
    "category": "interview",
    "is_exclusive": True,
    "guests": [{"name": "Serzh Sargsyan", "role": "President of Armenia"}],
    "quote": "The collective security agreement is not directed against anyone.",
    "image_credit": "Press Service of the President of Russia",
    "duration_minutes": 60,
    "language": "en",
    "translations": {
        "ru": {
            "title": "Серж Саргсян: эксклюзивное интервью",
            "summary": (
                "К 25-летию Договора о коллективной безопасности и 15-летию ОДКБ президент Армении "
                "рассказывает телеканалу «Мир» о союзе и его будущем."
            ),
            "quote": "Договор о коллективной безопасности ни против кого не направлен.",
        }
    },
}

#: The rest of the broadcast day around the interview: (local start, minutes, en, ru, category).
LINEUP = [
    ("05:00", 240, "Good Morning, Commonwealth", "Доброе утро, Содружество", "news"),
    ("09:00", 60, "News", "Новости", "news"),
    ("10:00", 120, "Daytime Series: The Border", "Дневной сериал: Граница", "series"),
    ("12:00", 60, "News", "Новости", "news"),
    ("13:00", 180, "Feature Film: The Cranes Are Flying", "Художественный фильм: Летят журавли", "film"),
    ("16:00", 60, "News", "Новости", "news"),
    ("17:00", 60, "Our Kitchen", "Наша кухня", "lifestyle"),
    ("18:00", 60, "Evening News", "Вечерние новости", "news"),
    ("19:00", 120, "Drama: The Lighthouse Keeper", "Сериал: Смотритель маяка", "series"),
    ("21:00", 60, "Vmeste: Weekly Review", "Вместе: итоги недели", "news"),
    ("22:00", 125, "Talk Show: Open Door", "Ток-шоу: Открытая дверь", "talk"),
    ("00:05", None, None, None, None),  # the exclusive interview
    ("01:05", 115, "Night Film: Moscow Does Not Believe in Tears", "Ночной фильм: Москва слезам не верит", "film"),
    ("03:00", 120, "Music of the Night", "Музыка ночи", "music"),
]
#: Mir's broadcast day starts at 05:00; earlier shows belong to the night before.
DAY_STARTS = 5
#: The night under way when the demo is loaded between midnight and 05:00.
TONIGHT_SO_FAR = [
    ("00:05", 60, "Night News", "Ночные новости", "news"),
    ("01:05", 115, "Night Film: Moscow Does Not Believe in Tears", "Ночной фильм: Москва слезам не верит", "film"),
    ("03:00", 120, "Music of the Night", "Музыка ночи", "music"),
]


def load_demo(session: Session) -> bool:
    """Add the demo channel, programmes and slots; return False when the demo is already there."""
    if session.scalar(select(Channel).where(Channel.slug == "mir")) is not None:
        return False
    channel = schedule.create_channel(
        session,
        {
            "slug": "mir",
            "name": "Mir",
            "names": {"en": "Mir", "ru": "Мир"},
            "timezone": "Europe/Moscow",
            "broadcast_day_start": "05:00",
            "xmltv_id": "mir.example",
            "languages": ["en", "ru"],
        },
        ACTOR,
    )
    tz = channel.zone
    # The night after loading: the broadcast day that holds the coming 00:05 Moscow time.
    local_now = now().astimezone(tz)
    midnight = local_now.date() + timedelta(days=1)
    day = midnight - timedelta(days=1)
    lineup = [(day if _hour(hhmm) >= DAY_STARTS else midnight, hhmm, *rest) for hhmm, *rest in LINEUP]
    if local_now.hour < DAY_STARTS:
        # Loaded in the small hours, before today's broadcast day has begun: the night under way
        # gets its own shows too, so that now/next has something on air at once.
        lineup += [(day, hhmm, *rest) for hhmm, *rest in TONIGHT_SO_FAR]
    exclusive = schedule.create_programme(session, EXCLUSIVE, ACTOR)
    seen: dict[str, object] = {}
    for date, hhmm, minutes, en, ru, category in sorted(lineup, key=lambda row: row[:2]):
        hour, minute = map(int, hhmm.split(":"))
        start = to_instant(datetime(date.year, date.month, date.day, hour, minute), tz, fold=0)
        if en is None:
            programme, minutes = exclusive, EXCLUSIVE["duration_minutes"]
        else:
            programme = seen.get(en)
            if programme is None:
                programme = seen[en] = schedule.create_programme(
                    session,
                    {
                        "title": en,
                        "category": category,
                        "duration_minutes": minutes,
                        "language": "en",
                        "translations": {"ru": {"title": ru}},
                    },
                    ACTOR,
                )
        schedule.create_slot(session, channel, programme, {"start": start, "duration_minutes": minutes}, ACTOR)
    return True


def _hour(hhmm: str) -> int:
    return int(hhmm.split(":")[0])
