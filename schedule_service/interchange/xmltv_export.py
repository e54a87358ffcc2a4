"""XMLTV out: channels and their showings as a document valid against xmltv.dtd.

:func:`build` is a pure function of the rows it is given and knows nothing of Flask;
:func:`gather` reads those rows for a window of broadcast days. Times are the channel's wall
clock with its offset ("20311128000500 +0300"). Each showing carries stable identities: its page
as ``<url>`` and its programme as ``<episode-num system="schedule-service">``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from lxml import etree
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from schedule_service import listings, media
from schedule_service.broadcast_time import broadcast_day
from schedule_service.embargo import public_slots
from schedule_service.models import Channel, Programme, Slot
from schedule_service.models.slot import SCHEDULED
from schedule_service.text_rules import xml_safe

GENERATOR = "schedule-service"
#: The episode-num system naming our programme ids.
ID_SYSTEM = "schedule-service"
DOCTYPE = '<!DOCTYPE tv SYSTEM "xmltv.dtd">'


@dataclass(frozen=True)
class FirstShowing:
    """When (and where) a programme was first shown: the ``previously-shown`` of its repeats."""

    start_at: datetime
    channel_id: int


def channel_id(channel: Channel, base_url: str) -> str:
    """The channel's XMLTV id: its own when set, else its slug under the service's host.

    XMLTV wants DNS-like ids ("mir.tv.example.org"), as RFC 2838 suggests.
    """
    return xml_safe(channel.xmltv_id) or f"{channel.slug}.{urlsplit(base_url).hostname or 'localhost'}"


def xmltv_time(instant: datetime, channel: Channel) -> str:
    return instant.astimezone(channel.zone).strftime("%Y%m%d%H%M%S %z")


def build(
    channels: Sequence[Channel],
    slots: Iterable[Slot],
    base_url: str,
    first_shown: Mapping[int, FirstShowing] | None = None,
) -> bytes:
    """Return the XMLTV document of ``channels`` and the scheduled ``slots`` on them, UTF-8."""
    first_shown = first_shown or {}
    base_url = base_url.rstrip("/")
    tv = etree.Element(
        "tv",
        {
            "source-info-url": base_url + "/",
            "source-info-name": GENERATOR,
            "generator-info-name": GENERATOR,
            "generator-info-url": base_url + "/",
        },
    )
    # By slug: an edition (SPEC §9) shares its channel's id but is a <channel> of its own.
    ids = {c.slug: channel_id(c, base_url) for c in channels}
    #: Where a programme was first shown, by the database id of a channel in the document.
    shown_on = {c.id: ids[c.slug] for c in channels if not hasattr(c, "edition_of")}
    for channel in sorted(channels, key=lambda c: ids[c.slug]):
        _channel(tv, channel, base_url, ids[channel.slug])
    for slot in sorted(slots, key=lambda s: (ids.get(s.channel.slug, ""), s.start_at)):
        if slot.channel.slug in ids and slot.status == SCHEDULED:
            _programme(tv, slot, base_url, first_shown.get(slot.programme_id), ids[slot.channel.slug], shown_on)
    return etree.tostring(tv, xml_declaration=True, encoding="UTF-8", pretty_print=True, doctype=DOCTYPE)


def _channel(tv: etree._Element, channel: Channel, base_url: str, xmltv_id: str) -> None:
    el = etree.SubElement(tv, "channel", id=xmltv_id)
    # The main name first ("more canonical"), with its language when a translation says which.
    names = sorted((channel.names or {}).items(), key=lambda kv: (kv[1] != channel.name, kv[0]))
    if channel.name not in {name for _, name in names}:
        _text(el, "display-name", channel.name, None)
    for lang, name in names:
        if name:
            _text(el, "display-name", name, lang)
    etree.SubElement(el, "url").text = f"{base_url}/channels/{channel.slug}"


def _programme(
    tv: etree._Element,
    slot: Slot,
    base_url: str,
    first: FirstShowing | None,
    xmltv_id: str,
    shown_on: Mapping[int, str],
) -> None:
    channel, programme = slot.channel, slot.programme
    el = etree.SubElement(
        tv,
        "programme",
        start=xmltv_time(slot.start_at, channel),
        stop=xmltv_time(slot.end_at, channel),
        channel=xmltv_id,
    )
    # Elements in the order the DTD wants them.
    for field, tag in (("title", "title"), ("subtitle", "sub-title"), ("summary", "desc")):
        for lang, value in _versions(programme, field):
            _text(el, tag, value, lang)
    credits = [("presenter", programme.presenter)] if programme.presenter else []
    # <credits> carry no language: the names as the programme itself writes them.
    credits += [("guest", g["name"]) for g in programme.guests or [] if g.get("name")]
    if credits:
        box = etree.SubElement(el, "credits")
        for tag, name in credits:
            etree.SubElement(box, tag).text = xml_safe(name)
    for lang, value in _versions(programme, "category"):
        _text(el, "category", value, lang)
    if programme.is_exclusive:
        _text(el, "keyword", "world-exclusive", "en")
    etree.SubElement(el, "language").text = xml_safe(programme.language)
    etree.SubElement(el, "length", units="minutes").text = str(int((slot.end_at - slot.start_at).total_seconds() // 60))
    if programme.image_hash:
        card = media.card_url(programme.image_hash, base_url)
        etree.SubElement(el, "icon", src=card, width=str(media.CARD_SIZE[0]), height=str(media.CARD_SIZE[1]))
    elif programme.image_url:
        etree.SubElement(el, "icon", src=xml_safe(programme.image_url))
    etree.SubElement(el, "url").text = f"{base_url}/slots/{slot.id}"
    if programme.episode_num:
        etree.SubElement(el, "episode-num", system="onscreen").text = xml_safe(programme.episode_num)
    etree.SubElement(el, "episode-num", system=ID_SYSTEM).text = f"programme-{programme.id}"
    # An edition's showing is its channel's slot moved: first shown is judged on the channel's time.
    if first is not None and first.start_at < getattr(slot, "slot", slot).start_at:
        attrs = {"start": xmltv_time(first.start_at, channel)}
        if first.channel_id in shown_on:
            attrs["channel"] = shown_on[first.channel_id]
        etree.SubElement(el, "previously-shown", attrs)
    if slot.is_premiere:
        etree.SubElement(el, "premiere")


def _versions(programme: Programme, field: str) -> list[tuple[str, str]]:
    """(lang, text) of a field: the programme's own language first, then its translations."""
    out = []
    own = getattr(programme, field)
    if own:
        out.append((programme.language, own))
    for lang, tr in sorted(programme.translations.items()):
        value = getattr(tr, field)
        if value and lang != programme.language:
            out.append((lang, value))
    return out


def _text(parent: etree._Element, tag: str, text: str, lang: str | None) -> etree._Element:
    """An element with text; what XML cannot carry (stored before it was refused) is left out."""
    el = etree.SubElement(parent, tag, {"lang": xml_safe(lang)} if lang else {})
    el.text = xml_safe(text)
    return el


# Reading the rows


def document(session: Session, at: datetime, days: int, base_url: str, slug: str | None = None) -> bytes:
    """The XMLTV of every channel (or the one with ``slug``) for ``days`` broadcast days from ``at``.

    :raises LookupError: when there is no channel ``slug``.
    """
    if slug is None:
        channels = session.scalars(select(Channel).order_by(Channel.slug)).all()
        editions = listings.all_editions(session)
    else:
        found = listings.channel_by_slug(session, slug)
        if found is None:
            raise LookupError(f"there is no channel {slug!r}")
        channels, editions = ([], [found]) if hasattr(found, "edition_of") else ([found], [])
    slots, first = gather(session, channels, at, days)
    shifted = gather_editions(session, editions, at, days)
    missing = {s.programme_id for s in shifted} - set(first)
    if missing:
        first |= first_showings(session, missing)
    # A guide leaves the service: embargoed programmes go out as their stand-ins (SPEC §8b).
    return build([*channels, *editions], public_slots([*slots, *shifted]), base_url, first)


def gather_editions(session: Session, editions: Sequence[listings.EditionChannel], at: datetime, days: int) -> list:
    """The scheduled slots of ``days`` broadcast days of each edition, counted in its zone, as it airs them."""
    out: list = []
    for edition in editions:
        today = broadcast_day(at, edition.zone, edition.broadcast_day_start)
        lo = listings.day_range_of(edition, today)[0]
        hi = listings.day_range_of(edition, today + timedelta(days=days - 1))[1]
        out.extend(listings.slots_of(session, edition, lo, hi))
    return out


def gather(
    session: Session, channels: Sequence[Channel], at: datetime, days: int
) -> tuple[list[Slot], dict[int, FirstShowing]]:
    """The scheduled slots of ``days`` broadcast days from the one holding ``at``, per channel,
    and the first showing of each of their programmes."""
    if not channels:
        return [], {}
    bounds = {}
    for channel in channels:
        today = broadcast_day(at, channel.zone, channel.broadcast_day_start)
        bounds[channel.id] = (
            listings.day_range(channel, today)[0],
            listings.day_range(channel, today + timedelta(days=days - 1))[1],
        )
    lo = min(b[0] for b in bounds.values())
    hi = max(b[1] for b in bounds.values())
    slots = [
        s
        for s in session.scalars(
            select(Slot)
            .where(Slot.channel_id.in_(bounds), Slot.status == SCHEDULED, Slot.start_at >= lo, Slot.start_at < hi)
            .order_by(Slot.channel_id, Slot.start_at)
        )
        if bounds[s.channel_id][0] <= s.start_at < bounds[s.channel_id][1]
    ]
    return slots, first_showings(session, {s.programme_id for s in slots})


def first_showings(session: Session, programme_ids: set[int]) -> dict[int, FirstShowing]:
    """The earliest scheduled showing of each programme."""
    out: dict[int, FirstShowing] = {}
    ids = sorted(programme_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        first = (
            select(Slot.programme_id, func.min(Slot.start_at).label("start_at"))
            .where(Slot.programme_id.in_(chunk), Slot.status == SCHEDULED)
            .group_by(Slot.programme_id)
            .subquery()
        )
        rows = session.execute(
            select(Slot.programme_id, Slot.start_at, Slot.channel_id)
            .join(first, and_(Slot.programme_id == first.c.programme_id, Slot.start_at == first.c.start_at))
            .where(Slot.status == SCHEDULED)
            .order_by(Slot.channel_id)
        )
        for programme_id, start_at, channel in rows:
            out.setdefault(programme_id, FirstShowing(start_at, channel))
    return out
