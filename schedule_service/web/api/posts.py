"""Promo posts, planned and sent: the publish log as data."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schedule_service.auth import actor, require
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Post, Target
from schedule_service.models.promo import STATUSES
from schedule_service.promos import desk
from schedule_service.promos.render import TooLong, text_when_due
from schedule_service.publishing.decisions import lock_post
from schedule_service.web.api.common import (
    ID_RANGE,
    Blueprint,
    PageArgs,
    get_or_404,
    page_schema,
    paginate,
    write,
)
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.errors import problem

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
    template = fields.String(
        attribute="own_template",
        allow_none=True,
        metadata={"description": "the post's own template (Jinja text), rendered when sent; null: its step's"},
    )


class AttemptSchema(Schema):
    at = _instant("started_at")
    started_at = _instant("started_at")
    finished_at = _instant("finished_at")
    outcome = fields.String(allow_none=True, metadata={"description": "null while the call is under way"})
    text = fields.String(allow_none=True, metadata={"description": "the exact text this attempt sent"})
    picture_url = fields.String(allow_none=True, metadata={"description": "the picture it sent, if any"})
    replaced_text = fields.String(
        allow_none=True, metadata={"description": "for a correction or withdrawal: the text out there it replaced"}
    )
    response = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)


class PostDetail(PostSchema):
    attempts = fields.List(
        fields.Nested(AttemptSchema),
        attribute="attempt_log",
        metadata={"description": "every attempt to send it, oldest first, each with the text it sent"},
    )
    attempt_log = fields.Function(
        lambda p: AttemptSchema(many=True).dump(p.attempt_log),
        metadata={"type": "array", "items": {"type": "object"}, "description": "the same as `attempts`"},
    )


class PostTemplate(Schema):
    template = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=10_000),
        metadata={
            "description": "Jinja text with the placeholders of the blurb templates "
            "(title, when, link, channel, summary, quote, guest, …); null: back to its step's template"
        },
    )


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
        """One post, with each attempt to send it and the exact text each sent."""
        return get_or_404(Post, post_id, "post")

    @require("editor")
    @blp.arguments(PostTemplate)
    @blp.response(200, PostDetail)
    @blp.alt_response(409, description="The post is not planned or held: something of it went out, or it never will.")
    @blp.alt_response(
        422,
        description="Unknown placeholders or bad syntax; or too long for the post's target as it would read now "
        "(the problem has `length` and `limit`).",
    )
    def patch(self, values, post_id):
        """Give a planned or held post a template of its own (null: its step's again), rendered when sent."""

        def edit(session, source, who):
            post = lock_post(session, post_id)
            if post is None:
                raise problem(404, f"there is no post {post_id}")
            return desk.set_post_template(session, post, source, who)

        try:
            return write(edit, values["template"], actor())
        except TooLong as e:
            db.session.rollback()
            message = f"{e.length} characters; {e.limit} at most on this target"
            raise problem(422, str(e), {"template": message}, length=e.length, limit=e.limit) from e
