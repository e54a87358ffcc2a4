"""XMLTV import over HTTP: staff post a guide, the schedule follows it (SPEC §7)."""

import io
from urllib.parse import urlsplit

from flask import current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from schedule_service.auth import require
from schedule_service.broadcast_time import zone
from schedule_service.db import db
from schedule_service.interchange import xmltv_import as xi
from schedule_service.web.api.common import Blueprint
from schedule_service.web.errors import PROBLEM, problem

blp = Blueprint("imports", __name__, url_prefix="/api/v1/import", description="Importing XMLTV guides")

#: Bad items listed in full in one answer; the count says how many there were in all.
MAX_LISTED = 1000
XML_TYPES = ("application/xml", "text/xml", "application/octet-stream", "application/xmltv+xml")


class ImportArgs(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "check and count, save nothing"})
    skip_bad = fields.Boolean(
        load_default=False, metadata={"description": "leave bad programmes out instead of their whole channel"}
    )
    timezone = fields.String(
        load_default="UTC",
        validate=validate.Length(max=64),
        metadata={"description": "IANA zone of channels the import creates"},
    )


class BadItemSchema(Schema):
    line = fields.Integer(allow_none=True, metadata={"description": "line of the item in the file"})
    channel = fields.String(allow_none=True, metadata={"description": "the XMLTV channel id"})
    message = fields.String()


class ChannelReportSchema(Schema):
    channel = fields.String(metadata={"description": "the service channel's slug"})
    xmltv_ids = fields.List(fields.String())
    created_channel = fields.Boolean()
    applied = fields.Boolean(metadata={"description": "false when its bad items kept the whole channel out"})
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    cancelled = fields.Integer(metadata={"description": "slots the guide replaced"})
    skipped = fields.Integer()
    errors = fields.Integer()


class ImportReportSchema(Schema):
    dry_run = fields.Boolean()
    skip_bad = fields.Boolean()
    ok = fields.Boolean(metadata={"description": "no channel was kept out and no bad item went unmentioned"})
    programmes = fields.Integer(metadata={"description": "programmes in the file"})
    applied_channels = fields.Integer()
    rejected_channels = fields.Integer()
    totals = fields.Dict(keys=fields.String(), values=fields.Integer())
    programmes_created = fields.Integer()
    programmes_updated = fields.Integer()
    channels = fields.List(fields.Nested(ChannelReportSchema))
    bad_items = fields.List(fields.Nested(BadItemSchema))
    bad_items_total = fields.Integer()
    warnings = fields.List(fields.Nested(BadItemSchema))


class ImportRefusedSchema(Schema):
    """The problem answered when nothing could be applied: the file, or every channel, was bad."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": '{"line N": message}'})
    bad_items = fields.List(fields.Nested(BadItemSchema))
    report = fields.Nested(ImportReportSchema, allow_none=True)


REQUEST_BODY = {
    "required": True,
    "description": "The XMLTV file itself, or a form with it as `file` (and optionally `channel_map`, JSON or CSV).",
    "content": {
        "application/xml": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "contentMediaType": "application/xml"},
                    "channel_map": {"type": "string", "contentMediaType": "application/json"},
                },
            }
        },
    },
}


@blp.route("/xmltv")
class XmltvImport(MethodView):
    @require("editor")
    @blp.arguments(ImportArgs, location="query", error_status_code=400)
    @blp.doc(requestBody=REQUEST_BODY)
    @blp.response(200, ImportReportSchema)
    @blp.alt_response(422, schema=ImportRefusedSchema, content_type=PROBLEM, description="nothing could be applied")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    def post(self, args):
        """Import an XMLTV guide; each channel all or nothing, bad items listed by line."""
        try:
            zone(args["timezone"])
        except ValueError as e:
            raise problem(400, str(e), {"timezone": str(e)}) from e
        source, channel_map = _body()
        try:
            with xi.read_guide(source) as guide:
                report = xi.apply_guide(
                    db.session,
                    guide,
                    channel_map=channel_map,
                    skip_bad=args["skip_bad"],
                    dry_run=args["dry_run"],
                    default_timezone=args["timezone"],
                    own_hosts=_own_hosts(),
                    end_channel=db.session.rollback if args["dry_run"] else db.session.commit,
                )
        except xi.GuideRefused as e:
            db.session.rollback()
            item = xi.BadItem(e.line, None, e.message)
            raise problem(422, f"the file is refused: {e}", _by_line([item]), bad_items=[_item(item)]) from e
        except BaseException:
            db.session.rollback()
            raise
        nothing = report.applied_channels == 0 and bool(report.bad_items)
        out = report.to_dict()
        out["bad_items_total"] = len(report.bad_items)
        out["bad_items"] = out["bad_items"][:MAX_LISTED]
        if nothing:
            raise problem(
                422,
                f"nothing was imported: {len(report.bad_items)} bad item(s) kept every channel out",
                _by_line(report.bad_items[:MAX_LISTED]),
                bad_items=out["bad_items"],
                report=out,
            )
        return out


def _body():
    """The guide as a binary stream, and the channel map when the form has one."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise problem(
                422, "the form has no `file` field with the guide", {"file": "Missing data for required field."}
            )
        channel_map = None
        if "channel_map" in request.files or request.form.get("channel_map"):
            raw = request.files["channel_map"].read() if "channel_map" in request.files else request.form["channel_map"]
            try:
                channel_map = xi.load_channel_map(io.BytesIO(raw) if isinstance(raw, bytes) else io.StringIO(raw))
            except (ValueError, UnicodeDecodeError) as e:
                raise problem(422, f"the channel map is not usable: {e}", {"channel_map": str(e)}) from e
        return upload.stream, channel_map
    if mimetype and mimetype not in XML_TYPES:
        raise problem(415, f"send the guide as application/xml or multipart/form-data, not {mimetype}")
    return request.stream, None


def _own_hosts() -> tuple[str, ...]:
    """The hosts this service exports its channels under: PUBLIC_URL's and this request's."""
    hosts = {urlsplit(current_app.config["PUBLIC_URL"]).hostname, request.host.partition(":")[0]}
    return tuple(sorted(h for h in hosts if h))


def _item(item: xi.BadItem) -> dict:
    return {"line": item.line, "channel": item.channel, "message": item.message}


def _by_line(items: list[xi.BadItem]) -> dict[str, str]:
    """{"line N": message} for the problem's ``errors`` (messages on one line joined)."""
    out: dict[str, str] = {}
    for item in items:
        key = f"line {item.line}" if item.line else "file"
        text = f"{item.channel}: {item.message}" if item.channel else item.message
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out
