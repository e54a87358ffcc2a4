"""The kill switch on the channel's staff page: pause its promos with a reason and an optional end, resume them."""

from datetime import datetime

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import Length

from schedule_service.broadcast_time import WallTimeError, to_instant
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.errors import Invalid
from schedule_service.models import Channel
from schedule_service.publishing import kill_switch
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.checked_form import FlaskForm
from schedule_service.web.staff.grid import channel_or_404

#: How the end of a pause is shown and typed: the channel's wall clock, to the second.
WALL = "%Y-%m-%dT%H:%M:%S"


class PauseForm(FlaskForm):
    reason = StringField("Reason", validators=[Length(max=kill_switch.REASON_MAX)])
    until = StringField("Until", validators=[Length(max=32)])


def pause_until_shown(channel: Channel) -> str:
    """The pause's end as the form shows it: the channel's wall time, or empty."""
    until = channel.promos_paused_until
    return until.astimezone(channel.zone).strftime(WALL) if until is not None else ""


def _until(form: PauseForm, channel: Channel) -> datetime | None:
    text = (form.until.data or "").strip()
    if not text:
        return None
    if channel.is_paused(now()) and text == pause_until_shown(channel):
        return channel.promos_paused_until  # shown and sent back unchanged: the very instant
    try:
        wall = datetime.fromisoformat(text)
    except ValueError as e:
        raise Invalid({"until": _("A date and time like 2031-11-27T21:00.")}) from e
    try:
        return to_instant(wall.replace(tzinfo=None), channel.zone, fold=0)
    except WallTimeError as e:
        raise Invalid({"until": str(e)}) from e


@bp.post("/channels/<slug>/promos/pause")
@staff_page()
def pause_promos(slug: str):
    """Pause (or change the pause of) the channel's promos; a refusal is said on the channel's page."""
    channel = channel_or_404(slug)
    form = PauseForm()
    try:
        if not form.validate():
            raise Invalid({name: " ".join(str(e) for e in errors) for name, errors in form.errors.items()})
        kill_switch.pause_promos(db.session, channel, _until(form, channel), form.reason.data, current_user.email)
        db.session.commit()
    except Invalid as e:
        db.session.rollback()
        said = {kill_switch.NO_REASON: _(kill_switch.NO_REASON), kill_switch.UNTIL_PASSED: _("Until: in the future.")}
        for field, message in e.errors.items():
            label = {"reason": _("Reason"), "until": _("Until")}.get(field, field)
            flash(f"{label}: {said.get(message, message)}", "error")
        return redirect(url_for("staff.channel", slug=slug))
    flash(_("Promos of %(channel)s are paused.", channel=channel.name), "ok")
    return redirect(url_for("staff.channel", slug=slug))


@bp.post("/channels/<slug>/promos/resume")
@staff_page()
def resume_promos(slug: str):
    """Resume the channel's promos: each held post goes out if still true, else expires."""
    channel = channel_or_404(slug)
    kill_switch.resume_promos(db.session, channel, current_user.email)
    db.session.commit()
    flash(_("Promos of %(channel)s go out again.", channel=channel.name), "ok")
    return redirect(url_for("staff.channel", slug=slug))


bp.add_app_template_global(now, "clock_now")
bp.add_app_template_global(pause_until_shown, "pause_until_shown")
