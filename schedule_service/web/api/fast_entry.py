"""Fast entry: repeat a slot, copy broadcast days, paste a day's lineup; all or nothing (SPEC §12)."""

from marshmallow import Schema, fields, validate

from schedule_service import fast_entry
from schedule_service.auth import actor, require
from schedule_service.db import db
from schedule_service.models import Slot
from schedule_service.schedule import ScheduleError
from schedule_service.web.api.channels import channel_or_404
from schedule_service.web.api.common import Blueprint, as_problem, get_or_404
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.api.slot_out import SlotOut

blp = Blueprint(
    "fast_entry",
    __name__,
    url_prefix="/api/v1",
    description="Fast entry: many slots at once, all or nothing; a dry run writes nothing",
)

DRY_RUN = {"description": "only say what would be made and what is in the way; write nothing"}


class RepeatIn(Schema):
    every = fields.String(required=True, validate=validate.OneOf(fast_entry.EVERY))
    until = fields.Date(
        required=True, metadata={"description": "the last broadcast day that gets a repeat (inclusive)"}
    )
    dry_run = fields.Boolean(load_default=False, metadata=DRY_RUN)


class CopyIn(Schema):
    from_ = fields.Date(required=True, data_key="from", metadata={"description": "the first broadcast day copied"})
    to = fields.Date(required=True, metadata={"description": "the broadcast day the first one is copied onto"})
    days = fields.Integer(load_default=1, validate=validate.Range(min=1, max=7), metadata={"description": "1…7"})
    dry_run = fields.Boolean(load_default=False, metadata=DRY_RUN)


class LineupIn(Schema):
    date = fields.Date(required=True, metadata={"description": "the broadcast day"})
    text = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40_000),
        metadata={
            "description": "lines \"HH:MM Title\" in the channel's wall time; a time before the broadcast day's "
            "start is after midnight; each slot ends where the next begins, the last after its programme's "
            'duration, or at a last line "HH:MM" with no title; unknown titles become new programmes'
        },
    )
    dry_run = fields.Boolean(load_default=False, metadata=DRY_RUN)


class ClashOut(Schema):
    start = fields.Function(lambda c: rfc3339_utc(c.start), metadata={"description": "where the new slot would start"})
    slots = fields.List(fields.Nested(SlotOut), metadata={"description": "the scheduled slots in the way"})


class FastEntryOut(Schema):
    created = fields.List(
        fields.Nested(SlotOut),
        metadata={"description": "the slots made, or on a dry run or a conflict those that would be (id null)"},
    )
    conflicts = fields.List(fields.Nested(ClashOut))
    applied = fields.Boolean(metadata={"description": "whether anything was written"})


def _run(operation, *args, dry_run: bool):
    """Run a fast-entry operation: 201 and commit when applied; a dry run 200 (conflicts listed), else 409."""
    try:
        outcome = operation(db.session, *args, actor(), dry_run=dry_run)
    except ScheduleError as e:
        db.session.rollback()
        raise as_problem(e) from e
    if outcome.applied:
        db.session.commit()
        return outcome, 201
    db.session.rollback()
    return outcome, 200 if dry_run else 409


def _documented(view):
    view = blp.alt_response(
        200, schema=FastEntryOut, description="dry run: what would be made and what is in the way; nothing written"
    )(view)
    view = blp.alt_response(409, schema=FastEntryOut, description="slots in the way: nothing written")(view)
    return blp.response(201, FastEntryOut, description="all of it written")(view)


@blp.route("/slots/<int:slot_id>/repeat", methods=["POST"])
@require("editor")
@blp.arguments(RepeatIn)
@_documented
def repeat(args, slot_id):
    """Repeat a slot at its wall time every day, weekday or week until a broadcast day."""
    slot = get_or_404(Slot, slot_id, "slot")
    return _run(fast_entry.repeat_slot, slot, args["every"], args["until"], dry_run=args["dry_run"])


@blp.route("/channels/<slug>/copy", methods=["POST"])
@require("editor")
@blp.arguments(CopyIn)
@_documented
def copy(args, slug):
    """Copy broadcast days (1 to 7 from ``from``) onto the days from ``to``, at the same wall times."""
    channel = channel_or_404(slug)
    return _run(fast_entry.copy_days, channel, args["from_"], args["to"], args["days"], dry_run=args["dry_run"])


@blp.route("/channels/<slug>/lineup", methods=["POST"])
@require("editor")
@blp.arguments(LineupIn)
@_documented
def lineup(args, slug):
    """Schedule a broadcast day from pasted "HH:MM Title" lines."""
    channel = channel_or_404(slug)
    return _run(fast_entry.paste_lineup, channel, args["date"], args["text"], dry_run=args["dry_run"])
