"""A person's decisions on promo posts: approve, hold, retry, mark published (SPEC §8)."""

from marshmallow import Schema, fields, validate

from schedule_service.auth import actor, require
from schedule_service.promos import desk
from schedule_service.publishing import decisions
from schedule_service.web.api.common import ID_RANGE, Blueprint, write
from schedule_service.web.api.posts import PostDetail, PostSchema
from schedule_service.web.errors import problem

blp = Blueprint(
    "post_actions", __name__, url_prefix="/api/v1/posts", description="Approve, hold, retry or settle promo posts"
)


class MarkPublished(Schema):
    external_id = fields.String(
        allow_none=True, validate=validate.Length(max=300), metadata={"description": "the target's id"}
    )
    url = fields.String(
        allow_none=True, validate=validate.Length(max=1000), metadata={"description": "where it can be seen"}
    )


class BulkApprove(Schema):
    ids = fields.List(fields.Integer(validate=ID_RANGE), required=True, validate=validate.Length(min=1, max=1000))


class Refusal(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "the post's status, which stays as it was"})
    reason = fields.String()


class BulkApproved(Schema):
    approved = fields.List(fields.Nested(PostSchema), metadata={"description": "the posts approved now"})
    refused = fields.List(fields.Nested(Refusal), metadata={"description": "each post not approved, and why"})


def _decide(operation, post_id: int, *args):
    """Lock the post, apply the decision, commit; 404 for no post, 409 for a move not allowed."""

    def locked(session, *rest):
        post = decisions.lock_post(session, post_id)
        if post is None:
            raise problem(404, f"there is no post {post_id}")
        return operation(session, post, *rest)

    return write(locked, *args)


@blp.route("/approve", methods=["POST"])
@require("editor")
@blp.arguments(BulkApprove)
@blp.response(200, BulkApproved)
def approve_many(values):
    """Approve many held posts at once; each is approved or not on its own (not all or nothing).

    Every held post among `ids` is approved (held → planned) and audited as one approval; each
    other one (no such post, not held, its moment passed) stays as it was and is listed in
    `refused` with its reason. The answer is 200 whichever way each went.
    """
    result = write(desk.approve_posts, values["ids"], actor())
    return {"approved": result.approved, "refused": result.refused}


@blp.route("/<int:post_id>/approve", methods=["POST"])
@require("editor")
@blp.response(200, PostDetail)
def approve(post_id):
    """Approve a held post: it goes out when due (held → planned)."""
    return _decide(decisions.approve_post, post_id, actor())


@blp.route("/<int:post_id>/hold", methods=["POST"])
@require("editor")
@blp.response(200, PostDetail)
def hold(post_id):
    """Hold a planned post until someone approves it (planned → held)."""
    return _decide(decisions.hold_post, post_id, actor())


@blp.route("/<int:post_id>/retry", methods=["POST"])
@require("editor")
@blp.response(200, PostDetail)
def retry(post_id):
    """Send a failed or unknown post again at the next tick (failed/unknown → planned)."""
    return _decide(decisions.retry_post, post_id, actor())


@blp.route("/<int:post_id>/published", methods=["POST"])
@require("editor")
@blp.arguments(MarkPublished(), required=False)
@blp.response(200, PostDetail)
def published(values, post_id):
    """Mark an unknown post published, as found at the target (unknown → published)."""
    values = values or {}
    return _decide(decisions.mark_published, post_id, actor(), values.get("external_id"), values.get("url"))
