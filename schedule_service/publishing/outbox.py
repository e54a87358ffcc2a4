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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Post, PostAttempt
from schedule_service.models.promo import (
    CORRECT,
    CORRECTED,
    EXPIRED,
    FAILED,
    HELD,
    PLANNED,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
    WITHDRAW,
    WITHDRAWN,
)
from schedule_service.publishing.targets.base import Delivery, Outcome, adapter_for

log = logging.getLogger(__name__)

#: While sending a backlog, the heartbeat is renewed this often.
BEAT_EVERY = timedelta(seconds=5)
#: Post states a follow-up (correction, withdrawal) may act on: the post is out there.
OUT_THERE = (PUBLISHED, CORRECTED)


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

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(
            lease=timedelta(seconds=float(config.get("PUBLISH_LEASE_SECONDS", 60))),
            batch=int(config.get("PUBLISH_BATCH", 200)),
            timeout=float(config.get("TARGET_TIMEOUT_SECONDS", 10)),
            concurrency=int(config.get("PUBLISH_CONCURRENCY", 8)),
            retry_base=float(config.get("PUBLISH_RETRY_BASE_SECONDS", 5)),
            retry_cap=float(config.get("PUBLISH_RETRY_CAP_SECONDS", 900)),
            max_attempts=int(config.get("PUBLISH_MAX_ATTEMPTS", 8)),
        )


def settings() -> Settings:
    return Settings.from_config(current_app.config)


# 1. Claim


def claimable(at: datetime):
    """Posts that may be claimed at ``at``: due, still valid, planned or due for a retry."""
    return and_(
        Post.due_at <= at,
        Post.valid_until > at,
        or_(Post.status == PLANNED, and_(Post.status == FAILED, Post.retry_at <= at)),
    )


def claim_due(session: Session, worker: str, limit: int, lease: timedelta) -> list[int]:
    """Claim up to ``limit`` due posts for ``worker``, oldest first; commit; return their ids."""
    at = now()
    picked = select(Post.id).where(claimable(at)).order_by(Post.due_at, Post.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    claim = (
        update(Post)
        .where(Post.id.in_(picked.scalar_subquery()), Post.status.in_((PLANNED, FAILED)))
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


def release(session: Session, post_id: int, worker: str, why: str) -> None:
    """Give back a claimed post that was not sent, for any scheduler to claim again."""
    session.execute(
        update(Post)
        .where(Post.id == post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
        .values(status=PLANNED, lease_until=None, claimed_by=None, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.info("post %s released by %s: %s", post_id, worker, why)


# 2–4. Prepare, send, record


@dataclass
class Prepared:
    post_id: int
    attempt_id: int
    delivery: Delivery
    #: The slot's version the text was rendered from: a change after it needs a follow-up.
    slot_version: int


def _lock(session: Session, post_id: int) -> Post | None:
    """The post, re-read, with its row locked on PostgreSQL until the commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Post.id).where(Post.id == post_id).with_for_update())
    return session.get(Post, post_id, populate_existing=True)


def prepare(session: Session, post_id: int, worker: str, cfg: Settings) -> Prepared | None:
    """Check the claim still holds and the post is still true; render; write the open attempt.

    Returns None (having committed what happened instead) when the post is not to be sent.
    """
    from schedule_service.promos.render import PromoNotTrue, render_post

    try:
        post = _lock(session, post_id)
        if post is None or post.status != PUBLISHING or post.claimed_by != worker:
            session.rollback()
            return None  # the lease ran out and another scheduler has it, or a person moved it
        at = now()
        if post.valid_until <= at:
            _expire(post, at, "its moment passed before it could be sent; it is never sent late")
            session.commit()
            return None
        if post.due_at > at:  # the slot moved while the post waited in the batch
            _to(post, PLANNED)
            session.commit()
            return None
        target = post.target
        if not target.is_enabled:
            _fail(post, at, f"target {target.name} is disabled; it is tried again every minute while the post is valid")
            post.retry_at = at + timedelta(minutes=1)
            session.commit()
            return None
        adapter = adapter_for(target.kind)
        parent = post.parent
        if post.action in (CORRECT, WITHDRAW):
            reason = _follow_up_blocked(session, post, parent)
            if reason == "wait":
                _to(post, PLANNED)
                post.due_at = at + timedelta(seconds=1)
                session.commit()
                return None
            if reason:
                _to(post, REVOKED)
                post.last_error = reason
                session.commit()
                return None
        if _dedup_forgotten(session, post, adapter, at):
            _to(post, UNKNOWN)
            post.last_error = (
                f"an earlier attempt's outcome is unknown and {target.kind} forgets idempotency keys after "
                f"{adapter.dedup_window / 60:g} minutes: a person decides (retry or mark published)"
            )
            session.commit()
            return None
        rendered = None
        if post.action != WITHDRAW:
            try:
                rendered = render_post(post, at)
            except PromoNotTrue as e:
                _expire(post, at, f"its text would be false now: {e}")
                session.commit()
                return None
            except ValueError as e:  # TooLong, BadTemplate: the same again would fail the same way
                _fail(post, at, f"could not render the promo: {e}")
                post.retry_at = None
                session.commit()
                return None
            post.text = rendered.text
        attempt = PostAttempt(post_id=post.id, started_at=at, worker=worker)
        session.add(attempt)
        post.attempts += 1
        post.lease_until = at + cfg.lease
        version = post.slot.version
        session.commit()
    except Exception:
        session.rollback()
        raise
    delivery = Delivery(
        post=post, target=target, rendered=rendered, parent=parent, timeout=cfg.timeout, session=session
    )
    return Prepared(post.id, attempt.id, delivery, version)


def send(prepared: Prepared) -> Outcome:
    """Make the call; an adapter that breaks is an unknown outcome (it may have sent)."""
    delivery = prepared.delivery
    adapter = adapter_for(delivery.target.kind)
    method = {CORRECT: adapter.correct, WITHDRAW: adapter.withdraw}.get(delivery.action, adapter.publish)
    try:
        return method(delivery)
    except Exception as e:
        delivery.session.rollback()
        log.exception("target %s broke on post %s", delivery.target.name, prepared.post_id)
        return Outcome.unknown(f"the {delivery.target.kind} adapter broke: {type(e).__name__}: {e}")


def record(session: Session, prepared: Prepared, outcome: Outcome, worker: str, cfg: Settings) -> Post | None:
    """Complete the attempt and move the post by its outcome; commit."""
    try:
        at = now()
        post = _lock(session, prepared.post_id)
        attempt = session.get(PostAttempt, prepared.attempt_id)
        if post is None or attempt is None:
            session.rollback()
            return None
        attempt.finished_at, attempt.outcome = at, outcome.kind
        attempt.response = _attempt_text(outcome)
        ours = post.status == PUBLISHING and post.claimed_by == worker
        # Lease recovery may have judged the post while this call ran long; a clear answer
        # still beats its "unknown".
        if not ours and not (post.status == UNKNOWN and outcome.kind == PUBLISHED):
            log.warning("post %s: outcome %s arrived after it left %s's hands", post.id, outcome.kind, worker)
            session.commit()
            return post
        adapter = adapter_for(post.target.kind)
        if outcome.kind == PUBLISHED:
            _published(session, post, outcome, at, prepared.slot_version)
        elif outcome.kind == UNKNOWN and not adapter.deduplicates(post.action):
            _to(post, UNKNOWN)
            post.last_error = f"{outcome.error}; it may have gone out: a person decides (retry or mark published)"
        else:
            error = outcome.error or "failed"
            retryable = outcome.retryable
            if outcome.kind == UNKNOWN:
                error += f"; sent again later: {post.target.kind} deduplicates"
            _fail(post, at, error)
            if retryable and post.attempts < cfg.max_attempts:
                delay = backoff(post.attempts, cfg, outcome.retry_after)
                window = getattr(adapter, "dedup_window", None)
                if outcome.kind == UNKNOWN and window:
                    delay = min(delay, window / 4)  # retry while the target still knows the key
                post.retry_at = at + timedelta(seconds=delay)
            else:
                post.retry_at = None
        session.commit()
        return post
    except Exception:
        session.rollback()
        raise


def backoff(attempts: int, cfg: Settings, retry_after: float | None = None) -> float:
    """Seconds before the next try: base · 2^(attempts−1), capped; the target's Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), cfg.retry_cap)
    return min(cfg.retry_base * 2 ** max(attempts - 1, 0), cfg.retry_cap)


def publish_one(session: Session, post_id: int, worker: str, cfg: Settings) -> Post | None:
    """Prepare, send and record one claimed post."""
    prepared = prepare(session, post_id, worker, cfg)
    if prepared is None:
        return None
    outcome = send(prepared)
    return record(session, prepared, outcome, worker, cfg)


def _published(session: Session, post: Post, outcome: Outcome, at: datetime, slot_version: int) -> None:
    from schedule_service.publishing import corrections

    _to(post, PUBLISHED)
    post.published_at = at
    post.last_error = None
    post.retry_at = None
    post.external_id = outcome.external_id or post.external_id
    post.external_url = outcome.external_url or post.external_url
    parent = post.parent
    if parent is not None and post.action == CORRECT and parent.status in OUT_THERE:
        parent.status = CORRECTED
        parent.text = post.text
    elif parent is not None and post.action == WITHDRAW and parent.status in OUT_THERE:
        parent.status = WITHDRAWN
    session.flush()
    # The slot changed while this text was on its way: what went out needs its own follow-up.
    if post.action != WITHDRAW and post.slot.version != slot_version:
        session.refresh(post.slot)
        corrections.follow_up(session, post.parent if post.action == CORRECT else post, post.slot)


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
    if not window or not post.attempts:
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
    """Sends the claimed posts of one scheduler process, a few at a time."""

    def __init__(self, app: Flask, worker: str):
        self.app = app
        self.worker = worker
        self.cfg = Settings.from_config(app.config)
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="publish")

    def run(self, until: datetime | None = None, beat: Callable[[], None] | None = None) -> int:
        """Claim and send what is due; until ``until``, also wait for what falls due before it.

        :param beat: called every few seconds while a long backlog is being sent, so the
            heartbeat does not fall silent while the scheduler works.
        """
        sent = 0
        last_beat = now()
        while not self.stopping.is_set():
            ids = claim_due(db.session, self.worker, min(self.cfg.batch, self.cfg.concurrency * 4), self.cfg.lease)
            if ids:
                sent += self._send_all(ids)
                if beat is not None and now() - last_beat > BEAT_EVERY:
                    beat()
                    last_beat = now()
                continue
            if until is None or now() >= until:
                break
            upcoming = next_due_at(db.session)
            if upcoming is None or upcoming >= until:
                break  # nothing falls due before the next tick, which looks again
            # Sleep until the next post falls due, so it goes out on time rather than at a tick.
            if self.stopping.wait(max(0.0, (upcoming - now()).total_seconds())):
                break
        return sent

    def _send_all(self, ids: list[int]) -> int:
        try:
            results = list(self._pool.map(self._one, ids))
        except RuntimeError:  # the pool closed under us: we are stopping
            for post_id in ids:
                release(db.session, post_id, self.worker, "the scheduler is stopping")
            return 0
        return sum(1 for r in results if r)

    def _one(self, post_id: int) -> bool:
        with self.app.app_context():
            try:
                if self.stopping.is_set():
                    release(db.session, post_id, self.worker, "the scheduler is stopping")
                    return False
                return publish_one(db.session, post_id, self.worker, self.cfg) is not None
            except Exception:
                # The post keeps its lease; recovery judges it when the lease runs out.
                log.exception("publishing post %s failed", post_id)
                return False
            finally:
                db.session.remove()

    def stop(self) -> None:
        """Stop claiming; posts claimed and not yet started are released, calls under way finish."""
        self.stopping.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
