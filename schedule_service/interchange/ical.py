"""iCalendar out (RFC 5545): a channel's showings, or one, as VEVENTs with their VTIMEZONE.

Pure functions of the rows they are given; they know nothing of Flask. A showing's UID never
changes, its SEQUENCE is the slot's version (it grows with every change), and a cancelled
showing stays in the calendar with STATUS:CANCELLED so subscribed calendars remove it.
"""

from collections.abc import Iterable
from datetime import date, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vDuration, vUri

from schedule_service import media
from schedule_service.models import Channel, Slot
from schedule_service.text_rules import xml_safe

PRODID = "-//schedule-service//Broadcast schedule//EN"
#: How often a subscribed calendar should look again.
REFRESH = timedelta(hours=1)
#: The span of a VTIMEZONE's rules, however far a slot lies: beyond it they could not be computed.
TZ_RULES_FROM, TZ_RULES_UNTIL = date(1800, 1, 1), date(9000, 1, 1)


def uid(slot: Slot, base_url: str) -> str:
    """The showing's UID: its id at the service's host, the same in every calendar and version.

    An edition's showing (SPEC §9) is another event at another time: its UID names the edition too.
    """
    host = urlsplit(base_url).hostname or "schedule-service"
    if getattr(slot.channel, "edition_of", None):
        return f"slot-{slot.id}-{slot.channel.slug}@{host}"
    return f"slot-{slot.id}@{host}"


def event(slot: Slot, base_url: str, lang: str) -> Event:
    """One showing as a VEVENT, in the channel's zone, with its texts in ``lang`` where translated."""
    base_url = base_url.rstrip("/")
    channel, programme = slot.channel, slot.programme
    tz = channel.zone
    url = f"{base_url}/slots/{slot.id}"
    ev = Event()
    ev.add("uid", uid(slot, base_url))
    ev.add("sequence", slot.version)
    ev.add("dtstamp", slot.updated_at)
    ev.add("created", slot.created_at)
    ev.add("last-modified", slot.updated_at)
    ev.add("dtstart", slot.start_at.astimezone(tz))
    ev.add("dtend", slot.end_at.astimezone(tz))
    # RFC 5545 allows no control characters in text either.
    ev.add("summary", xml_safe(programme.text("title", lang)))
    ev.add("location", xml_safe(channel.name_in(lang)))
    ev.add("url", url)
    ev.add("description", xml_safe(_description(slot, lang, url)))
    if programme.category:
        ev.add("categories", [xml_safe(programme.text("category", lang))])
    image = _image(programme, base_url)
    if image is not None:
        # RFC 7986: a picture of the event, by reference.
        ev.add("image", vUri(image[0]), parameters={"VALUE": "URI", **({"FMTTYPE": image[1]} if image[1] else {})})
    ev.add("status", "CANCELLED" if slot.is_cancelled else "CONFIRMED")
    ev.add("transp", "TRANSPARENT")  # watching a show does not make anyone busy
    ev.add("class", "PUBLIC")
    return ev


def _image(programme, base_url: str) -> tuple[str, str | None] | None:
    """The programme's picture as (URL, content type): the uploaded one's share card, else its image_url."""
    if programme.image_hash:
        return media.card_url(programme.image_hash, base_url), "image/jpeg"
    if programme.image_url:
        return programme.image_url, None
    return None


def _description(slot: Slot, lang: str, url: str) -> str:
    programme = slot.programme
    parts = []
    subtitle = programme.text("subtitle", lang)
    if subtitle:
        parts.append(subtitle)
    people = [f"{g['name']} ({g['role']})" if g.get("role") else g["name"] for g in programme.guests_in(lang)]
    if people:
        parts.append(", ".join(people))
    for field in ("summary", "quote"):
        value = programme.text(field, lang)
        if value:
            parts.append(f"“{value}”" if field == "quote" else value)
    parts.append(url)
    return "\n\n".join(parts)


def calendar(
    slots: Iterable[Slot],
    base_url: str,
    lang: str,
    name: str,
    channel: Channel | None = None,
) -> bytes:
    """A calendar of ``slots`` named ``name``; with ``channel``, it is that channel's (its zone, its link)."""
    slots = list(slots)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", xml_safe(name))
    cal.add("name", xml_safe(name))
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    if channel is not None:
        cal.add("x-wr-timezone", channel.timezone)
        cal.add("url", f"{base_url.rstrip('/')}/channels/{channel.slug}")
    for slot in slots:
        cal.add_component(event(slot, base_url, lang))
    if slots:
        # The zone's rules a day either side; clamped away from the ends of the calendar, where
        # computing them would overflow (a slot stored at the edge of year 9999).
        first = max(min(s.start_at for s in slots).date(), TZ_RULES_FROM) - timedelta(days=1)
        last = min(max(s.end_at for s in slots).date(), TZ_RULES_UNTIL) + timedelta(days=1)
        cal.add_missing_timezones(first_date=min(first, last), last_date=last)
    return cal.to_ical()
