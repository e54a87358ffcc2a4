"""The promo desk's operations: a post's own template, and approving many held posts at once (SPEC §8b).

Operations flush and never commit; the request commits once.
"""

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from schedule_service import audit
from schedule_service.clock import now
from schedule_service.models import Post
from schedule_service.models.promo import HELD, PLANNED
from schedule_service.promos.render import BadTemplate, PromoNotTrue, Rendered, compile_source, render_slot
from schedule_service.publishing import decisions
from schedule_service.publishing.post_picture import expected_limit
from schedule_service.publishing.row_locks import lock_posts
from schedule_service.schedule import Conflict, Invalid

#: The states whose template may still change: nothing of the post has gone out.
EDITABLE = (PLANNED, HELD)


def set_post_template(session: Session, post: Post, source: str | None, actor: str) -> Post:
    """Give an unsent post a template of its own (None: back to its step's), checked against its target now.

    Saving the template it has changes nothing and writes no audit entry.

    :raises Conflict: the post is not planned or held.
    :raises Invalid: the template has unknown placeholders or does not parse.
    :raises TooLong: it renders too long for the post's target at this moment (length and limit on it).
    """
    # A browser sends a text area's line breaks as CRLF: the same template, not a change.
    source = source.replace("\r\n", "\n") if source and source.strip() else None
    if source == post.own_template:
        return post
    if post.status not in EDITABLE:
        raise Conflict(f"post {post.id} is {post.status}; only a planned or held post can get a template of its own")
    if source is not None:
        preview_template(post, source)
    before = post.own_template
    post.own_template = source
    session.flush()
    audit.record(session, actor, "template", "post", post.id, {"template": [before, source]})
    return post


def preview_template(post: Post, source: str | None) -> Rendered:
    """Render ``post`` with ``source`` (or its own or step's template) as it would read now, on its target.

    :raises Invalid: unknown placeholders, bad syntax, or nothing true to say now.
    :raises TooLong: too long for the target.
    """
    try:
        if source is not None:
            compile_source(source)
        limit = expected_limit(post.target, post.slot.programme)  # a caption beside the picture, if it has one
        return render_slot(post.slot, post.target, post.lang, now(), post.template, limit, source=source)
    except BadTemplate as e:
        raise Invalid({"template": str(e)}) from e
    except PromoNotTrue as e:
        raise Invalid({"template": str(e)}) from e


@dataclass
class Approved:
    """What a bulk approval did: the posts approved, and why each other one was not."""

    approved: list[Post] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)


def approve_posts(session: Session, ids: list[int], actor: str) -> Approved:
    """Approve each held post among ``ids``; each one that cannot be is reported with why, and stays as it was.

    Not all or nothing: one post sent or held by nobody meanwhile does not keep the others back.
    Each approval is audited as a single one would be.
    """
    result = Approved()
    wanted = list(dict.fromkeys(ids))
    lock_posts(session, wanted)
    for post_id in wanted:
        post = session.get(Post, post_id, populate_existing=True)
        if post is None:
            result.refused.append({"id": post_id, "reason": f"there is no post {post_id}"})
            continue
        try:  # a refused move raises before it changes anything
            decisions.approve_post(session, post, actor)
        except Conflict as e:
            result.refused.append({"id": post_id, "status": post.status, "reason": str(e)})
        else:
            result.approved.append(post)
    return result
