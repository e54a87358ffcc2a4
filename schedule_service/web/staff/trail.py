"""The audit page: every recorded change, newest first, filtered by entity, id or person."""

from flask import render_template, request
from sqlalchemy import select

from schedule_service import audit
from schedule_service.db import db
from schedule_service.models import AuditEntry
from schedule_service.web.security import MAX_ID, staff_page
from schedule_service.web.staff import bp

PAGE = 100


@bp.get("/audit", endpoint="audit")
@staff_page()
def audit_page():
    """The change history; read only, like the trail itself."""
    entity = (request.args.get("entity") or "").strip() or None
    entity_id = (request.args.get("id") or "").strip() or None
    actor = (request.args.get("actor") or "").strip() or None
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before <= MAX_ID:
        before = None  # no such entry: start from the newest
    query = audit.history(entity, entity_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if before:
        query = query.where(AuditEntry.id < before)
    rows = db.session.scalars(query.limit(PAGE + 1)).all()
    entities = db.session.scalars(select(AuditEntry.entity).distinct().order_by(AuditEntry.entity)).all()
    return render_template(
        "staff/audit.html",
        entries=rows[:PAGE],
        older=rows[PAGE - 1].id if len(rows) > PAGE else None,
        entity=entity,
        entity_id=entity_id,
        actor=actor,
        entities=entities,
    )
