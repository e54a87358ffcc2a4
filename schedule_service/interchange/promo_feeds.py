"""The promo feed out: RSS 2.0 and Atom (feedgen), and JSON Feed 1.1, from the web target's items.

Pure functions of the items they are given; they know nothing of Flask. An item's id is derived
from its post's idempotency key, so it never changes — not when the promo is corrected, not when
the service moves to another host — and a feed reader never shows one promo twice.
"""

import html
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from lxml import etree

from schedule_service.models import FeedItem
from schedule_service.text_rules import xml_safe

ATOM = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
#: Namespace of the items' UUIDs; fixed forever, or every reader sees every promo again.
ITEM_NAMESPACE = uuid.UUID("6f0cbf3e-7c53-5d0e-9a4e-3b1c5a0c9d21")
#: The "updated" of a feed that never had an item.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedInfo:
    title: str
    description: str
    home_url: str
    #: This feed's own address, and its siblings in the other formats.
    rss_url: str
    atom_url: str
    json_url: str
    #: The language of the items, when the feed holds one language.
    lang: str | None
    #: When the feed last changed, items withdrawn included.
    updated: datetime


@dataclass(frozen=True)
class Enclosure:
    """An item's picture: RSS ``<enclosure>``, Atom ``link rel="enclosure"``, JSON Feed ``image``."""

    url: str
    content_type: str
    #: Bytes; 0 when unknown (an external picture), as RSS readers take it.
    length: int = 0


def item_id(item: FeedItem) -> str:
    """The item's stable id, a URN."""
    return uuid.uuid5(ITEM_NAMESPACE, item.idempotency_key).urn


def _link(item: FeedItem, info: FeedInfo) -> str:
    if item.url:
        return item.url
    if item.slot_id is not None:
        return f"{info.home_url.rstrip('/')}/slots/{item.slot_id}"
    return info.home_url


def _generator(
    items: Sequence[FeedItem], info: FeedInfo, as_html: bool, images: Mapping[int, Enclosure] | None = None
) -> FeedGenerator:
    """The feed; with ``as_html`` the entries' text escaped as HTML, which is what RSS readers take
    ``<description>`` and ``<content:encoded>`` to hold (Atom says ``type="text"`` instead).

    Text goes through :func:`xml_safe`: a character XML cannot carry, stored before such
    characters were refused, must not take the feed down for everyone.
    """
    fg = FeedGenerator()
    fg.id(info.atom_url)
    fg.title(xml_safe(info.title))
    fg.subtitle(xml_safe(info.description))
    fg.description(xml_safe(info.description))
    fg.link(href=info.home_url, rel="alternate")
    if info.lang:
        fg.language(info.lang)
    fg.updated(info.updated)
    fg.generator("schedule-service")
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(item_id(item))
        entry.guid(item_id(item), permalink=False)
        entry.title(xml_safe(item.title))
        entry.link(href=_link(item, info), rel="alternate")
        text = xml_safe(item.text)
        if as_html:
            text = html.escape(text, quote=False)
        entry.description(text)
        entry.content(text, type="text")
        image = (images or {}).get(item.id)
        if image is not None and as_html:
            # RSS's <enclosure>; Atom's link is added by atom(): feedgen 1.0 writes it without rel or type.
            entry.link(href=image.url, rel="enclosure", type=image.content_type, length=str(image.length))
        entry.published(item.published_at)
        entry.updated(item.updated_at)
    return fg


def rss(items: Sequence[FeedItem], info: FeedInfo, images: Mapping[int, Enclosure] | None = None) -> bytes:
    """RSS 2.0, newest first; ``images`` by item id as enclosures."""
    fg = _generator(items, info, as_html=True, images=images)
    fg.link(href=info.rss_url, rel="self", type="application/rss+xml")
    return fg.rss_str(pretty=True)


def atom(items: Sequence[FeedItem], info: FeedInfo, images: Mapping[int, Enclosure] | None = None) -> bytes:
    """Atom 1.0, newest first; ``images`` by item id as enclosure links."""
    fg = _generator(items, info, as_html=False, images=images)
    fg.link(href=info.atom_url, rel="self", type="application/atom+xml")
    body = fg.atom_str(pretty=True)
    if not images:
        return body
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True))
    for entry, item in zip(root.iterfind(f"{{{ATOM}}}entry"), items, strict=True):
        image = images.get(item.id)
        if image is not None:
            attrs = {"rel": "enclosure", "href": image.url, "type": image.content_type}
            etree.SubElement(entry, f"{{{ATOM}}}link", attrs | ({"length": str(image.length)} if image.length else {}))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def json_feed(items: Sequence[FeedItem], info: FeedInfo, images: Mapping[int, Enclosure] | None = None) -> bytes:
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), newest first; ``images`` by item id."""
    feed: dict = {
        "version": JSON_FEED_VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.json_url,
        "description": info.description,
    }
    if info.lang:
        feed["language"] = info.lang
    feed["items"] = []
    for item in items:
        out = {
            "id": item_id(item),
            "url": _link(item, info),
            "title": item.title,
            "content_text": item.text,
            "date_published": _rfc3339(item.published_at),
            "date_modified": _rfc3339(item.updated_at),
            "language": item.lang,
        }
        image = (images or {}).get(item.id)
        if image is not None:
            out["image"] = image.url
        elif item.image_url:
            out["image"] = item.image_url
        feed["items"].append(out)
    return json.dumps(feed, ensure_ascii=False, indent=2).encode()


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
