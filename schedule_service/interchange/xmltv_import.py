"""XMLTV import: bring the schedule in line with a real-world guide, channel by channel (SPEC §7).

A guide is read first (:mod:`.xmltv_read`: streamed, spooled, never resolving entities), then
:func:`apply_guide` takes one service channel at a time inside a SAVEPOINT: its items are
checked as a whole (all or none, unless ``skip_bad``), matched against what the service has
with a few batched queries, and the differences go through the ordinary schedule operations
(actor "import"), so promos follow the ordinary rules. Nothing here commits; the caller
commits, or rolls back for a dry run.
"""

import bisect
import dataclasses
import functools
import gc
import hashlib
import multiprocessing
import re
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from schedule_service import audit, schedule
from schedule_service.broadcast_time import NonexistentTime, to_instant, zone
from schedule_service.db import bulk_writes, db, one_of
from schedule_service.interchange.xmltv_parts import GuideStream, read_guide_in_parts, stream_guide
from schedule_service.interchange.xmltv_read import (
    BadItem,
    FileChannel,
    Guide,
    GuideRefused,
    MapEntry,
    Progress,
    load_channel_map,
    parse_time,
    read_guide,
)
from schedule_service.models import Channel, Programme, ProgrammeTranslation, Slot, change
from schedule_service.models.programme import TRANSLATED
from schedule_service.models.slot import SCHEDULED
from schedule_service.schedule import Conflict, ScheduleError

__all__ = [
    "BadItem",
    "ChannelReport",
    "Guide",
    "GuideRefused",
    "ImportReport",
    "MapEntry",
    "apply_guide",
    "apply_stream",
    "import_xmltv",
    "load_channel_map",
    "parse_time",
    "read_guide",
    "read_guide_in_parts",
    "stream_guide",
]

ACTOR = "import"
#: A programme without ``stop`` ends where the next one starts, unless that is further away than this.
MAX_OPEN_GAP = timedelta(hours=24)
#: Seconds of work between an import's commits: a writer waits at most about this long for the
#: database's write lock (SQLite) and the import's row locks, and a stop loses no more than it.
COMMIT_EVERY = 0.5
#: Processes that apply a big import's channels on PostgreSQL (see :func:`_apply_in_processes`).
APPLY_PROCESSES = 2
#: Guides with fewer programmes are applied by one process: a fork costs more than it saves.
PARALLEL_MIN_PROGRAMMES = 20_000
#: Keys per ``IN (…)`` query: well under SQLite's bound-parameter limit.
CHUNK = 500
#: The language of programmes whose guide names none (BCP 47 "undetermined").
UNDETERMINED = "und"


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
    #: How many processes applied the channels (see ``apply_guide``'s ``processes``).
    processes: int = 1

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


# Times of the guide on a channel


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
    own_hosts: tuple[str, ...] = (),
    end_channel: Callable[[], None] | None = None,
    end_every: float = 0.0,
    channel_done: Callable[[ImportReport], None] | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> ImportReport:
    """Bring the service's schedule in line with ``guide``, channel by channel, each all or nothing.

    Flushes, never commits.

    :param own_hosts: host names under which this service exports channels that have no
        ``xmltv_id`` (``mir.tv.example.org``), so its own guides come back to the same channels.
    :param end_channel: called after each channel, to commit it (or roll it back, for a dry
        run) so a long import neither holds the database's locks to the end nor loses the
        channels already done when it stops; without it, one transaction holds them all.
    :param end_every: seconds: ``end_channel`` is called after the first channel done at least
        this long after the last call, and after the last channel, rather than after each
        channel (:data:`COMMIT_EVERY` for a real run). Each channel is still all or nothing
        (a savepoint); committing a few together writes the pages they share (index pages,
        above all) once, not per channel.
    :param channel_done: called with the report so far (its last channel the one just handled)
        after each channel, so an import job can record the channels in the commit that ends them.
    :param progress: called with the number of programmes handled.
    :param processes: on PostgreSQL, a real run of a big guide (:data:`PARALLEL_MIN_PROGRAMMES`)
        committed by ``end_channel`` and without ``channel_done`` is applied by this many
        processes at once, each with its share of the channels (:func:`_apply_in_processes`).
    """
    zone(default_timezone)
    targets, unknown = _targets(session, guide, channel_map or {}, default_timezone, own_hosts)
    report, bad_by_chan = _file_report(guide, channel_map or {}, unknown, skip_bad=skip_bad, dry_run=dry_run)
    run = _Run(guide, bad_by_chan, skip_bad, end_every)
    in_processes = (
        processes > 1
        and len(targets) > 1
        and end_channel is not None
        and channel_done is None
        and not dry_run
        and guide.programmes >= PARALLEL_MIN_PROGRAMMES
        and session.get_bind().dialect.name == "postgresql"
    )
    with bulk_writes():
        if in_processes:
            _apply_in_processes(session, run, targets, report, end_channel, progress, processes)
        else:
            _apply_targets(session, run, targets, report, end_channel, channel_done, progress)
    report.bad_items.sort(key=lambda b: b.line or 0)
    report.warnings.sort(key=lambda b: b.line or 0)
    return report


def apply_stream(
    session: Session,
    stream: GuideStream,
    *,
    channel_map: dict[str, MapEntry] | None = None,
    skip_bad: bool = False,
    default_timezone: str = "UTC",
    own_hosts: tuple[str, ...] = (),
    end_channel: Callable[[], None],
    end_every: float = COMMIT_EVERY,
    progress: Progress | None = None,
) -> ImportReport:
    """:func:`apply_guide` (a real run) for a guide another process is still reading, part by part.

    One process applies a big first import on SQLite (its one writer), and reading the file
    would keep it waiting: here each channel is applied as soon as the parts read hold all its
    programmes, while the other process reads on. Nothing is committed before the whole file
    is read, so a file refused as a whole still leaves the data as it was. Then the whole
    guide is held against what was applied early (each channel's programmes, bad items and
    declaration, and which channels have programmes): if anything differs from what the scan
    of the bytes led to expect, all of it is rolled back and the guide applied again as one
    reader's, from the start. The result is :func:`apply_guide`'s on the whole guide.
    """
    zone(default_timezone)
    channel_map = channel_map or {}
    options = {
        "channel_map": channel_map,
        "skip_bad": skip_bad,
        "default_timezone": default_timezone,
        "own_hosts": own_hosts,
        "end_channel": end_channel,
        "end_every": end_every,
        "progress": progress,
    }
    guide = stream.guide
    named = set(stream.last_part)
    if not named <= {c.id for c in guide.channels.values() if c.is_declared}:
        # A channel no <channel> of the first part declares: which service channel it writes
        # to is known only from the whole file.
        return _apply_when_read(session, stream, options)
    targets, _ = _targets(session, guide, channel_map, default_timezone, own_hosts, having=named)
    declared = {chan: _declaration(guide.channels[chan]) for chan in named}
    report = ImportReport(skip_bad=skip_bad)
    applied: dict[str, tuple] = {}
    pending = list(targets)
    bad_by_chan = _bad_by_chan(guide)
    with bulk_writes():
        # One channel at a time, then every part read meanwhile, until the last part is in.
        while not stream.done:
            target = None if stream.has_next() else next((t for t in pending if _is_read(t, stream)), None)
            if target is None:
                if not stream.next():  # a fault: the file is read again whole, and applied then
                    session.rollback()
                    return _apply_when_read(session, stream, options)
                bad_by_chan = _bad_by_chan(stream.guide)
                continue
            _settle_languages(target, stream.guide, channel_map)
            _apply_targets(
                session, _Run(stream.guide, bad_by_chan, skip_bad, end_every), [target], report, None, None, progress
            )
            applied.update({chan: _as_read(stream.guide.channels[chan], bad_by_chan) for chan in target.chans})
            pending.remove(target)
        guide = stream.guide
        whole, bad_by_chan = _file_report(guide, channel_map, [], skip_bad=skip_bad, dry_run=False)
        as_expected = (
            {c.id for c in guide.channels.values() if c.programmes} == named
            and all(_declaration(guide.channels[chan]) == seen for chan, seen in declared.items())
            and all(_as_read(guide.channels[chan], bad_by_chan) == seen for chan, seen in applied.items())
        )
        if not as_expected:
            session.rollback()
            return apply_guide(session, guide, **options)
        end_channel()  # what was applied while reading
        for target in pending:
            _settle_languages(target, guide, channel_map)
        run = _Run(guide, bad_by_chan, skip_bad, end_every)
        _apply_targets(session, run, pending, report, end_channel, None, progress)
    report.programmes = guide.programmes
    report.bad_items = sorted(whole.bad_items + report.bad_items, key=lambda b: b.line or 0)
    report.warnings = sorted(whole.warnings + report.warnings, key=lambda b: b.line or 0)
    order = {target.slug: i for i, target in enumerate(targets)}
    report.channels.sort(key=lambda c: order[c.channel])
    return report


def _is_read(target: _Target, stream: GuideStream) -> bool:
    return all(stream.complete(chan) for chan in target.chans)


def _apply_when_read(session: Session, stream: GuideStream, options: dict[str, Any]) -> ImportReport:
    """Read the rest of the stream, then apply it whole; after a fault, read the file again by one
    reader, which refuses it with the line, as :func:`read_guide_in_parts` does."""
    while not stream.done:
        if not stream.next():
            with read_guide(stream.path) as whole:
                return apply_guide(session, whole, **options)
    return apply_guide(session, stream.guide, **options)


def _declaration(fc: FileChannel) -> tuple:
    """What a channel's targets are made of, besides its programmes."""
    return fc.line, tuple(fc.names), fc.icon


def _as_read(fc: FileChannel, bad_by_chan: dict[str | None, list[BadItem]]) -> tuple:
    """What a channel's apply depended on, of the guide read so far."""
    return fc.programmes, dict(fc.title_langs), len(bad_by_chan.get(fc.id, ()))


def _settle_languages(target: _Target, guide: Guide, channel_map: dict[str, MapEntry]) -> None:
    """A new channel's languages, from all its programmes' titles (complete now), as :func:`_targets` makes them."""
    if target.create is not None:
        fc = guide.channels[target.chans[0]]
        target.create["languages"] = _languages(fc, channel_map.get(fc.id))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a big guide is read and applied.

    An import makes millions of short-lived containers (each programme's dicts and rows), none
    of them in a cycle: reference counting frees them as they go, but they set off the
    collector, and each of its full passes walks every live object (about 4 % of a first
    import, also in a forked reader). Cycles made meanwhile are collected once it is back on.
    For the command only: a scheduler's web threads keep theirs.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _file_report(
    guide: Guide, channel_map: dict[str, MapEntry], unknown: list[str], *, skip_bad: bool, dry_run: bool
) -> tuple[ImportReport, dict[str | None, list[BadItem]]]:
    """The report before any channel is applied: the file's own bad items, the programmes of
    ``unknown`` channels, the channels the map leaves out; and the other bad items by channel."""
    report = ImportReport(dry_run=dry_run, skip_bad=skip_bad, programmes=guide.programmes)
    bad_by_chan = _bad_by_chan(guide)
    report.bad_items.extend(bad_by_chan.pop(None, []))
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
    for chan, entry in channel_map.items():
        if entry.is_skipped and chan in guide.channels and guide.channels[chan].programmes:
            report.warnings.append(BadItem(guide.channels[chan].line, chan, "left out by the channel map"))
            bad_by_chan.pop(chan, None)
    return report, bad_by_chan


def _bad_by_chan(guide: Guide) -> dict[str | None, list[BadItem]]:
    bad_by_chan: dict[str | None, list[BadItem]] = defaultdict(list)
    for bad in guide.bad_items:
        bad_by_chan[bad.channel].append(bad)
    return bad_by_chan


@dataclass
class _Run:
    """What every share of an import's channels is applied with."""

    guide: Guide
    bad_by_chan: dict[str | None, list[BadItem]]
    skip_bad: bool
    end_every: float


def _apply_targets(
    session: Session,
    run: _Run,
    targets: list[_Target],
    report: ImportReport,
    end_channel: Callable[[], None] | None,
    channel_done: Callable[[ImportReport], None] | None,
    progress: Progress | None,
) -> None:
    """Apply ``targets`` one after the other in ``session`` (see :func:`apply_guide`)."""
    guide = run.guide
    ended = time.monotonic()
    for number, target in enumerate(targets, start=1):
        items = [_Item(seq, line, chan, data) for seq, line, chan, data in guide.items(target.chans)]
        parse_bad = [b for chan in target.chans for b in run.bad_by_chan.get(chan, [])]
        _apply_target(session, target, items, parse_bad, report, run.skip_bad, guide.name, guide.sha256)
        if channel_done:
            channel_done(report)
        if end_channel and (number == len(targets) or time.monotonic() - ended >= run.end_every):
            end_channel()
            ended = time.monotonic()
        if progress:
            progress(len(items) + len(parse_bad))


class ApplyFailed(RuntimeError):
    """A process applying a share of the channels failed: the channels it committed stay, as
    after any crash, and importing the file again finishes the rest."""


def _apply_in_processes(
    session: Session,
    run: _Run,
    targets: list[_Target],
    report: ImportReport,
    end_channel: Callable[[], None],
    progress: Progress | None,
    processes: int,
) -> None:
    """Apply the channels in ``processes`` shares at once, this process taking the first (PostgreSQL).

    Most of a first import's time on PostgreSQL is the server's (COPY into tables with their
    indexes and foreign keys): while it works on one channel, the client could build the next
    one's rows, which one process never does. The channels of a guide are independent, as two
    imports at once would be: each share is applied as one process would (each channel all or
    nothing, committed as it goes, numbered in the change feed at its commit); the targets are
    settled before (so new channels get the slugs one process would give them), and the reports
    are joined in the targets' order. Each other process is a fork with connections of its own;
    only the CLI asks for this (an import job records each channel as it goes, which one
    process does), so the forked process is a command's, with no threads of its own to copy.
    """
    context = multiprocessing.get_context("fork")
    handled = context.Value("q", 0)
    shares = [targets[i::processes] for i in range(processes)]
    helpers, answers = [], []
    for share in shares[1:]:
        receive, send = context.Pipe(duplex=False)
        helper = context.Process(target=_apply_share, args=(run, share, handled, send), daemon=True)
        helper.start()
        send.close()
        helpers.append(helper)
        answers.append(receive)
    forwarded = 0

    def progress_of_all(own: int) -> None:
        nonlocal forwarded
        theirs = handled.value
        progress(own + theirs - forwarded)
        forwarded = theirs

    try:
        _apply_targets(session, run, shares[0], report, end_channel, None, progress_of_all if progress else None)
        results = []
        for receive in answers:
            while not receive.poll(0.1):
                if progress:
                    progress_of_all(0)
            results.append(_answer_of(receive))
        if progress:
            progress_of_all(0)
    except BaseException:
        for helper in helpers:
            helper.kill()
        raise
    finally:
        for helper in helpers:
            helper.join()
    faults = [detail for kind, *detail in results if kind == "fault"]
    if faults:
        raise ApplyFailed("a process applying part of the channels failed:\n" + "\n".join(f[0] for f in faults))
    order = {target.slug: i for i, target in enumerate(targets)}
    for _, theirs, numbered in results:
        report.channels.extend(theirs.channels)
        report.bad_items.extend(theirs.bad_items)
        report.warnings.extend(theirs.warnings)
        report.programmes_created += theirs.programmes_created
        report.programmes_updated += theirs.programmes_updated
        change.count_numbered(session, numbered)  # the change feed's rows of this import, for its memo
    report.channels.sort(key=lambda c: order[c.channel])
    report.processes = processes


def _apply_share(run: _Run, share: list[_Target], handled, send) -> None:
    """In a forked process: apply ``share`` through connections of its own; send the report back."""
    try:
        db.engine.dispose(close=False)  # the parent's connections stay the parent's, untouched
        run.guide.reopen()
        with Session(db.engine, expire_on_commit=False) as session:
            report = ImportReport(skip_bad=run.skip_bad)
            own = [
                dataclasses.replace(t, channel=session.get(Channel, t.channel.id)) if t.channel is not None else t
                for t in share
            ]

            def count(n: int) -> None:
                with handled.get_lock():
                    handled.value += n

            _apply_targets(session, run, own, report, session.commit, None, count)
            send.send(("done", report, change.numbered_by(session)))
    except BaseException:  # noqa: BLE001 -- whatever it is, the parent says so
        send.send(("fault", traceback.format_exc()))
    finally:
        send.close()


def _answer_of(receive) -> tuple:
    try:
        return receive.recv()
    except EOFError:
        return ("fault", "the process ended without a report (killed?)")
    finally:
        receive.close()


def _targets(
    session: Session,
    guide: Guide,
    channel_map: dict[str, MapEntry],
    default_timezone: str,
    own_hosts: tuple[str, ...],
    having: set[str] | None = None,
) -> tuple[list[_Target], list[str]]:
    """Group the guide's channels (those with programmes, or those in ``having``) by the service
    channel they write to."""
    chans = [c for c in guide.channels.values() if (c.id in having if having is not None else c.programmes)]
    ids = [c.id for c in chans]
    by_xmltv: dict[str, Channel] = {}
    by_slug: dict[str, Channel] = {}
    # The service names a channel without an xmltv_id "<slug>.<its host>" in the guides it exports.
    own = {i: i.removesuffix(f".{host}") for i in ids for host in own_hosts if host and i.endswith(f".{host}")}
    slugs = {e.slug for e in channel_map.values() if e.slug} | {_slugify(i) for i in ids} | set(ids)
    slugs |= set(own.values())
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
        elif (own_slug := own.get(fc.id, fc.id)) in by_slug and by_slug[own_slug].xmltv_id is None:
            existing = by_slug[own_slug]
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
    languages = _languages(fc, entry)
    xmltv_id = fc.id if fc.id not in taken_xmltv and len(fc.id) <= 200 else None
    taken_xmltv.add(fc.id)
    return {
        "slug": slug,
        "name": name[:200],
        "names": names,
        "timezone": (entry.timezone if entry else None) or default_timezone,
        "xmltv_id": xmltv_id,
        "languages": languages,
    }


def _languages(fc: FileChannel, entry: MapEntry | None) -> list[str]:
    if entry and entry.languages:
        return list(entry.languages)
    return [lang for lang, _ in fc.title_langs.most_common() if lang]


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
    guide_name: str | None,
    guide_sha256: str | None,
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
        if session.get_bind().dialect.name == "postgresql":
            # Each channel asks the same queries of tables the import is filling: a plan made
            # once for them when they were near empty (a sequential scan) would not be dropped.
            session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        try:
            with session.begin_nested():
                channel = target.channel or schedule.create_channel(session, target.create, ACTOR)
                # One entry per channel per run; the entries of what it changes point to it.
                run = audit.record(session, ACTOR, "import", "channel", channel.slug, {})
                with audit.import_run(session, run):
                    created, updated = _sync_slots(session, channel, kept, counts)
                if counts.created or counts.updated or counts.cancelled or created or updated:
                    run.changes = {
                        "created": [None, counts.created],
                        "changed": [None, counts.updated],
                        "cancelled": [None, counts.cancelled],
                        "file": [None, guide_name],
                        "sha256": [None, guide_sha256],
                    }
                else:
                    session.delete(run)  # re-importing the same file changes nothing (SPEC §7)
                    session.flush()
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
    found: dict[str, Any] = {}
    # Plain rows: most programmes of a re-import are unchanged, and building their ORM objects
    # (and translation collections) would cost more than everything else about them. A row
    # answers what comparing and scheduling ask (its fields, id, plan, exclusivity); the
    # programme itself is loaded only to change it.
    translations: dict[int, dict[str, dict[str, str | None]]] = defaultdict(dict)
    dialect = session.get_bind().dialect.name
    by_key, texts_of = _programmes_by_key(dialect), _translations_of(dialect)
    # PostgreSQL takes all the keys as one array (one plan); SQLite a list of bound values per chunk.
    for chunk in [keys] if dialect == "postgresql" else _chunks(keys):
        ids = []
        for p in session.execute(by_key, {"keys": chunk}):
            found[p.import_key] = p
            ids.append(p.id)
        if not ids:
            continue
        for pid, lang, *texts in session.execute(texts_of, {"ids": ids}):
            translations[pid][lang] = dict(zip(TRANSLATED, texts, strict=True))
    default_lang = channel.languages[0] if channel.languages else UNDETERMINED
    updated: set[str] = set()
    fresh: list[str] = []
    for key, it in first.items():
        programme = found.get(key)
        if programme is None:
            fresh.append(key)
            continue
        changes = _programme_changes(programme, it.values, translations.get(programme.id, {}))
        if changes:
            programme = found[key] = session.get(Programme, programme.id)
            schedule.update_programme(session, programme, changes, ACTOR)
            updated.add(key)
    # New programmes in a few INSERTs: most of a first import, where one by one would cost the most.
    ids = schedule.create_programmes(
        session, [_new_programme(first[key].values, key, default_lang) for key in fresh], ACTOR
    )
    for key, pid in zip(fresh, ids, strict=True):
        found[key] = _Fresh(pid)
    return found, len(fresh), updated


@dataclass(frozen=True, slots=True)
class _Fresh:
    """A programme the import has just inserted, as far as scheduling and planning its slots need it."""

    id: int
    promo_plan: None = None
    is_exclusive: bool = False


def _new_programme(values: dict[str, Any], key: str, default_lang: str) -> dict[str, Any]:
    return {
        "title": values["title"],
        "subtitle": values["subtitle"],
        "summary": values["summary"],
        "category": values["category"],
        "presenter": values["presenter"],
        "guests": values["guests"],
        "episode_num": values["episode_num"],
        "image_url": values["image_url"],
        "language": values["language"] or default_lang,
        "import_key": key,
        "is_exclusive": False,
        "translations": values["translations"],
    }


_TRANSLATED = [getattr(ProgrammeTranslation, name) for name in TRANSLATED]

#: What a guide may change on a programme; staff fields (exclusive, quote, credit, plan) stay.
IMPORTED_FIELDS = ("title", "subtitle", "summary", "category", "presenter", "guests", "episode_num", "image_url")
_PROGRAMME_ROW = [
    getattr(Programme, name)
    for name in ("id", "import_key", "language", "promo_plan", "is_exclusive", *IMPORTED_FIELDS)
]


@functools.cache
def _programmes_by_key(dialect: str):
    return select(*_PROGRAMME_ROW).where(one_of(Programme.import_key, "keys", dialect))


@functools.cache
def _translations_of(dialect: str):
    columns = (ProgrammeTranslation.programme_id, ProgrammeTranslation.lang, *_TRANSLATED)
    return select(*columns).where(one_of(ProgrammeTranslation.programme_id, "ids", dialect))


def _programme_changes(
    programme: Programme, values: dict[str, Any], translations: dict[str, dict[str, str | None]]
) -> dict[str, Any]:
    """The fields the guide gives that differ; what the guide leaves out is kept.

    :param translations: the programme's translations now, {lang: {field: text}}.
    """
    changes = {}
    for name in IMPORTED_FIELDS:
        new = values.get(name)
        if new not in (None, [], "") and getattr(programme, name) != new:
            changes[name] = new
    if values.get("language") and programme.language != values["language"]:
        changes["language"] = values["language"]
    merged = {lang: dict(fields) for lang, fields in translations.items()}
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


def _sync_slots(session: Session, channel: Channel, items: list[_Item], summary: ChannelReport) -> tuple[int, int]:
    """Make the channel's slots in the guide's span what the guide says, by the ordinary operations.

    A slot of the same programme at the same start is kept (or retimed); so is one the staff
    entered at the same start under the same title. One of the same programme that overlaps
    its new place is moved; every other scheduled slot the guide overlaps is cancelled, and
    the rest of the guide's programmes get new slots. Returns the programmes (created, updated).
    """
    lo = items[0].start
    hi = max(it.end for it in items)
    # Only the programmes' keys and titles: loading whole programmes (and their translations)
    # with every slot would double the work of a re-import, which is mostly unchanged slots.
    # Plain rows: most slots of a re-import stay as they are; the few that change are loaded.
    existing = session.execute(
        select(Slot.id, Slot.start_at, Slot.end_at, Slot.is_premiere, Programme.import_key, Programme.title)
        .join(Programme, Slot.programme_id == Programme.id)
        .where(Slot.channel_id == channel.id, Slot.status == SCHEDULED, Slot.start_at < hi, Slot.end_at > lo)
        .order_by(Slot.start_at)
    ).all()
    key_of = {s.id: s.import_key for s in existing}
    starts = [s.start_at for s in existing]
    exact = {(s.import_key, s.start_at): s for s in existing if s.import_key}
    # A programme entered by hand has no import key: the guide saying the same thing at the
    # same time keeps it (the guide's copy is not made, the staff's is not touched).
    by_hand = {(s.title, s.start_at): s for s in existing if not s.import_key}
    matched: dict[int, Any] = {}
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
                if i not in matched and slot.id not in used and key_of[slot.id] == it.key:
                    matched[i] = slot
                    used.add(slot.id)
            j += 1
    programmes, created, updated_keys = _sync_programmes(
        session, channel, [it for i, it in enumerate(items) if i not in adopted]
    )

    for row in existing:
        if row.id in overlapped and row.id not in used:
            schedule.cancel_slot(session, session.get(Slot, row.id), ACTOR)
            summary.cancelled += 1
    moves = []
    for i, it in enumerate(items):
        slot = matched.get(i)
        if slot is None:
            continue
        if (slot.start_at, slot.end_at, slot.is_premiere) != (it.start, it.end, it.is_premiere):
            moves.append((session.get(Slot, slot.id), it))
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
    # New slots in a few INSERTs, with their audit entries and promo posts, as one by one.
    try:
        schedule.create_slots(session, channel, [(programmes[it.key], _slot_values(it)) for it in creates], ACTOR)
    except schedule.SlotRefused as e:
        raise _ItemRefused(creates[e.index], e.error) from e
    summary.created += len(creates)
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
    own_hosts: tuple[str, ...] = (),
) -> ImportReport:
    """Read and apply a guide in one go; raise :class:`GuideRefused` for a file refused as a whole."""
    with read_guide_in_parts(source) as guide:
        return apply_guide(
            session,
            guide,
            channel_map=channel_map,
            skip_bad=skip_bad,
            dry_run=dry_run,
            default_timezone=default_timezone,
            own_hosts=own_hosts,
        )
