"""The demo schedule of SPEC §3: Mir's week, and its world-exclusive interview tonight right after midnight."""

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import schedule
from schedule_service.broadcast_time import broadcast_day, to_instant
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
    "image_alt": "Serzh Sargsyan in the Mir studio, speaking to the interviewer",
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
            "category": "интервью",
            "image_alt": "Серж Саргсян в студии телеканала «Мир» отвечает на вопросы ведущего",
            "guests": [{"name": "Серж Саргсян", "role": "президент Армении"}],
        }
    },
}

#: The categories' Russian names, as Russian pages show them.
CATEGORIES = {
    "news": "новости",
    "series": "сериал",
    "film": "художественный фильм",
    "talk": "ток-шоу",
    "music": "музыка",
    "lifestyle": "кулинария",
    "entertainment": "развлекательная программа",
    "children": "детям",
    "documentary": "документальный фильм",
}

#: The afternoon films, Monday first: (en, ru).
DAY_FILMS = [
    ("Feature Film: Office Romance", "Х/ф «Служебный роман»"),
    ("Feature Film: The Diamond Arm", "Х/ф «Бриллиантовая рука»"),
    (
        "Feature Film: Welcome, or No Trespassing",
        "Х/ф «Добро пожаловать, или Посторонним вход воспрещён»",
    ),
    ("Feature Film: The Cranes Are Flying", "Х/ф «Летят журавли»"),
    ("Feature Film: Carnival Night", "Х/ф «Карнавальная ночь»"),
]
#: The night films, Monday first: (en, ru).
NIGHT_FILMS = [
    ("Night Film: Beware of the Car", "Х/ф «Берегись автомобиля»"),
    ("Night Film: Ivan Vasilievich Changes Profession", "Х/ф «Иван Васильевич меняет профессию»"),
    ("Night Film: Autumn Marathon", "Х/ф «Осенний марафон»"),
    ("Night Film: Moscow Does Not Believe in Tears", "Х/ф «Москва слезам не верит»"),
    ("Night Film: The Irony of Fate", "Х/ф «Ирония судьбы, или С лёгким паром!»"),
    ("Night Film: Kin-dza-dza!", "Х/ф «Кин-дза-дза!»"),
    ("Night Film: White Sun of the Desert", "Х/ф «Белое солнце пустыни»"),
]
#: What follows the evening series on weekdays, Monday first: (en, ru, category).
EVENING_SHOWS = [
    ("Special Report", "Специальный репортаж", "documentary"),
    ("Game Show: The Weakest Link", "Игра: Слабое звено", "entertainment"),
    ("Special Report", "Специальный репортаж", "documentary"),
    ("Vmeste: Weekly Review", "Вместе: итоги недели", "news"),
    ("Game Show: Mind Games", "Игра: Игры разума", "entertainment"),
]

#: A broadcast day, (local start, minutes, en, ru, category); 00:05 is the exclusive's place on its night.
#: ``{film}``, ``{night_film}`` and ``{evening}`` are the day's own.
WEEKDAY = [
    ("05:00", 240, "Good Morning, Commonwealth", "Доброе утро, Содружество", "news"),
    ("09:00", 60, "News", "Новости", "news"),
    ("10:00", 120, "Daytime Series: The Border", "Т/с «Граница»", "series"),
    ("12:00", 60, "News", "Новости", "news"),
    ("13:00", 180, "{film}", None, "film"),
    ("16:00", 60, "News", "Новости", "news"),
    ("17:00", 60, "Our Kitchen", "Наша кухня", "lifestyle"),
    ("18:00", 60, "Evening News", "Вечерние новости", "news"),
    ("19:00", 120, "Drama: The Lighthouse Keeper", "Т/с «Смотритель маяка»", "series"),
    ("21:00", 60, "{evening}", None, None),
    ("22:00", 125, "Talk Show: Open Door", "Ток-шоу: Открытая дверь", "talk"),
    ("00:05", 60, "Night News", "Ночные новости", "news"),
    ("01:05", 115, "{night_film}", None, "film"),
    ("03:00", 120, "Music of the Night", "Музыка ночи", "music"),
]
SATURDAY = [
    ("05:00", 180, "Cartoons", "Мультфильмы", "children"),
    ("08:00", 60, "News", "Новости", "news"),
    ("09:00", 60, "Our Kitchen", "Наша кухня", "lifestyle"),
    ("10:00", 120, "Game Show: The Weakest Link", "Игра: Слабое звено", "entertainment"),
    ("12:00", 60, "News", "Новости", "news"),
    ("13:00", 300, "Series Marathon: The Lighthouse Keeper", "Т/с «Смотритель маяка». Все серии недели", "series"),
    ("18:00", 60, "Evening News", "Вечерние новости", "news"),
    ("19:00", 120, "Feature Film: The Twelve Chairs", "Х/ф «Двенадцать стульев»", "film"),
    ("21:00", 185, "Concert: Songs of the Commonwealth", "Концерт: Песни Содружества", "music"),
    ("00:05", 60, "Night News", "Ночные новости", "news"),
    ("01:05", 115, "{night_film}", None, "film"),
    ("03:00", 120, "Music of the Night", "Музыка ночи", "music"),
]
SUNDAY = [
    ("05:00", 180, "Cartoons", "Мультфильмы", "children"),
    ("08:00", 60, "News", "Новости", "news"),
    ("09:00", 120, "Travel Show: Another World", "Путешествия: Другой мир", "documentary"),
    ("11:00", 60, "News", "Новости", "news"),
    ("12:00", 240, "Series: Officers' Wives", "Т/с «Офицерские жёны»", "series"),
    ("16:00", 120, "Feature Film: Afonya", "Х/ф «Афоня»", "film"),
    ("18:00", 60, "Evening News", "Вечерние новости", "news"),
    ("19:00", 120, "Feature Film: Gentlemen of Fortune", "Х/ф «Джентльмены удачи»", "film"),
    ("21:00", 60, "Vmeste: Weekly Review", "Вместе: итоги недели", "news"),
    ("22:00", 125, "Talk Show: Open Door", "Ток-шоу: Открытая дверь", "talk"),
    ("00:05", 60, "Night News", "Ночные новости", "news"),
    ("01:05", 115, "{night_film}", None, "film"),
    ("03:00", 120, "Music of the Night", "Музыка ночи", "music"),
]
#: Mir's broadcast day starts at 05:00; earlier shows belong to the night before.
DAY_STARTS = time(5)


def load_demo(session: Session) -> bool:
    """Add the demo channel, programmes and slots; return False when the demo is already there.

    The slots fill the current week, Monday to Sunday, and at least the seven broadcast days
    from today's on, so the grids, now/next and the feeds look like a channel's; the exclusive
    takes the 00:05 of the coming night.
    """
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
    at = now()
    today = broadcast_day(at, tz, DAY_STARTS)
    # The broadcast day that holds the coming 00:05 Moscow time: the local date's, even in the
    # small hours, when the night under way has passed its 00:05 already.
    exclusive_day = at.astimezone(tz).date()
    first = today - timedelta(days=today.weekday())
    last = max(first + timedelta(days=6), today + timedelta(days=6))
    exclusive = schedule.create_programme(session, EXCLUSIVE, ACTOR)
    programmes: dict[str, object] = {}
    slots = []
    day = first
    while day <= last:
        for hhmm, minutes, en, ru, category in _lineup(day):
            night = hhmm < "05:00"
            hour, minute = map(int, hhmm.split(":"))
            wall = day + timedelta(days=1) if night else day
            start = to_instant(datetime(wall.year, wall.month, wall.day, hour, minute), tz, fold=0)
            if night and hhmm == "00:05" and day == exclusive_day:
                programme = exclusive
            else:
                programme = programmes.get(en)
                if programme is None:
                    programme = programmes[en] = schedule.create_programme(
                        session, _programme(en, ru, category, minutes), ACTOR
                    )
            slots.append((programme, {"start": start, "end": start + timedelta(minutes=minutes)}))
        day += timedelta(days=1)
    schedule.create_slots(session, channel, slots, ACTOR)
    return True


def _lineup(day: date) -> list[tuple[str, int, str, str, str]]:
    """The broadcast day's shows, with its own films and evening show filled in."""
    weekday = day.weekday()
    template = SATURDAY if weekday == 5 else SUNDAY if weekday == 6 else WEEKDAY
    own = {
        "{film}": DAY_FILMS[weekday] + ("film",) if weekday < 5 else None,
        "{evening}": EVENING_SHOWS[weekday] if weekday < 5 else None,
        "{night_film}": NIGHT_FILMS[weekday] + ("film",),
    }
    return [(hhmm, minutes, *own.get(en, (en, ru, category))) for hhmm, minutes, en, ru, category in template]


def _programme(en: str, ru: str, category: str, minutes: int) -> dict:
    return {
        "title": en,
        "category": category,
        "duration_minutes": minutes,
        "language": "en",
        "translations": {"ru": {"title": ru, "category": CATEGORIES[category]}},
    }
