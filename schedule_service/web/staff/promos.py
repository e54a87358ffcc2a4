"""Promo plans: edit a channel's or a programme's steps, and preview each step's blurb per target."""

from dataclasses import dataclass
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Channel, Programme, Slot, Target
from schedule_service.models.slot import SCHEDULED
from schedule_service.promos import plan
from schedule_service.promos.render import (
    BadTemplate,
    PromoNotTrue,
    Rendered,
    TooLong,
    audience_zone,
    post_lang,
    render_slot,
    template_names,
)
from schedule_service.promos.when_phrase import languages
from schedule_service.schedule import Invalid
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.form_data import plan_data
from schedule_service.web.staff.forms import PlanForm, add_errors
from schedule_service.web.staff.grid import channel_or_404
from schedule_service.web.staff.programmes import programme_or_404

#: Coming slots offered to preview a plan with.
PREVIEW_SLOTS = 30


@dataclass(frozen=True)
class PreviewRow:
    """One step's blurb for one target, as it would read when due."""

    step: str
    target: Target
    at: datetime
    lang: str
    rendered: Rendered | None
    problem: str | None


@bp.get("/plans")
@staff_page()
def plans():
    """Which plan each channel follows, and the programmes with plans of their own."""
    channels = db.session.scalars(select(Channel).order_by(Channel.slug)).all()
    own = db.session.scalars(select(Programme).where(Programme.promo_plan.is_not(None)).order_by(Programme.title)).all()
    return render_template("staff/plans.html", channels=channels, programmes=own, default=plan.DEFAULT_PLAN)


@bp.route("/channels/<slug>/plan", methods=["GET", "POST"])
@staff_page()
def channel_plan(slug: str):
    """A channel's plan (the service's default until it has its own), with previews."""
    channel = channel_or_404(slug)
    coming = _coming(select(Slot).join(Programme).where(Slot.channel_id == channel.id, Programme.promo_plan.is_(None)))
    steps = channel.promo_plan if channel.promo_plan is not None else plan.DEFAULT_PLAN
    return _plan_page(channel, steps, coming, plan.set_channel_plan, "staff.channel_plan", {"slug": channel.slug})


@bp.route("/programmes/<int:programme_id>/plan", methods=["GET", "POST"])
@staff_page()
def programme_plan(programme_id: int):
    """A programme's own plan, which replaces its channels' plans, with previews."""
    programme = programme_or_404(programme_id)
    coming = _coming(select(Slot).where(Slot.programme_id == programme.id))
    steps = programme.promo_plan or []
    return _plan_page(
        programme, steps, coming, plan.set_programme_plan, "staff.programme_plan", {"programme_id": programme.id}
    )


def _coming(query) -> list[Slot]:
    """The next coming slots, and the one asked for (``slot``) however far off it is."""
    query = query.where(Slot.status == SCHEDULED, Slot.end_at > now())
    slots = list(db.session.scalars(query.order_by(Slot.start_at).limit(PREVIEW_SLOTS)).unique())
    # A full week has more coming slots than the list shows; "Preview its promos" must still find its own.
    wanted = request.values.get("slot", type=int) or request.form.get("preview_slot", type=int)
    if wanted and all(s.id != wanted for s in slots):
        slots += db.session.scalars(query.where(Slot.id == wanted)).unique().all()
    return slots


def _plan_page(owner: Channel | Programme, saved: list[dict], coming: list[Slot], setter, endpoint: str, args: dict):
    """Show, preview, save or reset a plan; bad steps are explained by their row and nothing is saved."""
    targets = db.session.scalars(select(Target).order_by(Target.name)).all()
    action = request.form.get("action") if request.method == "POST" else None
    shown = PlanForm(formdata=None, data=plan_data(saved))
    if request.method == "GET":
        form = shown
        form.preview_slot.data = request.args.get("slot", type=int)
    else:
        form = PlanForm()
    form.setup(
        [t.name for t in targets],
        sorted(template_names()),
        [SelectChoice(s.id, _slot_label(s)) for s in coming],
        list(languages()),
    )
    errors: list[str] = []
    status = 200
    steps, rows = saved, []
    if request.method == "POST" and form.validate():
        try:
            if action == "reset":
                setter(db.session, owner, None, current_user.email)
                db.session.commit()
                flash(_("Saved: it follows the plan above it again."), "ok")
                return redirect(url_for(endpoint, **args))
            if action == "none":
                setter(db.session, owner, [], current_user.email)
                db.session.commit()
                flash(_("Saved: no promos for it."), "ok")
                return redirect(url_for(endpoint, **args))
            steps, rows = form.plan(saved)
            if action == "save" and steps == shown.plan(saved)[0]:
                # What it follows now stays what it follows: the default or its channels' plans
                # are not copied into a plan of its own, and nothing is re-planned.
                flash(_("Nothing changed."), "info")
                return redirect(url_for(endpoint, **args, slot=form.preview_slot.data))
            steps = plan.validate_plan(db.session, steps)
            if action == "save":
                setter(db.session, owner, steps, current_user.email)
                db.session.commit()
                saved = ngettext(
                    "Saved the plan (%(num)s step); coming posts are re-planned.",
                    "Saved the plan (%(num)s steps); coming posts are re-planned.",
                    len(steps),
                )
                flash(saved, "ok")
                return redirect(url_for(endpoint, **args, slot=form.preview_slot.data))
        except Invalid as e:
            db.session.rollback()
            errors = _row_errors(form, rows, e.errors)
            status = 422
    elif request.method == "POST":
        status = 422
    slot = next((s for s in coming if s.id == form.preview_slot.data), coming[0] if coming else None)
    if slot is not None:
        form.preview_slot.data = slot.id
    previews = _previews(steps, slot, targets, form.preview_lang.data or None) if status == 200 else []
    return (
        render_template(
            "staff/plan.html",
            owner=owner,
            is_channel=isinstance(owner, Channel),
            own=owner.promo_plan is not None,
            form=form,
            errors=errors,
            slot=slot,
            previews=previews,
            action_url=url_for(endpoint, **args),
        ),
        status,
    )


def _row_errors(form: PlanForm, rows: list[int], errors: dict[str, str]) -> list[str]:
    """Put "<step index>.<field>" messages next to the field of the row the step came from."""
    leftover = []
    for key, message in errors.items():
        index, _, field = key.partition(".")
        if index.isdigit() and int(index) < len(rows):
            entry = form.steps[rows[int(index)]].form
            leftover += [f"step {int(index) + 1}: {m}" for m in add_errors(entry, {field: message})]
        else:
            leftover.append(message)
    return leftover


def _previews(steps: list[dict], slot: Slot | None, targets: list[Target], lang: str | None) -> list[PreviewRow]:
    """Each step's blurb for each of its targets, rendered by the sender's own code at the step's moment."""
    if slot is None:
        return []
    by_name = {t.name: t for t in targets}
    rows = []
    for step in steps:
        for name in step.get("targets") or []:
            target = by_name.get(name)
            if target is None:
                continue
            at = plan.step_moment(step, slot, target)
            text_lang = lang or post_lang(target, slot.channel)
            try:
                rendered = render_slot(slot, target, text_lang, at, step.get("template"))
                problem = None
            except (PromoNotTrue, TooLong, BadTemplate) as e:
                rendered, problem = None, str(e)
            local = at.astimezone(audience_zone(target, slot.channel))
            rows.append(PreviewRow(step["name"], target, local, text_lang, rendered, problem))
    return rows


def _slot_label(slot: Slot) -> str:
    wall = slot.start_at.astimezone(slot.channel.zone)
    return f"{wall:%Y-%m-%d %H:%M %Z} {slot.channel.name}: {slot.programme.title}"
