"""The read side of the schedule: a broadcast day, a range, now and next. Queries return Selects."""

import json
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from functools import cache
from typing import Any

from sqlalchemy import JSON, Select, Text, bindparam, cast, literal_column, select, true
from sqlalchemy.orm import Session, aliased, joinedload

from schedule_service.broadcast_time import day_bounds
from schedule_service.db import UtcDateTime
from schedule_service.models import Channel, Programme, Slot
from schedule_service.models.channel import ChannelTraits
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


@dataclass(slots=True)
class SlotRow(SlotTraits):
    """A scheduled slot as listings read it, with its channel row and its (ORM) programme."""

    id: int
    channel: ChannelRow
    programme: Programme
    start_at: datetime
    end_at: datetime
    is_premiere: bool
    is_live: bool
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


_SHOWN = tuple(getattr(Channel, f.name) for f in fields(ChannelRow))
JSON_AT = tuple(i for i, column in enumerate(_SHOWN) if isinstance(column.type, JSON))
#: JSON columns come as their text: channels mostly share a few values, decoded once per call.
CHANNEL_COLUMNS = tuple(cast(column, Text) if i in JSON_AT else column for i, column in enumerate(_SHOWN))
SLOT_COLUMNS = ("id", "programme_id", "start_at", "end_at", "is_premiere", "is_live", "version")


#: The instant now/next is asked for, bound at execution: the statements are built once.
AT = bindparam("at", type_=UtcDateTime())
#: Written out, not bound, so the planner may use the partial index of scheduled slots.
IS_SCHEDULED = Slot.status == literal_column(f"'{SCHEDULED}'")
#: The two lookups per channel: the last slot to start by ``at``, and the first after it.
LOOKUPS = (
    ("on_air", Slot.start_at <= AT, Slot.start_at.desc()),
    ("coming", Slot.start_at > AT, Slot.start_at),
)


@cache
def _now_next_lateral() -> Select:
    """PostgreSQL: each channel's two slots by LATERAL subqueries, read straight from the covering index."""
    on_air, coming = (
        select(*(getattr(Slot, c) for c in SLOT_COLUMNS))
        .where(Slot.channel_id == Channel.id, IS_SCHEDULED, condition)
        .order_by(order)
        .limit(1)
        .lateral(name)
        for name, condition, order in LOOKUPS
    )
    return (
        select(*CHANNEL_COLUMNS, *on_air.c, *coming.c)
        .select_from(Channel)
        .outerjoin(on_air, true())
        .outerjoin(coming, true())
        .order_by(Channel.slug)
    )


@cache
def _now_next_correlated() -> Select:
    """Elsewhere (SQLite has no LATERAL): each slot's id by a correlated subquery, the row by its key."""
    last, following = (
        select(Slot.id)
        .where(Slot.channel_id == Channel.id, IS_SCHEDULED, condition)
        .order_by(order)
        .limit(1)
        .correlate(Channel)
        .scalar_subquery()
        for _, condition, order in LOOKUPS
    )
    now_slot, next_slot = aliased(Slot), aliased(Slot)
    return (
        select(
            *CHANNEL_COLUMNS,
            *(getattr(now_slot, c) for c in SLOT_COLUMNS),
            *(getattr(next_slot, c) for c in SLOT_COLUMNS),
        )
        .select_from(Channel)
        .outerjoin(now_slot, now_slot.id == last)
        .outerjoin(next_slot, next_slot.id == following)
        .order_by(Channel.slug)
    )


def now_next(session: Session, at: datetime) -> list[NowNext]:
    """For every channel: the slot on air at ``at`` and the one after it, as read-only rows.

    Two lookups per channel, each one step down the (channel, start) index, so the cost grows
    with the number of channels, not with the length of the schedule; one round trip for
    channels and slots, one for their few distinct programmes. Plain rows, not ORM objects:
    building and tracking a thousand slots would cost more than the query.
    """
    lateral = session.get_bind().dialect.name == "postgresql"
    query = _now_next_lateral() if lateral else _now_next_correlated()
    # Core, not the ORM: these are plain columns, and the ORM would wrap each row in its loading.
    rows = session.connection().execute(query, {"at": at}).all()
    width, step = len(CHANNEL_COLUMNS), len(SLOT_COLUMNS)
    programme_ids = {row[i + 1] for row in rows for i in (width, width + step) if row[i] is not None}
    programmes = {}
    if programme_ids:
        # Translations joined, not selected after: one round trip fewer, for a few programmes.
        found = select(Programme).where(Programme.id.in_(programme_ids)).options(joinedload(Programme.translations))
        programmes = {p.id: p for p in session.scalars(found).unique()}

    def slot(channel: ChannelRow, values: tuple) -> SlotRow | None:
        if values[0] is None:
            return None
        slot_id, programme_id, *rest = values
        return SlotRow(slot_id, channel, programmes[programme_id], *rest)

    decoded: dict[str, Any] = {}

    def plain(text: str | None) -> Any:
        if text not in decoded:
            decoded[text] = None if text is None else json.loads(text)
        return decoded[text]

    out = []
    for row in rows:
        values = list(row[:width])
        for i in JSON_AT:
            values[i] = plain(values[i])
        channel = ChannelRow(*values)
        current = slot(channel, row[width : width + step])
        if current is not None and current.end_at <= at:
            current = None
        out.append(NowNext(channel, current, slot(channel, row[width + step :])))
    return out
