"""What holds a channel's or a programme's posts back: the kill switch and the embargo (SPEC §8b).

Claims skip held posts (:func:`not_held`); a post claimed before the hold came is checked again
where its attempt is written, right before the call (:func:`held_back`), with the channel's and
the programme's rows locked for share on PostgreSQL. A pause or an embargo writes those rows
(taking the row lock), so either it commits first and the attempt sees it, or the attempt
commits first and the post was on its way before the pause. On SQLite the attempt's transaction
is ``BEGIN IMMEDIATE``: one writer at a time gives the same order.
"""

from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from schedule_service.models import Channel, Post, Programme, Slot


def _paused(at: datetime):
    return and_(
        Channel.promos_paused_at.is_not(None),
        or_(Channel.promos_paused_until.is_(None), Channel.promos_paused_until > at),
    )


def not_held(at: datetime):
    """Posts neither paused (their channel's kill switch) nor embargoed (their programme's) at ``at``."""
    held = (
        select(Slot.id)
        .join(Channel, Channel.id == Slot.channel_id)
        .join(Programme, Programme.id == Slot.programme_id)
        .where(Slot.id == Post.slot_id, or_(_paused(at), Programme.embargo_until > at))
    )
    return ~exists(held)


def held_back(session: Session, slot_id: int, at: datetime) -> str | None:
    """Why the slot's posts may not go out at ``at`` (paused, embargoed), read under a share lock; None if they may."""
    query = (
        select(
            Channel.slug,
            Channel.promos_paused_at,
            Channel.promos_paused_until,
            Channel.promos_paused_reason,
            Programme.embargo_until,
        )
        .select_from(Slot)
        .join(Channel, Channel.id == Slot.channel_id)
        .join(Programme, Programme.id == Slot.programme_id)
        .where(Slot.id == slot_id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True, of=(Channel, Programme))
    row = session.execute(query).first()
    if row is None:
        return None
    slug, paused_at, until, reason, embargo_until = row
    if paused_at is not None and (until is None or until > at):
        return f"channel {slug}'s promos are paused" + (f": {reason}" if reason else "")
    if embargo_until is not None and embargo_until > at:
        return f"the programme is under embargo until {embargo_until.isoformat()}"
    return None
