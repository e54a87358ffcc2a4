"""Sending a prepared post and recording the outcome honestly (steps 3–4 of :mod:`.outbox`)."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.db import UtcDateTime
from schedule_service.models import Post, PostAttempt, Slot
from schedule_service.models.promo import (
    CORRECT,
    CORRECTED,
    FAILED,
    PUBLISH,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
    WITHDRAW,
    WITHDRAWN,
    PostStatus,
)
from schedule_service.publishing.claiming import OUT_THERE, Prepared, renew_lease, start_attempt
from schedule_service.publishing.row_locks import locking
from schedule_service.publishing.settings import Settings
from schedule_service.publishing.targets.base import Outcome, adapter_for

log = logging.getLogger(__name__)

#: States a post under a claim may have been moved to by a write that did not claim it first.
MOVED_UNDER_CLAIM = (*PostStatus.UNSENT, REVOKED)


def send(prepared: Prepared) -> Outcome:
    """Make the call; an adapter that breaks is an unknown outcome (it may have sent)."""
    delivery = prepared.delivery
    adapter = adapter_for(delivery.target.kind)
    method = {CORRECT: adapter.correct, WITHDRAW: adapter.withdraw}.get(delivery.action, adapter.publish)
    try:
        return method(delivery)
    except Exception as e:
        if adapter.local:  # its half-made writes must not be committed with the record
            delivery.session.rollback()
        log.exception("target %s broke on post %s", delivery.target.name, prepared.post_id)
        return Outcome.unknown(f"the {delivery.target.kind} adapter broke: {type(e).__name__}: {e}")


def deliver(session: Session, prepared: Prepared, worker: str, cfg: Settings) -> bool:
    """Send one prepared post from this thread's session and record the outcome; True if sent."""
    prepared.delivery.session = session
    if prepared.attempt_id is None:
        if not start_attempt(session, prepared, worker, cfg):
            return False
    elif not renew_lease(session, prepared, worker, cfg):
        return False
    outcome = send(prepared)
    record(session, prepared, outcome, worker, cfg)
    return True


def record(session: Session, prepared: Prepared, outcome: Outcome, worker: str, cfg: Settings) -> bool:
    """Complete the attempt and move the post by its outcome; commit. False if it left our hands."""
    return record_batch(session, [(prepared, outcome)], worker, cfg) == 1


def record_batch(session: Session, results: list[tuple[Prepared, Outcome]], worker: str, cfg: Settings) -> int:
    """Complete the attempts and move the posts by their outcomes, in one transaction; commit.

    Returns how many posts were still this worker's to settle. An answer that comes after
    lease recovery judged its post still goes on the attempt: the log tells what happened.
    """
    if not results:
        return 0
    at = now()
    ids = [prepared.post_id for prepared, _ in results]
    # Not ``session.begin()``: the web target's "call" wrote into the transaction this commits.
    try:
        current = locking(session, select(Post.id, Post.status, Post.claimed_by, Post.slot_id).where(Post.id.in_(ids)))
        rows = {row.id: row for row in session.execute(current)}
        slot_ids = {row.slot_id for row in rows.values()}
        versions = dict(session.execute(select(Slot.id, Slot.version).where(Slot.id.in_(slot_ids))).all())
        settled, attempts, follow = [], [], []
        for prepared, outcome in results:
            row = rows.get(prepared.post_id)
            response = _attempt_text(outcome)
            ours = row is not None and (
                (row.status == PUBLISHING and row.claimed_by == worker)
                # It went out, whatever was said of it meanwhile: lease recovery's guess after a
                # long call, or a re-plan that moved it back without a claim of its own.
                or (
                    outcome.kind == PUBLISHED
                    and (row.status == UNKNOWN or (row.claimed_by == worker and row.status in MOVED_UNDER_CLAIM))
                )
            )
            if ours:
                settled.append({"b_id": prepared.post_id, "b_at": at, **_outcome_params(prepared, outcome, at, cfg)})
                post = prepared.delivery.post
                changed = versions.get(row.slot_id) != prepared.slot_version
                if outcome.kind == PUBLISHED and (post.action != PUBLISH or changed):
                    follow.append(prepared)
            else:
                log.warning("post %s: outcome %s came after it left %s's hands", prepared.post_id, outcome.kind, worker)
                late = f"the answer came after {worker}'s lease ran out and the post was judged again"
                response = f"{late}\n{response or ''}"
            attempt = {"b_id": prepared.attempt_id, "b_at": at, "b_outcome": outcome.kind, "b_response": response}
            attempts.append(attempt)
        connection = session.connection()  # plain executemany, not the ORM's bulk update by key
        if settled:
            connection.execute(_SETTLE, settled)
        connection.execute(_FINISH, attempts)
        for prepared in follow:
            _after_published(session, prepared)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(settled)


#: Settles one post (executemany): its outcome's columns; external ids are kept if none came.
_SETTLE = (
    update(Post.__table__)
    # Whether the post is still this worker's to settle was checked under the rows' lock.
    .where(Post.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        published_at=func.coalesce(bindparam("b_published_at", type_=UtcDateTime()), Post.published_at),
        last_error=bindparam("b_last_error"),
        retry_at=bindparam("b_retry_at", type_=UtcDateTime()),
        external_id=func.coalesce(bindparam("b_external_id", type_=String()), Post.external_id),
        external_url=func.coalesce(bindparam("b_external_url", type_=String()), Post.external_url),
        lease_until=None,
        updated_at=bindparam("b_at", type_=UtcDateTime()),
    )
    .execution_options(synchronize_session=False)
)

#: Completes one attempt (executemany).
_FINISH = (
    update(PostAttempt.__table__)
    .where(PostAttempt.id == bindparam("b_id"))
    .values(
        finished_at=bindparam("b_at", type_=UtcDateTime()),
        outcome=bindparam("b_outcome"),
        response=bindparam("b_response"),
    )
    .execution_options(synchronize_session=False)
)


def _outcome_params(prepared: Prepared, outcome: Outcome, at: datetime, cfg: Settings) -> dict:
    """The post's new status, error, retry time and external ids after ``outcome``."""
    nothing = {"b_published_at": None, "b_external_id": None, "b_external_url": None}
    if outcome.kind == PUBLISHED:
        return {
            "b_status": PUBLISHED,
            "b_published_at": at,
            "b_last_error": None,
            "b_retry_at": None,
            "b_external_id": outcome.external_id,
            "b_external_url": outcome.external_url,
        }
    if outcome.kind == UNKNOWN and not prepared.deduplicates:
        error = f"{outcome.error}; it may have gone out: a person decides (retry or mark published)"
        return {**nothing, "b_status": UNKNOWN, "b_last_error": error, "b_retry_at": None}
    kind = prepared.delivery.target.kind
    error = outcome.error or "failed"
    if outcome.kind == UNKNOWN:
        error += f"; sent again later: {kind} deduplicates"
    retry_at = None
    if outcome.retryable and prepared.attempts < cfg.max_attempts:
        delay = backoff(prepared.attempts, cfg, outcome.retry_after)
        window = getattr(adapter_for(kind), "dedup_window", None)
        if outcome.kind == UNKNOWN and window:
            delay = min(delay, window / 4)  # retry while the target still knows the key
        retry_at = at + timedelta(seconds=delay)
    return {**nothing, "b_status": FAILED, "b_last_error": error, "b_retry_at": retry_at}


def backoff(attempts: int, cfg: Settings, retry_after: float | None = None) -> float:
    """Seconds before the next try: base · 2^(attempts−1), capped; the target's Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), cfg.retry_cap)
    return min(cfg.retry_base * 2 ** max(attempts - 1, 0), cfg.retry_cap)


def _after_published(session: Session, prepared: Prepared) -> None:
    """A follow-up went out (its original is now corrected or withdrawn), or the slot changed meanwhile."""
    from schedule_service.promos import corrections

    post = session.get(Post, prepared.post_id, populate_existing=True)
    parent = session.get(Post, post.parent_id, populate_existing=True) if post.parent_id else None
    if parent is not None and post.action == CORRECT and parent.status in OUT_THERE:
        parent.status = CORRECTED
        parent.text = post.text
    elif parent is not None and post.action == WITHDRAW and parent.status in OUT_THERE:
        parent.status = WITHDRAWN
    session.flush()
    # The slot changed while this text was on its way: what went out needs its own follow-up.
    if post.action != WITHDRAW and post.slot.version != prepared.slot_version:
        corrections.follow_up(session, parent if post.action == CORRECT else post, post.slot)


def _attempt_text(outcome: Outcome) -> str | None:
    parts = [p for p in (outcome.error, outcome.response) if p]
    return "\n".join(parts) if parts else None
