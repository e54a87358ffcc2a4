"""The read side of the schedule: a broadcast day, a range (Selects), now and next (light read-only rows)."""

import json
import threading
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import JSON, Select, Text, bindparam, cast, literal_column, select, true
from sqlalchemy.orm import Session, aliased

from schedule_service.broadcast_time import day_bounds
from schedule_service.db import UtcDateTime, one_of
from schedule_service.models import Channel, Edition, Programme, Slot
from schedule_service.models.channel import ChannelTraits
from schedule_service.models.programme import ProgrammeTraits, ProgrammeTranslation
from schedule_service.models.slot import SCHEDULED, SlotTraits


def day_range(channel: Channel, day: date) -> tuple[datetime, datetime]:
    """The UTC instants bounding broadcast day ``day`` on ``channel``."""
    return day_bounds(day, channel.zone, channel.broadcast_day_start)


def slots_between(channel_id: int, start: datetime, end: datetime, include_cancelled: bool = False) -> Select:
    """Slots of a channel that start in [start, end), in air order."""
    query = select(Slot).where(Slot.channel_id == channel_id, Slot.start_at >= start, Slot.start_at < end)
    if not include_cancelled:
        query = query.where(Slot.status == SCHEDULED)
    return query.order_by(Slot.start_at)


@dataclass(slots=True)
class ChannelRow(ChannelTraits):
    """A channel as listings read it: its shown columns, not an ORM object (cheap by the hundred)."""

    id: int
    slug: str
    name: str
    names: dict[str, str]
    timezone: str
    broadcast_day_start: time
    xmltv_id: str | None
    languages: list[str]
    promote: str
    embargo_title: dict[str, str] | None = None
    promos_paused_at: datetime | None = None
    promos_paused_until: datetime | None = None
    promos_paused_reason: str | None = None
    promos_paused_by: str | None = None


@dataclass(slots=True)
class TranslationRow:
    """A programme's texts in one language, as listings read them."""

    lang: str
    title: str | None
    subtitle: str | None
    summary: str | None
    quote: str | None
    category: str | None
    image_alt: str | None
    guests: list[dict[str, str]] | None


@dataclass(slots=True)
class ProgrammeRow(ProgrammeTraits):
    """A programme as listings read it: the columns viewers see and its translations by language."""

    id: int
    title: str
    subtitle: str | None
    summary: str | None
    category: str | None
    guests: list[dict[str, str]]
    presenter: str | None
    is_exclusive: bool
    quote: str | None
    image_url: str | None
    image_credit: str | None
    duration_minutes: int | None
    language: str
    episode_num: str | None
    image_alt: str | None = None
    #: The uploaded picture's hash (media.py); shown wherever the picture is.
    image_hash: str | None = None
    embargo_until: datetime | None = None
    translations: dict[str, TranslationRow] = field(default_factory=dict)


@dataclass(slots=True)
class SlotRow(SlotTraits):
    """A scheduled slot as listings read it, with its channel and programme rows."""

    id: int
    channel: ChannelRow
    programme: ProgrammeRow
    start_at: datetime
    end_at: datetime
    is_premiere: bool
    is_live: bool
    is_promoted: bool
    version: int
    status: str = SCHEDULED

    @property
    def channel_id(self) -> int:
        return self.channel.id

    @property
    def programme_id(self) -> int:
        return self.programme.id


@dataclass(slots=True)
class NowNext:
    channel: ChannelRow
    now: SlotRow | None
    next: SlotRow | None


def _shown(model: type, row: type) -> tuple[tuple, tuple[int, ...]]:
    """The columns of ``model`` that light ``row`` holds, JSON ones as their text, and where those are.

    Rows mostly share a few JSON values (``{}``, ``["en"]``, ``[]``): decoded once per call, not
    once per row by the driver.
    """
    columns = tuple(getattr(model, f.name) for f in fields(row) if f.name != "translations")
    json_at = tuple(i for i, column in enumerate(columns) if isinstance(column.type, JSON))
    return tuple(cast(column, Text) if i in json_at else column for i, column in enumerate(columns)), json_at


CHANNEL_COLUMNS, CHANNEL_JSON_AT = _shown(Channel, ChannelRow)
PROGRAMME_COLUMNS, PROGRAMME_JSON_AT = _shown(Programme, ProgrammeRow)
SLOT_COLUMNS = ("id", "programme_id", "start_at", "end_at", "is_premiere", "is_live", "is_promoted", "version")
TRANSLATION_SHOWN, TRANSLATION_JSON_AT = _shown(ProgrammeTranslation, TranslationRow)  # from lang on
TRANSLATION_COLUMNS = (ProgrammeTranslation.programme_id, *TRANSLATION_SHOWN)

#: The instant now/next is asked for, bound at execution: the statements are built once.
AT = bindparam("at", type_=UtcDateTime())
#: Written out, not bound, so the planner may use the partial index of scheduled slots.
IS_SCHEDULED = Slot.status == literal_column(f"'{SCHEDULED}'")
#: Scheduled slots never overlap on a channel, so in the order they end they are in air order
#: too: the first two to end after ``at`` are the one on air (if it has started) and the next.
#: One step down the (channel, end) index of scheduled slots per channel.
UPCOMING = (Slot.channel_id == Channel.id, IS_SCHEDULED, Slot.end_at > AT)


@cache
def _now_next_lateral() -> Select:
    """PostgreSQL: each channel's two slots by a LATERAL subquery, read straight from the covering index."""
    upcoming = (
        select(*(getattr(Slot, c) for c in SLOT_COLUMNS))
        .where(*UPCOMING)
        .order_by(Slot.end_at)
        .limit(2)
        .lateral("upcoming")
    )
    return (
        select(*CHANNEL_COLUMNS, *upcoming.c)
        .select_from(Channel)
        .outerjoin(upcoming, true())
        .order_by(Channel.slug, upcoming.c.end_at)
    )


@cache
def _now_next_correlated() -> Select:
    """Elsewhere (SQLite has no LATERAL): the two slots' ids by a correlated subquery, the rows by their key."""
    upcoming = select(Slot.id).where(*UPCOMING).order_by(Slot.end_at).limit(2).correlate(Channel)
    shown = aliased(Slot)
    return (
        select(*CHANNEL_COLUMNS, *(getattr(shown, c) for c in SLOT_COLUMNS))
        .select_from(Channel)
        .outerjoin(shown, shown.id.in_(upcoming))
        .order_by(Channel.slug, shown.end_at)
    )


@cache
def _programmes(dialect: str) -> Select:
    return select(*PROGRAMME_COLUMNS).where(one_of(Programme.id, "ids", dialect))


@cache
def _translations(dialect: str) -> Select:
    return select(*TRANSLATION_COLUMNS).where(one_of(ProgrammeTranslation.programme_id, "ids", dialect))


class KeptProgrammes:
    """Programme rows kept between now/next calls while the schedule's generation stays the same.

    A worker asks now/next for the same thousand programmes minute after minute; reading them
    was most of the call. The rows are read-only and shared between threads; a newer generation
    drops them all (any change to a programme or translation moves it), and so does passing
    ``limit`` rows.
    """

    def __init__(self, limit: int = 20_000):
        self.limit = limit
        self._generation: int | None = None
        self._rows: dict[int, ProgrammeRow] = {}
        self._lock = threading.Lock()

    def take(self, generation: int, ids: set[int]) -> dict[int, ProgrammeRow]:
        """The rows of ``ids`` kept for ``generation`` (those not kept are missing)."""
        with self._lock:
            if generation != self._generation:
                return {}
            return {i: self._rows[i] for i in ids if i in self._rows}

    def keep(self, generation: int, rows: dict[int, ProgrammeRow]) -> None:
        """Keep ``rows``, read at ``generation`` or later."""
        with self._lock:
            if self._generation is not None and generation < self._generation:
                return  # read before a change this worker has already seen
            if generation != self._generation or len(self._rows) + len(rows) > self.limit:
                self._generation, self._rows = generation, {}
            self._rows.update(rows)

    def __len__(self) -> int:
        return len(self._rows)


def now_next(
    session: Session, at: datetime, kept: KeptProgrammes | None = None, generation: int | None = None
) -> list[NowNext]:
    """For every channel: the slot on air at ``at`` and the one after it, as read-only rows.

    One lookup per channel, a step down the (channel, end) index of scheduled slots, so the cost
    grows with the number of channels, not with the length of the schedule: one round trip for
    channels and slots, and for the programmes not in ``kept`` one for them and one for their
    translations. ``kept`` comes with the schedule ``generation`` the caller read before this
    call. Plain rows, not ORM objects: building and tracking a thousand slots and programmes
    would cost more than the query.
    """
    assert kept is None or generation is not None, "kept programme rows need the generation they belong to"
    dialect = session.get_bind().dialect.name
    query = _now_next_lateral() if dialect == "postgresql" else _now_next_correlated()
    # Core, not the ORM: these are plain columns, and the ORM would wrap each row in its loading.
    connection = session.connection()
    rows = connection.execute(query, {"at": at}).all()
    decoded: dict[str, Any] = {}

    def light(row_class: type, values: tuple, json_at: tuple[int, ...]) -> Any:
        values = list(values)
        for i in json_at:
            text = values[i]
            if text not in decoded:
                decoded[text] = None if text is None else json.loads(text)
            values[i] = decoded[text]
        return row_class(*values)

    slot_at = len(CHANNEL_COLUMNS)
    wanted = {row[slot_at + 1] for row in rows if row[slot_at] is not None}
    programmes = kept.take(generation, wanted) if kept is not None else {}
    missing = [i for i in wanted if i not in programmes]
    if missing:
        fetched = {
            row[0]: light(ProgrammeRow, row, PROGRAMME_JSON_AT)
            for row in connection.execute(_programmes(dialect), {"ids": missing})
        }
        for programme_id, *texts in connection.execute(_translations(dialect), {"ids": missing}).all():
            translation = light(TranslationRow, texts, TRANSLATION_JSON_AT)
            fetched[programme_id].translations[translation.lang] = translation
        if kept is not None:
            kept.keep(generation, fetched)
        programmes.update(fetched)

    out: list[NowNext] = []
    channel_id = None
    for row in rows:
        if row[0] != channel_id:
            channel_id = row[0]
            entry = NowNext(light(ChannelRow, row[:slot_at], CHANNEL_JSON_AT), None, None)
            out.append(entry)
        if row[slot_at] is None:  # nothing ends after ``at``: the channel's schedule has run out
            continue
        slot_id, programme_id, *rest = row[slot_at:]
        slot = SlotRow(slot_id, entry.channel, programmes[programme_id], *rest)
        if entry.now is None and entry.next is None and slot.start_at <= at:
            entry.now = slot
        elif entry.next is None:
            entry.next = slot
    return out


# Regional editions (SPEC §9): a channel's slots moved by the edition's shift, read, never copied.


@dataclass(slots=True)
class EditionChannel(ChannelRow):
    """An edition as its viewers see it: a channel of its own name, slug and zone.

    ``id`` is its channel's: its slots are the channel's, read through :func:`edition_slot`.
    Broadcast days are counted in the edition's zone from the channel's ``broadcast_day_start``;
    its embargo title and promo pause are its channel's.
    """

    shift: timedelta = timedelta(0)
    #: The slug of the channel the edition shifts.
    edition_of: str = ""
    editions: list = field(default_factory=list)

    @classmethod
    def of(cls, edition: Edition, channel: Channel | ChannelRow) -> "EditionChannel":
        return cls(
            id=channel.id,
            slug=edition.slug,
            name=edition.name,
            names=dict(edition.names or {}),
            timezone=edition.timezone,
            broadcast_day_start=channel.broadcast_day_start,
            xmltv_id=None,
            languages=list(channel.languages or []),
            promote=channel.promote,
            embargo_title=channel.embargo_title,
            promos_paused_at=channel.promos_paused_at,
            promos_paused_until=channel.promos_paused_until,
            promos_paused_reason=channel.promos_paused_reason,
            promos_paused_by=channel.promos_paused_by,
            shift=edition.shift,
            edition_of=channel.slug,
        )


class EditionSlot:
    """A channel's slot as an edition airs it: the same slot, its times moved by the edition's shift.

    Everything but ``channel``, ``start_at`` and ``end_at`` is the slot's own, so an edit of
    the slot shows in every edition at once.
    """

    __slots__ = ("slot", "channel", "start_at", "end_at")

    def __init__(self, slot: Any, channel: EditionChannel):
        self.slot = slot
        self.channel = channel
        self.start_at = slot.start_at + channel.shift
        self.end_at = slot.end_at + channel.shift

    def __getattr__(self, name: str) -> Any:
        return getattr(self.slot, name)

    def __repr__(self) -> str:
        return f"<EditionSlot {self.slot.id} in {self.channel.slug}>"


def edition_slot(slot: Any, edition: EditionChannel) -> EditionSlot:
    """The one place a channel's slot becomes an edition's: moved by its shift, in its zone."""
    return EditionSlot(slot, edition)


def channel_by_slug(session: Session, slug: str) -> Channel | EditionChannel | None:
    """The channel, or the edition as a channel, that answers to ``slug``; None if neither does."""
    channel = session.scalar(select(Channel).where(Channel.slug == slug))
    if channel is not None:
        return channel
    edition = session.scalar(select(Edition).where(Edition.slug == slug))
    if edition is None:
        return None
    return EditionChannel.of(edition, session.get(Channel, edition.channel_id))


def editions_of(channel: Channel) -> list[EditionChannel]:
    """The channel's editions, each as a channel."""
    return [EditionChannel.of(e, channel) for e in channel.editions]


def all_editions(session: Session) -> list[EditionChannel]:
    """Every edition of every channel, as channels, by channel and in each channel's order."""
    query = select(Edition, Channel).join(Channel, Edition.channel_id == Channel.id)
    return [EditionChannel.of(e, c) for e, c in session.execute(query.order_by(Channel.slug, Edition.position))]


def day_range_of(channel: Channel | EditionChannel, day: date) -> tuple[datetime, datetime]:
    """The instants bounding broadcast day ``day`` as the channel or edition counts it (its own zone)."""
    return day_bounds(day, channel.zone, channel.broadcast_day_start)


def slots_of(
    session: Session, channel: Channel | EditionChannel, start: datetime, end: datetime, include_cancelled: bool = False
) -> list:
    """Slots of a channel or edition that start (as it airs them) in [start, end), in air order."""
    shift = getattr(channel, "shift", None)
    if shift is None:
        return list(session.scalars(slots_between(channel.id, start, end, include_cancelled)).unique())
    query = slots_between(channel.id, start - shift, end - shift, include_cancelled)
    return [edition_slot(s, channel) for s in session.scalars(query).unique()]


def edition_now_next(session: Session, edition: EditionChannel, at: datetime) -> NowNext:
    """What the edition airs at ``at`` and next: the channel's now and next at ``at`` less the shift."""
    channel_at = at - edition.shift
    query = (
        select(Slot)
        .where(Slot.channel_id == edition.id, Slot.status == SCHEDULED, Slot.end_at > channel_at)
        .order_by(Slot.end_at)
        .limit(2)
    )
    slots = [edition_slot(s, edition) for s in session.scalars(query).unique()]
    entry = NowNext(edition, None, None)  # type: ignore[arg-type]
    for slot in slots:
        if entry.now is None and entry.next is None and slot.start_at <= at:
            entry.now = slot
        elif entry.next is None:
            entry.next = slot
    return entry
