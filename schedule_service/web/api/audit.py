"""The audit trail, newest first: read by staff, never written through the API."""

from typing import Any

from flask import request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from schedule_service import audit
from schedule_service.auth import require
from schedule_service.db import db
from schedule_service.models import AuditEntry
from schedule_service.web.api.common import DEFAULT_LIMIT, ID_RANGE, MAX_LIMIT, Blueprint, page_schema
from schedule_service.web.api.instants import rfc3339_utc

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Who changed what, when")


class AuditArgs(Schema):
    entity = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "channel, programme, slot, plan, target, post, user or token"},
    )
    id = fields.String(
        data_key="id",
        attribute="entity_id",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the entity's id (a channel's slug, a target's name)"},
    )
    actor = fields.String(
        validate=validate.Length(min=1, max=320), metadata={"description": "an email, system or import"}
    )
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    before = fields.Integer(
        load_default=None,
        validate=ID_RANGE,
        metadata={"description": "id of the oldest entry already seen: the trail goes back in time"},
    )


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.Function(lambda e: rfc3339_utc(e.at))
    actor = fields.String()
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String()
    changes = fields.Dict(attribute="shown_changes", metadata={"description": "{field: [old, new]}"})


AuditPage = page_schema(AuditEntryOut, "AuditPage")


def trail_page(args: dict[str, Any]) -> dict[str, Any]:
    """One page of the trail, newest first, with the URL of the next (older) page."""
    query = audit.history(args.get("entity"), args.get("entity_id"))
    if args.get("actor"):
        query = query.where(AuditEntry.actor == args["actor"])
    if args.get("before") is not None:
        query = query.where(AuditEntry.id < args["before"])
    limit = args.get("limit") or DEFAULT_LIMIT
    rows = db.session.scalars(query.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = None
    if more:
        keep = {k: v for k, v in request.args.items() if k not in ("before", "limit")}
        next_url = url_for("audit.Audit", limit=limit, before=rows[-1].id, _external=True, **keep)
    return {"items": rows, "next": next_url}


@blp.route("")
class Audit(MethodView):
    @require("editor")
    @blp.arguments(AuditArgs, location="query", error_status_code=400)
    @blp.response(200, AuditPage)
    def get(self, args):
        """The change history, newest first; ?entity=slot&id=12 for one thing's."""
        return trail_page(args)
