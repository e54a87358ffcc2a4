"""Programmes: what airs, with translations, guests and the exclusive flag; their pictures."""

from datetime import UTC
from pathlib import Path

from flask import current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields, post_load, pre_load, validate
from sqlalchemy import select

from schedule_service import media, schedule, text_rules
from schedule_service.auth import actor, current_staff, require
from schedule_service.db import db
from schedule_service.embargo import public_programme_alone
from schedule_service.models import Programme
from schedule_service.web.api.common import (
    Blueprint,
    PageArgs,
    get_or_404,
    page_schema,
    paginate,
    supported_time,
    write,
)
from schedule_service.web.errors import problem

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


class PictureSizeSchema(Schema):
    jpeg = fields.Url(metadata={"description": "the size as JPEG"})
    webp = fields.Url(metadata={"description": "the same as WebP"})
    width = fields.Integer()
    height = fields.Integer(metadata={"description": "only where fixed (the share card)"})


class PictureSchema(Schema):
    """The uploaded picture's URLs: content-hashed, cacheable for a year."""

    hash = fields.String(metadata={"description": "SHA-256 of the re-encoded picture"})
    original = fields.Url(metadata={"description": "the picture as kept (JPEG, at most 2400 px a side)"})
    card = fields.Nested(PictureSizeSchema, metadata={"description": "1200×630 share card"})
    w640 = fields.Nested(PictureSizeSchema, metadata={"description": "640 wide"})
    w160 = fields.Nested(PictureSizeSchema, metadata={"description": "160 wide"})


def picture_of(programme) -> dict | None:
    """The programme's uploaded picture as the API shows it, or None."""
    digest = getattr(programme, "image_hash", None)
    return media.urls(digest, current_app.config["PUBLIC_URL"]) if digest else None


class ProgrammeSchema(Schema):
    def get_attribute(self, obj, attr, default):
        if attr == "picture":
            return picture_of(obj)
        return super().get_attribute(obj, attr, default)

    @pre_load
    def _read_only_picture(self, data, **kwargs):
        """A client that sends back what it read (with ``picture``, new to it) is not refused for it."""
        if isinstance(data, dict) and "picture" in data:
            data = {k: v for k, v in data.items() if k != "picture"}
        return data

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
    picture = fields.Nested(
        PictureSchema,
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "the uploaded picture (PUT …/picture), which wins over image_url wherever a "
            "picture is shown; null when none was uploaded. Read-only: ignored when sent"
        },
    )
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


PICTURE_TYPES = ("image/jpeg", "image/png", "image/webp")


@blp.route("/<int:programme_id>/picture")
class ProgrammePicture(MethodView):
    @require("editor")
    @blp.doc(
        requestBody={
            "required": True,
            "description": "A JPEG, PNG or WebP picture of at most 10 MB, as the body, or as the part "
            "`file` of a multipart/form-data body. It is decoded and re-encoded: no metadata survives.",
            "content": {
                **{t: {"schema": {"type": "string", "format": "binary"}} for t in PICTURE_TYPES},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            },
        }
    )
    @blp.response(200, ProgrammeSchema)
    @blp.alt_response(422, description="not a JPEG, PNG or WebP picture, larger than 10 MB, or too many pixels")
    def put(self, programme_id):
        """Upload the programme's picture; it replaces the one before."""
        programme = get_or_404(Programme, programme_id, "programme")
        upload = request.files.get("file")
        data = upload.read() if upload is not None else request.get_data()
        if not data:
            raise problem(422, "Send the picture as the body or as the multipart part file.", {"file": "Missing."})
        try:
            digest = media.ingest(data, Path(current_app.config["PICTURES_DIR"]))
        except media.PictureError as e:
            raise problem(422, str(e), {"file": str(e)}) from e
        return write(schedule.update_programme, programme, {"image_hash": digest}, actor())

    @require("editor")
    @blp.response(200, ProgrammeSchema)
    def delete(self, programme_id):
        """Remove the programme's uploaded picture (its files stay: other programmes may share them)."""
        programme = get_or_404(Programme, programme_id, "programme")
        return write(schedule.update_programme, programme, {"image_hash": None}, actor())


def _as_read(programme: Programme):
    """The programme as this reader may see it: staff the real one, anyone else what the embargo lets out."""
    if current_staff() is not None:
        return programme
    return public_programme_alone(db.session, programme)
