"""Programmes: what airs, with translations, guests and the exclusive flag."""

from datetime import UTC

from flask.views import MethodView
from marshmallow import Schema, fields, post_load, validate
from sqlalchemy import select

from schedule_service import schedule, text_rules
from schedule_service.auth import actor, current_staff, require
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.embargo import is_embargoed, public_programme
from schedule_service.models import Programme, Slot
from schedule_service.web.api.common import (
    Blueprint,
    PageArgs,
    get_or_404,
    page_schema,
    paginate,
    supported_time,
    write,
)

blp = Blueprint("programmes", __name__, url_prefix="/api/v1/programmes", description="Programmes")

LANG = validate.Length(min=2, max=16)
LONG = validate.Length(max=text_rules.LONG)
ENTRIES = validate.Length(max=text_rules.ENTRIES)


class GuestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(allow_none=True, validate=validate.Length(max=300))


class TranslationSchema(Schema):
    """A programme's texts in one language; empty (null) ones fall back to the programme's own.

    Written, a field left out keeps what the translation has; a language left out is dropped.
    """

    title = fields.String(allow_none=True, validate=validate.Length(max=300))
    subtitle = fields.String(allow_none=True, validate=validate.Length(max=300))
    summary = fields.String(allow_none=True, validate=LONG)
    quote = fields.String(allow_none=True, validate=LONG)
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    image_alt = fields.String(allow_none=True, validate=validate.Length(max=1000))
    guests = fields.List(fields.Nested(GuestSchema), allow_none=True, validate=ENTRIES)


class ProgrammeSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    subtitle = fields.String(allow_none=True, validate=validate.Length(max=300))
    summary = fields.String(allow_none=True, validate=LONG)
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    guests = fields.List(fields.Nested(GuestSchema), validate=ENTRIES)
    presenter = fields.String(allow_none=True, validate=validate.Length(max=200))
    exclusive = fields.Boolean(attribute="is_exclusive")
    quote = fields.String(allow_none=True, validate=LONG)
    image_url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=1000))
    image_alt = fields.String(allow_none=True, validate=validate.Length(max=1000))
    image_credit = fields.String(allow_none=True, validate=validate.Length(max=300))
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=48 * 60))
    language = fields.String(validate=LANG)
    episode_num = fields.String(allow_none=True, validate=validate.Length(max=100))
    embargo_until = fields.AwareDateTime(
        allow_none=True,
        validate=supported_time,
        metadata={
            "description": "an instant; before it nothing about the programme leaves the service: its promo posts "
            "wait, and public reads show its slots under the channel's `embargo_title` (SPEC §8b)",
        },
    )
    translations = fields.Dict(
        keys=fields.String(validate=LANG), values=fields.Nested(TranslationSchema), validate=ENTRIES
    )

    @post_load
    def _utc(self, data, **kwargs):
        # Stored and shown in UTC like every instant the API writes, whatever offset it came with.
        if data.get("embargo_until") is not None:
            data["embargo_until"] = data["embargo_until"].astimezone(UTC)
        return data


ProgrammePage = page_schema(ProgrammeSchema, "ProgrammePage")


@blp.route("")
class Programmes(MethodView):
    @blp.arguments(PageArgs, location="query", error_status_code=400)
    @blp.response(200, ProgrammePage)
    def get(self, args):
        """List programmes."""
        page = paginate(select(Programme), Programme.id, args, "programmes.Programmes")
        page["items"] = [_as_read(p) for p in page["items"]]
        return page

    @require("editor")
    @blp.arguments(ProgrammeSchema)
    @blp.response(201, ProgrammeSchema)
    def post(self, values):
        """Add a programme."""
        return write(schedule.create_programme, values, actor())


@blp.route("/<int:programme_id>")
class ProgrammeItem(MethodView):
    @blp.response(200, ProgrammeSchema)
    def get(self, programme_id):
        """One programme (before its embargo ends, its stand-in to anyone but staff)."""
        return _as_read(get_or_404(Programme, programme_id, "programme"))

    @require("editor")
    @blp.arguments(ProgrammeSchema(partial=True))
    @blp.response(200, ProgrammeSchema)
    def patch(self, values, programme_id):
        """Change a programme."""
        return write(schedule.update_programme, get_or_404(Programme, programme_id, "programme"), values, actor())

    @require("editor")
    @blp.response(204)
    def delete(self, programme_id):
        """Delete a programme that no slot uses."""
        write(schedule.delete_programme, get_or_404(Programme, programme_id, "programme"), actor())


def _as_read(programme: Programme):
    """The programme as this reader may see it: staff the real one, anyone else what the embargo lets out."""
    if not is_embargoed(programme, now()) or current_staff() is not None:
        return programme
    slot = db.session.scalar(select(Slot).where(Slot.programme_id == programme.id).order_by(Slot.start_at).limit(1))
    return public_programme(programme, slot.channel if slot is not None else None)
