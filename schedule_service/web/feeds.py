"""Feeds: XMLTV for guides, iCalendar for calendars, RSS/Atom/JSON Feed for the promos.

Thin views: they read the rows, hand them to the serialisers in ``interchange/`` and send the
bytes through the public cache (ETag, Cache-Control, 304).
"""

import mimetypes
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from schedule_service import listings, media
from schedule_service.broadcast_time import broadcast_day
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.embargo import public_slot, public_slots
from schedule_service.interchange import ical, promo_feeds, xmltv_export
from schedule_service.models import Channel, FeedItem, Programme, Slot
from schedule_service.web import pictures
from schedule_service.web.caching import public, request_now
from schedule_service.web.errors import problem

bp = Blueprint("feeds", __name__)

#: Broadcast days in an XMLTV export unless ?days= says otherwise, and the most it may ask for.
DEFAULT_DAYS = 7
MAX_DAYS = 31
#: A channel's calendar: the past week (so just-cancelled showings are seen) and four weeks ahead.
CALENDAR_BACK_DAYS = 7
CALENDAR_AHEAD_DAYS = 28
#: Items in a promo feed.
FEED_ITEMS = 50

XMLTV_TYPE = "application/xml"
ICS_TYPE = "text/calendar"


# XMLTV


@bp.get("/xmltv.xml")
@public(resolution=60)
def xmltv():
    """Every channel's coming broadcast days as XMLTV (``?days=``, default 7)."""
    return _xmltv()


@bp.get("/channels/<slug>/xmltv.xml")
@public(resolution=60)
def channel_xmltv(slug: str):
    """One channel's coming broadcast days as XMLTV (``?days=``, default 7)."""
    return _xmltv(_channel_or_404(slug).slug)


def _xmltv(slug: str | None = None) -> Response:
    body = xmltv_export.document(db.session, request_now(), _days_arg(), _base_url(), slug)
    return Response(body, mimetype=XMLTV_TYPE)


# iCalendar


@bp.get("/channels/<slug>/calendar.ics")
@public(resolution=60)
def channel_calendar(slug: str):
    """A channel's showings as a calendar to subscribe to, cancelled ones included (``?lang=``)."""
    channel = _channel_or_404(slug)
    lang = _lang_arg()
    today = broadcast_day(request_now(), channel.zone, channel.broadcast_day_start)
    lo = listings.day_range_of(channel, today - timedelta(days=CALENDAR_BACK_DAYS))[0]
    hi = listings.day_range_of(channel, today + timedelta(days=CALENDAR_AHEAD_DAYS))[1]
    slots = public_slots(listings.slots_of(db.session, channel, lo, hi, include_cancelled=True))
    body = ical.calendar(slots, _base_url(), lang, channel.name_in(lang), channel)
    return Response(body, mimetype=ICS_TYPE, headers={"Content-Disposition": f'inline; filename="{slug}.ics"'})


@bp.get("/slots/<int:slot_id>.ics")
@public()
def slot_ics(slot_id: int):
    """One showing, to add to a calendar (``?lang=``)."""
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        raise problem(404, f"there is no showing {slot_id}")
    slot = public_slot(slot)
    lang = _lang_arg()
    title = slot.programme.text("title", lang)
    body = ical.calendar([slot], _base_url(), lang, title)
    filename = f"{slot.channel.slug}-{slot.start_at.astimezone(slot.channel.zone):%Y%m%d-%H%M}.ics"
    return Response(body, mimetype=ICS_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# Promos


@bp.get("/feeds/promos.rss")
@public()
def promos_rss():
    """The published promos as RSS 2.0 (``?lang=`` for one language)."""
    items, info = _promos()
    return Response(promo_feeds.rss(items, info, _images(items)), mimetype="application/rss+xml")


@bp.get("/feeds/promos.atom")
@public()
def promos_atom():
    """The published promos as Atom (``?lang=`` for one language)."""
    items, info = _promos()
    return Response(promo_feeds.atom(items, info, _images(items)), mimetype="application/atom+xml")


@bp.get("/feeds/promos.json")
@public()
def promos_json():
    """The published promos as JSON Feed 1.1 (``?lang=`` for one language)."""
    items, info = _promos()
    return Response(promo_feeds.json_feed(items, info, _images(items)), mimetype="application/feed+json")


def _promos() -> tuple[list[FeedItem], promo_feeds.FeedInfo]:
    lang = request.args.get("lang") or None
    if lang is not None:
        _lang_arg()  # refuses a language the site does not have
    # An item about an embargoed programme (one that went out before the embargo was set) waits too.
    hidden = select(Slot.id).join(Slot.programme).where(Programme.embargo_until > now())
    query = select(FeedItem).where(
        FeedItem.is_withdrawn.is_(False), or_(FeedItem.slot_id.is_(None), FeedItem.slot_id.not_in(hidden))
    )
    changed = select(func.max(FeedItem.updated_at))
    if lang:
        query = query.where(FeedItem.lang == lang)
        changed = changed.where(FeedItem.lang == lang)
    items = db.session.scalars(query.order_by(FeedItem.published_at.desc(), FeedItem.id.desc()).limit(FEED_ITEMS)).all()
    updated = db.session.scalar(changed) or promo_feeds.EPOCH
    base = _base_url()
    suffix = f"?lang={lang}" if lang else ""
    with force_locale(lang or current_app.config["BABEL_DEFAULT_LOCALE"]):
        title, description = _("TV schedule: promos"), _("What to watch, as the channels announce it.")
    info = promo_feeds.FeedInfo(
        title=title,
        description=description,
        home_url=base + "/",
        rss_url=f"{base}/feeds/promos.rss{suffix}",
        atom_url=f"{base}/feeds/promos.atom{suffix}",
        json_url=f"{base}/feeds/promos.json{suffix}",
        lang=lang,
        updated=updated,
    )
    return items, info


def _images(items: list[FeedItem]) -> dict[int, promo_feeds.Enclosure]:
    """Each item's picture: the one it was published with, else its programme's uploaded picture."""
    out = {}
    for item in items:
        if item.image_url:
            kind = mimetypes.guess_type(urlsplit(item.image_url).path)[0] or "image/jpeg"
            out[item.id] = promo_feeds.Enclosure(item.image_url, kind)
            continue
        slot = db.session.get(Slot, item.slot_id) if item.slot_id is not None else None
        if slot is not None and slot.programme.image_hash:
            size = pictures.file_size(slot.programme) or 0
            url = media.card_url(slot.programme.image_hash, _base_url())
            out[item.id] = promo_feeds.Enclosure(url, "image/jpeg", size)
    return out


# Arguments


def _channel_or_404(slug: str) -> Channel | listings.EditionChannel:
    """The channel, or the edition (a channel to its viewers, SPEC §9), answering to ``slug``."""
    channel = listings.channel_by_slug(db.session, slug)
    if channel is None:
        raise problem(404, f"there is no channel {slug!r}")
    return channel


def _days_arg() -> int:
    raw = request.args.get("days")
    if raw is None:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise problem(400, f"days must be a whole number from 1 to {MAX_DAYS}", {"days": f"1 to {MAX_DAYS}"})
    return int(raw)


def _lang_arg() -> str:
    langs = current_app.config["LANGUAGES"]
    lang = request.args.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"]
    if lang not in langs:
        raise problem(
            400, f"{lang!r} is not a language of this site; choose one of {', '.join(langs)}", {"lang": "unknown"}
        )
    return lang


def _base_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")
