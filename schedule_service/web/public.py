"""Viewer pages: tonight and now/next, a channel's week, a programme, a slot. Server-rendered, no JS.

Every page takes ``?lang=`` and ``?tz=`` (remembered in cookies by :mod:`schedule_service.i18n`);
without a zone, times show in each channel's own zone. Broadcast days are always the channel's.
"""

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_gmt, get_timezone_location
from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select
from werkzeug.exceptions import HTTPException

from schedule_service import i18n, listings
from schedule_service.broadcast_time import WallTimeError, broadcast_day, to_instant
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.embargo import public_programme, public_slot, public_slots
from schedule_service.models import Channel, Programme, Slot
from schedule_service.models.slot import SCHEDULED
from schedule_service.promos.render import wants_badge
from schedule_service.web import pictures
from schedule_service.web.caching import kept_programmes, public, request_now, schedule_generation
from schedule_service.web.errors import problem

bp = Blueprint("public", __name__)

#: How far from today a broadcast day may be asked for (as in the JSON API).
MAX_DAYS_AWAY = 3660
#: "Tonight" begins at this local time of the channel's broadcast day.
EVENING = time(17, 0)
#: Highlights (exclusives, premieres) this far ahead show on the front page.
HIGHLIGHTS_AHEAD = timedelta(hours=48)
#: Zones offered by the picker, besides the channels' own and the viewer's; any IANA zone works in ?tz=.
PICKER_ZONES = (
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Yakutsk",
    "Asia/Vladivostok",
    "Asia/Magadan",
    "Asia/Kamchatka",
    "Europe/Minsk",
    "Europe/Chisinau",
    "Asia/Yerevan",
    "Asia/Tbilisi",
    "Asia/Baku",
    "Asia/Almaty",
    "Asia/Tashkent",
    "Asia/Bishkek",
    "Asia/Dushanbe",
    "Asia/Ashgabat",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "UTC",
)
VARY = ("Cookie", "Accept-Language")


def _viewer_key() -> tuple[str, str | None]:
    """What a page depends on besides its URL: the viewer's language and zone."""
    return i18n.chosen_lang(), i18n.chosen_tz()


page = public(resolution=60, vary=VARY, key=_viewer_key)


@bp.before_request
def _refuse_bad_choice() -> None:
    errors = i18n.query_errors()
    if errors:
        raise problem(400, " ".join(f"{msg}." for msg in errors.values()), errors)


@bp.after_request
def _remember_choice(response):
    return i18n.remember(response)


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException):
    """Viewers get a page, whatever their Accept header says."""
    status = error.code or 500
    return render_template("error.html", status=status, title=error.name, detail=error.description), status


# Pages


@bp.get("/")
@page
def front():
    """Tonight and now/next on every channel, with the coming highlights."""
    at = request_now()
    lang = _lang()
    rows = listings.now_next(db.session, at, kept_programmes(), schedule_generation())
    tonight = _tonight([row.channel for row in rows], at)
    channels = [
        {
            "channel": row.channel,
            "now": row.now,
            "next": row.next,
            "tonight": tonight.get(row.channel.id, []),
            "progress": _progress(row.now, at),
        }
        for row in rows
    ]
    # Each edition is a channel to its viewers (SPEC §9): a card of its own, after its channel's.
    editions = listings.all_editions(db.session)
    for edition in editions:
        row = listings.edition_now_next(db.session, edition, at)
        channels.append(
            {
                "channel": edition,
                "now": row.now,
                "next": row.next,
                "tonight": _edition_tonight(edition, at),
                "progress": _progress(row.now, at),
            }
        )
    order = {row.channel.slug: i for i, row in enumerate(rows)}
    channels.sort(key=lambda c: (order.get(getattr(c["channel"], "edition_of", c["channel"].slug), len(order)),))
    return render_template(
        "front.html",
        at=at,
        channels=[
            {
                **card,
                "now": public_slot(card["now"]),
                "next": public_slot(card["next"]),
                "tonight": public_slots(card["tonight"]),
            }
            for card in channels
        ],
        highlights=public_slots(_highlights(at)),
        nav_channels=sorted([row.channel for row in rows] + editions, key=lambda c: c.slug),
        lang=lang,
    )


@bp.get("/channels/<slug>")
@page
def channel_week(slug: str):
    """A channel's (or an edition's) broadcast week as a grid of days, the asked day (``?date=``) first on a phone."""
    channel = listings.channel_by_slug(db.session, slug)
    if channel is None:
        raise problem(404, _("There is no channel %(slug)s.", slug=slug))
    at = request_now()
    today = broadcast_day(at, channel.zone, channel.broadcast_day_start)
    day = _date_arg(today)
    first = Locale.parse(_lang()).first_week_day
    week_start = day - timedelta(days=(day.weekday() - first) % 7)
    days = [week_start + timedelta(days=i) for i in range(7)]
    lo = listings.day_range_of(channel, days[0])[0]
    hi = listings.day_range_of(channel, days[-1])[1]
    slots = listings.slots_of(db.session, channel, lo, hi)
    by_day: dict[date, list[Slot]] = {d: [] for d in days}
    for slot in public_slots(slots):
        by_day.setdefault(broadcast_day(slot.start_at, channel.zone, channel.broadcast_day_start), []).append(slot)
    tz = _zone(channel)
    columns = [{"day": d, "rows": _day_rows(d, by_day.get(d, []), tz)} for d in days]
    return render_template(
        "channel.html",
        channel=channel,
        columns=columns,
        day=day,
        today=today,
        at=at,
        prev_week=day - timedelta(days=7),
        next_week=day + timedelta(days=7),
        nav_channels=_all_channels(),
        lang=_lang(),
    )


@bp.get("/programmes/<int:programme_id>")
@page
def programme_page(programme_id: int):
    """A programme: what it is, who is in it, and when it airs next."""
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise problem(404, _("There is no programme %(id)s.", id=programme_id))
    at = request_now()
    showings = db.session.scalars(
        select(Slot)
        .where(Slot.programme_id == programme.id, Slot.status == SCHEDULED, Slot.end_at > at)
        .order_by(Slot.start_at)
        .limit(20)
    ).all()
    some_slot = showings[0] if showings else db.session.scalar(select(Slot).where(Slot.programme_id == programme.id))
    programme = public_programme(programme, some_slot.channel if some_slot else None)
    showings = public_slots(showings)
    lang = _lang()
    base = _base_url()
    jsonld = {
        "@context": "https://schema.org",
        **_work(programme, lang, base),
        "publication": [_broadcast_event(s, lang, base, with_context=False) for s in showings],
    }
    return render_template(
        "programme.html",
        programme=programme,
        showings=showings,
        at=at,
        jsonld=jsonld,
        og=_open_graph(programme, showings[0] if showings else None, lang, base, f"/programmes/{programme.id}"),
        nav_channels=_all_channels(),
        lang=lang,
    )


@bp.get("/slots/<int:slot_id>")
@page
def slot_page(slot_id: int):
    """One showing: the programme, when and where it airs, and a link to add it to a calendar."""
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        raise problem(404, _("There is no showing %(id)s.", id=slot_id))
    slot = public_slot(slot)
    at = request_now()
    lang = _lang()
    base = _base_url()
    others = db.session.scalars(
        select(Slot)
        .where(
            Slot.programme_id == slot.programme_id,
            Slot.id != slot.id,
            Slot.status == SCHEDULED,
            Slot.end_at > at,
        )
        .order_by(Slot.start_at)
        .limit(10)
    ).all()
    others = public_slots(others)
    return render_template(
        "slot.html",
        slot=slot,
        programme=slot.programme,
        broadcast_day=broadcast_day(slot.start_at, slot.channel.zone, slot.channel.broadcast_day_start).isoformat(),
        others=others,
        at=at,
        jsonld=_broadcast_event(slot, lang, base),
        og=_open_graph(slot.programme, slot, lang, base, f"/slots/{slot.id}"),
        nav_channels=_all_channels(),
        lang=lang,
    )


# What the pages are made of


def _tonight(channels: list[Channel], at: datetime) -> dict[int, list[Slot]]:
    """Per channel: the shows from the evening of the current broadcast day to its end not yet over."""
    bounds = {}
    for channel in channels:
        day = broadcast_day(at, channel.zone, channel.broadcast_day_start)
        lo, hi = listings.day_range(channel, day)
        evening = lo
        if channel.broadcast_day_start < EVENING:
            # 17:00 skipped by the clocks (a DST gap): the evening starts with the day.
            with suppress(WallTimeError):
                evening = to_instant(datetime.combine(day, EVENING), channel.zone, fold=0)
        bounds[channel.id] = (evening, hi)
    if not bounds:
        return {}
    start = min(lo for lo, _ in bounds.values())
    end = max(hi for _, hi in bounds.values())
    slots = db.session.scalars(
        select(Slot)
        .where(
            Slot.channel_id.in_(bounds),
            Slot.status == SCHEDULED,
            Slot.start_at >= start,
            Slot.start_at < end,
            Slot.end_at > at,
        )
        .order_by(Slot.start_at)
    ).all()
    out: dict[int, list[Slot]] = {}
    for slot in slots:
        lo, hi = bounds[slot.channel_id]
        if lo <= slot.start_at < hi:
            out.setdefault(slot.channel_id, []).append(slot)
    return out


def _edition_tonight(edition: listings.EditionChannel, at: datetime) -> list:
    """An edition's shows from the evening of its current broadcast day (in its zone) to its end not yet over."""
    day = broadcast_day(at, edition.zone, edition.broadcast_day_start)
    lo, hi = listings.day_range_of(edition, day)
    if edition.broadcast_day_start < EVENING:
        with suppress(WallTimeError):
            lo = to_instant(datetime.combine(day, EVENING), edition.zone, fold=0)
    return [s for s in listings.slots_of(db.session, edition, lo, hi) if s.end_at > at]


def _highlights(at: datetime) -> list[Slot]:
    """World exclusives and premieres on air now or in the next two days, soonest first."""
    return db.session.scalars(
        select(Slot)
        .join(Slot.programme)
        .where(
            Slot.status == SCHEDULED,
            Slot.end_at > at,
            Slot.start_at < at + HIGHLIGHTS_AHEAD,
            # An embargoed exclusive is no highlight: that it is exclusive is news of its own.
            or_(
                and_(
                    Programme.is_exclusive.is_(True),
                    or_(Programme.embargo_until.is_(None), Programme.embargo_until <= now()),
                ),
                Slot.is_premiere.is_(True),
            ),
        )
        .order_by(Slot.start_at)
        .limit(6)
    ).all()


def _progress(slot: Slot | None, at: datetime) -> int | None:
    if slot is None:
        return None
    return int(100 * (at - slot.start_at) / (slot.end_at - slot.start_at))


@dataclass(frozen=True)
class Row:
    """A line in a day's column: a show, or a marker where the shown date changes (after midnight)."""

    slot: Slot | None = None
    marker: str | None = None


def _day_rows(day: date, slots: list[Slot], tz: ZoneInfo) -> list[Row]:
    rows: list[Row] = []
    shown = day
    for slot in slots:
        local = slot.start_at.astimezone(tz).date()
        if local != shown:
            label = _("after midnight") if local == day + timedelta(days=1) else _day_label(local)
            rows.append(Row(marker=label))
            shown = local
        rows.append(Row(slot=slot))
    return rows


def _all_channels() -> list:
    """Every channel and every edition (a channel to its viewers), by slug."""
    channels = [*db.session.scalars(select(Channel)).all(), *listings.all_editions(db.session)]
    return sorted(channels, key=lambda c: c.slug)


def _date_arg(default: date) -> date:
    raw = request.args.get("date")
    if raw is None or raw == "":
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError as e:
        raise problem(400, _("%(date)s is not a date like 2031-11-27.", date=raw), {"date": "not a date"}) from e
    if abs((day - default).days) > MAX_DAYS_AWAY:
        raise problem(400, _("%(date)s is too far from today.", date=raw), {"date": "out of range"})
    return day


def _lang() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def _zone(channel: Channel) -> ZoneInfo:
    """The zone times show in: the viewer's choice, else the channel's own."""
    return i18n.chosen_zone() or channel.zone


def _base_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")


def when(slot: Slot, at: datetime) -> str | None:
    """The promo when-phrase for ``slot`` as read at ``at`` ("tonight right after midnight"), if true."""
    try:
        from schedule_service.promos.when_phrase import when_phrase
    except ImportError:  # the promo module is optional for the pages: they show the time alone
        return None
    try:
        return when_phrase(
            slot.start_at, slot.end_at, at, _zone(slot.channel), slot.channel.broadcast_day_start, _lang()
        )
    except ValueError:  # over already (no phrase is true), or no phrases in this language
        return None


# Structured data: schema.org JSON-LD and OpenGraph / Twitter cards


def _work(programme: Programme, lang: str, base: str) -> dict[str, Any]:
    own = pictures.own_image(programme, lang, base)
    work: dict[str, Any] = {
        "@type": "CreativeWork",
        "@id": f"{base}/programmes/{programme.id}",
        "url": f"{base}/programmes/{programme.id}",
        "name": programme.text("title", lang),
        "inLanguage": programme.language,
    }
    for key, value in (
        ("alternativeHeadline", programme.text("subtitle", lang)),
        ("description", programme.text("summary", lang)),
        ("genre", programme.text("category", lang)),
        ("image", own.url if own else None),
        ("creditText", own.credit if own else None),
    ):
        if value:
            work[key] = value
    people = _people(programme, lang)
    if programme.presenter:
        people.insert(0, {"@type": "Person", "name": programme.presenter, "jobTitle": "presenter"})
    if people:
        work["contributor"] = people
    return work


def _people(programme: Programme, lang: str) -> list[dict[str, Any]]:
    """The guests as schema.org Persons, named as ``lang`` writes them."""
    return [{"@type": "Person", "name": g["name"], **_job(g.get("role"))} for g in programme.guests_in(lang)]


def _job(role: str | None) -> dict[str, str]:
    return {"jobTitle": role} if role else {}


def _broadcast_event(slot: Slot, lang: str, base: str, with_context: bool = True) -> dict[str, Any]:
    """A showing as schema.org BroadcastEvent."""
    channel, programme = slot.channel, slot.programme
    tz = channel.zone
    event: dict[str, Any] = {
        "@type": "BroadcastEvent",
        "@id": f"{base}/slots/{slot.id}",
        "url": f"{base}/slots/{slot.id}",
        "name": programme.text("title", lang),
        "startDate": slot.start_at.astimezone(tz).isoformat(),
        "endDate": slot.end_at.astimezone(tz).isoformat(),
        "isLiveBroadcast": slot.is_live,
        "eventStatus": "https://schema.org/EventCancelled"
        if slot.is_cancelled
        else "https://schema.org/EventScheduled",
        "inLanguage": programme.language,
        "publishedOn": {
            "@type": "BroadcastService",
            "@id": f"{base}/channels/{channel.slug}",
            "url": f"{base}/channels/{channel.slug}",
            "name": channel.name_in(lang),
            "broadcastDisplayName": channel.name_in(lang),
            "broadcastTimezone": channel.timezone,
        },
        "workPerformed": _work(programme, lang, base),
    }
    if programme.text("summary", lang):
        event["description"] = programme.text("summary", lang)
    event["image"] = pictures.slot_image(slot, lang, base, i18n.chosen_zone()).url
    performers = _people(programme, lang)
    if performers:
        event["performer"] = performers
    return {"@context": "https://schema.org", **event} if with_context else event


def _open_graph(programme: Programme, slot: Slot | None, lang: str, base: str, path: str) -> dict[str, str]:
    """OpenGraph and Twitter card fields: title, image and air time, so a promo link previews well."""
    title = programme.text("title", lang)
    parts = []
    if slot is not None:
        tz = _zone(slot.channel)
        parts.append(
            f"{format_date(slot.start_at.astimezone(tz).date(), 'full', locale=lang)}, "
            f"{format_time(slot.start_at, 'HH:mm', tzinfo=tz, locale=lang)} ({zone_label(tz, slot.start_at)}) "
            f"· {slot.channel.name_in(lang)}"
        )
    if programme.text("summary", lang):
        parts.append(programme.text("summary", lang))
    og = {
        "og:type": "video.episode" if slot is not None else "video.tv_show",
        # "World exclusive: Serzh Sargsyan: the exclusive interview" would say it twice.
        "og:title": (f"{_('World exclusive')}: " if wants_badge(programme.is_exclusive, title) else "") + title,
        "og:description": " — ".join(parts),
        "og:url": base + path,
        "og:site_name": _("TV schedule"),
        "og:locale": _og_locale(lang),
        "twitter:card": "summary_large_image",
    }
    # Every preview has a picture: the programme's own, else a card drawn for it (SPEC §11).
    if slot is not None:
        image = pictures.slot_image(slot, lang, base, i18n.chosen_zone())
    else:
        image = pictures.programme_image(programme, lang, base)
    og["og:image"] = image.url
    if image.content_type:
        og["og:image:type"] = image.content_type
    if image.width and image.height:
        og["og:image:width"] = str(image.width)
        og["og:image:height"] = str(image.height)
    og["og:image:alt"] = image.alt
    og["twitter:image"] = image.url
    og["twitter:image:alt"] = image.alt
    if slot is not None:
        og["video:release_date"] = slot.start_at.astimezone(slot.channel.zone).isoformat()
    og["twitter:title"] = og["og:title"]
    og["twitter:description"] = og["og:description"]
    return og


def _og_locale(lang: str) -> str:
    return {"en": "en_GB", "ru": "ru_RU"}.get(lang, lang)


# Formatting, available to every template (the error page too)


def hm(instant: datetime, tz: ZoneInfo) -> str:
    """24-hour "HH:MM" on the wall clock of ``tz``."""
    return format_time(instant, "HH:mm", tzinfo=tz, locale=_lang())


def _day_label(day: date) -> str:
    return format_skeleton("MMMEd", day, locale=_lang())


def long_date(instant: datetime, tz: ZoneInfo) -> str:
    return format_date(instant.astimezone(tz).date(), "full", locale=_lang())


def zone_label(tz: ZoneInfo, at: datetime | None = None) -> str:
    """A zone as a viewer knows it: its city and offset, "Moscow, GMT+03:00"."""
    return _zone_label(tz, at or request_now(), _lang())


def _zone_label(tz: ZoneInfo, at: datetime, lang: str) -> str:
    if tz.key in ("UTC", "Etc/UTC"):
        return "UTC"
    city = get_timezone_location(tz, locale=lang, return_city=True)
    gmt = get_timezone_gmt(at.astimezone(tz), width="long", locale=lang)
    return f"{city}, {gmt}"


def zone_options(extra: list[str] | None = None) -> list[tuple[str, str]]:
    """(IANA name, label) for the zone picker, west to east."""
    names = set(PICKER_ZONES) | set(extra or [])
    chosen = i18n.chosen_tz()
    if chosen:
        names.add(chosen)
    # Labels change only with the language and the offsets (at most hourly): work them out once.
    hour = request_now().replace(minute=0, second=0, microsecond=0)
    return _zone_options(_lang(), hour, tuple(sorted(names)))


@lru_cache(maxsize=64)
def _zone_options(lang: str, at: datetime, names: tuple[str, ...]) -> list[tuple[str, str]]:
    zones = sorted((ZoneInfo(n) for n in names), key=lambda z: (at.astimezone(z).utcoffset(), z.key))
    return [(z.key, _zone_label(z, at, lang)) for z in zones]


def lang_url(lang: str) -> str:
    """This page in another language."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return url_for(request.endpoint or "public.front", **(request.view_args or {}), **args, lang=lang)


def page_url(**changes: Any) -> str:
    """This page with some query arguments changed (None removes one)."""
    args = {k: v for k, v in request.args.items() if k not in ("lang", "tz")}
    args.update(changes)
    args = {k: v for k, v in args.items() if v is not None}
    return url_for(request.endpoint or "public.front", **(request.view_args or {}), **args)


def text_lang(programme: Programme, field: str, lang: str) -> str:
    """The language ``field`` is shown in: ``lang`` when translated, else the programme's own."""
    tr = programme.translations.get(lang)
    return lang if tr is not None and getattr(tr, field) else programme.language


def _languages() -> list[tuple[str, str]]:
    """(code, name in that language) of every language the site speaks."""
    return [(code, Locale.parse(code).get_display_name(code).capitalize()) for code in i18n.languages()]


# Template globals, not a context processor, so imported macros and the error page see them too.
for _name, _helper in {
    "hm": hm,
    "day_label": _day_label,
    "long_date": long_date,
    "zone_label": zone_label,
    "zone_options": zone_options,
    "lang_url": lang_url,
    "page_url": page_url,
    "text_lang": text_lang,
    "when": when,
    "viewer_zone": i18n.chosen_zone,
    "zone_of": _zone,
    "languages": _languages,
    "current_lang": _lang,
}.items():
    bp.add_app_template_global(_helper, _name)
