"""The promo desk: posts by day, channel and target with their states; approve (also many) or hold them.

A post opens with its own template and previews that look like each network's post.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.embargo import is_embargoed
from schedule_service.models import Channel, Post, Slot, Target
from schedule_service.models.promo import REVOKED, PostStatus
from schedule_service.promos import desk
from schedule_service.promos.render import (
    BadTemplate,
    PromoNotTrue,
    Rendered,
    TooLong,
    post_lang,
    render_slot,
)
from schedule_service.publishing.post_picture import expected_limit
from schedule_service.schedule import Conflict, Invalid
from schedule_service.web.security import MAX_ID, safe_next, staff_page
from schedule_service.web.staff import at_local, bp
from schedule_service.web.staff.desk_forms import PostTemplateForm
from schedule_service.web.staff.form_data import post_template_data

#: The days the calendar shows at most, and by default.
MAX_DAYS, DAYS = 14, 7
#: What the desk calls each state: sent covers the posts that are, or may be, out there.
DESK_STATES = ("planned", "held", "sent", "failed", "unknown", "expired")


def desk_state(status: str) -> str:
    """The desk's word for a post's status: planned, held, sent, failed, unknown, expired (or as it is)."""
    if status in (PostStatus.PUBLISHING, PostStatus.PUBLISHED, PostStatus.CORRECTED, PostStatus.WITHDRAWN):
        return "sent"
    return status


def page_zone(channel: Channel | None = None) -> ZoneInfo:
    """The one zone a publishing page shows its times in: ``?tz=``, else the channel's, else the first channel's."""
    asked = request.args.get("tz")
    if asked:
        try:
            return ZoneInfo(asked)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    if channel is None:
        channel = db.session.scalar(select(Channel).order_by(Channel.id).limit(1))
    return channel.zone if channel is not None else ZoneInfo("UTC")


@dataclass(frozen=True)
class Column:
    channel: Channel
    target: Target


@bp.get("/desk")
@staff_page()
def desk_calendar():
    """Posts by day × channel × target with their states, filtered by day, channel and target."""
    channels = db.session.scalars(select(Channel).order_by(Channel.slug)).all()
    targets = db.session.scalars(select(Target).order_by(Target.name)).all()
    channel = next((c for c in channels if c.slug == request.args.get("channel")), None)
    target = next((t for t in targets if t.name == request.args.get("target")), None)
    zone = page_zone(channel)
    first = _day(request.args.get("date")) or now().astimezone(zone).date()
    days = min(max(request.args.get("days", DAYS, type=int), 1), MAX_DAYS)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(first + timedelta(days=days), time(0), zone)
    query = (
        select(Post)
        .join(Slot, Post.slot_id == Slot.id)
        .where(Post.due_at >= start, Post.due_at < end, Post.status != REVOKED)
        .order_by(Post.due_at, Post.id)
    )
    if channel is not None:
        query = query.where(Slot.channel_id == channel.id)
    if target is not None:
        query = query.where(Post.target_id == target.id)
    unknown = (request.args.get("channel") and channel is None) or (request.args.get("target") and target is None)
    posts = [] if unknown else db.session.scalars(query).unique().all()
    columns = sorted(
        {(p.slot.channel.slug, p.target.name): Column(p.slot.channel, p.target) for p in posts}.values(),
        key=lambda c: (c.channel.slug, c.target.name),
    )
    cells: dict[tuple[date, str, str], list[Post]] = {}
    for post in posts:
        key = (post.due_at.astimezone(zone).date(), post.slot.channel.slug, post.target.name)
        cells.setdefault(key, []).append(post)
    counts = {state: sum(1 for p in posts if desk_state(p.status) == state) for state in DESK_STATES}
    return render_template(
        "staff/desk.html",
        zone=zone,
        days=[(d, format_date(d, "EEE d MMM")) for d in (first + timedelta(days=i) for i in range(days))],
        day_count=days,
        first=first,
        columns=columns,
        cells=cells,
        counts=counts,
        channels=channels,
        targets=targets,
        channel=channel,
        target=target,
        desk_state=desk_state,
        states=DESK_STATES,
        prev_day=first - timedelta(days=days),
        next_day=first + timedelta(days=days),
    )


@bp.post("/desk/approve")
@staff_page()
def desk_approve():
    """Approve the held posts ticked on the calendar (each one on its own: see POST /api/v1/posts/approve)."""
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit() and 0 < int(i) <= MAX_ID]
    back = safe_next(request.form.get("next"), url_for("staff.desk_calendar"))
    if not ids:
        flash(_("Tick the held posts to approve first."), "error")
        return redirect(back)
    result = desk.approve_posts(db.session, ids, current_user.email)
    db.session.commit()
    if result.approved:
        n = len(result.approved)
        flash(ngettext("Approved %(num)d post.", "Approved %(num)d posts.", n), "ok")
    for refusal in result.refused:
        flash(_("Post %(id)s was not changed: %(why)s", id=refusal["id"], why=refusal["reason"]), "error")
    return redirect(back)


@dataclass(frozen=True)
class NetworkPreview:
    """A post's text as one target would show it, or why it cannot be made."""

    target: Target
    lang: str
    rendered: Rendered | None
    problem: str | None


@bp.route("/desk/posts/<int:post_id>", methods=["GET", "POST"])
@staff_page()
def desk_post(post_id: int):
    """One post on the desk: approve or hold it, give it a template of its own, preview it on each target."""
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404, _("There is no post %(id)s.", id=post_id))
    stored = PostTemplateForm(formdata=None, data=post_template_data(post))
    form = PostTemplateForm() if request.method == "POST" else stored
    status = 200
    source = post.own_template
    if request.method == "POST":
        if not form.validate():
            status = 422
        else:
            source = form.template.data or None
            if request.form.get("action") == "save":
                saved = _save(post, source, form)
                if saved is not None:
                    return saved
                status = 422
    previews = _previews(post, source)
    return (
        render_template(
            "staff/desk_post.html",
            post=post,
            form=form,
            editable=post.status in desk.EDITABLE,
            previews=previews,
            attempts=post.attempt_log,
            zone=page_zone(post.slot.channel),
            desk_state=desk_state,
            waiting=why_waiting(post, now()),
        ),
        status,
    )


def why_waiting(post: Post, at) -> str | None:
    """Why an unsent post cannot go out now (its channel paused, its programme under embargo), said; None if it can."""
    if post.status not in PostStatus.UNSENT:
        return None
    channel, programme = post.slot.channel, post.slot.programme
    if channel.is_paused(at):
        reason = channel.promos_paused_reason or ""
        return _("Waiting: the channel's promos are paused. %(reason)s", reason=reason).strip()
    if is_embargoed(programme, at):
        zone = page_zone(channel)
        return _("Waiting: the programme is under embargo until %(at)s.", at=at_local(programme.embargo_until, zone))
    return None


def _save(post: Post, source: str | None, form: PostTemplateForm):
    """Save the template; a redirect when saved (or unchanged), None with the errors on the form."""
    before = post.own_template
    try:
        desk.set_post_template(db.session, post, source, current_user.email)
        db.session.commit()
    except Invalid as e:
        db.session.rollback()
        form.template.errors = [*form.template.errors, *e.errors.values()]
        return None
    except TooLong as e:
        db.session.rollback()
        form.template.errors = [
            *form.template.errors,
            _("Too long for %(target)s: %(length)s characters, at most %(limit)s.", target=post.target.name,
              length=e.length, limit=e.limit),
        ]  # fmt: skip
        return None
    except Conflict as e:
        db.session.rollback()
        flash(_("Post %(id)s was not changed: %(why)s", id=post.id, why=e), "error")
        return redirect(url_for("staff.desk_post", post_id=post.id))
    if post.own_template == before:  # the same template, line breaks as the browser sent them aside
        flash(_("Nothing changed."), "info")
    else:
        flash(_("Saved the template of post %(id)s.", id=post.id), "ok")
    return redirect(url_for("staff.desk_post", post_id=post.id))


def _previews(post: Post, source: str | None) -> list[NetworkPreview]:
    """The post's text on its own target, then on each other enabled target, as it would read when due."""
    at = max(post.due_at, now())
    others = db.session.scalars(
        select(Target).where(Target.is_enabled.is_(True), Target.id != post.target_id).order_by(Target.name)
    ).all()
    out = []
    for target in (post.target, *others):
        lang = post.lang if target.id == post.target_id else post_lang(target, post.slot.channel)
        try:
            limit = expected_limit(target, post.slot.programme)  # a caption beside the picture, if it has one
            rendered = render_slot(post.slot, target, lang, at, post.template, limit, source=source)
            out.append(NetworkPreview(target, lang, rendered, None))
        except TooLong as e:
            why = _("Too long for %(target)s: %(length)s characters, at most %(limit)s.", target=target.name,
                    length=e.length, limit=e.limit)  # fmt: skip
            out.append(NetworkPreview(target, lang, None, why))
        except (BadTemplate, PromoNotTrue) as e:
            out.append(NetworkPreview(target, lang, None, str(e)))
    return out


def _day(value: str | None) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is not None and 1900 < day.year < 2199 else None
