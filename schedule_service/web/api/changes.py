"""The change feed (SPEC §10): every change to channels, programmes and slots, oldest first, by cursor.

A consumer asks with the last cursor it got and sees every change once, in commit order
(models/change.py says why that holds while many writers commit at once). ``data`` is the
entity as its own API shows it when the feed is read (so after this change, and after any later
one the consumer is about to get), null once it is deleted; :func:`data_of` is the one place
that makes it. A poll with nothing new costs one indexed query and no serialisation.
"""

import hashlib
import json
from collections import defaultdict
from typing import Any

from flask import Response, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.http import quote_etag

from schedule_service import listings
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.embargo import public_programme_alone
from schedule_service.models import Channel, Edition, Programme, Slot
from schedule_service.models.change import CANCEL, CREATE, DELETE, UPDATE, Change
from schedule_service.web.api.channels import ChannelSchema
from schedule_service.web.api.common import DEFAULT_LIMIT, MAX_LIMIT, Blueprint
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.api.programmes import ProgrammeSchema
from schedule_service.web.api.slot_out import SlotOut
from schedule_service.web.errors import problem

blp = Blueprint("changes", __name__, url_prefix="/api/v1/changes", description="The change feed")

#: Each entity the feed names, with its model and the schema its own API shows it by.
#: Editions: add ``"edition": (Edition, EditionSchema)`` (and a line in models/change.TRACKED).
SHOWN: dict[str, tuple[type, type[Schema]]] = {
    "channel": (Channel, ChannelSchema),
    "programme": (Programme, ProgrammeSchema),
    "slot": (Slot, SlotOut),
    "edition": (Edition, ChannelSchema),
}
#: Cursors are PostgreSQL bigints.
CURSOR_RANGE = validate.Range(min=0, max=2**63 - 1)


class ChangeArgs(Schema):
    since = fields.Integer(
        load_default=None,
        validate=CURSOR_RANGE,
        metadata={"description": "the last cursor already seen (from an item or `next`); none: from the beginning"},
    )
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class ChangeOut(Schema):
    cursor = fields.Integer(metadata={"description": "this change's place in commit order; ask again with it"})
    at = fields.DateTime(metadata={"description": "when the change was committed (RFC 3339, UTC)"})
    entity = fields.String(validate=validate.OneOf(list(SHOWN)))
    id = fields.Integer(metadata={"description": "the entity's id (a channel's too, not its slug, which may change)"})
    action = fields.String(validate=validate.OneOf([CREATE, UPDATE, CANCEL, DELETE]))
    data = fields.Dict(
        allow_none=True,
        metadata={
            "description": "the entity as its own API (GET /api/v1/channels/{slug}, /programmes/{id}, /slots/{id}) "
            "shows it now, after this change and any later one; null once it is deleted"
        },
    )


ChangePage = Schema.from_dict(
    {
        "items": fields.List(fields.Nested(ChangeOut)),
        "next": fields.String(
            metadata={"description": "where to ask next: the last cursor given, or the same `since` if nothing is new"}
        ),
    },
    name="ChangePage",
)


def data_of(entity: str, ids: set[int]) -> dict[int, dict[str, Any]]:
    """The entities of one kind as their own API shows them to the public, by id; deleted ones are missing.

    The one place ``data`` is made: an embargoed programme is its stand-in here (SPEC §8b), and
    an edition is what ``GET /api/v1/channels/{edition}`` answers.
    """
    model, schema = SHOWN[entity]
    query = select(model).where(model.id.in_(ids))
    if model is Channel:
        query = query.options(selectinload(Channel.editions))
    found = db.session.scalars(query).unique().all()
    if entity == "edition":
        return {
            e.id: schema().dump(listings.EditionChannel.of(e, db.session.get(Channel, e.channel_id))) for e in found
        }
    if entity == "programme":
        at = now()
        return {p.id: schema().dump(public_programme_alone(db.session, p, at)) for p in found}
    return {obj.id: schema().dump(obj) for obj in found}


@blp.route("")
class Changes(MethodView):
    @blp.arguments(ChangeArgs, location="query", error_status_code=400)
    @blp.response(200, ChangePage, headers={"ETag": {"schema": {"type": "string"}}})
    @blp.alt_response(304, description="nothing changed since the ETag sent in If-None-Match")
    @blp.alt_response(400, response="DEFAULT_ERROR", description="a cursor that is not one of this feed's")
    def get(self, args):
        """Changes to channels, programmes and slots after the cursor `since`, oldest first, in commit order.

        Ask again with `next` (the last cursor): every change comes once, none committed later
        ever comes behind a cursor already given. `ETag` and `If-None-Match` make a poll with
        nothing new a 304.
        """
        since, limit = args["since"] or 0, args["limit"]
        top = db.session.scalar(select(func.max(Change.seq))) or 0
        if since > top:
            raise problem(
                400,
                f"cursor {since} is not one this feed gave out; ask without since to start again",
                {"since": f"at most {top}"},
            )
        if since == top:  # nothing new: no rows to read, nothing to serialise
            return _answer({"items": [], "next": _next(since, limit)})
        rows = db.session.execute(
            select(Change.seq, Change.at, Change.entity, Change.entity_id, Change.action)
            .where(Change.seq > since)
            .order_by(Change.seq)
            .limit(limit)
        ).all()
        wanted: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            wanted[row.entity].add(row.entity_id)
        shown = {entity: data_of(entity, ids) for entity, ids in wanted.items() if entity in SHOWN}
        items = [
            {
                "cursor": row.seq,
                "at": rfc3339_utc(row.at),
                "entity": row.entity,
                "id": row.entity_id,
                "action": row.action,
                "data": shown.get(row.entity, {}).get(row.entity_id),
            }
            for row in rows
        ]
        return _answer({"items": items, "next": _next(rows[-1].seq if rows else since, limit)})


def _next(cursor: int, limit: int) -> str:
    extra = {"limit": limit} if "limit" in request.args else {}
    return url_for("changes.Changes", since=cursor, _external=True, **extra)


def _answer(body: dict[str, Any]) -> Response:
    """The body with an ETag of its bytes; a 304 when the client has them already."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    etag = hashlib.sha256(payload).hexdigest()[:32]
    # Stored by caches but asked again each time: a feed's point is what is new.
    headers = {"ETag": quote_etag(etag), "Cache-Control": "no-cache"}
    if request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag:
        return Response(status=304, headers=headers)
    return Response(payload, 200, headers, mimetype="application/json")
