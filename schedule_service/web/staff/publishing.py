"""Publishing: the approval queue, the publish log with a person's decisions, and (admins) targets."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from schedule_service import audit, listings
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Post, Target
from schedule_service.models.promo import HELD, PLANNED, STATUSES
from schedule_service.promos.render import text_when_due
from schedule_service.promos.when_phrase import languages
from schedule_service.publishing import decisions, target_settings
from schedule_service.schedule import Conflict, Invalid
from schedule_service.web.security import MAX_ID, safe_next, staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.desk import page_zone
from schedule_service.web.staff.form_data import target_data
from schedule_service.web.staff.forms import MarkPublishedForm, TargetForm, add_errors

PAGE = 100
#: Planned posts shown under the held ones, to hold before they go out.
COMING = 50


# The approval queue


@bp.get("/approvals")
@staff_page()
def approvals():
    """Held posts, each with its text as it will read when due; and the next planned ones, to hold."""
    held = db.session.scalars(select(Post).where(Post.status == HELD).order_by(Post.due_at, Post.id)).all()
    coming = db.session.scalars(
        select(Post).where(Post.status == PLANNED, Post.due_at >= now()).order_by(Post.due_at, Post.id).limit(COMING)
    ).all()
    return render_template(
        "staff/approvals.html", held=[(p, text_when_due(p, now())) for p in held], coming=coming, zone=page_zone()
    )


# A person's decisions on a post


def _decide(post_id: int, operation, done, *args):
    """Lock the post, apply the decision, commit; a move not allowed is explained, and changes nothing."""
    post = decisions.lock_post(db.session, post_id)
    if post is None:
        abort(404, _("There is no post %(id)s.", id=post_id))
    try:
        operation(db.session, post, current_user.email, *args)
        db.session.commit()
    except (Conflict, Invalid) as e:
        db.session.rollback()
        flash(_("Post %(id)s was not changed: %(why)s", id=post_id, why=e), "error")
    else:
        flash(_("Post %(id)s %(done)s.", id=post_id, done=done), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("staff.post", post_id=post_id)))


@bp.post("/posts/<int:post_id>/approve")
@staff_page()
def approve_post(post_id: int):
    """Let a held post go out when due."""
    return _decide(post_id, decisions.approve_post, _l("is approved; it goes out when due"))


@bp.post("/posts/<int:post_id>/hold")
@staff_page()
def hold_post(post_id: int):
    """Keep a planned post back until someone approves it."""
    return _decide(post_id, decisions.hold_post, _l("is held until someone approves it"))


@bp.post("/posts/<int:post_id>/retry")
@staff_page()
def retry_post(post_id: int):
    """Send a failed or unknown post again."""
    return _decide(post_id, decisions.retry_post, _l("will be sent again at the next tick"))


@bp.post("/posts/<int:post_id>/published")
@staff_page()
def mark_published(post_id: int):
    """Record that an unknown post did go out, as found at the target."""
    form = MarkPublishedForm()
    if not form.validate():
        why = "; ".join(sum(form.errors.values(), []))
        flash(_("Post %(id)s was not changed: %(why)s", id=post_id, why=why), "error")
        return redirect(safe_next(request.form.get("next"), url_for("staff.post", post_id=post_id)))
    url, external_id = form.url.data or None, form.external_id.data or None
    return _decide(post_id, decisions.mark_published, _l("is marked published"), external_id, url)


# The publish log


@bp.get("/posts")
@staff_page()
def publish_log():
    """Every post, newest due first: status, attempts, last error, where it went; filtered by status or target."""
    status = request.args.get("status") or None
    target = request.args.get("target") or None
    slot_id = request.args.get("slot", type=int)
    before = request.args.get("before", type=int)
    query = select(Post).join(Target).order_by(Post.due_at.desc(), Post.id.desc())
    if status in STATUSES:
        query = query.where(Post.status == status)
    if target:
        query = query.where(Target.name == target)
    if slot_id is not None and 0 < slot_id <= MAX_ID:
        query = query.where(Post.slot_id == slot_id)
    if before is not None and 0 < before <= MAX_ID:
        # Pages follow (due_at, id) down from the last post seen.
        last = db.session.get(Post, before)
        if last is not None:
            query = query.where((Post.due_at < last.due_at) | ((Post.due_at == last.due_at) & (Post.id < last.id)))
    rows = db.session.scalars(query.options(selectinload(Post.attempt_log)).limit(PAGE + 1)).all()
    targets = db.session.scalars(select(Target.name).order_by(Target.name)).all()
    return render_template(
        "staff/publish_log.html",
        zone=page_zone(),
        went_out=went_out,
        posts=rows[:PAGE],
        older=rows[PAGE - 1].id if len(rows) > PAGE else None,
        status=status,
        target=target,
        slot_id=slot_id,
        statuses=STATUSES,
        targets=targets,
        mark_form=MarkPublishedForm(formdata=None),
    )


@bp.get("/posts/<int:post_id>")
@staff_page()
def post(post_id: int):
    """One post: its text, every attempt with its answer, and its history."""
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404, _("There is no post %(id)s.", id=post_id))
    trail = db.session.scalars(audit.history("post", post.id)).all()
    follow_ups = db.session.scalars(select(Post).where(Post.parent_id == post.id).order_by(Post.id)).all()
    return render_template(
        "staff/post.html",
        zone=page_zone(post.slot.channel),
        post=post,
        text=text_when_due(post, now())[0],
        trail=trail,
        follow_ups=follow_ups,
        mark_form=MarkPublishedForm(formdata=None),
    )


def went_out(post: Post) -> str | None:
    """The text the post's last successful attempt sent: what went out, not what would go out now."""
    sent = [a for a in post.attempt_log if a.outcome == "published" and a.text is not None]
    return sent[-1].text if sent else None


# Targets (admins)


@bp.get("/targets")
@staff_page("admin")
def targets():
    """Every target, and the form to add one."""
    return _targets_page(_target_form(None))


@bp.post("/targets")
@staff_page("admin")
def add_target():
    """Add a target; what it lacks to publish is said by each field."""
    form = _target_form(None, from_request=True)
    if form.validate():
        try:
            target = target_settings.create_target(db.session, form.values(creating=True), current_user.email)
            db.session.commit()
        except (Invalid, Conflict) as e:
            db.session.rollback()
            return _targets_page(form, _target_errors(form, e), 422)
        flash(_("Added target %(name)s.", name=target.name), "ok")
        return redirect(url_for("staff.targets"))
    return _targets_page(form, status=422)


@bp.route("/targets/<name>", methods=["GET", "POST"])
@staff_page("admin")
def target(name: str):
    """Change a target; its credentials are write-only: an empty field keeps them."""
    target = _target_or_404(name)
    form = _target_form(target, from_request=request.method == "POST")
    errors, status = [], 200
    if request.method == "POST":
        if form.validate():
            changes = form.changes(_target_form(target))
            try:
                target_settings.update_target(db.session, target, changes, current_user.email)
                db.session.commit()
            except (Invalid, Conflict) as e:
                db.session.rollback()
                errors, status = _target_errors(form, e), 422
            else:
                if changes:
                    flash(_("Saved target %(name)s.", name=target.name), "ok")
                else:
                    flash(_("Nothing changed."), "info")
                return redirect(url_for("staff.target", name=target.name))
        else:
            status = 422
    trail = db.session.scalars(audit.history("target", target.name).limit(50)).all()
    return render_template("staff/target.html", target=target, form=form, errors=errors, trail=trail), status


@bp.post("/targets/<name>/delete")
@staff_page("admin")
def delete_target(name: str):
    """Delete a target without posts; one with a publish log must be disabled instead."""
    target = _target_or_404(name)
    try:
        target_settings.delete_target(db.session, target, current_user.email)
        db.session.commit()
    except Conflict as e:
        db.session.rollback()
        flash(_("Not deleted: %(why)s", why=e), "error")
        return redirect(url_for("staff.target", name=name))
    flash(_("Deleted target %(name)s.", name=name), "ok")
    return redirect(url_for("staff.targets"))


def _target_or_404(name: str) -> Target:
    target = db.session.scalar(select(Target).where(Target.name == name))
    if target is None:
        abort(404, _("There is no target %(name)s.", name=repr(name)))
    return target


def _target_form(target: Target | None, from_request: bool = False) -> TargetForm:
    if from_request:
        form = TargetForm()
    elif target is None:
        form = TargetForm(formdata=None)
    else:
        form = TargetForm(formdata=None, data=target_data(target))
    form.lang.choices = [SelectChoice("", "the channel's"), *(SelectChoice(x) for x in languages())]
    form.edition.choices = [
        SelectChoice("", _l("none: the channel's own times")),
        *(SelectChoice(e.slug, f"{e.name} ({e.slug})") for e in listings.all_editions(db.session)),
    ]
    if target is not None:
        # Name and kind stay: plans and sent posts refer to them.
        form.name.data, form.kind.data = target.name, target.kind
    return form


def _target_errors(form: TargetForm, error: Invalid | Conflict) -> list[str]:
    if isinstance(error, Invalid):
        fields = {"is_approval_required": "requires_approval", "is_enabled": "enabled"}
        return add_errors(form, error.errors, fields)
    form.name.errors = [*form.name.errors, str(error)]
    return []


def _targets_page(form: TargetForm, errors=(), status: int = 200):
    rows = db.session.scalars(select(Target).order_by(Target.name)).all()
    return render_template("staff/targets.html", targets=rows, form=form, errors=errors), status
