"""Reading an XMLTV guide: streamed with lxml, spooled to disk, never resolving entities (SPEC §7).

:func:`read_guide` streams the file with ``iterparse``, clearing each element once read so
memory stays flat in the file size, and never substitutes entities, loads a DTD or touches the
network; a DOCTYPE that declares entities (XXE, billion laughs) is refused outright. Channels
are kept in memory, programmes go to a scratch SQLite file by channel, with every bad item's
line. Also here: XMLTV times and the channel map file.
"""

import csv
import dataclasses
import functools
import hashlib
import heapq
import html.entities
import io
import json
import marshal
import os
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from lxml import etree

from schedule_service.broadcast_time import zone

#: Programmes held in memory between writes to the spool.
SPOOL_BATCH = 5000

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
        texts = {"id": xmltv_id, "slug": entry.slug, "name": entry.name, "timezone": entry.timezone}
        texts.update({f"languages.{i}": lang for i, lang in enumerate(entry.languages)})
        for field_name, text_value in texts.items():
            if text_value is not None and not isinstance(text_value, str):
                raise ValueError(f"channel map: {xmltv_id!r}: {field_name} must be text, not {text_value!r}")
        refused = _refused_text(texts)
        if refused:
            raise ValueError(f"channel map: {xmltv_id!r}: {refused}")
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
            languages = value.get("languages") or []
            if not isinstance(languages, list):
                raise ValueError(f"channel map: {xmltv_id!r}: languages must be a list, not {languages!r}")
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


#: The page cache of a guide's spool (KiB).
SPOOL_CACHE_KIB = 256


class Guide:
    """A read guide: its channels, its programmes spooled on disk by channel, and its bad items.

    Programmes are spooled in runs: the programmes of one channel read since the last flush go
    to disk as one row, so a guide written channel by channel costs one row per few thousand
    programmes rather than one per programme.
    """

    def __init__(self, directory: str | None = None) -> None:
        self.channels: dict[str, FileChannel] = {}
        self.bad_items: list[BadItem] = []
        self.programmes = 0
        #: The file's name, when it has one, and the SHA-256 of its bytes: what the audit trail names.
        self.name: str | None = None
        self.sha256: str | None = None
        self._dir = directory or tempfile.mkdtemp(prefix="xmltv-import-")
        #: Whether closing removes the spool (not in a forked copy, see :meth:`reopen`).
        self._owner = True
        self._db = sqlite3.connect(os.path.join(self._dir, "spool.db"))
        # A scratch file: nothing to recover after a crash, so no journal and no syncing.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        # Each run is read once, in order: a small page cache, so a guide read in many parts
        # (one spool each) does not hold SQLite's default 2 MB for every part.
        self._db.execute(f"PRAGMA cache_size=-{SPOOL_CACHE_KIB}")
        self._db.execute("CREATE TABLE IF NOT EXISTS run (id INTEGER PRIMARY KEY, chan TEXT, items BLOB)")
        self._seq = 0
        #: (seq, line, data) of the programmes not yet on disk, by channel.
        self._pending: dict[str, list[tuple[int, int, dict]]] = {}
        self._pending_count = 0
        #: The guides of the later parts of the file, read apart (:meth:`append`), with the shifts
        #: that make their (seq, line) the file's.
        self._parts: list[tuple[Guide, int, int]] = []

    def __enter__(self) -> "Guide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for part, _, _ in self._parts:
            part.close()
        self._db.close()
        if self._owner:
            shutil.rmtree(self._dir, ignore_errors=True)

    def reopen(self) -> None:
        """In a forked process: read the spool through connections of its own (one must not
        cross a fork). The spool stays the parent's, which removes it; this copy never does."""
        self._db = sqlite3.connect(os.path.join(self._dir, "spool.db"))
        self._owner = False
        for part, _, _ in self._parts:
            part.reopen()

    def append(self, part: "Guide", line_shift: int) -> None:
        """Take in the guide of the part of the file that follows this one's, read apart.

        ``line_shift`` turns its lines into the file's. Channels are kept in the order the file
        names them, and a ``<channel>`` read in both counts where it comes first, as one reader
        would have it; the part's spool stays where it is and is read after this one's.
        """
        for bad in part.bad_items:
            self.bad_items.append(dataclasses.replace(bad, line=bad.line + line_shift) if bad.line else bad)
        for chan_id, theirs in part.channels.items():
            if theirs.line is not None:
                theirs.line += line_shift
            ours = self.channels.get(chan_id)
            if ours is None:
                self.channels[chan_id] = theirs
                continue
            if not ours.is_declared and theirs.is_declared:
                ours.line, ours.names, ours.icon = theirs.line, theirs.names, theirs.icon
            ours.programmes += theirs.programmes
            ours.title_langs.update(theirs.title_langs)
        self.programmes += part.programmes
        seq_shift = self._seq + sum(p._seq for p, _, _ in self._parts)
        self._parts.append((part, seq_shift, line_shift))

    def _spool(self, chan: str, line: int, data: dict) -> None:
        self._seq += 1
        run = self._pending.get(chan)
        if run is None:
            run = self._pending[chan] = []
        run.append((self._seq, line, data))
        self._pending_count += 1
        if self._pending_count >= SPOOL_BATCH:
            self._flush()

    def _flush(self) -> None:
        runs = [(chan, marshal.dumps(run)) for chan, run in self._pending.items()]
        self._db.executemany("INSERT INTO run (chan, items) VALUES (?, ?)", runs)
        self._pending.clear()
        self._pending_count = 0

    def _finish(self) -> None:
        self._flush()
        self._db.execute("CREATE INDEX ix_run_chan ON run (chan, id)")
        self._db.commit()

    def items(self, chans: list[str]) -> Iterator[tuple[int, int, str, dict]]:
        """(seq, line, channel id, data) of the programmes of ``chans``, in file order."""
        return heapq.merge(*(self._items(chan) for chan in dict.fromkeys(chans)))

    def _items(self, chan: str) -> Iterator[tuple[int, int, str, dict]]:
        # A channel's runs are written in file order and never overlap: read one after the other.
        for (items,) in self._db.execute("SELECT items FROM run WHERE chan = ? ORDER BY id", (chan,)):
            for seq, line, data in marshal.loads(items):
                yield seq, line, chan, data
        for part, seq_shift, line_shift in self._parts:  # the later parts of the file, in order
            for seq, line, _, data in part._items(chan):
                yield seq + seq_shift, line + line_shift, chan, data


class _CountingReader:
    """A binary file wrapper that hashes what was read and reports how much, for a progress bar."""

    def __init__(self, raw: IO[bytes], progress: Progress | None):
        self.raw, self.progress = raw, progress
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data:
            self.digest.update(data)
            if self.progress:
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


def read_guide(source: str | Path | IO[bytes], progress: Progress | None = None, name: str | None = None) -> Guide:
    """Stream an XMLTV file (path or binary file) into a :class:`Guide`; raise :class:`GuideRefused`.

    :param progress: called with the number of bytes read, chunk by chunk.
    :param name: the file's name, when ``source`` does not carry it (an upload).
    """
    guide = Guide()
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as f:
                guide.name = name or Path(source).name
                guide.sha256 = _read_whole(guide, _CountingReader(f, progress))
        else:
            given = getattr(source, "name", None)
            guide.name = name or (Path(given).name if isinstance(given, str) and given else None)
            guide.sha256 = _read_whole(guide, _CountingReader(source, progress))
        guide._finish()
    except BaseException:
        guide.close()
        raise
    return guide


#: Elements one ``<channel>`` or ``<programme>`` may hold; past this it is a bad item, and its
#: further elements are dropped as they are read, so no single item can grow the process.
MAX_ITEM_ELEMENTS = 2000
_ITEMS = ("channel", "programme")


def _read_whole(guide: Guide, stream: _CountingReader) -> str:
    """Read the guide from ``stream``; return the SHA-256 of the whole file."""
    _read_into(guide, stream)
    while stream.read(1 << 16):
        pass  # bytes after the root (a newline) are the file's too
    return stream.digest.hexdigest()


def _read_into(guide: Guide, stream: IO[bytes]) -> None:
    """Read every element as it ends and free it: memory stays flat whatever the file holds.

    Children of ``<tv>`` other than channels and programmes, and everything inside them, are
    dropped as they end; so are the elements past :data:`MAX_ITEM_ELEMENTS` inside one item.
    """
    marked = _MarkingReader(stream)
    events = etree.iterparse(marked, events=("start", "end"), **PARSER_OPTIONS)
    root = None
    depth = 0
    is_item = False  # inside a <channel> or <programme> child of the root
    elements = 0  # elements read so far inside that item
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                if depth == 2:
                    is_item, elements = el.tag in _ITEMS, 0
                elif depth == 1:
                    root = _check_document(el.getroottree())
                continue
            depth -= 1
            if depth == 1:  # a child of <tv> is complete
                if is_item:
                    if elements > MAX_ITEM_ELEMENTS:
                        chan = (el.get("channel" if el.tag == "programme" else "id") or "").strip() or None
                        guide.bad_items.append(
                            BadItem(
                                _line(el),
                                chan,
                                f"a <{el.tag}> holding more than {MAX_ITEM_ELEMENTS} elements: left out",
                            )
                        )
                    elif el.tag == "programme":
                        _read_programme(guide, el, marked.seen)
                    else:
                        _read_channel(guide, el, marked.seen)
                _drop(el, root)
            elif depth > 1:
                if not is_item:
                    _drop(el, el.getparent())  # nothing of an unknown element is ever read
                else:
                    elements += 1
                    if elements > MAX_ITEM_ELEMENTS:
                        _drop(el, el.getparent())
        if root is None:
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


def _drop(el, parent) -> None:
    """Free a complete element and its earlier siblings (the parser is past all of them)."""
    el.clear(keep_tail=False)
    while el.getprevious() is not None:
        del parent[0]


# Characters XML 1.0 cannot carry. libxml2 refuses a whole file for one of them; to report
# them per item instead, the bytes are rewritten on their way to the parser: each such
# character (raw, or as a character reference) becomes a reference to a private-use character
# of plane 16, U+100000 + its code point, which the item's reader then reports with its line.

_MARK_BASE = 0x100000
_MARKED = re.compile("[\U00100000-\U0010ffff]")
#: A character reference, and (for UTF-8 only) a raw U+FFFE, U+FFFF or surrogate.
_CHAR_REF = rb"&#(?:x([0-9A-Fa-f]{1,8})|([0-9]{1,10}));"
_ASCII_BAD = rb"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_UTF8_BAD = rb"\xef\xbf[\xbe\xbf]|\xed[\xa0-\xbf][\x80-\xbf]"
_BAD_ANY = re.compile(_CHAR_REF + b"|" + _ASCII_BAD)
_BAD_UTF8 = re.compile(_CHAR_REF + b"|" + _ASCII_BAD + b"|" + _UTF8_BAD)
#: Every byte but the control characters XML 1.0 refuses: deleting these leaves only those.
_NOT_CONTROL = bytes(b for b in range(256) if not re.fullmatch(_ASCII_BAD, bytes([b])))
_DECLARED = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
#: Bytes held back at the end of a read when they may begin a character reference or a UTF-8 sequence.
_HOLD = 16


def is_xml_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _mark(match: re.Match) -> bytes:
    hex_, dec = match.group(1), match.group(2)
    if hex_ is not None or dec is not None:
        code = int(hex_, 16) if hex_ is not None else int(dec)
        if is_xml_char(code):
            return match.group(0)
    else:
        code = ord(match.group(0).decode("utf-8", "surrogatepass"))
    return b"&#x%X;" % (_MARK_BASE + min(code, 0xFFFF))


class _MarkingReader:
    """A binary stream wrapper that marks characters XML 1.0 cannot carry (see above).

    Only files in an ASCII-compatible encoding are rewritten (UTF-16 and UTF-32 ones reach the
    parser as they are, which refuses such a file whole). ``seen`` tells whether anything was marked.
    """

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.seen = False
        self._pattern: re.Pattern | None = None
        self._held = b""
        self._first = True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self._first:
            self._first = False
            self._pattern = self._pattern_for(data)
        if self._pattern is None:
            return data
        while True:
            if not data:  # the end: give what was held back
                data, self._held = self._held, b""
                return self._marked(data)
            data = self._held + data
            cut = self._safe_end(data)
            data, self._held = data[:cut], data[cut:]
            if data:
                return self._marked(data)
            # All of it may begin a reference: read on (an empty answer would end the parse).
            data = self.raw.read(size)

    def _marked(self, data: bytes) -> bytes:
        # The pattern's alternatives have no common first byte, so searching with it costs
        # about as much as parsing; these tests find the clean chunks (nearly all) in C.
        if (
            b"&#" not in data
            and not data.translate(None, _NOT_CONTROL)
            and (self._pattern is _BAD_ANY or (b"\xef\xbf" not in data and b"\xed" not in data))
        ):
            return data
        if self._pattern.search(data) is None:
            return data
        self.seen = True
        return self._pattern.sub(_mark, data)

    @staticmethod
    def _pattern_for(head: bytes) -> re.Pattern | None:
        if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\x00<", b"<\x00")):
            return None  # UTF-16 or UTF-32
        declared = _DECLARED.match(head.removeprefix(b"\xef\xbb\xbf"))
        encoding = declared.group(1).decode().lower().replace("_", "-") if declared else "utf-8"
        if encoding.startswith(("utf-16", "utf-32", "ucs")):
            return None
        return _BAD_UTF8 if encoding in ("utf-8", "utf8") else _BAD_ANY

    @staticmethod
    def _safe_end(data: bytes) -> int:
        """Where to cut ``data`` so that no reference or UTF-8 sequence is split."""
        tail_start = max(0, len(data) - _HOLD)
        amp = data.rfind(b"&", tail_start)
        cut = amp if amp != -1 and data.find(b";", amp) == -1 else len(data)
        # A UTF-8 lead byte near the end may begin U+FFFE, U+FFFF or a surrogate.
        for back in (1, 2):
            if cut - back >= 0 and data[cut - back] in (0xED, 0xEF):
                return cut - back
        return cut


def _refused_text(values: dict[str, str | None]) -> str | None:
    """The first of ``values`` holding a character XML 1.0 cannot carry, described; None when clean."""
    for name, value in values.items():
        for char in value or "":
            if not is_xml_char(ord(char)):
                code = ord(char)
                kind = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "a character XML 1.0 cannot carry"
                return f"{name} holds U+{code:04X}, {kind}"
    return None


def _refused_chars(values: dict[str, Any], prefix: str = "") -> str | None:
    """The first field of ``values`` holding a marked character, described; None when clean."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, str):
            found = _MARKED.search(value)
            if found:
                code = ord(found.group(0)) - _MARK_BASE
                kind = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "a character XML 1.0 cannot carry"
                return f"{name} holds U+{code:04X}, {kind}"
        elif isinstance(value, dict):
            found_in = _refused_chars(value, f"{name}.")
            if found_in:
                return found_in
        elif isinstance(value, list):
            found_in = _refused_chars({str(i): v for i, v in enumerate(value)}, f"{name}.")
            if found_in:
                return found_in
    return None


def _check_document(tree):
    """Refuse entity declarations (XXE, billion laughs) and roots other than ``<tv>``; return the root."""
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
    return root


def _line(el) -> int | None:
    """The line an element starts on.

    libxml2 keeps 16 bits of line per element: past line 65,534 it answers with the line of the
    element's first text (its own, or its first child's, down), or else of the text after it,
    and counts that line where the text ends. Taking back the text's line breaks gives the line
    the element starts on, when nothing but text lies between (as in every guide's layout).
    """
    line = el.sourceline
    if line is None or line < _BIG_LINE:
        return line
    node = el
    while node.text is None and len(node) and node[0].tag is not etree.Entity:
        node = node[0]
    text = node.text if node.text is not None else node.tail
    return line - text.count("\n") if text else line


#: The first line libxml2 does not keep with an element (65,535 marks "look elsewhere").
_BIG_LINE = 65535


def _text(el) -> str:
    """The element's text with insignificant whitespace dropped; undeclared entities kept readable."""
    if len(el) == 0:
        text = el.text
        if not text:
            return ""
        # Most texts need nothing done: a space is the only whitespace that is printable, so
        # this finds them without splitting and joining every description word by word.
        if text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
            return text
        return " ".join(text.split())
    parts = [el.text or ""]
    for child in el:
        if child.tag is etree.Entity:
            code = html.entities.name2codepoint.get(child.name)
            parts.append(chr(code) if code else child.text)
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _lang(el) -> str | None:
    lang = el.get("lang")
    return _clean_lang(lang) if lang else None


@functools.lru_cache(maxsize=256)
def _clean_lang(lang: str) -> str | None:
    lang = lang.strip().replace("_", "-")
    return lang if 2 <= len(lang) <= 16 else None


#: A guide names the same few instants over and over (one programme's stop is the next one's start).
_parse_time = functools.lru_cache(maxsize=4096)(parse_time)


def _read_channel(guide: Guide, el, marked: bool = False) -> None:
    chan_id = (el.get("id") or "").strip()
    if not chan_id:
        guide.bad_items.append(BadItem(_line(el), None, "a <channel> without an id"))
        return
    if marked:
        refused = _refused_chars({"id": chan_id})
        if refused:
            guide.bad_items.append(BadItem(_line(el), None, refused))
            return
        names = {f"display-name.{i}": _text(c) for i, c in enumerate(el) if c.tag == "display-name"}
        refused = _refused_chars(names)
        if refused:
            guide.bad_items.append(BadItem(_line(el), chan_id, refused))
            return
    channel = guide.channels.get(chan_id)
    if channel is None:
        channel = guide.channels[chan_id] = FileChannel(chan_id)
    if channel.is_declared:
        return  # a repeated <channel>: the first one counts
    channel.line = _line(el)
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


def _read_programme(guide: Guide, el, marked: bool = False) -> None:
    get = el.get
    chan = (get("channel") or "").strip()
    if not chan:
        guide.bad_items.append(BadItem(_line(el), None, "a <programme> without a channel"))
        return
    if marked and _MARKED.search(chan):
        guide.bad_items.append(BadItem(_line(el), None, _refused_chars({"channel": chan})))
        return
    channel = guide.channels.get(chan)
    if channel is None:
        channel = guide.channels[chan] = FileChannel(chan)
    guide.programmes += 1
    channel.programmes += 1
    start_text, stop_text = get("start"), get("stop")
    try:
        if not start_text:
            raise ValueError("it has no start")
        start = _parse_time(start_text)
        stop = _parse_time(stop_text) if stop_text else None
    except ValueError as e:
        guide.bad_items.append(BadItem(_line(el), chan, f"unparsable time: {e}"))
        return
    values = _programme_values(el)
    if not values["title"]:
        guide.bad_items.append(BadItem(_line(el), chan, "a programme without a title"))
        return
    if marked:
        refused = _refused_chars(values)
        if refused:
            guide.bad_items.append(BadItem(_line(el), chan, refused))
            return
    channel.title_langs[values["language"]] += 1
    premiere = values.pop("is_premiere")
    clump = get("clumpidx")
    data = {
        "start": start,
        "stop": stop,
        "key": import_key(chan, values),
        "values": values,
        "premiere": premiere,
        "clump": _clump(clump) if clump else None,
    }
    guide._spool(chan, _line(el), data)


def _clump(value: str | None) -> int | None:
    """The index of a programme within a clump ("1/2" → 1); None outside one."""
    if not value or value.strip() == "0/1":
        return None
    index, _, total = value.partition("/")
    return int(index) if index.strip().isdigit() and total.strip().isdigit() else None


#: SPEC names of the texts that come in several languages.
_TEXTS = {"title": "title", "sub-title": "subtitle", "desc": "summary"}


def _programme_values(el) -> dict[str, Any]:
    """The programme's fields from its children (SPEC names); translations for other languages."""
    main_lang: str | None = None
    seen_title = False
    main: dict[str, str] = {}  # by tag
    translations: dict[str, dict[str, str]] = {}
    categories: list[tuple[str | None, str]] = []
    presenters: list[str] = []
    guests: list[dict[str, str]] = []
    episodes: dict[str, str] = {}
    icon = None
    premiere = False
    for child in el:
        tag = child.tag
        if tag == "title" or tag == "desc" or tag == "sub-title":
            text = _text(child)
            if not text:
                continue
            lang = _lang(child)
            if not seen_title and tag == "title":
                main_lang, seen_title = lang, True
            if lang is None or lang == main_lang:
                if tag not in main:
                    main[tag] = text
            else:
                translations.setdefault(lang, {}).setdefault(_TEXTS[tag], text)
        elif tag == "category":
            text = _text(child)
            if text:
                categories.append((_lang(child), text))
        elif tag == "episode-num":
            text = _text(child)
            if text:
                # No system means xmltv_ns (the DTD's default); other systems are private ids.
                episodes.setdefault(child.get("system") or "xmltv_ns", text)
        elif tag == "icon":
            if icon is None:
                icon = _url(child.get("src"))
        elif tag == "credits":
            _read_credits(child, presenters, guests)
        elif tag == "premiere":
            premiere = True
    category = next((text for lang, text in categories if lang is None or lang == main_lang), None)
    if category is not None:
        # The other languages' categories are the programme's translations of its own.
        for lang, text in categories:
            if lang is not None and lang != main_lang:
                translations.setdefault(lang, {}).setdefault("category", text)
    elif categories:
        category = categories[0][1]
    episode = (episodes.get("onscreen") or episodes.get("xmltv_ns")) if episodes else None
    title = main.get("title")
    subtitle = main.get("sub-title")
    return {
        "title": title[:300] if title else "",
        "subtitle": subtitle[:300] if subtitle else None,
        "summary": main.get("desc"),
        "category": category[:100] if category else None,
        "presenter": ", ".join(presenters)[:200] if presenters else None,
        "guests": guests,
        "episode_num": episode[:100] if episode else None,
        "image_url": icon,
        "language": main_lang,
        "translations": {
            lang: {k: v if k == "summary" else v[: 100 if k == "category" else 300] for k, v in fields.items()}
            for lang, fields in translations.items()
        },
        "is_premiere": premiere,
    }


def _read_credits(el, presenters: list[str], guests: list[dict[str, str]]) -> None:
    """Add the presenters' names and the guests (name and role) of a ``<credits>``."""
    for person in el:
        tag = person.tag
        if tag == "presenter":
            name = _text(person)
            if name:
                presenters.append(name)
        elif tag == "guest" or (tag == "actor" and person.get("guest") == "yes"):
            name = _text(person)
            if name:
                guest = {"name": name[:200]}
                role = person.get("role")
                if role:
                    guest["role"] = role.strip()[:300]
                guests.append(guest)


def import_key(chan: str, values: dict[str, Any]) -> str:
    """A programme's identity across imports: channel id, title and episode.

    Guides that give neither sub-title nor episode number tell episodes apart only by their
    description, so then it is part of the key too.
    """
    parts = [chan, values["title"], values.get("subtitle") or "", values.get("episode_num") or ""]
    if not values.get("subtitle") and not values.get("episode_num"):
        parts.append(values.get("summary") or "")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
