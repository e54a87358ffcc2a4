"""Posts left behind: claims whose process died (lease recovery), and moments that passed unsent."""

import logging

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.models import Post, PostAttempt
from schedule_service.models.promo import EXPIRED, FAILED, HELD, PLANNED, PUBLISHING, UNKNOWN
from schedule_service.publishing.post_moves import fail_post, move_post
from schedule_service.publishing.row_locks import locked_post
from schedule_service.publishing.targets.base import adapter_for

log = logging.getLogger(__name__)


def recover_leases(session: Session, limit: int = 500) -> int:
    """Judge posts whose claim ran out (their process died): claim again, or leave to a person.

    No open attempt: the request never went out, so the post is planned again. An open
    attempt: it may have gone out, so it is sent again only where the target deduplicates.
    """
    at = now()
    stale = session.scalars(
        select(Post.id).where(Post.status == PUBLISHING, Post.lease_until < at).order_by(Post.id).limit(limit)
    ).all()
    session.commit()
    judged = 0
    for post_id in stale:
        with session.begin():
            post = locked_post(session, post_id)
            if post is None or post.status != PUBLISHING or post.lease_until is None or post.lease_until >= at:
                continue  # judged meanwhile; nothing was written, so the commit releases the lock
            worker = post.claimed_by or "a scheduler"
            open_attempts = session.scalars(
                select(PostAttempt).where(PostAttempt.post_id == post.id, PostAttempt.outcome.is_(None))
            ).all()
            if not open_attempts:
                move_post(post, PLANNED)
                post.claimed_by = None
                post.last_error = f"claimed by {worker}, which stopped before sending; claimed again"
            else:
                for attempt in open_attempts:
                    attempt.finished_at, attempt.outcome = at, UNKNOWN
                    attempt.response = f"{worker} stopped during the call; no answer was recorded"
                adapter = adapter_for(post.target.kind)
                if adapter.deduplicates(post.action):
                    why = f"{worker} stopped during the call; sent again: {post.target.kind} deduplicates"
                    fail_post(post, at, why)
                    post.retry_at = at
                else:
                    move_post(post, UNKNOWN)
                    post.last_error = (
                        f"{worker} stopped during the call to {post.target.name}; the post may have gone out: "
                        "a person decides (retry or mark published)"
                    )
            judged += 1
    if judged:
        log.warning("lease recovery judged %d post(s) left by stopped schedulers", judged)
    return judged


def expire_passed(session: Session) -> int:
    """Expire posts whose moment passed unsent (held, planned, or waiting for a retry)."""
    at = now()
    reason = "its moment passed before it could be sent; it is never sent late"
    result = session.execute(
        update(Post)
        .where(
            Post.valid_until <= at,
            or_(Post.status.in_((PLANNED, HELD)), and_(Post.status == FAILED, Post.retry_at.is_not(None))),
        )
        .values(
            status=EXPIRED,
            retry_at=None,
            last_error=func.coalesce(Post.last_error + "; then ", "") + reason,
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0
