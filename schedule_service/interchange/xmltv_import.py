"""XMLTV import: stream a real-world guide into channels, programmes and slots (SPEC §7).

Two phases. :func:`read_guide` streams the file with lxml ``iterparse`` (each element cleared
once read, so memory stays flat in the file size), never resolving entities, DTDs or network
references; it spools the programmes to a temporary SQLite file. :func:`apply_guide` then takes
one service channel at a time inside a SAVEPOINT: its items are checked as a whole (all or none,
unless ``skip_bad``), matched against what the service has with a few batched queries, and the
differences go through the ordinary schedule operations, so promos follow the ordinary rules.
Nothing here commits; the caller commits, or rolls back for a dry run.
"""

import bisect
import csv
import hashlib
import html.entities
import io
import json
import marshal
import os
import re
import shutil
import sqlite3
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import audit, schedule
from schedule_service.broadcast_time import NonexistentTime, to_instant, zone
from schedule_service.models import Channel, Programme, ProgrammeTranslation, Slot
from schedule_service.models.slot import SCHEDULED
from schedule_service.schedule import PROGRAMME_FIELDS, Conflict, ScheduleError

ACTOR = "import"
#: A programme without ``stop`` ends where the next one starts, unless that is further away than this.
MAX_OPEN_GAP = timedelta(hours=24)
#: Keys per ``IN (…)`` query: well under SQLite's bound-parameter limit.
CHUNK = 500
#: Programmes spooled per executemany.
SPOOL_BATCH = 5000
#: The language of programmes whose guide names none (BCP 47 "undetermined").
UNDETERMINED = "und"

Progress = Callable[[int], None]


class GuideRefused(Exception):
    """The file as a whole is refused (not XML, not XMLTV, entity declarations): nothing is applied."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class BadItem:
    """One programme (or channel) that cannot be imported, and why."""

    line: int | None
    channel: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.channel + ': ' if self.channel else ''}{self.message}"


@dataclass
class ChannelReport:
    """What the import did on one service channel."""

    channel: str
    xmltv_ids: list[str]
    created_channel: bool = False
    #: False when the channel's bad items kept all of it out (or applying it failed).
    applied: bool = True
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Slots the guide replaced (cancelled through the ordinary schedule operation).
    cancelled: int = 0
    #: Items left out: bad ones, and the warnings' items.
    skipped: int = 0
    errors: int = 0


@dataclass
class ImportReport:
    """The summary of one import, per channel, with every bad item and warning by line."""

    dry_run: bool = False
    skip_bad: bool = False
    programmes: int = 0
    channels: list[ChannelReport] = field(default_factory=list)
    programmes_created: int = 0
    programmes_updated: int = 0
    bad_items: list[BadItem] = field(default_factory=list)
    warnings: list[BadItem] = field(default_factory=list)

    @property
    def applied_channels(self) -> int:
        return sum(1 for c in self.channels if c.applied)

    @property
    def rejected_channels(self) -> int:
        return sum(1 for c in self.channels if not c.applied)

    @property
    def ok(self) -> bool:
        """True when every bad item was skipped by request and no channel was kept out."""
        return self.rejected_channels == 0 and (self.skip_bad or not self.bad_items)

    def totals(self) -> dict[str, int]:
        keys = ("created", "updated", "unchanged", "cancelled", "skipped", "errors")
        return {k: sum(getattr(c, k) for c in self.channels) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "skip_bad": self.skip_bad,
            "ok": self.ok,
            "programmes": self.programmes,
            "applied_channels": self.applied_channels,
            "rejected_channels": self.rejected_channels,
            "totals": self.totals(),
            "programmes_created": self.programmes_created,
            "programmes_updated": self.programmes_updated,
            "channels": [asdict(c) for c in self.channels],
            "bad_items": [asdict(b) for b in self.bad_items],
            "warnings": [asdict(w) for w in self.warnings],
        }


# The channel map


@dataclass(frozen=True)
class MapEntry:
    """Where one XMLTV channel id goes: a service channel slug (made when missing), or nowhere."""

    slug: str | None
    name: str | None = None
    timezone: str | None = None
    languages: tuple[str, ...] = ()

    @property
    def is_skipped(self) -> bool:
        return self.slug is None


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def load_channel_map(source: str | Path | IO) -> dict[str, MapEntry]:
    """Read a channel map: JSON ``{"xmltv id": "slug" | {"slug", "name", "timezone", "languages"}}``
    or CSV ``xmltv_id,slug[,timezone[,name]]`` (a header row is optional). A null or empty slug
    (or ``-``) leaves that channel out of the import. Raise ``ValueError`` naming the bad line.
    """
    if isinstance(source, str | Path):
        text = Path(source).read_text(encoding="utf-8-sig")
    else:
        raw = source.read()
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    entries = _map_from_json(text) if text.lstrip().startswith("{") else _map_from_csv(text)
    for xmltv_id, entry in entries.items():
        if entry.slug is not None and not SLUG.match(entry.slug):
            raise ValueError(f"channel map: {xmltv_id!r} → {entry.slug!r} is not a slug (lowercase letters, digits, -)")
        if entry.timezone is not None:
            zone(entry.timezone)  # ValueError names it
    return entries


def _map_from_json(text: str) -> dict[str, MapEntry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"channel map: line {e.lineno}: not JSON ({e.msg})") from e
    out = {}
    for xmltv_id, value in data.items():
        if isinstance(value, dict):
            languages = value.get("languages") or ()
            out[xmltv_id] = MapEntry(
                _map_slug(value.get("slug")), value.get("name"), value.get("timezone"), tuple(languages)
            )
        elif value is None or isinstance(value, str):
            out[xmltv_id] = MapEntry(_map_slug(value))
        else:
            raise ValueError(f"channel map: {xmltv_id!r} maps to {value!r}; give a slug or an object")
    return out


def _map_from_csv(text: str) -> dict[str, MapEntry]:
    out = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        row = [cell.strip() for cell in row]
        if not row or not any(row) or row[0].startswith("#"):
            continue
        if number == 1 and row[0].lower() == "xmltv_id":
            continue
        if len(row) < 2:
            raise ValueError(f"channel map: line {number}: want xmltv_id,slug[,timezone[,name]]")
        timezone = row[2] if len(row) > 2 and row[2] else None
        name = row[3] if len(row) > 3 and row[3] else None
        out[row[0]] = MapEntry(_map_slug(row[1]), name, timezone)
    return out


def _map_slug(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value


# Times


#: Zone abbreviations seen in guides (the DTD's own example uses BST), as offsets in hours.
ABBREVIATIONS = {
    "Z": 0, "UT": 0, "UTC": 0, "GMT": 0, "WET": 0, "BST": 1, "IST": 1, "WEST": 1, "CET": 1, "CEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7,
}  # fmt: skip
TIME = re.compile(
    r"^\s*(\d{4})(\d\d)(\d\d)(\d\d)?(\d\d)?(\d\d)?"
    r"\s*(?:([+-])(\d\d):?(\d\d)?|([A-Za-z]{1,4}))?\s*$"
)


def parse_time(text: str) -> tuple[int, int, int, int, int, int, int | None]:
    """Parse an XMLTV time into (Y, M, D, h, m, s, offset seconds or None when it has no zone).

    Accepts ``YYYYMMDD[hh[mm[ss]]]`` and an optional ``±hhmm``, ``±hh:mm``, ``±hh`` or a common
    abbreviation. Raise ``ValueError`` saying what is wrong.
    """
    m = TIME.match(text or "")
    if m is None:
        raise ValueError(f"{text!r} is not an XMLTV time (YYYYMMDDhhmmss ±hhmm)")
    y, mo, d, h, mi, s, sign, oh, om, abbr = m.groups()
    parts = (int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    try:
        datetime(*parts)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a real date and time ({e})") from e
    offset = None
    if sign:
        hours, minutes = int(oh), int(om or 0)
        if hours > 14 or minutes > 59:
            raise ValueError(f"{text!r} has an offset that does not exist")
        offset = (hours * 3600 + minutes * 60) * (-1 if sign == "-" else 1)
    elif abbr:
        if abbr.upper() not in ABBREVIATIONS:
            raise ValueError(f"{text!r} names a zone {abbr!r} that is not an offset; give ±hhmm")
        offset = ABBREVIATIONS[abbr.upper()] * 3600
    return (*parts, offset)


def _instant(parsed: tuple, tz, after: datetime | None) -> datetime:
    """The instant of a parsed time; one without a zone is a wall time in ``tz``.

    A wall time that happens twice (DST fold) is taken as the first unless that would put it
    before ``after`` (the programme before it in the file): guides list the fold in air order.
    """
    *parts, offset = parsed
    if offset is not None:
        return datetime(*parts, tzinfo=UTC) - timedelta(seconds=offset)
    wall = datetime(*parts)
    first = to_instant(wall, tz, 0)
    if after is not None and first < after:
        second = to_instant(wall, tz, 1)
        if second >= after:
            return second
    return first


def _show(parsed: tuple) -> str:
    y, mo, d, h, mi, s, offset = parsed
    text = f"{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}" + (f":{s:02}" if s else "")
    if offset is None:
        return text
    sign = "-" if offset < 0 else "+"
    return f"{text} {sign}{abs(offset) // 3600:02}{abs(offset) % 3600 // 60:02}"


# Reading: the file → channels + a spool of programmes


@dataclass
class FileChannel:
    """A ``<channel>`` of the guide, or a channel id its programmes name."""

    id: str
    line: int | None = None
    names: list[tuple[str | None, str]] = field(default_factory=list)
    icon: str | None = None
    programmes: int = 0
    title_langs: Counter = field(default_factory=Counter)

    @property
    def is_declared(self) -> bool:
        return self.line is not None


class Guide:
    """A read guide: its channels, its programmes spooled on disk by channel, and its bad items."""

    def __init__(self) -> None:
        self.channels: dict[str, FileChannel] = {}
        self.bad_items: list[BadItem] = []
        self.programmes = 0
        self._dir = tempfile.mkdtemp(prefix="xmltv-import-")
        self._db = sqlite3.connect(os.path.join(self._dir, "spool.db"))
        # A scratch file: nothing to recover after a crash, so no journal and no syncing.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE item (seq INTEGER PRIMARY KEY, chan TEXT, line INTEGER, data BLOB)")
        self._pending: list[tuple[str, int, bytes]] = []

    def __enter__(self) -> "Guide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _spool(self, chan: str, line: int, data: dict) -> None:
        self._pending.append((chan, line, marshal.dumps(data)))
        if len(self._pending) >= SPOOL_BATCH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO item (chan, line, data) VALUES (?, ?, ?)", self._pending)
        self._pending.clear()

    def _finish(self) -> None:
        self._flush()
        self._db.execute("CREATE INDEX ix_item_chan ON item (chan, seq)")
        self._db.commit()

    def items(self, chans: list[str]) -> Iterator[tuple[int, int, str, dict]]:
        """(seq, line, channel id, data) of the programmes of ``chans``, in file order."""
        marks = ",".join("?" * len(chans))
        query = f"SELECT seq, line, chan, data FROM item WHERE chan IN ({marks}) ORDER BY seq"
        for seq, line, chan, data in self._db.execute(query, chans):
            yield seq, line, chan, marshal.loads(data)


class _CountingReader:
    """A binary file wrapper that reports how many bytes were read, for a progress bar."""

    def __init__(self, raw: IO[bytes], progress: Progress):
        self.raw, self.progress = raw, progress

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data:
            self.progress(len(data))
        return data


PARSER_OPTIONS = {
    # Never substitute entities, never read a DTD, never touch the network: XXE and billion
    # laughs have nothing to work with, and entity declarations are refused outright below.
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def read_guide(source: str | Path | IO[bytes], progress: Progress | None = None) -> Guide:
    """Stream an XMLTV file (path or binary file) into a :class:`Guide`; raise :class:`GuideRefused`.

    :param progress: called with the number of bytes read, chunk by chunk.
    """
    guide = Guide()
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as f:
                _read_into(guide, _CountingReader(f, progress) if progress else f)
        else:
            _read_into(guide, _CountingReader(source, progress) if progress else source)
        guide._finish()
    except BaseException:
        guide.close()
        raise
    return guide


def _read_into(guide: Guide, stream: IO[bytes]) -> None:
    events = etree.iterparse(stream, events=("end",), tag=("channel", "programme"), **PARSER_OPTIONS)
    checked = False
    try:
        for _, el in events:
            if not checked:
                _check_document(el.getroottree())
                checked = True
            parent = el.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # a <channel> inside something else is not a channel of the guide
            if el.tag == "programme":
                _read_programme(guide, el)
            else:
                _read_channel(guide, el)
            # Drop what was read: memory stays flat however long the file is.
            el.clear(keep_tail=False)
            while el.getprevious() is not None:
                del parent[0]
        if not checked:
            _check_document(events.root.getroottree())
    except etree.XMLSyntaxError as e:
        if e.lineno == 0 or "Document is empty" in str(e) or "no element found" in str(e):
            raise GuideRefused("the file is empty: there is no XML in it") from e
        if "amplification" in e.msg or "entity reference loop" in e.msg:
            # libxml2 stops a billion-laughs DOCTYPE while reading it, before our own check.
            raise GuideRefused(
                f"the DOCTYPE declares entities that expand without bound ({e.msg.rstrip('.')}); "
                "entity declarations are refused (they are how XXE and billion-laughs files work)"
            ) from e
        raise GuideRefused(f"not well-formed XML: {e.msg}", e.lineno) from e


def _check_document(tree) -> None:
    """Refuse entity declarations (XXE, billion laughs) and roots other than ``<tv>``."""
    dtd = tree.docinfo.internalDTD
    if dtd is not None:
        entities = list(dtd.iterentities())
        if entities:
            names = ", ".join(
                f"{e.name} → {e.system_url}" if e.system_url else f"{e.name} (internal)" for e in entities[:5]
            )
            raise GuideRefused(
                f"the DOCTYPE declares entities ({names}); entity declarations are refused "
                "(they are how XXE and billion-laughs files work), and XMLTV needs none"
            )
    root = tree.getroot()
    if root.tag != "tv":
        raise GuideRefused(f"not an XMLTV file: the root element is <{root.tag}>, not <tv>", root.sourceline)


def _text(el) -> str:
    """The element's text with insignificant whitespace dropped; undeclared entities kept readable."""
    if len(el) == 0:
        text = el.text or ""
    else:
        parts = [el.text or ""]
        for child in el:
            if child.tag is etree.Entity:
                code = html.entities.name2codepoint.get(child.name)
                parts.append(chr(code) if code else child.text)
            parts.append(child.tail or "")
        text = "".join(parts)
    return " ".join(text.split())


def _lang(el) -> str | None:
    lang = el.get("lang")
    if not lang:
        return None
    lang = lang.strip().replace("_", "-")
    return lang if 2 <= len(lang) <= 16 else None


def _read_channel(guide: Guide, el) -> None:
    chan_id = (el.get("id") or "").strip()
    if not chan_id:
        guide.bad_items.append(BadItem(el.sourceline, None, "a <channel> without an id"))
        return
    channel = guide.channels.get(chan_id)
    if channel is None:
        channel = guide.channels[chan_id] = FileChannel(chan_id)
    if channel.is_declared:
        return  # a repeated <channel>: the first one counts
    channel.line = el.sourceline
    for child in el:
        if child.tag == "display-name":
            text = _text(child)
            if text:
                channel.names.append((_lang(child), text[:200]))
        elif child.tag == "icon" and channel.icon is None:
            channel.icon = _url(child.get("src"))


def _url(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if value.startswith(("http://", "https://")) and len(value) <= 1000 else None


def _read_programme(guide: Guide, el) -> None:
    line = el.sourceline
    chan = (el.get("channel") or "").strip()
    if not chan:
        guide.bad_items.append(BadItem(line, None, "a <programme> without a channel"))
        return
    channel = guide.channels.get(chan)
    if channel is None:
        channel = guide.channels[chan] = FileChannel(chan)
    guide.programmes += 1
    channel.programmes += 1
    start_text, stop_text = el.get("start"), el.get("stop")
    try:
        if not start_text:
            raise ValueError("it has no start")
        start = parse_time(start_text)
        stop = parse_time(stop_text) if stop_text else None
    except ValueError as e:
        guide.bad_items.append(BadItem(line, chan, f"unparsable time: {e}"))
        return
    values = _programme_values(el)
    if not values.get("title"):
        guide.bad_items.append(BadItem(line, chan, "a programme without a title"))
        return
    channel.title_langs[values.get("language")] += 1
    data = {
        "start": start,
        "stop": stop,
        "key": import_key(chan, values),
        "values": values,
        "premiere": values.pop("is_premiere"),
        "clump": _clump(el.get("clumpidx")),
    }
    guide._spool(chan, line, data)


def _clump(value: str | None) -> int | None:
    """The index of a programme within a clump ("1/2" → 1); None outside one."""
    if not value or value.strip() == "0/1":
        return None
    index, _, total = value.partition("/")
    return int(index) if index.strip().isdigit() and total.strip().isdigit() else None


def _programme_values(el) -> dict[str, Any]:
    """The programme's fields from its children (SPEC names); translations for other languages."""
    main_lang: str | None = None
    main: dict[str, str] = {}
    translations: dict[str, dict[str, str]] = {}
    categories: list[tuple[str | None, str]] = []
    presenters: list[str] = []
    guests: list[dict[str, str]] = []
    episodes: dict[str, str] = {}
    icon = None
    premiere = False
    seen_title = False
    for child in el:
        tag = child.tag
        if tag in ("title", "sub-title", "desc"):
            text = _text(child)
            if not text:
                continue
            lang = _lang(child)
            name = {"title": "title", "sub-title": "subtitle", "desc": "summary"}[tag]
            if tag == "title" and not seen_title:
                main_lang, seen_title = lang, True
            if lang is None or lang == main_lang:
                main.setdefault(name, text)
            else:
                translations.setdefault(lang, {}).setdefault(name, text)
        elif tag == "category":
            text = _text(child)
            if text:
                categories.append((_lang(child), text))
        elif tag == "credits":
            for person in child:
                if person.tag == "presenter":
                    name = _text(person)
                    if name:
                        presenters.append(name)
                elif person.tag == "guest" or (person.tag == "actor" and person.get("guest") == "yes"):
                    name = _text(person)
                    if name:
                        guest = {"name": name[:200]}
                        if person.get("role"):
                            guest["role"] = person.get("role").strip()[:300]
                        guests.append(guest)
        elif tag == "episode-num":
            text = _text(child)
            if text:
                episodes.setdefault(child.get("system") or "", text)
        elif tag == "icon" and icon is None:
            icon = _url(child.get("src"))
        elif tag == "premiere":
            premiere = True
    category = next((text for lang, text in categories if lang in (None, main_lang)), None)
    if category is None and categories:
        category = categories[0][1]
    episode = episodes.get("onscreen") or episodes.get("xmltv_ns") or next(iter(episodes.values()), None)
    return {
        "title": main.get("title", "")[:300],
        "subtitle": _cut(main.get("subtitle"), 300),
        "summary": main.get("summary"),
        "category": _cut(category, 100),
        "presenter": _cut(", ".join(presenters), 200) or None,
        "guests": guests,
        "episode_num": _cut(episode, 100),
        "image_url": icon,
        "language": main_lang,
        "translations": {
            lang: {k: (v[:300] if k != "summary" else v) for k, v in fields.items()}
            for lang, fields in translations.items()
        },
        "is_premiere": premiere,
    }


def _cut(text: str | None, size: int) -> str | None:
    return text[:size] if text else None


def import_key(chan: str, values: dict[str, Any]) -> str:
    """A programme's identity across imports: channel id, title and episode.

    Guides that give neither sub-title nor episode number tell episodes apart only by their
    description, so then it is part of the key too.
    """
    parts = [chan, values["title"], values.get("subtitle") or "", values.get("episode_num") or ""]
    if not values.get("subtitle") and not values.get("episode_num"):
        parts.append(values.get("summary") or "")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# Applying: one service channel at a time


@dataclass(slots=True)
class _Item:
    seq: int
    line: int
    chan: str
    data: dict
    start: datetime | None = None
    end: datetime | None = None

    @property
    def key(self) -> str:
        return self.data["key"]

    @property
    def values(self) -> dict:
        return self.data["values"]

    @property
    def is_premiere(self) -> bool:
        return self.data["premiere"]


@dataclass
class _Target:
    """A service channel the guide writes to: an existing one, or one to make."""

    slug: str
    chans: list[str]
    channel: Channel | None = None
    create: dict[str, Any] | None = None


def apply_guide(
    session: Session,
    guide: Guide,
    *,
    channel_map: dict[str, MapEntry] | None = None,
    skip_bad: bool = False,
    dry_run: bool = False,
    default_timezone: str = "UTC",
    progress: Progress | None = None,
) -> ImportReport:
    """Bring the service's schedule in line with ``guide``, channel by channel, each all or nothing.

    Flushes, never commits. :param progress: called with the number of programmes handled.
    """
    zone(default_timezone)
    report = ImportReport(dry_run=dry_run, skip_bad=skip_bad, programmes=guide.programmes)
    bad_by_chan: dict[str | None, list[BadItem]] = defaultdict(list)
    for bad in guide.bad_items:
        bad_by_chan[bad.channel].append(bad)
    report.bad_items.extend(bad_by_chan.pop(None, []))
    targets, unknown = _targets(session, guide, channel_map or {}, default_timezone)
    for chan in unknown:
        # Every programme of an unknown channel is a bad item of its own, with its line.
        for _seq, line, _, _ in guide.items([chan]):
            report.bad_items.append(
                BadItem(
                    line,
                    chan,
                    f"unknown channel {chan!r}: no <channel> declares it, "
                    "the service has no channel with that xmltv_id, "
                    "and no channel map names it",
                )
            )
        report.bad_items.extend(bad_by_chan.pop(chan, []))
    for chan, entry in (channel_map or {}).items():
        if entry.is_skipped and chan in guide.channels and guide.channels[chan].programmes:
            report.warnings.append(BadItem(guide.channels[chan].line, chan, "left out by the channel map"))
            bad_by_chan.pop(chan, None)
    for target in targets:
        items = [_Item(seq, line, chan, data) for seq, line, chan, data in guide.items(target.chans)]
        parse_bad = [b for chan in target.chans for b in bad_by_chan.get(chan, [])]
        _apply_target(session, target, items, parse_bad, report, skip_bad, default_timezone)
        if progress:
            progress(len(items) + len(parse_bad))
    report.bad_items.sort(key=lambda b: b.line or 0)
    report.warnings.sort(key=lambda b: b.line or 0)
    return report


def _targets(
    session: Session, guide: Guide, channel_map: dict[str, MapEntry], default_timezone: str
) -> tuple[list[_Target], list[str]]:
    """Group the guide's channels (those with programmes) by the service channel they write to."""
    chans = [c for c in guide.channels.values() if c.programmes]
    ids = [c.id for c in chans]
    by_xmltv: dict[str, Channel] = {}
    by_slug: dict[str, Channel] = {}
    slugs = {e.slug for e in channel_map.values() if e.slug} | {_slugify(i) for i in ids} | set(ids)
    for chunk in _chunks(ids):
        for ch in session.scalars(select(Channel).where(Channel.xmltv_id.in_(chunk))):
            by_xmltv[ch.xmltv_id] = ch
    for chunk in _chunks(sorted(slugs)):
        for ch in session.scalars(select(Channel).where(Channel.slug.in_(chunk))):
            by_slug[ch.slug] = ch
    targets: dict[str, _Target] = {}
    unknown: list[str] = []
    taken_xmltv = set(by_xmltv)
    for fc in chans:
        entry = channel_map.get(fc.id)
        if entry is not None and entry.is_skipped:
            continue
        if entry is not None:
            existing = by_slug.get(entry.slug)
            slug = entry.slug
        elif fc.id in by_xmltv:
            existing = by_xmltv[fc.id]
            slug = existing.slug
        elif fc.id in by_slug and by_slug[fc.id].xmltv_id is None:
            # A guide the service exported itself names channels without an xmltv_id by slug.
            existing = by_slug[fc.id]
            slug = existing.slug
        elif fc.is_declared:
            existing = None
            slug = _free_slug(session, _slugify(fc.id), by_slug, targets)
        else:
            unknown.append(fc.id)
            continue
        target = targets.get(slug)
        if target is None:
            target = targets[slug] = _Target(slug, [], existing)
            if existing is None:
                target.create = _new_channel(fc, entry, slug, default_timezone, taken_xmltv)
        target.chans.append(fc.id)
    return list(targets.values()), unknown


def _new_channel(
    fc: FileChannel, entry: MapEntry | None, slug: str, default_timezone: str, taken_xmltv: set[str]
) -> dict[str, Any]:
    names = {lang: name for lang, name in reversed(fc.names) if lang}
    name = (entry.name if entry else None) or (fc.names[0][1] if fc.names else fc.id)
    languages = (
        list(entry.languages)
        if entry and entry.languages
        else [lang for lang, _ in fc.title_langs.most_common() if lang]
    )
    xmltv_id = fc.id if fc.id not in taken_xmltv else None
    taken_xmltv.add(fc.id)
    return {
        "slug": slug,
        "name": name[:200],
        "names": names,
        "timezone": (entry.timezone if entry else None) or default_timezone,
        "xmltv_id": xmltv_id,
        "languages": languages,
    }


def _slugify(chan_id: str) -> str:
    """A slug from an XMLTV channel id: "12-omsk" stays, "BBC1.uk" → "bbc1-uk"; others get a hash."""
    base = re.sub(r"[^a-z0-9]+", "-", chan_id.lower()).strip("-")[:56]
    if base and chan_id.isascii():
        return base
    digest = hashlib.sha256(chan_id.encode()).hexdigest()[:6]
    return f"{base}-{digest}" if base else f"ch-{digest}"


def _free_slug(session: Session, base: str, by_slug: dict[str, Channel], targets: dict[str, _Target]) -> str:
    """``base``, or ``base-2``, ``base-3``… when another channel has it."""
    slug, n = base, 1
    while slug in targets or slug in by_slug or session.scalar(select(Channel.id).where(Channel.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _apply_target(
    session: Session,
    target: _Target,
    items: list[_Item],
    parse_bad: list[BadItem],
    report: ImportReport,
    skip_bad: bool,
    default_timezone: str,
) -> None:
    summary = ChannelReport(target.slug, list(target.chans), created_channel=target.create is not None)
    report.channels.append(summary)
    tz = target.channel.zone if target.channel is not None else zone(target.create["timezone"])
    kept, bad, warnings = _checked(items, tz)
    bad = sorted(parse_bad + bad, key=lambda b: b.line or 0)
    report.bad_items.extend(bad)
    report.warnings.extend(warnings)
    summary.errors = len(bad)
    summary.skipped = len(bad) + len(warnings)
    if bad and not skip_bad:
        summary.applied = False
        summary.skipped = len(items) + len(parse_bad)
        summary.created_channel = False
        return
    if not kept:
        summary.created_channel = False
        return
    # A programme the schedule refuses (its promo cannot be made, say) is only known once its
    # operation runs: the savepoint goes back, and with skip_bad the channel is tried again
    # without it.
    while True:
        counts = ChannelReport(summary.channel, summary.xmltv_ids)
        try:
            with session.begin_nested():
                channel = target.channel or schedule.create_channel(session, target.create, ACTOR)
                created, updated = _sync_slots(session, channel, kept, counts)
            break
        except _ItemRefused as refused:
            it = refused.item
            report.bad_items.append(BadItem(it.line, it.chan, f"refused by the schedule: {refused.error}"))
            summary.errors += 1
            summary.skipped += 1
            if skip_bad:
                kept = [other for other in kept if other is not it]
                if kept:
                    continue
            else:
                summary.skipped = len(items) + len(parse_bad)
            summary.applied = summary.applied and skip_bad
            summary.created_channel = False
            return
        except ScheduleError as e:
            # The savepoint is rolled back: nothing of this channel stays.
            summary.applied = summary.created_channel = False
            summary.skipped = len(items) + len(parse_bad)
            summary.errors += 1
            report.bad_items.append(BadItem(None, ", ".join(target.chans), f"could not apply to {target.slug}: {e}"))
            return
    for name in ("created", "updated", "unchanged", "cancelled"):
        setattr(summary, name, getattr(counts, name))
    report.programmes_created += created
    report.programmes_updated += updated


class _ItemRefused(Exception):
    """A schedule operation refused one item of the guide."""

    def __init__(self, item: "_Item", error: ScheduleError):
        super().__init__(str(error))
        self.item, self.error = item, error


def _checked(items: list[_Item], tz) -> tuple[list[_Item], list[BadItem], list[BadItem]]:
    """Resolve the items' instants and check them as a channel: (good in air order, bad, warnings)."""
    bad: list[BadItem] = []
    warnings: list[BadItem] = []
    timed: list[_Item] = []
    previous: datetime | None = None
    for it in items:  # file order, so a wall time in a DST fold lands after the one before it
        try:
            it.start = _instant(it.data["start"], tz, previous)
            if it.data["stop"] is not None:
                it.end = _instant(it.data["stop"], tz, it.start)
        except NonexistentTime as e:
            bad.append(BadItem(it.line, it.chan, f"a time without offset: {e}"))
            continue
        previous = it.start
        timed.append(it)
    timed.sort(key=lambda it: (it.start, it.seq))
    # A clump (clumpidx="1/2": two programmes sharing a timeslot): one slot, for the first.
    unclumped: list[_Item] = []
    for it in timed:
        clump = it.data["clump"]
        if clump and unclumped and unclumped[-1].start == it.start and unclumped[-1].data["clump"] is not None:
            warnings.append(
                BadItem(
                    it.line,
                    it.chan,
                    f"shares its timeslot with line {unclumped[-1].line} (a clump): only the first is scheduled",
                )
            )
            continue
        unclumped.append(it)
    kept: list[_Item] = []
    for i, it in enumerate(unclumped):
        if it.end is None:
            nxt = next((o for o in unclumped[i + 1 :] if o.start > it.start), None)
            if nxt is None:
                warnings.append(
                    BadItem(it.line, it.chan, "no stop, and no programme after it on the channel to end it: left out")
                )
                continue
            if nxt.start - it.start > MAX_OPEN_GAP:
                warnings.append(
                    BadItem(
                        it.line,
                        it.chan,
                        f"no stop, and the next programme (line {nxt.line}) starts more than 24 hours later: left out",
                    )
                )
                continue
            it.end = nxt.start
        if it.end <= it.start:
            word = "before" if it.end < it.start else "at"
            bad.append(
                BadItem(it.line, it.chan, f"stop {_show(it.data['stop'])} is {word} start {_show(it.data['start'])}")
            )
            continue
        if kept and it.start < kept[-1].end:
            other = kept[-1]
            bad.append(
                BadItem(
                    it.line,
                    it.chan,
                    f"overlaps the programme at line {other.line} "
                    f"({other.start:%Y-%m-%d %H:%M}–{other.end:%H:%M}Z) in the file",
                )
            )
            continue
        kept.append(it)
    return kept, bad, warnings


def _sync_programmes(session: Session, channel: Channel, items: list[_Item]):
    """Find or make each item's programme by its import key; update the ones the guide changed.

    Returns ({key: programme}, number created, set of keys updated).
    """
    first: dict[str, _Item] = {}
    if not items:
        return {}, 0, set()
    for it in items:
        first.setdefault(it.key, it)
    keys = list(first)
    found: dict[str, Programme] = {}
    for chunk in _chunks(keys):
        for p in session.scalars(select(Programme).where(Programme.import_key.in_(chunk))):
            found[p.import_key] = p
    default_lang = channel.languages[0] if channel.languages else UNDETERMINED
    updated: set[str] = set()
    fresh: list[tuple[Programme, dict]] = []
    for key, it in first.items():
        programme = found.get(key)
        if programme is None:
            programme = found[key] = _new_programme(it.values, key, default_lang)
            session.add(programme)
            # The audit state is taken now: after the flush it would cost a query per programme.
            fresh.append((programme, _programme_state(programme, it.values["translations"])))
            continue
        changes = _programme_changes(programme, it.values)
        if changes:
            schedule.update_programme(session, programme, changes, ACTOR)
            updated.add(key)
    if fresh:
        session.flush()  # one batched INSERT for the channel's new programmes
        for p, state in fresh:
            audit.record(session, ACTOR, "create", "programme", p.id, audit.created(state))
    return found, len(fresh), updated


def _new_programme(values: dict[str, Any], key: str, default_lang: str) -> Programme:
    programme = Programme(
        title=values["title"],
        subtitle=values["subtitle"],
        summary=values["summary"],
        category=values["category"],
        presenter=values["presenter"],
        guests=values["guests"],
        episode_num=values["episode_num"],
        image_url=values["image_url"],
        language=values["language"] or default_lang,
        import_key=key,
        is_exclusive=False,
    )
    for lang, fields in values["translations"].items():
        programme.translations[lang] = ProgrammeTranslation(lang=lang, **fields)
    return programme


#: What a guide may change on a programme; staff fields (exclusive, quote, credit, plan) stay.
IMPORTED_FIELDS = ("title", "subtitle", "summary", "category", "presenter", "guests", "episode_num", "image_url")


def _programme_changes(programme: Programme, values: dict[str, Any]) -> dict[str, Any]:
    """The fields the guide gives that differ; what the guide leaves out is kept."""
    changes = {}
    for name in IMPORTED_FIELDS:
        new = values.get(name)
        if new not in (None, [], "") and getattr(programme, name) != new:
            changes[name] = new
    if values.get("language") and programme.language != values["language"]:
        changes["language"] = values["language"]
    merged = {
        lang: {k: getattr(t, k) for k in ("title", "subtitle", "summary", "quote")}
        for lang, t in programme.translations.items()
    }
    touched = False
    for lang, fields in values["translations"].items():
        row = merged.setdefault(lang, {"title": None, "subtitle": None, "summary": None, "quote": None})
        for k, v in fields.items():
            if row.get(k) != v:
                row[k] = v
                touched = True
    if touched:
        changes["translations"] = merged
    return changes


def _programme_state(programme: Programme, translations: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What the audit trail records of a new programme, as ``schedule.create_programme`` does."""
    state = audit.snapshot(programme, PROGRAMME_FIELDS)
    state["translations"] = {
        lang: {k: v for k, v in fields.items() if v} for lang, fields in sorted(translations.items())
    }
    return state


def _sync_slots(session: Session, channel: Channel, items: list[_Item], summary: ChannelReport) -> tuple[int, int]:
    """Make the channel's slots in the guide's span what the guide says, by the ordinary operations.

    A slot of the same programme at the same start is kept (or retimed); so is one the staff
    entered at the same start under the same title. One of the same programme that overlaps
    its new place is moved; every other scheduled slot the guide overlaps is cancelled, and
    the rest of the guide's programmes get new slots. Returns the programmes (created, updated).
    """
    lo = items[0].start
    hi = max(it.end for it in items)
    existing = session.scalars(
        select(Slot)
        .where(Slot.channel_id == channel.id, Slot.status == SCHEDULED, Slot.start_at < hi, Slot.end_at > lo)
        .order_by(Slot.start_at)
    ).all()
    starts = [s.start_at for s in existing]
    exact = {(s.programme.import_key, s.start_at): s for s in existing if s.programme.import_key}
    # A programme entered by hand has no import key: the guide saying the same thing at the
    # same time keeps it (the guide's copy is not made, the staff's is not touched).
    by_hand = {(s.programme.title, s.start_at): s for s in existing if not s.programme.import_key}
    matched: dict[int, Slot] = {}
    adopted: set[int] = set()
    used: set[int] = set()
    for i, it in enumerate(items):
        slot = exact.get((it.key, it.start))
        if slot is None:
            slot = by_hand.get((it.values["title"], it.start))
            if slot is not None:
                adopted.add(i)
        if slot is not None:
            matched[i] = slot
            used.add(slot.id)
    overlapped: set[int] = set()
    for i, it in enumerate(items):
        # Existing slots never overlap each other, so the ones under an item are consecutive.
        j = max(bisect.bisect_right(starts, it.start) - 1, 0)
        while j < len(existing) and existing[j].start_at < it.end:
            slot = existing[j]
            if slot.end_at > it.start:
                overlapped.add(slot.id)
                if i not in matched and slot.id not in used and slot.programme.import_key == it.key:
                    matched[i] = slot
                    used.add(slot.id)
            j += 1
    programmes, created, updated_keys = _sync_programmes(
        session, channel, [it for i, it in enumerate(items) if i not in adopted]
    )

    for slot in existing:
        if slot.id in overlapped and slot.id not in used:
            schedule.cancel_slot(session, slot, ACTOR)
            summary.cancelled += 1
    moves = []
    for i, it in enumerate(items):
        slot = matched.get(i)
        if slot is None:
            continue
        if (slot.start_at, slot.end_at, slot.is_premiere) != (it.start, it.end, it.is_premiere):
            moves.append((slot, it))
            summary.updated += 1
        elif i not in adopted and it.key in updated_keys:
            summary.updated += 1
        else:
            summary.unchanged += 1
    creates = [it for i, it in enumerate(items) if i not in matched]
    # A move may need the place another moving slot still holds: retry until none is left, and
    # if some block each other for good, replace them instead.
    while moves:
        blocked = []
        for slot, it in moves:
            try:
                schedule.update_slot(session, slot, _slot_values(it), ACTOR)
            except Conflict:
                blocked.append((slot, it))
            except ScheduleError as e:
                raise _ItemRefused(it, e) from e
        if len(blocked) == len(moves):
            for slot, it in blocked:
                schedule.cancel_slot(session, slot, ACTOR)
                summary.cancelled += 1
                summary.updated -= 1
                programmes.setdefault(it.key, slot.programme)  # a hand-made one has no guide copy
                creates.append(it)
            break
        moves = blocked
    for it in creates:
        try:
            schedule.create_slot(session, channel, programmes[it.key], _slot_values(it), ACTOR)
        except ScheduleError as e:
            raise _ItemRefused(it, e) from e
        summary.created += 1
    return created, len(updated_keys)


def _slot_values(it: _Item) -> dict[str, Any]:
    return {"start": it.start, "end": it.end, "is_premiere": it.is_premiere}


def import_xmltv(
    session: Session,
    source: str | Path | IO[bytes],
    *,
    channel_map: dict[str, MapEntry] | None = None,
    skip_bad: bool = False,
    dry_run: bool = False,
    default_timezone: str = "UTC",
) -> ImportReport:
    """Read and apply a guide in one go; raise :class:`GuideRefused` for a file refused as a whole."""
    with read_guide(source) as guide:
        return apply_guide(
            session,
            guide,
            channel_map=channel_map,
            skip_bad=skip_bad,
            dry_run=dry_run,
            default_timezone=default_timezone,
        )
