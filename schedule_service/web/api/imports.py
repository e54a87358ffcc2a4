"""XMLTV import over HTTP: staff post a guide, a scheduler process imports it as a job (SPEC §7).

The request only stores the file and queues the job (202, ``Location`` of the job); the import
never runs inside a web request, whose worker would time out on a large guide.
"""

import io
from urllib.parse import urlsplit

from flask import current_app, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from schedule_service.auth import actor, require
from schedule_service.broadcast_time import zone
from schedule_service.db import db
from schedule_service.interchange import import_jobs as jobs
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import ImportJob
from schedule_service.models.import_job import STATUSES
from schedule_service.web.api.common import Blueprint
from schedule_service.web.errors import problem

blp = Blueprint("imports", __name__, url_prefix="/api/v1/import", description="Importing XMLTV guides")
jobs_blp = Blueprint("import_jobs", __name__, url_prefix="/api/v1/imports", description="Importing XMLTV guides")

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


class ProgressSchema(Schema):
    channels_done = fields.Integer()
    channels_total = fields.Integer(allow_none=True, metadata={"description": "known once the file is read"})


class FileSchema(Schema):
    name = fields.String(allow_none=True)
    size = fields.Integer()
    sha256 = fields.String(allow_none=True)


class ImportErrorSchema(Schema):
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": '{"line N": message}'})
    bad_items = fields.List(fields.Nested(BadItemSchema))


class ImportJobSchema(Schema):
    id = fields.Integer()
    status = fields.String(validate=validate.OneOf(STATUSES))
    dry_run = fields.Boolean()
    skip_bad = fields.Boolean()
    file = fields.Nested(FileSchema)
    created_by = fields.String()
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    progress = fields.Nested(ProgressSchema)
    summary = fields.Nested(
        ImportReportSchema,
        allow_none=True,
        metadata={"description": "the per-channel report; while running, the channels done so far"},
    )
    error = fields.Nested(
        ImportErrorSchema,
        allow_none=True,
        metadata={"description": "why a failed job failed: the file refused, or every channel kept out"},
    )


@blp.route("/xmltv")
class XmltvImport(MethodView):
    @require("editor")
    @blp.arguments(ImportArgs, location="query", error_status_code=400)
    @blp.doc(requestBody=REQUEST_BODY)
    @blp.response(
        202,
        ImportJobSchema,
        description="queued; follow `Location` for its progress and report",
        headers={"Location": {"description": "the job: /api/v1/imports/{id}", "schema": {"type": "string"}}},
    )
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    def post(self, args):
        """Queue the import of an XMLTV guide; a scheduler process runs it, each channel all or nothing."""
        try:
            zone(args["timezone"])
        except ValueError as e:
            raise problem(400, str(e), {"timezone": str(e)}) from e
        source, channel_map, name = _body()
        try:
            job = jobs.queue_import(
                db.session,
                source,
                created_by=actor(),
                file_name=name,
                dry_run=args["dry_run"],
                skip_bad=args["skip_bad"],
                timezone=args["timezone"],
                own_hosts=_own_hosts(),
                channel_map=channel_map,
            )
        except jobs.EmptyFile as e:
            db.session.rollback()
            raise problem(422, str(e), {"file": str(e)}) from e
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        location = url_for("import_jobs.ImportJobView", job_id=job.id)
        return jobs.representation(job), 202, {"Location": location}


@jobs_blp.route("/<int:job_id>")
class ImportJobView(MethodView):
    @require("editor")
    @jobs_blp.response(200, ImportJobSchema)
    @jobs_blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: int):
        """An import job: its status, progress and per-channel report."""
        job = db.session.get(ImportJob, job_id)
        if job is None:
            raise problem(404, f"There is no import job {job_id}.")
        return jobs.representation(job)


def _body():
    """The guide as a binary stream, the channel map when the form has one, and the file's name."""
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
        return upload.stream, channel_map, upload.filename
    if mimetype and mimetype not in XML_TYPES:
        raise problem(415, f"send the guide as application/xml or multipart/form-data, not {mimetype}")
    return request.stream, None, None


def _own_hosts() -> tuple[str, ...]:
    """The hosts this service exports its channels under: PUBLIC_URL's and this request's."""
    hosts = {urlsplit(current_app.config["PUBLIC_URL"]).hostname, request.host.partition(":")[0]}
    return tuple(sorted(h for h in hosts if h))
