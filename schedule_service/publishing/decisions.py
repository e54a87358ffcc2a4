"""What a person decides about a post: approve, hold, retry, or mark an unknown one published.

Each move is allowed from a few states only (SPEC §8); any other raises ``Conflict`` saying
why. The post's row is locked first, so a decision never races a scheduler's claim.
Operations flush and never commit.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import audit
from schedule_service.clock import now
from schedule_service.models import Post, PostAttempt
from schedule_service.models.promo import FAILED, HELD, PLANNED, PUBLISH, PUBLISHED, UNKNOWN
from schedule_service.publishing.row_locks import locked_post
from schedule_service.schedule import Conflict, Invalid

MOVES = {
    "approve": ((HELD,), PLANNED),
    "hold": ((PLANNED,), HELD),
    "retry": ((FAILED, UNKNOWN), PLANNED),
    "mark_published": ((UNKNOWN,), PUBLISHED),
}


#: The post, re-read, its row locked on PostgreSQL (SQLite's writer already holds the file).
lock_post = locked_post


def _move(session: Session, post: Post, move: str, actor: str, **changes) -> Post:
    allowed, to = MOVES[move]
    if post.status not in allowed:
        verb = move.replace("_", " ")
        raise Conflict(
            f"post {post.id} is {post.status}; only a {' or '.join(allowed)} post can be {_past(verb)}"
            + _why(post, move)
        )
    if to == PLANNED and post.valid_until <= now():
        raise Conflict(f"post {post.id} was true only until {post.valid_until.isoformat()}; sent now it would be false")
    before = {"status": post.status, **{k: getattr(post, k) for k in changes}}
    post.status = to
    post.retry_at = None
    post.lease_until = None
    for key, value in changes.items():
        setattr(post, key, value)
    session.flush()
    after = {"status": post.status, **changes}
    audit.record(session, actor, move, "post", post.id, audit.diff(before, after))
    return post


def approve_post(session: Session, post: Post, actor: str) -> Post:
    """Let a held post go out when due."""
    return _move(session, post, "approve", actor)


def hold_post(session: Session, post: Post, actor: str) -> Post:
    """Keep a planned post back until a person approves it."""
    return _move(session, post, "hold", actor)


def retry_post(session: Session, post: Post, actor: str) -> Post:
    """Send a failed or unknown post again at the next tick (a person accepts the risk of a repeat)."""
    return _move(session, post, "retry", actor, last_error=None)


def mark_published(
    session: Session, post: Post, actor: str, external_id: str | None = None, external_url: str | None = None
) -> Post:
    """Record that an unknown post did go out, as a person found at the target."""
    from schedule_service.promos import corrections

    if external_url is not None and not external_url.startswith(("http://", "https://")):
        raise Invalid({"url": "an http(s) URL"})
    last = session.scalar(
        select(PostAttempt).where(PostAttempt.post_id == post.id).order_by(PostAttempt.id.desc()).limit(1)
    )
    sent_at: datetime = last.started_at if last is not None else now()
    changes = {"published_at": sent_at, "last_error": None}
    if external_id is not None:
        changes["external_id"] = external_id
    if external_url is not None:
        changes["external_url"] = external_url
    post = _move(session, post, "mark_published", actor, **changes)
    # The slot changed after the text was made: what is out there needs a follow-up.
    if post.action == PUBLISH and (post.slot.is_cancelled or post.slot.updated_at > sent_at):
        corrections.follow_up(session, post, post.slot)
    return post


def _past(verb: str) -> str:
    return {"approve": "approved", "hold": "held", "retry": "retried", "mark published": "marked published"}[verb]


def _why(post: Post, move: str) -> str:
    if post.status == "publishing":
        return " (a scheduler is sending it right now)"
    if move == "retry" and post.status == PLANNED:
        return " (it is planned already)"
    return ""
