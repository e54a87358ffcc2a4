"""Follow-ups for posts already out: a correction when their slot moves, a withdrawal when it is cancelled.

Each follow-up is an outbox row of its own (action ``correct`` or ``withdraw``, ``parent_id`` →
the published post), sent by the same claim protocol, with an idempotency key of its own per
change of the slot. When it is sent, the original post becomes ``corrected`` or ``withdrawn``.
Functions here flush and never commit.
"""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.models import Post, Slot
from schedule_service.models.promo import (
    CORRECT,
    PLANNED,
    PUBLISH,
    REVOKED,
    WITHDRAW,
    PostStatus,
)
from schedule_service.promos.render import as_aired

#: A withdrawal is worth making for this long after the cancellation.
WITHDRAW_FOR = timedelta(days=7)
#: Follow-ups not yet sent, which a newer change of the slot makes moot.
PENDING = PostStatus.UNSENT


def queue_corrections(session: Session, slot: Slot) -> list[Post]:
    """Queue a correction for each post of ``slot`` that is out there (the slot moved or changed)."""
    return [follow_up(session, post, slot) for post in _out_there(session, slot)]


def queue_withdrawals(session: Session, slot: Slot) -> list[Post]:
    """Queue a withdrawal for each post of the cancelled ``slot`` that is out there."""
    return [follow_up(session, post, slot) for post in _out_there(session, slot)]


def follow_up(session: Session, post: Post, slot: Slot) -> Post:
    """Queue what ``post`` needs now that ``slot`` changed: a correction, or a withdrawal if cancelled.

    Unsent follow-ups of the post are revoked first: the new one says what is true now.
    """
    action = WITHDRAW if slot.is_cancelled else CORRECT
    pending = session.scalars(select(Post).where(Post.parent_id == post.id, Post.status.in_(PENDING))).all()
    for older in pending:
        older.status, older.retry_at = REVOKED, None
        older.last_error = f"superseded by the slot's version {slot.version}"
    key = f"{post.idempotency_key}-{action}-v{slot.version}"
    existing = session.scalar(select(Post).where(Post.idempotency_key == key))
    if existing is not None:
        if existing.status == REVOKED:
            existing.status, existing.last_error = PLANNED, None
        return existing
    at = now()
    aired = as_aired(slot, slot.channel, post.target)  # an edition's post is true until the edition's end
    row = Post(
        slot_id=slot.id,
        target_id=post.target_id,
        step=post.step,
        action=action,
        parent_id=post.id,
        idempotency_key=key,
        template=post.template,
        lang=post.lang,
        due_at=at,
        # A correction says when the show airs: true until it ends. A withdrawal is never stale.
        valid_until=at + WITHDRAW_FOR if action == WITHDRAW else max(aired.end_at, at + timedelta(seconds=1)),
        status=PLANNED,
    )
    session.add(row)
    session.flush()
    return row


def _out_there(session: Session, slot: Slot) -> list[Post]:
    """The slot's published posts (corrected ones included): what the audience can see."""
    query = select(Post).where(Post.slot_id == slot.id, Post.action == PUBLISH, Post.status.in_(PostStatus.OUT_THERE))
    return list(session.scalars(query.order_by(Post.id)).unique())
