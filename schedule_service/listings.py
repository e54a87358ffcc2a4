"""The read side of the schedule: a broadcast day, a range, now and next. Queries return Selects."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from schedule_service.broadcast_time import day_bounds
from schedule_service.models import Channel, Programme, Slot
from schedule_service.models.slot import SCHEDULED


def day_range(channel: Channel, day: date) -> tuple[datetime, datetime]:
    """The UTC instants bounding broadcast day ``day`` on ``channel``."""
    return day_bounds(day, channel.zone, channel.broadcast_day_start)


def slots_between(channel_id: int, start: datetime, end: datetime, include_cancelled: bool = False) -> Select:
    """Slots of a channel that start in [start, end), in air order."""
    query = select(Slot).where(Slot.channel_id == channel_id, Slot.start_at >= start, Slot.start_at < end)
    if not include_cancelled:
        query = query.where(Slot.status == SCHEDULED)
    return query.order_by(Slot.start_at)


@dataclass(frozen=True)
class NowNext:
    channel: Channel
    now: Slot | None
    next: Slot | None


def now_next(session: Session, at: datetime, channel_ids: list[int] | None = None) -> list[NowNext]:
    """For every channel: the slot on air at ``at`` and the one after it.

    Two correlated subqueries per channel, each one step down the (channel, start) index,
    so the cost grows with the number of channels, not with the length of the schedule; one
    round trip for channels and slots, one for their few distinct programmes.
    """
    last = (
        select(Slot.id)
        .where(Slot.channel_id == Channel.id, Slot.status == SCHEDULED, Slot.start_at <= at)
        .order_by(Slot.start_at.desc())
        .limit(1)
        .correlate(Channel)
        .scalar_subquery()
    )
    following = (
        select(Slot.id)
        .where(Slot.channel_id == Channel.id, Slot.status == SCHEDULED, Slot.start_at > at)
        .order_by(Slot.start_at)
        .limit(1)
        .correlate(Channel)
        .scalar_subquery()
    )
    # Both slots come in the channel's row, by primary key; the channels are in the same rows and
    # the slots share a few programmes, so each slot finds both in the identity map, not in a
    # join repeating them per row.
    now_slot, next_slot = aliased(Slot), aliased(Slot)
    query = (
        select(Channel, now_slot, next_slot)
        .select_from(Channel)
        .outerjoin(now_slot, now_slot.id == last)
        .outerjoin(next_slot, next_slot.id == following)
        .options(
            *(lazyload(rel) for rel in (now_slot.channel, now_slot.programme, next_slot.channel, next_slot.programme))
        )
        .order_by(Channel.slug)
    )
    if channel_ids is not None:
        query = query.where(Channel.id.in_(channel_ids))
    rows = session.execute(query).all()
    programme_ids = {s.programme_id for row in rows for s in row[1:] if s is not None}
    programmes = {}
    if programme_ids:
        programmes = {p.id: p for p in session.scalars(select(Programme).where(Programme.id.in_(programme_ids)))}
    out = []
    for channel, current, following_slot in rows:
        for slot in (current, following_slot):
            # Filled in as loaded, so neither attribute costs a query or counts as a change.
            if slot is not None:
                set_committed_value(slot, "channel", channel)
                set_committed_value(slot, "programme", programmes[slot.programme_id])
        if current is not None and current.end_at <= at:
            current = None
        out.append(NowNext(channel, current, following_slot))
    return out
