"""GET /healthz: the service answers, and the scheduler's dead-man's switch.

``overdue_posts`` counts posts that should have gone out more than two minutes ago and have
not: planned ones past their due time, retries past their retry time, claims whose lease ran
out (unless a paused channel or an embargo holds them: those are ``held_back.posts``, and the
paused channels are named in ``held_back.paused_channels``). The answer is 503 ``degraded`` when there is one,
or when posts are due and no scheduler has ticked for a minute, so a monitor notices a
stopped scheduler before viewers do.
``targets.failing`` names the targets with posts that failed for good (a token refused,
rights taken away), with how many.
"""

from datetime import timedelta

from flask import Blueprint
from sqlalchemy import and_, func, or_, select

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Channel, Post, SchedulerHeartbeat, Target
from schedule_service.models.promo import EXPIRED, FAILED, HELD, PLANNED, PUBLISHING, UNKNOWN, PostStatus
from schedule_service.publishing.holds import not_held

bp = Blueprint("health", __name__)

#: A post this late means publishing is stuck.
OVERDUE_AFTER = timedelta(minutes=2)
#: No tick for this long, with posts due, means no scheduler runs.
SILENT_AFTER = timedelta(minutes=1)


def _waiting_by(cutoff):
    """Unsent posts that fell due by ``cutoff``: planned, or due for a retry."""
    return or_(
        and_(Post.status == PLANNED, Post.due_at <= cutoff),
        and_(Post.status == FAILED, Post.retry_at <= cutoff),
    )


def _late_by(cutoff, at):
    """Posts that should have gone out by ``cutoff``: due, due for a retry, or claimed and not let go.

    Posts a kill switch or an embargo holds at ``at`` are not late: they wait on purpose, and
    are counted as ``held_back.posts`` instead. A claim not let go is late whatever holds it.
    """
    return or_(
        and_(_waiting_by(cutoff), not_held(at)),
        and_(Post.status == PUBLISHING, Post.lease_until <= cutoff),
    )


@bp.get("/healthz")
def healthz():
    at = now()
    try:
        last_tick = db.session.scalar(select(func.max(SchedulerHeartbeat.last_tick_at)))
        due = db.session.scalar(select(func.count(Post.id)).where(_late_by(at, at)))
        overdue = db.session.scalar(select(func.count(Post.id)).where(_late_by(at - OVERDUE_AFTER, at)))
        held = db.session.scalar(
            select(func.count(Post.id)).where(_waiting_by(at), Post.valid_until > at, ~not_held(at))
        )
        paused = db.session.scalars(
            select(Channel.slug)
            .where(
                Channel.promos_paused_at.is_not(None),
                or_(Channel.promos_paused_until.is_(None), Channel.promos_paused_until > at),
            )
            .order_by(Channel.slug)
        ).all()
        counts = dict(
            db.session.execute(
                select(Post.status, func.count(Post.id))
                .where(Post.status.in_(PostStatus.NEEDS_PERSON))
                .group_by(Post.status)
            ).all()
        )
        # A target that refused for good (a revoked token, rights taken away) fails every post.
        failing = dict(
            db.session.execute(
                select(Target.name, func.count(Post.id))
                .join(Post, Post.target_id == Target.id)
                .where(Post.status == FAILED, Post.retry_at.is_(None))
                .group_by(Target.name)
                .order_by(Target.name)
            ).all()
        )
    except Exception as e:  # the database is down: say so rather than answer 500
        db.session.rollback()
        body = {"status": "degraded", "detail": f"the database does not answer: {type(e).__name__}"}
        return body, 503, {"Cache-Control": "no-store"}
    silent = due > 0 and (last_tick is None or at - last_tick > SILENT_AFTER)
    status = "degraded" if overdue or silent else "ok"
    body = {
        "status": status,
        "scheduler": {
            "last_tick_at": last_tick.isoformat() if last_tick else None,
            "overdue_posts": overdue,
            "due_posts": due,
        },
        # Due but held back on purpose (SPEC §8b): not overdue, and not hidden either.
        "held_back": {"posts": held, "paused_channels": list(paused)},
        # Nothing fails silently: the posts a person should look at.
        "posts": {
            "held": counts.get(HELD, 0),
            "failed": counts.get(FAILED, 0),
            "unknown": counts.get(UNKNOWN, 0),
            "expired": counts.get(EXPIRED, 0),
        },
        # Targets with posts that failed and will not be tried again: a person fixes the target.
        "targets": {"failing": failing},
    }
    if silent:
        body["detail"] = f"{due} post(s) are due and no scheduler has ticked since {body['scheduler']['last_tick_at']}"
    elif overdue:
        body["detail"] = f"{overdue} post(s) are more than {OVERDUE_AFTER.seconds // 60} minutes overdue"
    return body, 503 if status == "degraded" else 200, {"Cache-Control": "no-store"}
