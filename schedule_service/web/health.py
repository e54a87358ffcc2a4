"""GET /healthz: the service answers, and the scheduler's dead-man's switch."""

from datetime import timedelta

from flask import Blueprint
from sqlalchemy import func, select

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Post, SchedulerHeartbeat
from schedule_service.models.promo import FAILED, PLANNED, PUBLISHING

bp = Blueprint("health", __name__)

#: A post this late means publishing is stuck.
OVERDUE_AFTER = timedelta(minutes=2)
#: No tick for this long, with posts due, means no scheduler runs.
SILENT_AFTER = timedelta(minutes=1)


@bp.get("/healthz")
def healthz():
    at = now()
    try:
        last_tick = db.session.scalar(select(func.max(SchedulerHeartbeat.last_tick_at)))
        due = db.session.scalar(
            select(func.count(Post.id)).where(Post.status.in_((PLANNED, PUBLISHING, FAILED)), Post.due_at <= at)
        )
        overdue = db.session.scalar(
            select(func.count(Post.id)).where(Post.status.in_((PLANNED, PUBLISHING)), Post.due_at <= at - OVERDUE_AFTER)
        )
    except Exception as e:  # the database is down: say so rather than answer 500
        db.session.rollback()
        return {"status": "degraded", "detail": f"the database does not answer: {type(e).__name__}"}, 503
    silent = due > 0 and (last_tick is None or at - last_tick > SILENT_AFTER)
    status = "degraded" if overdue or silent else "ok"
    body = {
        "status": status,
        "scheduler": {
            "last_tick_at": last_tick.isoformat() if last_tick else None,
            "overdue_posts": overdue,
            "due_posts": due,
        },
    }
    return body, 503 if status == "degraded" else 200, {"Cache-Control": "no-store"}
