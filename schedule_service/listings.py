"""The read side of the schedule: a broadcast day, a range, now and next. Queries return Selects."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, lazyload

from schedule_service.broadcast_time import day_bounds
from schedule_service.models import Channel, Slot
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
    so the cost grows with the number of channels, not with the length of the schedule.
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
    query = select(Channel, last.label("last_id"), following.label("next_id")).order_by(Channel.slug)
    if channel_ids is not None:
        query = query.where(Channel.id.in_(channel_ids))
    rows = session.execute(query).all()
    wanted = {i for row in rows for i in (row.last_id, row.next_id) if i is not None}
    # The channels are in the identity map already: let each slot find its own there, not in a join.
    by_id = select(Slot).where(Slot.id.in_(wanted)).options(lazyload(Slot.channel))
    slots = {s.id: s for s in session.scalars(by_id)} if wanted else {}
    out = []
    for channel, last_id, next_id in rows:
        current = slots.get(last_id)
        if current is not None and current.end_at <= at:
            current = None
        out.append(NowNext(channel, current, slots.get(next_id)))
    return out
