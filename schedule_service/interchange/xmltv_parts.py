"""Reading a big XMLTV guide in two halves at once, on two processes (SPEC §7; reading is unchanged).

Most of reading a guide is Python per programme, so a machine with two cores reads a big file
in about half the time by giving each half to a process of its own. The file is cut just before
a ``<programme`` near its middle; the first process reads from the start to the cut and closes
the root there (``</tv>``); the second reads a prolog like the file's (its DOCTYPE, ``<tv>``),
then from the cut to the end. Each reads as :func:`xmltv_read.read_guide` does and spools
programmes on disk; the parent joins the two guides (:meth:`Guide.append`), shifting the second
one's lines and order after the first one's, and hashes the file meanwhile.

Nothing is guessed: if the cut were not between two children of ``<tv>`` (inside a comment, a
CDATA section, an unknown element), the first half would not be well-formed with ``</tv>``
after it, and the file is read again whole, by one process, as if never cut. So is every file
with something the second half could not be read without (an internal DTD subset, namespaces
on the root, an encoding other than UTF-8), and every file either process finds any fault in:
the one reader then says what and where, as always. The result equals one reader's.
"""

import hashlib
import io
import itertools
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lxml import etree

from schedule_service.interchange import xmltv_read
from schedule_service.interchange.xmltv_read import PARSER_OPTIONS, Guide, Progress, read_guide

#: Files smaller than this are read by one process: starting another would cost more than it saves.
MIN_SIZE = 8 * 1024 * 1024
#: How far past the middle the cut may be looked for.
WINDOW = 4 * 1024 * 1024
#: How much of the file's start may come before ``<tv>`` (the XML declaration, DOCTYPE, comments).
HEAD = 1024 * 1024
_CHUNK = 1 << 20


def read_guide_in_parts(
    source: str | Path | IO[bytes], progress: Progress | None = None, name: str | None = None
) -> Guide:
    """Read an XMLTV file as :func:`read_guide` does, in two halves at once when it can.

    ``source`` is a path or a binary file; a file that is not a regular file on disk read from
    its start (a pipe, an upload in memory) is read by one process.
    """
    path = _path_of(source)
    if path is None:
        return read_guide(source, progress, name)
    cut = _cut(path)
    if cut is None:
        return read_guide(path, progress, name or Path(path).name)
    guide = _read_halves(path, cut, progress)
    if guide is None:  # a fault, or a cut that was not between two items: one reader says what
        return read_guide(path, progress, name)
    guide.name = name or Path(path).name
    return guide


def _path_of(source: str | Path | IO[bytes]) -> str | None:
    if isinstance(source, str | Path):
        return str(source)
    given = getattr(source, "name", None)
    try:
        whole = isinstance(given, str) and os.path.isfile(given) and source.tell() == 0
    except (OSError, ValueError):
        return None
    return given if whole else None


@dataclass(frozen=True)
class _Cut:
    """Where the file is cut, and the prolog the second half is read after."""

    size: int
    at: int
    prolog: bytes


def _cut(path: str | Path) -> _Cut | None:
    """Where to cut the file in two, or None when it is read whole (small, or not simple enough)."""
    size = os.path.getsize(path)
    if size < MIN_SIZE or (os.cpu_count() or 1) < 2:
        return None
    with open(path, "rb") as f:
        head = f.read(HEAD)
        f.seek(size // 2)
        window = f.read(WINDOW)
    prolog = _prolog(head)
    if prolog is None:
        return None
    found = _programme_start(window)
    if found == -1:
        return None
    return _Cut(size, size // 2 + found, prolog)


def _programme_start(window: bytes) -> int:
    """Where the first ``<programme`` start tag in ``window`` begins, or -1."""
    start = 0
    while (found := window.find(b"<programme", start)) != -1:
        after = window[found + len(b"<programme") : found + len(b"<programme") + 1]
        if after and after in b" \t\r\n>":
            return found
        start = found + 1
    return -1


def _prolog(head: bytes) -> bytes | None:
    """What the second half is read after: an XML declaration, the file's DOCTYPE and ``<tv>``."""
    try:
        events = etree.iterparse(io.BytesIO(head), events=("start",), **PARSER_OPTIONS)
        _, root = next(iter(events))
    except (etree.XMLSyntaxError, StopIteration):
        return None
    docinfo = root.getroottree().docinfo
    declared = xmltv_read._DECLARED.match(head.removeprefix(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode().lower().replace("_", "-") if declared else "utf-8"
    subset = docinfo.internalDTD  # present, empty, for a DOCTYPE naming an external DTD alone
    declares = subset is not None and (any(subset.iterelements()) or any(subset.iterentities()))
    if root.tag != "tv" or root.nsmap or declares or encoding not in ("utf-8", "utf8"):
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"<\x00")):
        return None
    doctype = docinfo.doctype or ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n<tv>'.encode()


class _Half:
    """A binary stream of one half (or part): an optional prolog, the file's bytes from ``start`` to
    ``end``, an ending. ``done``, when given, counts the file's bytes read (the halves' progress)."""

    def __init__(self, path: str | Path, start: int, end: int, before: bytes, after: bytes, done):
        self._file = open(path, "rb")  # noqa: SIM115 -- closed by the process that reads it, at its end
        self._file.seek(start)
        self._left = end - start
        self._before, self._after = before, after
        self._done = done
        #: Line breaks in the file's bytes read so far (not in the prolog or the ending).
        self.lines = 0

    def read(self, size: int = -1) -> bytes:
        size = _CHUNK if size is None or size < 0 else size
        if self._before:
            data, self._before = self._before[:size], self._before[size:]
            return data
        if self._left > 0:
            data = self._file.read(min(size, self._left))
            self._left -= len(data)
            self.lines += data.count(b"\n")
            if self._done is not None:
                with self._done.get_lock():
                    self._done.value += len(data)
            if data:
                return data
            self._left = 0
        data, self._after = self._after[:size], self._after[size:]
        return data


def _read_half(path: str, start: int, end: int, before: bytes, after: bytes, done, answer) -> None:
    """In a process of its own: read one half into a guide on disk; send back what the parent needs."""
    guide = Guide()
    try:
        stream = _Half(path, start, end, before, after, done)
        xmltv_read._read_into(guide, stream)
        guide._finish()
        answer.send(("read", guide._dir, guide.channels, guide.bad_items, guide.programmes, guide._seq))
    except BaseException as e:  # noqa: BLE001 -- any fault: the parent reads the file whole instead
        guide.close()
        answer.send(("fault", repr(e)))
    finally:
        guide._db.close()
        answer.close()


def _context():
    # Forking copies nothing that has to be started again; a process with threads (a scheduler's)
    # starts its helpers from a clean server process instead, as forking it could copy a held
    # lock. That server is started once, with this module (and so the reader) already imported.
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _read_halves(path: str | Path, cut: _Cut, progress: Progress | None) -> Guide | None:
    """Read both halves at once; the joined guide, or None when either half could not be read."""
    context = _context()
    done = context.Value("q", 0)
    halves = [
        (0, cut.at, b"", b"</tv>"),  # the first half, its root closed where it is cut
        (cut.at, cut.size, cut.prolog, b""),
    ]
    readers, answers = [], []
    for start, end, before, after in halves:
        receive, send = context.Pipe(duplex=False)
        reader = context.Process(
            target=_read_half, args=(str(path), start, end, before, after, done, send), daemon=True
        )
        reader.start()
        send.close()
        readers.append(reader)
        answers.append(receive)
    try:
        digest, lines_before = _hash(path, cut.at)
        results = _answers(answers, done, progress)
    except BaseException:
        for reader in readers:
            reader.kill()
        raise
    finally:
        for reader in readers:
            reader.join()
    parts = [Guide(directory) for kind, directory, *_ in results if kind == "read"]
    if len(parts) < len(results):
        for part in parts:
            part.close()
        return None
    first, second = parts
    for part, (_, _, channels, bad_items, programmes, seq) in zip(parts, results, strict=True):
        part.channels, part.bad_items, part.programmes, part._seq = channels, bad_items, programmes, seq
    first.append(second, line_shift=lines_before - cut.prolog.count(b"\n"))
    first.sha256 = digest
    return first


def _answers(answers: list, done, progress: Progress | None) -> list[tuple[Any, ...]]:
    """Each half's answer as it comes (a process waits to send it); progress meanwhile."""
    results: list[tuple[Any, ...] | None] = [None] * len(answers)
    reported = 0
    while any(result is None for result in results):
        for i, receive in enumerate(answers):
            if results[i] is None and receive.poll(0.05):
                results[i] = _answer(receive)
        if progress:
            read = done.value
            progress(read - reported)
            reported = read
    return results


def _answer(receive) -> tuple[Any, ...]:
    try:
        return receive.recv()
    except EOFError:  # the process died before answering
        return ("fault", "no answer")
    finally:
        receive.close()


def _hash(path: str | Path, cut_at: int) -> tuple[str, int]:
    """The file's SHA-256 and how many lines come before the cut (while the halves are read)."""
    digest = hashlib.sha256()
    lines = 0
    at = 0
    with open(path, "rb") as f:
        while data := f.read(_CHUNK):
            digest.update(data)
            if at < cut_at:
                lines += data.count(b"\n", 0, cut_at - at)
            at += len(data)
    return digest.hexdigest(), lines


# Reading while applying: a big guide in parts, one after the other, by another process

#: The first part of a guide read as it is applied: its channels and first programmes, so that
#: applying starts at once; the others are about :data:`STREAM_PART` each.
STREAM_FIRST = 2 * 1024 * 1024
STREAM_PART = 6 * 1024 * 1024
#: The ``channel`` attribute of an item, as the scan for where each channel's programmes lie reads it.
_CHANNEL_ATTRIBUTE = re.compile(rb"""channel\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")


class GuideStream:
    """A guide read in parts, in file order, by another process, while this one applies them.

    ``guide`` holds the parts read so far, joined as :meth:`Guide.append` joins them; after
    :meth:`next` has returned False it is the whole file's, as one reader's would be.
    :meth:`complete` says which channels have every programme in it already: a scan of the
    raw bytes says in which part each channel's last programme lies. The scan only decides
    when to apply; it is never trusted for what is applied. The applier checks, once the whole
    file is read, that each channel it applied early is what the whole guide says
    (``xmltv_import.apply_stream``), and otherwise applies everything again from the start.
    """

    def __init__(self, path: str, spans: list[tuple[int, int]], prolog: bytes):
        self.path = path
        self.guide: Guide | None = None
        #: Programmes in the file, as the scan counts them (for a progress bar).
        self.programmes = 0
        #: The channel ids programmes name, each with the index of the last part naming it.
        self.last_part: dict[str, int] = {}
        #: Line breaks in the parts read so far: the lines before the next one.
        self._lines = 0
        self._spans, self._prolog = spans, prolog
        self._read = 0
        self._root = tempfile.mkdtemp(prefix="xmltv-stream-")
        context = _context()
        self._answers, send = context.Pipe(duplex=False)
        self._reader = context.Process(target=_read_parts, args=(path, spans, prolog, self._root, send), daemon=True)
        self._reader.start()
        send.close()

    @property
    def done(self) -> bool:
        """Whether every part is read."""
        return self._read == len(self._spans)

    def complete(self, chan: str) -> bool:
        """Whether every programme of ``chan`` is in the parts read so far (by the scan)."""
        return self.last_part.get(chan, -1) < self._read

    def has_next(self) -> bool:
        """Whether the next part is read, so :meth:`next` would not wait."""
        return self._answers.poll()

    def next(self) -> bool:
        """Wait for the next part and join it; False when it could not be read (a fault in the
        file, or a cut that was not between two items): read the file whole then."""
        answer = _answer_kept(self._answers)
        if answer[0] != "read":
            return False
        _, directory, channels, bad_items, programmes, seq, lines = answer
        part = Guide(directory)
        part.channels, part.bad_items, part.programmes, part._seq = channels, bad_items, programmes, seq
        if self.guide is None:
            self.guide = part
            self.guide.name = Path(self.path).name
        else:
            self.guide.append(part, line_shift=self._lines - self._prolog.count(b"\n"))
        self._lines += lines
        self._read += 1
        return True

    def close(self) -> None:
        if self._reader.is_alive():
            self._reader.kill()
        self._reader.join()
        self._answers.close()
        if self.guide is not None:
            self.guide.close()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> "GuideStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream_guide(source: str | Path | IO[bytes], sha256: str | None = None) -> GuideStream | None:
    """Start reading a big guide part by part (:class:`GuideStream`), its first part read; None
    when it is better read whole (small, one core, not a file on disk, or not simple enough:
    what :func:`read_guide_in_parts` reads whole, a channel declared after the first part, a
    channel id the scan cannot read as the parser would)."""
    path = _path_of(source)
    if path is None or os.path.getsize(path) < MIN_SIZE or (os.cpu_count() or 1) < 2:
        return None
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prolog = _prolog(f.read(HEAD))
        cuts = _stream_cuts(f, size) if prolog is not None else []
    if not cuts:
        return None
    spans = list(itertools.pairwise([0, *cuts, size]))
    stream = GuideStream(str(path), spans, prolog)  # reading the first part while this one scans
    try:
        scanned = _scan_channels(path, cuts)
        if scanned is None or not stream.next():
            stream.close()
            return None
        stream.last_part, stream.programmes = scanned
        stream.guide.sha256 = sha256 or _hash(path, 0)[0]
    except BaseException:
        stream.close()
        raise
    return stream


def _stream_cuts(f: IO[bytes], size: int) -> list[int]:
    """Where the parts of a streamed guide begin: just before a ``<programme``, past each step."""
    cuts: list[int] = []
    at = STREAM_FIRST
    while at < size - STREAM_PART // 2:
        f.seek(at)
        found = _programme_start(f.read(WINDOW))
        if found == -1:
            return []
        cuts.append(at + found)
        at += found + STREAM_PART
    return cuts


#: The scan reads the file this much at a time (not mapped: a mapping would count in the
#: process's memory), keeping the last :data:`_SCAN_TAIL` bytes for the next round, where an
#: attribute cut at the end of one is read whole.
_SCAN_CHUNK = 4 * 1024 * 1024
_SCAN_TAIL = 64 * 1024


def _scan_channels(path: str | Path, cuts: list[int]) -> tuple[dict[str, int], int] | None:
    """For each channel id named by a ``channel`` attribute, the index of the last part naming
    it, and how many name one. None when the scan cannot be followed: an id not read by the
    parser as it is written (an entity or a line break in it), or a ``<channel>`` after the
    first part (the DTD has them all before the programmes)."""
    last: dict[str, int] = {}
    count = 0
    part = 0
    with open(path, "rb") as f:
        buf, offset = b"", 0  # where buf starts in the file
        while True:
            chunk = f.read(_SCAN_CHUNK)
            buf += chunk
            end = max(len(buf) - _SCAN_TAIL, 0) if chunk else len(buf)  # what this round reads whole
            if buf.find(b"<channel", max(cuts[0] - offset, 0), end + len(b"<channel")) != -1:
                return None
            at = 0
            while (at := buf.find(b"channel", at, end)) != -1:
                m = _CHANNEL_ATTRIBUTE.match(buf, at)
                at += len(b"channel")
                if m is None:
                    continue
                raw = m.group(1) if m.group(1) is not None else m.group(2)
                if b"&" in raw or b"\n" in raw or b"\r" in raw or b"\t" in raw:
                    return None
                while part < len(cuts) and offset + at >= cuts[part]:
                    part += 1
                last[raw.decode("utf-8", "replace").strip()] = part
                count += 1
            if not chunk:
                return last, count
            buf, offset = buf[end:], offset + end


def _read_parts(path: str, spans: list[tuple[int, int]], prolog: bytes, root: str, answer) -> None:
    """In a process of its own: read each part in turn into a guide on disk; send each back as it is read."""
    try:
        for index, (start, end) in enumerate(spans):
            guide = Guide(tempfile.mkdtemp(dir=root))
            try:
                before = prolog if index else b""
                after = b"</tv>" if index < len(spans) - 1 else b""
                part = _Half(path, start, end, before, after, None)
                xmltv_read._read_into(guide, part)
                while part.read():  # the rest of the part (the last one's bytes after </tv>), for its lines
                    pass
                guide._finish()
                answer.send(
                    ("read", guide._dir, guide.channels, guide.bad_items, guide.programmes, guide._seq, part.lines)
                )
            except BaseException as e:  # noqa: BLE001 -- any fault: the parent reads the file whole instead
                answer.send(("fault", repr(e)))
                return
            finally:
                guide._db.close()
    finally:
        answer.close()


def _answer_kept(receive) -> tuple[Any, ...]:
    """The next answer of a process that sends several; a fault if it died before sending it."""
    try:
        return receive.recv()
    except EOFError:
        return ("fault", "no answer")
