"""Claiming due posts under a lease and making them ready to send (steps 1–2 of :mod:`.outbox`).

Each function is its own short transaction and commits it.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.models import Post, PostAttempt
from schedule_service.models.promo import (
    CORRECT,
    FAILED,
    PLANNED,
    PUBLISH,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
    WITHDRAW,
    PostStatus,
)
from schedule_service.publishing.holds import held_back, not_held
from schedule_service.publishing.post_moves import expire_post, fail_post, move_post
from schedule_service.publishing.post_picture import caption_limit, picture_for
from schedule_service.publishing.row_locks import lock_posts, locking
from schedule_service.publishing.settings import Settings
from schedule_service.publishing.targets.base import Delivery, PostPicture, adapter_for

log = logging.getLogger(__name__)

#: Post states a follow-up (correction, withdrawal) may act on: the post is out there.
OUT_THERE = PostStatus.OUT_THERE


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
        not_held(at),
    )


def claim_due(session: Session, worker: str, limit: int, lease: timedelta) -> list[int]:
    """Claim up to ``limit`` due posts for ``worker``, oldest first; commit; return their ids."""
    at = now()
    picked = select(Post.id).where(claimable(at)).order_by(Post.due_at, Post.id).limit(limit)
    picked = locking(session, picked, skip_locked=True)
    claim = (
        update(Post)
        .where(Post.id.in_(picked.scalar_subquery()), Post.status.in_(PostStatus.CLAIMABLE))
        .values(status=PUBLISHING, claimed_by=worker, lease_until=at + lease, updated_at=at)
        .returning(Post.id)
        .execution_options(synchronize_session=False)
    )
    with session.begin():
        ids = list(session.scalars(claim))
    return sorted(ids)


def next_due_at(session: Session) -> datetime | None:
    """The earliest moment a planned post (or a retry) falls due, for the tick to wait for."""
    at = now()
    # Held posts (paused, embargoed) are not waited for: the tick that follows the hold's end takes them.
    planned = select(func.min(Post.due_at)).where(Post.status == PLANNED, Post.valid_until > at, not_held(at))
    retry = select(func.min(Post.retry_at)).where(Post.status == FAILED, Post.valid_until > at, not_held(at))
    moments = [session.scalar(planned), session.scalar(retry)]
    session.commit()
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def release(session: Session, post_id: int, worker: str, why: str, attempt_id: int | None = None) -> None:
    """Give back a claimed post that was not sent, for any scheduler to claim again.

    An attempt written ahead of a call that never started is taken back with it: nothing
    was tried.
    """
    with session.begin():
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
    log.info("post %s released by %s: %s", post_id, worker, why)


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
    PostgreSQL) only while it runs. Pictures are fetched before it, outside any transaction.
    """
    pictures = _pictures(session, ids, cfg)
    with session.begin():
        at = now()
        _synchronous(session)
        lock_posts(session, ids)
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
            checked = _check(session, post, worker, at, pictures.get(post.id))
            if checked is not None:
                ready.append((post, *checked))
        out = []
        for post, adapter, parent, rendered, parent_has_picture in ready:
            dedup = adapter.deduplicates(post.action)
            post.lease_until = at + cfg.lease
            attempt = None
            delivery = Delivery(
                post,
                post.target,
                rendered,
                parent,
                cfg.timeout,
                session,
                cfg.allow_private,
                picture=pictures.get(post.id) if rendered is not None else None,
                parent_has_picture=parent_has_picture,
            )
            if dedup:  # a crash from here on is harmless: the post is simply sent again
                attempt = PostAttempt(post_id=post.id, started_at=at, worker=worker, **what_was_sent(delivery))
                session.add(attempt)
                post.attempts += 1
            out.append((Prepared(post.id, delivery, post.slot.version, dedup, post.lease_until), attempt))
        session.flush()
        for prepared, attempt in out:
            prepared.attempt_id = attempt.id if attempt is not None else None
            prepared.attempts = prepared.delivery.post.attempts
    return [prepared for prepared, _ in out]


def _pictures(session: Session, ids: list[int], cfg: Settings) -> dict[int, PostPicture | None]:
    """The picture of each claimed post that says something to a network, by post id.

    Fetched with no transaction open (a SQLite writer's lock or a PostgreSQL snapshot must not
    wait on a picture server), once per programme and language, and only while the claim's
    lease has time to spare: a post whose picture comes too late goes without it.
    """
    with session.begin():
        posts = session.scalars(select(Post).where(Post.id.in_(ids), Post.action != WITHDRAW)).unique().all()
        wanted = [(p.id, (p.slot.programme_id, p.lang), p) for p in posts if not adapter_for(p.target.kind).local]
    found: dict[int, PostPicture | None] = {}
    by_programme: dict[tuple[int, str], PostPicture | None] = {}
    deadline = time.monotonic() + cfg.lease.total_seconds() / 3  # real seconds, whatever the clock says
    for post_id, key, post in wanted:
        if key not in by_programme:
            if time.monotonic() < deadline:
                by_programme[key] = picture_for(
                    session, post, key[1], timeout=cfg.timeout, allow_private=cfg.allow_private
                )
            else:
                log.warning("post %s goes without its picture: no time left under its claim", post_id)
                by_programme[key] = None
            session.commit()  # end what a provider read (if anything) before the next fetch
        found[post_id] = by_programme[key]
    return found


def _check(session: Session, post: Post, worker: str, at: datetime, picture: PostPicture | None = None):
    """(adapter, parent, rendered, parent_has_picture) for a post to send now; else move it and return None."""
    from schedule_service.promos.render import PromoNotTrue, render_post

    if post.status != PUBLISHING or post.claimed_by != worker:
        return None  # the lease ran out and another scheduler has it, or a person moved it
    held = held_back(session, post.slot_id, at)
    if held:  # paused or embargoed since the claim: given back, to go out when the hold ends
        _give_back(post)
        log.info("post %s released by %s: %s", post.id, worker, held)
        return None
    if post.valid_until <= at:
        expire_post(post, at, "its moment passed before it could be sent; it is never sent late")
        return None
    if post.due_at > at:  # the slot moved while the post waited in the batch
        move_post(post, PLANNED)
        return None
    target = post.target
    if not target.is_enabled:
        fail_post(post, at, f"target {target.name} is disabled; it is tried again every minute while the post is valid")
        post.retry_at = at + timedelta(minutes=1)
        return None
    adapter = adapter_for(target.kind)
    parent = session.get(Post, post.parent_id, populate_existing=True) if post.parent_id else None
    if post.action in (CORRECT, WITHDRAW):
        reason = _follow_up_blocked(session, post, parent)
        if reason == "wait":
            move_post(post, PLANNED)
            post.due_at = at + timedelta(seconds=1)
            return None
        if reason:
            move_post(post, REVOKED)
            post.last_error = reason
            return None
    if _dedup_forgotten(session, post, adapter, at):
        move_post(post, UNKNOWN)
        post.last_error = (
            f"an earlier attempt's outcome is unknown and {target.kind} forgets idempotency keys after "
            f"{adapter.dedup_window / 60:g} minutes: a person decides (retry or mark published)"
        )
        return None
    parent_has_picture = post.action == CORRECT and _went_with_picture(session, parent)
    rendered = None
    if post.action != WITHDRAW:
        # Text beside a picture may have a shorter limit (Telegram's captions): the summary shortens first.
        captioned = parent_has_picture if post.action == CORRECT else picture is not None
        limit = caption_limit(target) if captioned else None
        try:
            rendered = render_post(post, at, limit=limit)
        except PromoNotTrue as e:
            expire_post(post, at, f"its text would be false now: {e}")
            return None
        except ValueError as e:  # TooLong, BadTemplate: the same again would fail the same way
            fail_post(post, at, f"could not render the promo: {e}")
            post.retry_at = None
            return None
        post.text = rendered.text
    return adapter, parent, rendered, parent_has_picture


def _went_with_picture(session: Session, parent: Post | None) -> bool:
    """Whether the published post went out with a picture, as the attempt that sent it recorded.

    An unknown attempt a person then marked published counts too: it is what was sent, if anything.
    """
    if parent is None:
        return False
    sent_picture = session.scalar(
        select(PostAttempt.picture_url)
        .where(PostAttempt.post_id == parent.id, PostAttempt.outcome.in_((PUBLISHED, UNKNOWN)))
        .order_by(PostAttempt.id.desc())
        .limit(1)
    )
    return sent_picture is not None


def what_was_sent(delivery: Delivery) -> dict:
    """The attempt's record of what it sends: the exact text, the picture, and the text a follow-up replaces.

    Kept on the attempt (not only on the post, whose text a correction overwrites) so the publish
    log shows what went out, not what would go out now.
    """
    # Pictures come with the targets' media (another change): a Delivery that carries one has a
    # ``picture`` (a URL, or an object with ``url``); until then there is none to record.
    picture = getattr(delivery, "picture", None)
    picture_url = getattr(picture, "url", picture) if picture is not None else None
    parent = delivery.parent
    return {
        "text": delivery.rendered.text if delivery.rendered is not None else None,
        "picture_url": picture_url if isinstance(picture_url, str) else None,
        "replaced_text": parent.text if parent is not None and delivery.action != PUBLISH else None,
    }


def _synchronous(session: Session) -> None:
    """Commit this transaction durably even where the publisher's connections commit asynchronously.

    Only the writes that stop a post from going out twice need it: the attempt written before
    a call. Losing an outcome in a database crash brings back the open attempt, which lease
    recovery reads as "may have gone out": as honest, without an fsync per post.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO on"))


def _give_back(post: Post) -> None:
    """A claimed post not sent now: planned again, for any scheduler to claim once it may go."""
    move_post(post, PLANNED)
    post.claimed_by = None


def start_attempt(session: Session, prepared: Prepared, worker: str, cfg: Settings) -> bool:
    """Write the attempt right before the call and renew the lease; False if the post left our hands.

    The last look at the kill switch and the embargo: a post held since it was prepared is
    given back instead (False).
    """
    at = now()
    with session.begin():
        _synchronous(session)
        held = held_back(session, prepared.delivery.post.slot_id, at)
        if held:
            session.execute(
                update(Post)
                .where(Post.id == prepared.post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
                .values(status=PLANNED, lease_until=None, claimed_by=None, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            log.info("post %s released by %s: %s", prepared.post_id, worker, held)
            return False
        attempts = session.scalar(
            update(Post)
            .where(Post.id == prepared.post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
            .values(attempts=Post.attempts + 1, lease_until=at + cfg.lease, updated_at=at)
            .returning(Post.attempts)
            .execution_options(synchronize_session=False)
        )
        if attempts is not None:
            prepared.attempt_id = session.scalar(
                insert(PostAttempt)
                .values(post_id=prepared.post_id, started_at=at, worker=worker, **what_was_sent(prepared.delivery))
                .returning(PostAttempt.id)
            )
    if attempts is None:  # the transaction wrote nothing: committing it is rolling it back
        return False
    prepared.attempts, prepared.lease_until = attempts, at + cfg.lease
    return True


def renew_lease(session: Session, prepared: Prepared, worker: str, cfg: Settings) -> bool:
    """Make sure the lease outlasts the call: renew it if it would not; False if it is lost."""
    at = now()
    if prepared.lease_until - at > timedelta(seconds=2 * cfg.timeout):
        return True
    with session.begin():
        renewed = session.execute(
            update(Post)
            .where(Post.id == prepared.post_id, Post.status == PUBLISHING, Post.claimed_by == worker)
            .values(lease_until=at + cfg.lease)
            .execution_options(synchronize_session=False)
        ).rowcount
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
