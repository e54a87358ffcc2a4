"""Slots: a programme on a channel at an instant; versioned, never overlapping."""

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schedule_service import schedule
from schedule_service.auth import actor, require
from schedule_service.db import db
from schedule_service.models import Programme, Slot
from schedule_service.models.slot import CANCELLED, SCHEDULED
from schedule_service.web.api.channels import channel_or_404
from schedule_service.web.api.common import (
    ID_RANGE,
    Blueprint,
    PageArgs,
    get_or_404,
    page_schema,
    paginate,
    supported_time,
    write,
)
from schedule_service.web.api.slot_out import SlotOut
from schedule_service.web.errors import problem

blp = Blueprint("slots", __name__, url_prefix="/api/v1/slots", description="Air-time slots")


class SlotIn(Schema):
    channel = fields.String(required=True, validate=validate.Length(max=64))
    programme_id = fields.Integer(required=True, validate=ID_RANGE)
    start = fields.AwareDateTime(validate=supported_time, metadata={"description": "RFC 3339 instant with offset"})
    start_local = fields.NaiveDateTime(
        validate=supported_time, metadata={"description": "wall time in the channel's zone, no offset"}
    )
    fold = fields.Integer(validate=validate.OneOf([0, 1]), metadata={"description": "which of two repeated wall times"})
    end = fields.AwareDateTime(validate=supported_time)
    duration_minutes = fields.Integer(validate=validate.Range(min=1, max=48 * 60))
    premiere = fields.Boolean(attribute="is_premiere")
    live = fields.Boolean(attribute="is_live")
    promoted = fields.Boolean(
        attribute="is_promoted",
        metadata={"description": "promote this slot on a channel that promotes its highlights"},
    )
    status = fields.String(validate=validate.OneOf([SCHEDULED, CANCELLED]))


class SlotPatch(SlotIn):
    channel = fields.String(validate=validate.Length(max=64))
    programme_id = fields.Integer(validate=ID_RANGE)


class SlotFilter(PageArgs):
    channel = fields.String()
    programme_id = fields.Integer(validate=ID_RANGE)
    status = fields.String(validate=validate.OneOf([SCHEDULED, CANCELLED]))


SlotPage = page_schema(SlotOut, "SlotPage")


#: Why a write without If-Match is refused (RFC 6585's 428), and how to send one.
IF_MATCH_REQUIRED = (
    "Send If-Match with the slot's ETag (from GET /api/v1/slots/{id}), so no edit made meanwhile is "
    'overwritten by accident; If-Match: "*" writes whatever version is there.'
)


def expected_version(slot: Slot) -> int | None:
    """The version the writer last saw, from If-Match; None for ``*``; 428 when it sent none."""
    header = request.headers.get("If-Match")
    if not header or not header.strip():
        raise problem(428, IF_MATCH_REQUIRED)
    if header.strip() == "*":
        return None
    if slot.etag not in [tag.strip() for tag in header.split(",")]:
        # An ETag of any other version, or garbage: either way not the current one.
        return -1
    return slot.version


def _with_etag(slot: Slot):
    return slot, 200, {"ETag": slot.etag}


@blp.route("")
class Slots(MethodView):
    @blp.arguments(SlotFilter, location="query", error_status_code=400)
    @blp.response(200, SlotPage)
    def get(self, args):
        """List slots, optionally of one channel or programme."""
        query = select(Slot)
        if args.get("channel"):
            query = query.where(Slot.channel_id == channel_or_404(args["channel"]).id)
        if args.get("programme_id"):
            query = query.where(Slot.programme_id == args["programme_id"])
        if args.get("status"):
            query = query.where(Slot.status == args["status"])
        return paginate(query, Slot.id, args, "slots.Slots")

    @require("editor")
    @blp.arguments(SlotIn)
    @blp.response(201, SlotOut)
    def post(self, values):
        """Add a slot; 409 names the slots in the way, 422 explains a DST gap or fold."""
        channel = channel_or_422(values.pop("channel"))
        programme = programme_or_422(values.pop("programme_id"))
        if values.get("status") == CANCELLED:
            raise problem(422, "a new slot cannot be cancelled", {"status": "a new slot is scheduled"})
        slot = write(schedule.create_slot, channel, programme, values, actor())
        return slot, 201, {"ETag": slot.etag, "Location": f"/api/v1/slots/{slot.id}"}


@blp.route("/<int:slot_id>")
class SlotItem(MethodView):
    @blp.response(200, SlotOut)
    def get(self, slot_id):
        """One slot, with its version as ETag."""
        return _with_etag(get_or_404(Slot, slot_id, "slot"))

    @require("editor")
    @blp.arguments(SlotPatch(partial=True))
    @blp.response(200, SlotOut)
    @blp.alt_response(412, response="PRECONDITION_FAILED", description="the slot changed since its ETag")
    @blp.alt_response(428, response="PRECONDITION_REQUIRED", description="no If-Match was sent")
    def patch(self, values, slot_id):
        """Move or change a slot; send If-Match with its ETag (412 when stale, 428 without it)."""
        slot = get_or_404(Slot, slot_id, "slot")
        if "channel" in values and values.pop("channel") != slot.channel.slug:
            raise problem(422, "a slot cannot move to another channel", {"channel": "cancel it and add a new one"})
        programme = programme_or_422(values.pop("programme_id")) if "programme_id" in values else None
        version = expected_version(slot)
        slot = write(schedule.update_slot, slot, values, actor(), version, programme)
        return _with_etag(slot)

    @require("editor")
    @blp.response(200, SlotOut)
    @blp.alt_response(412, response="PRECONDITION_FAILED", description="the slot changed since its ETag")
    @blp.alt_response(428, response="PRECONDITION_REQUIRED", description="no If-Match was sent")
    def delete(self, slot_id):
        """Cancel a slot (send If-Match with its ETag): it stays, with status cancelled; its promos are revoked."""
        slot = get_or_404(Slot, slot_id, "slot")
        slot = write(schedule.cancel_slot, slot, actor(), expected_version(slot))
        return _with_etag(slot)


def channel_or_422(slug: str):
    from schedule_service.models import Channel

    channel = db.session.scalar(select(Channel).where(Channel.slug == slug))
    if channel is None:
        raise problem(422, f"there is no channel {slug!r}", {"channel": f"no channel {slug!r}"})
    return channel


def programme_or_422(programme_id: int) -> Programme:
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise problem(422, f"there is no programme {programme_id}", {"programme_id": f"no programme {programme_id}"})
    return programme
