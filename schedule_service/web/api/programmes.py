"""Programmes: what airs, with translations, guests and the exclusive flag."""

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schedule_service import schedule
from schedule_service.auth import actor, require
from schedule_service.models import Programme
from schedule_service.web.api.common import PageArgs, get_or_404, page_schema, paginate, write

blp = Blueprint("programmes", __name__, url_prefix="/api/v1/programmes", description="Programmes")

LANG = validate.Length(min=2, max=16)


class GuestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(allow_none=True, validate=validate.Length(max=300))


class TranslationSchema(Schema):
    """A programme's texts in one language; empty (null) ones fall back to the programme's own.

    Written, a field left out keeps what the translation has; a language left out is dropped.
    """

    title = fields.String(allow_none=True, validate=validate.Length(max=300))
    subtitle = fields.String(allow_none=True, validate=validate.Length(max=300))
    summary = fields.String(allow_none=True)
    quote = fields.String(allow_none=True)
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    image_alt = fields.String(allow_none=True, validate=validate.Length(max=1000))
    guests = fields.List(fields.Nested(GuestSchema), allow_none=True)


class ProgrammeSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    subtitle = fields.String(allow_none=True, validate=validate.Length(max=300))
    summary = fields.String(allow_none=True)
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    guests = fields.List(fields.Nested(GuestSchema))
    presenter = fields.String(allow_none=True, validate=validate.Length(max=200))
    exclusive = fields.Boolean(attribute="is_exclusive")
    quote = fields.String(allow_none=True)
    image_url = fields.Url(allow_none=True, schemes={"http", "https"})
    image_alt = fields.String(allow_none=True, validate=validate.Length(max=1000))
    image_credit = fields.String(allow_none=True, validate=validate.Length(max=300))
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=48 * 60))
    language = fields.String(validate=LANG)
    episode_num = fields.String(allow_none=True, validate=validate.Length(max=100))
    translations = fields.Dict(keys=fields.String(validate=LANG), values=fields.Nested(TranslationSchema))


ProgrammePage = page_schema(ProgrammeSchema, "ProgrammePage")


@blp.route("")
class Programmes(MethodView):
    @blp.arguments(PageArgs, location="query", error_status_code=400)
    @blp.response(200, ProgrammePage)
    def get(self, args):
        """List programmes."""
        return paginate(select(Programme), Programme.id, args, "programmes.Programmes")

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
        """One programme."""
        return get_or_404(Programme, programme_id, "programme")

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
