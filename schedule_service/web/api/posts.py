"""Promo posts, planned and sent: the publish log as data."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schedule_service.auth import require
from schedule_service.clock import now
from schedule_service.models import Post, Target
from schedule_service.models.promo import STATUSES
from schedule_service.promos.render import text_when_due
from schedule_service.web.api.common import (
    ID_RANGE,
    Blueprint,
    PageArgs,
    get_or_404,
    page_schema,
    paginate,
)
from schedule_service.web.api.instants import rfc3339_utc

blp = Blueprint("posts", __name__, url_prefix="/api/v1/posts", description="Promo posts")


def _instant(name: str):
    return fields.Function(lambda p: rfc3339_utc(getattr(p, name)))


class PostSchema(Schema):
    id = fields.Integer()
    slot_id = fields.Integer()
    target = fields.Function(lambda p: p.target.name)
    step = fields.String()
    action = fields.String(metadata={"description": "publish, correct or withdraw"})
    parent_id = fields.Integer(allow_none=True, metadata={"description": "the post a correction acts on"})
    lang = fields.String()
    due_at = _instant("due_at")
    valid_until = _instant("valid_until")
    status = fields.String()
    attempts = fields.Integer()
    retry_at = _instant("retry_at")
    last_error = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    external_url = fields.String(allow_none=True)
    published_at = _instant("published_at")
    text = fields.Function(
        lambda p: text_when_due(p, now())[0],
        allow_none=True,
        metadata={"type": "string", "description": "as sent; before sending, as it would read when due"},
    )
    idempotency_key = fields.String()


class AttemptSchema(Schema):
    started_at = _instant("started_at")
    finished_at = _instant("finished_at")
    outcome = fields.String(allow_none=True)
    response = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)


class PostDetail(PostSchema):
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class PostFilter(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    slot_id = fields.Integer(validate=ID_RANGE)
    target = fields.String()


PostPage = page_schema(PostSchema, "PostPage")


@blp.route("")
class Posts(MethodView):
    @require("editor")
    @blp.arguments(PostFilter, location="query", error_status_code=400)
    @blp.response(200, PostPage)
    def get(self, args):
        """List posts, optionally by status, slot or target, oldest first."""
        query = select(Post)
        if args.get("status"):
            query = query.where(Post.status == args["status"])
        if args.get("slot_id") is not None:
            query = query.where(Post.slot_id == args["slot_id"])
        if args.get("target"):
            query = query.where(Post.target.has(Target.name == args["target"]))
        return paginate(query, Post.id, args, "posts.Posts")


@blp.route("/<int:post_id>")
class PostItem(MethodView):
    @require("editor")
    @blp.response(200, PostDetail)
    def get(self, post_id):
        """One post, with each attempt to send it."""
        return get_or_404(Post, post_id, "post")
