"""Publishing targets: admins only; ``secret`` and ``token`` are written, never read back."""

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from schedule_service.auth import actor, require
from schedule_service.db import db
from schedule_service.models import Target
from schedule_service.models.target import KINDS
from schedule_service.publishing import target_settings
from schedule_service.web.api.common import ID_RANGE, Blueprint, PageArgs, page_schema, paginate, write
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.errors import problem

blp = Blueprint("targets", __name__, url_prefix="/api/v1/targets", description="Where promos are published")


class ChatId(fields.Field):
    """A Telegram chat ("@channelname" or a numeric id) or a VK community id, as a string or a number."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 200:
            raise ValidationError("@channelname or a numeric chat id")
        return str(value)


class TargetSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(
        required=True, validate=validate.Length(max=64), metadata={"description": "what plans call it; cannot change"}
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"description": "cannot change"})
    url = fields.String(
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={
            "description": "webhook: where to POST; mastodon: the server; telegram: Bot API base URL; "
            "vk: VK API base URL (default https://api.vk.com/method)"
        },
    )
    secret = fields.String(
        load_only=True,
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"description": "webhook signing secret (whsec_…); write-only"},
    )
    token = fields.String(
        load_only=True,
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"description": "Mastodon access token, Telegram bot token or VK community token; write-only"},
    )
    has_secret = fields.Function(lambda t: bool(t.secret), dump_only=True)
    has_token = fields.Function(lambda t: bool(t.token), dump_only=True)
    chat_id = ChatId(
        allow_none=True,
        metadata={"description": "telegram: @channelname or numeric id; vk: the community's (positive) id"},
    )
    lang = fields.String(
        allow_none=True, validate=validate.Length(max=16), metadata={"description": "the language of its posts"}
    )
    timezone = fields.String(
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "IANA zone of its audience; the channel's if unset"},
    )
    edition = fields.String(
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={
            "description": "slug of a regional edition: its posts follow that edition's air times and zone (SPEC §9)"
        },
    )
    max_length = fields.Integer(
        allow_none=True, validate=ID_RANGE, metadata={"description": "characters; the network's own if unset"}
    )
    limit = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "the length limit in force"})
    is_approval_required = fields.Boolean(
        data_key="requires_approval", metadata={"description": "hold its posts for a person's approval"}
    )
    is_enabled = fields.Boolean(data_key="enabled", metadata={"description": "false: nothing is sent to it"})
    created_at = fields.Function(lambda t: rfc3339_utc(t.created_at), dump_only=True)
    updated_at = fields.Function(lambda t: rfc3339_utc(t.updated_at), dump_only=True)


TargetPage = page_schema(TargetSchema, "TargetPage")


def target_or_404(name: str) -> Target:
    target = db.session.scalar(select(Target).where(Target.name == name))
    if target is None:
        raise problem(404, f"there is no target {name!r}")
    return target


@blp.route("")
class Targets(MethodView):
    @require("admin")
    @blp.arguments(PageArgs, location="query", error_status_code=400)
    @blp.response(200, TargetPage)
    def get(self, args):
        """List targets."""
        return paginate(select(Target), Target.id, args, "targets.Targets")

    @require("admin")
    @blp.arguments(TargetSchema)
    @blp.response(201, TargetSchema)
    def post(self, values):
        """Add a target."""
        return write(target_settings.create_target, values, actor())


@blp.route("/<name>")
class TargetItem(MethodView):
    @require("admin")
    @blp.response(200, TargetSchema)
    def get(self, name):
        """One target."""
        return target_or_404(name)

    @require("admin")
    @blp.arguments(TargetSchema(partial=True))
    @blp.response(200, TargetSchema)
    def patch(self, values, name):
        """Change a target (not its name or kind); a credential is replaced by sending it."""
        return write(target_settings.update_target, target_or_404(name), values, actor())

    @require("admin")
    @blp.response(204)
    def delete(self, name):
        """Delete a target without posts; one with a publish log is disabled instead."""
        write(target_settings.delete_target, target_or_404(name), actor())
