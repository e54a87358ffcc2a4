"""Fast entry on the week grid: repeat a slot, copy days, paste a lineup; preview, then all or nothing.

Each page posts its form either to preview (a dry run: what would be made, every slot in the
way) or to apply (nothing is written while anything is in the way). No script needed.
"""

from datetime import date, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from schedule_service import fast_entry
from schedule_service.broadcast_time import broadcast_day
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.fast_entry import Outcome
from schedule_service.models import Channel
from schedule_service.schedule import Conflict, Invalid
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.fast_entry_forms import CopyForm, LineupForm, RepeatForm
from schedule_service.web.staff.forms import add_errors
from schedule_service.web.staff.grid import channel_or_404, slot_or_404

#: Where the operations' field names land on the forms.
COPY_FIELDS = {"from": "source", "to": "onto"}
LINEUP_FIELDS = {"date": "day"}


@bp.route("/slots/<int:slot_id>/repeat", methods=["GET", "POST"])
@staff_page()
def repeat_slot(slot_id: int):
    """Repeat a slot every day, weekday or week until a date."""
    slot = slot_or_404(slot_id)
    form = RepeatForm() if request.method == "POST" else RepeatForm(formdata=None)
    if request.method == "GET":
        form.until.data = _arg_date("until")
    page = _page("staff/repeat.html", form, slot.channel, slot=slot)
    if not form.validate_on_submit():
        return page(status=422 if request.method == "POST" else 200)
    return _run(
        form,
        page,
        slot.channel,
        lambda dry: fast_entry.repeat_slot(
            db.session, slot, form.every.data, form.until.data, current_user.email, dry_run=dry
        ),
    )


@bp.route("/channels/<slug>/copy", methods=["GET", "POST"])
@staff_page()
def copy_days(slug: str):
    """Copy a broadcast day, or up to a week of them, onto other days."""
    channel = channel_or_404(slug)
    if request.method == "POST":
        form = CopyForm()
    else:
        days = request.args.get("days", 1, type=int)
        form = CopyForm(formdata=None, days=days if 1 <= days <= 7 else 1)
        form.source.data, form.onto.data = _arg_date("from"), _arg_date("to")
    page = _page("staff/copy_days.html", form, channel)
    if not form.validate_on_submit():
        return page(status=422 if request.method == "POST" else 200)
    return _run(
        form,
        page,
        channel,
        lambda dry: fast_entry.copy_days(
            db.session, channel, form.source.data, form.onto.data, form.days.data, current_user.email, dry_run=dry
        ),
        COPY_FIELDS,
    )


@bp.route("/channels/<slug>/lineup", methods=["GET", "POST"])
@staff_page()
def paste_lineup(slug: str):
    """Paste a day's lineup as "HH:MM Title" lines; the preview matches titles to programmes."""
    channel = channel_or_404(slug)
    if request.method == "POST":
        form = LineupForm()
    else:
        form = LineupForm(formdata=None)
        form.day.data = _arg_date("date") or broadcast_day(now(), channel.zone, channel.broadcast_day_start)
    page = _page("staff/lineup.html", form, channel)
    if not form.validate_on_submit():
        return page(status=422 if request.method == "POST" else 200)

    def operation(dry: bool) -> Outcome:
        if not dry and not form.create_missing.data:
            # The preview offered to create them: applying without that choice only looks.
            outcome = fast_entry.paste_lineup(
                db.session, channel, form.day.data, form.text.data, current_user.email, dry_run=True
            )
            if outcome.new_titles:
                form.create_missing.errors = [
                    ngettext(
                        "%(num)d title is not a programme yet: tick this to create it, or correct the title.",
                        "%(num)d titles are not programmes yet: tick this to create them, or correct the titles.",
                        len(outcome.new_titles),
                    )
                ]
                return outcome
        return fast_entry.paste_lineup(
            db.session, channel, form.day.data, form.text.data, current_user.email, dry_run=dry
        )

    return _run(form, page, channel, operation, LINEUP_FIELDS)


def _page(template: str, form, channel: Channel, **context):
    """Render a fast-entry page with whatever outcome and errors it has come to."""

    def render(outcome: Outcome | None = None, errors=(), status: int = 200):
        return render_template(template, form=form, channel=channel, outcome=outcome, errors=errors, **context), status

    return render


def _run(form, page, channel: Channel, operation, fields: dict[str, str] | None = None):
    """Preview or apply: a refusal by the field it concerns, clashes listed, or the slots made."""
    try:
        outcome = operation(form.dry_run)
    except Invalid as e:
        db.session.rollback()
        return page(errors=add_errors(form, e.errors, fields), status=422)
    except Conflict as e:  # someone took the time between the check and the write
        db.session.rollback()
        return page(errors=[str(e)], status=409)
    if not outcome.applied:
        db.session.rollback()
        if form.dry_run:
            return page(outcome)
        return page(outcome, status=409 if outcome.conflicts else 422)
    db.session.commit()
    made = len(outcome.created)
    flash(ngettext("Made %(num)d slot.", "Made %(num)d slots.", made), "ok")
    if outcome.new_titles:
        flash(_("New programmes: %(titles)s.", titles=", ".join(outcome.new_titles)), "ok")
    first = broadcast_day(outcome.created[0].start_at, channel.zone, channel.broadcast_day_start)
    return redirect(url_for("staff.channel", slug=channel.slug, date=first.isoformat()))


def _arg_date(name: str) -> date | None:
    try:
        value = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    return value if abs(value - now().date()) < timedelta(days=3660) else None
