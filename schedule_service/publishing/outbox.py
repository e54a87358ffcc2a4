"""The outbox: claim due posts under a lease, send each once, record an honest outcome.

The path of one post, each step its own short transaction, none held across the network:

1. **claim** (a batch): ``planned`` (or ``failed`` and due for a retry) → ``publishing`` with
   ``claimed_by`` and ``lease_until``; PostgreSQL skips rows another claimer holds
   (``FOR UPDATE SKIP LOCKED``), SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time and
   the ``UPDATE … WHERE status IN (…)`` only takes rows still claimable.
2. **prepare**: still ours, still valid? Render the text now, write the attempt row (no
   outcome yet: "the request may be going out"), renew the lease, commit.
3. **send** through the target's adapter, outside any transaction.
4. **record**: complete the attempt; ``published`` / ``failed`` (with ``retry_at`` while the post
   is valid) / ``unknown``; commit.

A process that dies between 1 and 2 leaves a lease and no open attempt: the post is claimed
again after the lease. One that dies in 3 leaves an open attempt: the post may have gone out,
so it is sent again only where the target deduplicates, else it becomes ``unknown``.

These functions run in the scheduler's worker threads and commit themselves.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import String, and_, bindparam, create_engine, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from schedule_service.clock import now
from schedule_service.db import UtcDateTime, db
from schedule_service.models import Post, PostAttempt, Slot
from schedule_service.models.promo import (
    CORRECT,
    CORRECTED,
    EXPIRED,
    FAILED,
    HELD,
    PLANNED,
    PUBLISH,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
    WITHDRAW,
    WITHDRAWN,
    PostStatus,
)
from schedule_service.publishing.targets.base import Delivery, Outcome, adapter_for

log = logging.getLogger(__name__)

#: States a post under a claim may have been moved to by a write that did not claim it first.
MOVED_UNDER_CLAIM = (*PostStatus.UNSENT, REVOKED)
#: Outcomes of calls to targets that deduplicate are recorded this many at a time.
RECORD_EVERY = 16
#: While sending a backlog, the heartbeat is renewed this often.
BEAT_EVERY = timedelta(seconds=5)
#: Post states a follow-up (correction, withdrawal) may act on: the post is out there.
OUT_THERE = PostStatus.OUT_THERE


@dataclass(frozen=True)
class Settings:
    """The outbox's knobs, from the app's config."""

    lease: timedelta
    batch: int
    timeout: float
    concurrency: int
    retry_base: float
    retry_cap: float
    max_attempts: int
    #: Targets may be called inside the network (TARGETS_ALLOW_PRIVATE: test setups only).
    allow_private: bool = False

    @classmethod
    def from_config(cls, config) -> "Settings":
        """Read the settings; a lease too short to cover a call to a target is refused."""
        made = cls(
            lease=timedelta(seconds=float(config.get("PUBLISH_LEASE_SECONDS", 60))),
            batch=int(config.get("PUBLISH_BATCH", 200)),
            timeout=float(config.get("TARGET_TIMEOUT_SECONDS", 10)),
            concurrency=int(config.get("PUBLISH_CONCURRENCY", 8)),
            retry_base=float(config.get("PUBLISH_RETRY_BASE_SECONDS", 5)),
            retry_cap=float(config.get("PUBLISH_RETRY_CAP_SECONDS", 900)),
            max_attempts=int(config.get("PUBLISH_MAX_ATTEMPTS", 8)),
            allow_private=bool(config.get("TARGETS_ALLOW_PRIVATE", False)),
        )
        # A claim must outlast the call it covers, or another scheduler could take the post
        # while its request is still on the way.
        if made.lease.total_seconds() < 2 * made.timeout + 1:
            raise ValueError(
                f"PUBLISH_LEASE_SECONDS ({made.lease.total_seconds():g}) must be at least twice "
                f"TARGET_TIMEOUT_SECONDS ({made.timeout:g}) and a second"
            )
        return made


def settings() -> Settings:
    return Settings.from_config(current_app.config)


# 1. Claim


def claimable(at: datetime):
    """Posts that may be claimed at ``at``: due, still valid, planned or due for a retry.

    A post still under someone's lease is not, whatever its status says: it was moved back
    by a write that did not claim it while a scheduler was sending it.
    """
    return and_(
        Post.due_at <= at,
        Post.valid_until > at,
        or_(Post.status == PLANNED, and_(Post.status == FAILED, Post.retry_at <= at)),
        or_(Post.lease_until.is_(None), Post.lease_until <= at),
    )


def claim_due(session: Session, worker: str, limit: int, lease: timedelta) -> list[int]:
    """Claim up to ``limit`` due posts for ``worker``, oldest first; commit; return their ids."""
    at = now()
    picked = select(Post.id).where(claimable(at)).order_by(Post.due_at, Post.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    claim = (
        update(Post)
        .where(Post.id.in_(picked.scalar_subquery()), Post.status.in_(PostStatus.CLAIMABLE))
        .values(status=PUBLISHING, claimed_by=worker, lease_until=at + lease, updated_at=at)
        .returning(Post.id)
        .execution_options(synchronize_session=False)
    )
    try:
        ids = list(session.scalars(claim))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return sorted(ids)


def next_due_at(session: Session) -> datetime | None:
    """The earliest moment a planned post (or a retry) falls due, for the tick to wait for."""
    at = now()
    planned = select(func.min(Post.due_at)).where(Post.status == PLANNED, Post.valid_until > at)
    retry = select(func.min(Post.retry_at)).where(Post.status == FAILED, Post.valid_until > at)
    moments = [session.scalar(planned), session.scalar(retry)]
    session.commit()
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def release(session: Session, post_id: int, worker: str, why: str, attempt_id: int | None = None) -> None:
    """Give back a claimed post that was not sent, for any scheduler to claim again.

    An attempt written ahead of a call that never started is taken back with it: nothing
    was tried.
    """
    try:
        released = session.execute(
            update(Post)
            .where(Post.id == post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
            .values(status=PLANNED, lease_until=None, claimed_by=None, updated_at=now())
            .execution_options(synchronize_session=False)
        ).rowcount
        if released and attempt_id is not None:
            session.execute(delete(PostAttempt).where(PostAttempt.id == attempt_id, PostAttempt.outcome.is_(None)))
            session.execute(
                update(Post)
                .where(Post.id == post_id)
                .values(attempts=Post.attempts - 1)
                .execution_options(synchronize_session=False)
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("post %s released by %s: %s", post_id, worker, why)


# 2–4. Prepare, send, record


@dataclass
class Prepared:
    """A claimed post made ready to send: checked, rendered, its attempt written or to be."""

    post_id: int
    delivery: Delivery
    #: The slot's version the text was rendered from: a change after it needs a follow-up.
    slot_version: int
    #: Whether the target deduplicates this action, so a lost answer may be sent again.
    deduplicates: bool
    lease_until: datetime
    #: The attempt row; None until it is written, right before the call where the target
    #: cannot deduplicate (so a crash before then leaves nothing that "may have gone out").
    attempt_id: int | None = None
    #: The post's attempts, this one included.
    attempts: int = 0


def prepare_batch(session: Session, ids: list[int], worker: str, cfg: Settings) -> list[Prepared]:
    """Check each claimed post still holds and is still true, render it, write the attempts; commit.

    A post not to be sent is moved to what it is instead (expired, planned again, failed,
    revoked) and left out. One transaction for the batch: the posts' rows stay locked (on
    PostgreSQL) only while it runs.
    """
    try:
        at = now()
        if session.get_bind().dialect.name == "postgresql":
            _synchronous(session)
            session.execute(select(Post.id).where(Post.id.in_(ids)).with_for_update())
        posts = (
            session.scalars(
                select(Post)
                .where(Post.id.in_(ids))
                .order_by(Post.due_at, Post.id)
                .execution_options(populate_existing=True)
            )
            .unique()
            .all()
        )
        ready = []
        for post in posts:
            checked = _check(session, post, worker, at)
            if checked is not None:
                ready.append((post, *checked))
        out = []
        for post, adapter, parent, rendered in ready:
            dedup = adapter.deduplicates(post.action)
            post.lease_until = at + cfg.lease
            attempt = None
            if dedup:  # a crash from here on is harmless: the post is simply sent again
                attempt = PostAttempt(post_id=post.id, started_at=at, worker=worker)
                session.add(attempt)
                post.attempts += 1
            delivery = Delivery(post, post.target, rendered, parent, cfg.timeout, session, cfg.allow_private)
            out.append((Prepared(post.id, delivery, post.slot.version, dedup, post.lease_until), attempt))
        session.flush()
        for prepared, attempt in out:
            prepared.attempt_id = attempt.id if attempt is not None else None
            prepared.attempts = prepared.delivery.post.attempts
        session.commit()
    except Exception:
        session.rollback()
        raise
    return [prepared for prepared, _ in out]


def _check(session: Session, post: Post, worker: str, at: datetime):
    """(adapter, parent, rendered) for a post to send now; else move it to what it is and return None."""
    from schedule_service.promos.render import PromoNotTrue, render_post

    if post.status != PUBLISHING or post.claimed_by != worker:
        return None  # the lease ran out and another scheduler has it, or a person moved it
    if post.valid_until <= at:
        _expire(post, at, "its moment passed before it could be sent; it is never sent late")
        return None
    if post.due_at > at:  # the slot moved while the post waited in the batch
        _to(post, PLANNED)
        return None
    target = post.target
    if not target.is_enabled:
        _fail(post, at, f"target {target.name} is disabled; it is tried again every minute while the post is valid")
        post.retry_at = at + timedelta(minutes=1)
        return None
    adapter = adapter_for(target.kind)
    parent = session.get(Post, post.parent_id, populate_existing=True) if post.parent_id else None
    if post.action in (CORRECT, WITHDRAW):
        reason = _follow_up_blocked(session, post, parent)
        if reason == "wait":
            _to(post, PLANNED)
            post.due_at = at + timedelta(seconds=1)
            return None
        if reason:
            _to(post, REVOKED)
            post.last_error = reason
            return None
    if _dedup_forgotten(session, post, adapter, at):
        _to(post, UNKNOWN)
        post.last_error = (
            f"an earlier attempt's outcome is unknown and {target.kind} forgets idempotency keys after "
            f"{adapter.dedup_window / 60:g} minutes: a person decides (retry or mark published)"
        )
        return None
    rendered = None
    if post.action != WITHDRAW:
        try:
            rendered = render_post(post, at)
        except PromoNotTrue as e:
            _expire(post, at, f"its text would be false now: {e}")
            return None
        except ValueError as e:  # TooLong, BadTemplate: the same again would fail the same way
            _fail(post, at, f"could not render the promo: {e}")
            post.retry_at = None
            return None
        post.text = rendered.text
    return adapter, parent, rendered


def _synchronous(session: Session) -> None:
    """Commit this transaction durably even where the publisher's connections commit asynchronously.

    Only the writes that stop a post from going out twice need it: the attempt written before
    a call. Losing an outcome in a database crash brings back the open attempt, which lease
    recovery reads as "may have gone out": as honest, without an fsync per post.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO on"))


def start_attempt(session: Session, prepared: Prepared, worker: str, cfg: Settings) -> bool:
    """Write the attempt right before the call and renew the lease; False if the post left our hands."""
    at = now()
    try:
        _synchronous(session)
        attempts = session.scalar(
            update(Post)
            .where(Post.id == prepared.post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
            .values(attempts=Post.attempts + 1, lease_until=at + cfg.lease, updated_at=at)
            .returning(Post.attempts)
            .execution_options(synchronize_session=False)
        )
        if attempts is None:
            session.rollback()
            return False
        prepared.attempt_id = session.scalar(
            insert(PostAttempt).values(post_id=prepared.post_id, started_at=at, worker=worker).returning(PostAttempt.id)
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    prepared.attempts, prepared.lease_until = attempts, at + cfg.lease
    return True


def _renew(session: Session, prepared: Prepared, worker: str, cfg: Settings) -> bool:
    """Make sure the lease outlasts the call: renew it if it would not; False if it is lost."""
    at = now()
    if prepared.lease_until - at > timedelta(seconds=2 * cfg.timeout):
        return True
    try:
        renewed = session.execute(
            update(Post)
            .where(Post.id == prepared.post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
            .values(lease_until=at + cfg.lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    except Exception:
        session.rollback()
        raise
    prepared.lease_until = at + cfg.lease
    return bool(renewed)


def prepare(session: Session, post_id: int, worker: str, cfg: Settings) -> Prepared | None:
    """Prepare one claimed post, its attempt written: what happens right before its call."""
    batch = prepare_batch(session, [post_id], worker, cfg)
    if not batch:
        return None
    prepared = batch[0]
    if prepared.attempt_id is None and not start_attempt(session, prepared, worker, cfg):
        return None
    return prepared


def _adapter(prepared: Prepared):
    return adapter_for(prepared.delivery.target.kind)


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
    elif not _renew(session, prepared, worker, cfg):
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
    try:
        current = select(Post.id, Post.status, Post.claimed_by, Post.slot_id).where(Post.id.in_(ids))
        if session.get_bind().dialect.name == "postgresql":
            current = current.with_for_update()
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


def publish_one(session: Session, post_id: int, worker: str, cfg: Settings) -> bool:
    """Prepare, send and record one claimed post."""
    prepared = prepare(session, post_id, worker, cfg)
    return prepared is not None and deliver(session, prepared, worker, cfg)


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


def _follow_up_blocked(session: Session, post: Post, parent: Post | None) -> str | None:
    """Why a correction or withdrawal cannot go now: "wait" for a sibling in flight, else a reason."""
    if parent is None or parent.status not in OUT_THERE:
        status = parent.status if parent is not None else "gone"
        return f"the post it acts on is {status}, not out there"
    busy = session.scalar(
        select(func.count(Post.id)).where(Post.parent_id == parent.id, Post.id != post.id, Post.status == PUBLISHING)
    )
    return "wait" if busy else None


def _dedup_forgotten(session: Session, post: Post, adapter, at: datetime) -> bool:
    """Whether a retry after an unknown outcome would come after the target forgot the key."""
    window = getattr(adapter, "dedup_window", None)
    # Only a new post needs the key remembered (an edit or a delete repeats harmlessly), and
    # only automatic retries wait on a retry_at: a person's retry clears it and takes the risk.
    if not window or post.action != PUBLISH or not post.attempts or post.retry_at is None:
        return False
    last = session.scalar(
        select(PostAttempt).where(PostAttempt.post_id == post.id).order_by(PostAttempt.id.desc()).limit(1)
    )
    return last is not None and last.outcome == UNKNOWN and at - last.started_at > timedelta(seconds=window)


def _to(post: Post, status: str) -> None:
    post.status = status
    post.lease_until = None


def _fail(post: Post, at: datetime, error: str) -> None:
    _to(post, FAILED)
    post.last_error = error


def _expire(post: Post, at: datetime, why: str) -> None:
    _to(post, EXPIRED)
    post.retry_at = None
    post.last_error = f"{why} (valid until {post.valid_until.isoformat()})"


def _attempt_text(outcome: Outcome) -> str | None:
    parts = [p for p in (outcome.error, outcome.response) if p]
    return "\n".join(parts) if parts else None


# Recovery and expiry


def _lock(session: Session, post_id: int) -> Post | None:
    """The post, re-read, with its row locked on PostgreSQL until the commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Post.id).where(Post.id == post_id).with_for_update())
    return session.get(Post, post_id, populate_existing=True)


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
        try:
            post = _lock(session, post_id)
            if post is None or post.status != PUBLISHING or post.lease_until is None or post.lease_until >= at:
                session.rollback()
                continue
            worker = post.claimed_by or "a scheduler"
            open_attempts = session.scalars(
                select(PostAttempt).where(PostAttempt.post_id == post.id, PostAttempt.outcome.is_(None))
            ).all()
            if not open_attempts:
                _to(post, PLANNED)
                post.claimed_by = None
                post.last_error = f"claimed by {worker}, which stopped before sending; claimed again"
            else:
                for attempt in open_attempts:
                    attempt.finished_at, attempt.outcome = at, UNKNOWN
                    attempt.response = f"{worker} stopped during the call; no answer was recorded"
                adapter = adapter_for(post.target.kind)
                if adapter.deduplicates(post.action):
                    _fail(post, at, f"{worker} stopped during the call; sent again: {post.target.kind} deduplicates")
                    post.retry_at = at
                else:
                    _to(post, UNKNOWN)
                    post.last_error = (
                        f"{worker} stopped during the call to {post.target.name}; the post may have gone out: "
                        "a person decides (retry or mark published)"
                    )
            session.commit()
            judged += 1
        except Exception:
            session.rollback()
            raise
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


# The tick


class Publisher:
    """Sends the claimed posts of one scheduler process, a few at a time.

    On PostgreSQL it has an engine of its own: a pool as large as its threads (so no thread
    opens a connection per post) and asynchronous commit by default, with the writes that keep
    a post from going out twice (the claim's attempt, written before a call) committed
    synchronously.
    """

    def __init__(self, app: Flask, worker: str):
        self.app = app
        self.worker = worker
        self.cfg = Settings.from_config(app.config)
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="publish")
        with app.app_context():
            shared = db.engine
        self._own_engine = shared.dialect.name == "postgresql"
        engine = (
            create_engine(
                shared.url,
                pool_size=self.cfg.concurrency + 2,
                max_overflow=2,
                pool_pre_ping=True,
                connect_args={"options": "-c synchronous_commit=off"},
            )
            if self._own_engine
            else shared
        )
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)

    def run(self, until: datetime | None = None, beat: Callable[[], None] | None = None) -> int:
        """Claim and send what is due; until ``until``, also wait for what falls due before it.

        :param beat: called every few seconds while a long backlog is being sent, so the
            heartbeat does not fall silent while the scheduler works.
        """
        sent = 0
        last_beat = now()
        with self.sessions() as session:
            while not self.stopping.is_set():
                # Large enough to keep the threads busy between two round trips to the database;
                # a post whose turn comes too late for its lease is released, not sent.
                limit = min(self.cfg.batch, self.cfg.concurrency * 8)
                ids = claim_due(session, self.worker, limit, self.cfg.lease)
                if ids:
                    sent += self._send_all(session, ids)
                    if beat is not None and now() - last_beat > BEAT_EVERY:
                        beat()
                        last_beat = now()
                    continue
                if until is None or now() >= until:
                    break
                upcoming = next_due_at(session)
                if upcoming is None or upcoming >= until:
                    break  # nothing falls due before the next tick, which looks again
                # Sleep until the next post falls due, so it goes out on time rather than at a tick.
                if self.stopping.wait(max(0.0, (upcoming - now()).total_seconds())):
                    break
        return sent

    def _send_all(self, session: Session, ids: list[int]) -> int:
        """Prepare a claimed batch, make its calls on the thread pool, record the outcomes."""
        why = "the scheduler is stopping"
        if self.stopping.is_set():
            for post_id in ids:
                release(session, post_id, self.worker, why)
            return 0
        batch = prepare_batch(session, ids, self.worker, self.cfg)
        # Calls to targets that deduplicate go out together and are recorded together; where
        # a repeat would show, each call is bracketed by its own attempt and record; the web
        # feed's "call" is a write in the transaction that records it.
        together = [p for p in batch if p.deduplicates and not _adapter(p).local]
        alone = [p for p in batch if not p.deduplicates and not _adapter(p).local]
        local = [p for p in batch if _adapter(p).local]
        try:
            calls = [self._pool.submit(self._call, p) for p in together]
            singles = [self._pool.submit(self._deliver, p) for p in alone]
        except RuntimeError:  # the pool closed under us: we are stopping
            for prepared in batch:
                release(session, prepared.post_id, self.worker, why, prepared.attempt_id)
            return 0
        sent = sum(1 for p in local if self._deliver_here(session, p))
        # Outcomes are recorded a few at a time as the calls end, so a crash leaves only those
        # few answers unrecorded (to be sent again under the same key).
        which = dict(zip(calls, together, strict=True))
        done: list[tuple[Prepared, Outcome]] = []
        for future in as_completed(calls):
            prepared, outcome = which[future], future.result()
            if outcome is None:  # not called: stopping, or the lease would not outlast the call
                release(session, prepared.post_id, self.worker, why, prepared.attempt_id)
                continue
            done.append((prepared, outcome))
            if len(done) >= RECORD_EVERY:
                sent += record_batch(session, done, self.worker, self.cfg)
                done = []
        sent += record_batch(session, done, self.worker, self.cfg)
        return sent + sum(1 for f in singles if f.result())

    def _call(self, prepared: Prepared) -> Outcome | None:
        """Make one call on a pool thread (no database); None if it must not be made now."""
        if self.stopping.is_set() or prepared.lease_until - now() < timedelta(seconds=self.cfg.timeout + 1):
            return None
        return send(prepared)

    def _deliver(self, prepared: Prepared) -> bool:
        """Attempt, call and record one post on a pool thread, with a session of its own."""
        with self.sessions() as session:
            try:
                if self.stopping.is_set():
                    release(session, prepared.post_id, self.worker, "the scheduler is stopping", prepared.attempt_id)
                    return False
                return deliver(session, prepared, self.worker, self.cfg)
            except Exception:
                # The post keeps its lease; recovery judges it when the lease runs out.
                log.exception("publishing post %s failed", prepared.post_id)
                return False

    def _deliver_here(self, session: Session, prepared: Prepared) -> bool:
        try:
            return deliver(session, prepared, self.worker, self.cfg)
        except Exception:
            log.exception("publishing post %s failed", prepared.post_id)
            return False

    def stop(self) -> None:
        """Stop claiming; posts claimed and not yet started are released, calls under way finish."""
        self.stopping.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._own_engine:
            self.engine.dispose()
