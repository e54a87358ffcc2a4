"""Channels, the week grid, and slots: add, move, cancel and restore, through schedule.py's operations."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from schedule_service import audit, listings, schedule
from schedule_service.broadcast_time import broadcast_day
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import AuditEntry, Channel, Post, Programme, ProgrammeTranslation, Slot
from schedule_service.models.promo import EXPIRED, REVOKED, WITHDRAWN
from schedule_service.models.slot import SCHEDULED
from schedule_service.promos import plan
from schedule_service.schedule import Conflict, Invalid, StaleVersion
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.form_data import channel_data, slot_data
from schedule_service.web.staff.forms import ChannelForm, SlotForm, VersionForm, add_errors, changed_values
from schedule_service.web.staff.programmes import title_holds

#: Where schedule.py's field names land on the slot form.
SLOT_FIELDS = {"start": "start_local", "end": "duration_minutes", "start_local": "start_local"}
DAYS_SHOWN = 7
#: At most this many programmes in the slot form's list; more are found by title.
CHOICES_SHOWN = 300
#: The newest programmes the list always offers (just entered, not yet scheduled).
NEWEST_SHOWN = 50
#: How far from today the grid goes (as the API's schedule reads).
MAX_DAYS_AWAY = 3660


def channel_or_404(slug: str) -> Channel:
    channel = db.session.scalar(select(Channel).where(Channel.slug == slug))
    if channel is None:
        abort(404, _("There is no channel %(slug)s.", slug=repr(slug)))
    return channel


def slot_or_404(slot_id: int) -> Slot:
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        abort(404, _("There is no slot %(id)s.", id=slot_id))
    return slot


def offer_programmes(form: SlotForm, channel: Channel, keep: int | None = None) -> None:
    """Fill the slot form's programme list, and note how many programmes there are in all.

    All of them while they are few. After a big import there are thousands: then the ones
    found by title (``?find=``), else the ones this channel airs around the shown week and the
    newest, always with ``keep`` (the slot's own, or the one just posted).
    """
    total = db.session.scalar(select(func.count()).select_from(Programme)) or 0
    pick = select(Programme.id, Programme.title)
    find = request.args.get("find", "").strip()
    if find:
        pick = pick.where(title_holds(find))
    elif total > CHOICES_SHOWN:
        first, _ = _first_day(channel)
        start, _ = listings.day_range(channel, first - timedelta(days=DAYS_SHOWN))
        _, end = listings.day_range(channel, first + timedelta(days=2 * DAYS_SHOWN))
        aired = select(Slot.programme_id).where(
            Slot.channel_id == channel.id, Slot.start_at >= start, Slot.start_at < end
        )
        newest = select(Programme.id).order_by(Programme.id.desc()).limit(NEWEST_SHOWN)
        pick = pick.where(Programme.id.in_(aired) | Programme.id.in_(newest))
    rows = db.session.execute(pick.order_by(Programme.title, Programme.id).limit(CHOICES_SHOWN)).all()
    if keep is not None and all(pid != keep for pid, _ in rows):
        rows += db.session.execute(select(Programme.id, Programme.title).where(Programme.id == keep)).all()
    # In the page's language's alphabetical order, as the editor reads the titles.
    labels = sorted(_labelled(rows), key=lambda row: row[1].casefold())
    form.programme_id.choices = [SelectChoice(pid, label) for pid, label in labels]
    form.programmes_total = total


@bp.get("/programmes/find.json")
@staff_page()
def find_programmes():
    """Programmes whose title holds ``?find=``, for the slot form's search as you type."""
    find = request.args.get("find", "").strip()[:200]
    query = select(Programme.id, Programme.title)
    if find:
        query = query.where(title_holds(find))
    rows = db.session.execute(query.order_by(Programme.title, Programme.id).limit(CHOICES_SHOWN)).all()
    total = db.session.scalar(select(func.count()).select_from(Programme)) or 0
    if find:
        hint = ngettext(
            "%(shown)d of %(num)d programme matches “%(find)s”.",
            "%(shown)d of %(num)d programmes match “%(find)s”.",
            total,
            shown=len(rows),
            find=find,
        )
    else:
        hint = ngettext(
            "The first %(shown)d of %(num)d programme by title.",
            "The first %(shown)d of %(num)d programmes by title.",
            total,
            shown=len(rows),
        )
    return {"items": [{"id": pid, "label": label} for pid, label in _labelled(rows)], "hint": hint}


def _labelled(rows) -> list[tuple[int, str]]:
    """(id, "title (#id)") for (id, title) rows, each title in the page's language where it is translated."""
    lang = str(get_locale() or "")
    ids = [pid for pid, _title in rows]
    translated = dict(
        db.session.execute(
            select(ProgrammeTranslation.programme_id, ProgrammeTranslation.title).where(
                ProgrammeTranslation.lang == lang,
                ProgrammeTranslation.programme_id.in_(ids),
                ProgrammeTranslation.title.is_not(None),
            )
        ).all()
    )
    return [(pid, f"{translated.get(pid) or title} (#{pid})") for pid, title in rows]


# The week grid


@bp.get("/channels/<slug>")
@staff_page()
def channel(slug: str):
    """A channel's week, broadcast day by broadcast day, with the form to add a slot."""
    channel = channel_or_404(slug)
    form = SlotForm(formdata=None)
    offer_programmes(form, channel)
    return _week_page(channel, form)


@bp.post("/channels/<slug>/slots")
@staff_page()
def add_slot(slug: str):
    """Add a slot; a clash shows the slots in the way beside the form, a DST gap or fold in words."""
    channel = channel_or_404(slug)
    form = SlotForm()
    offer_programmes(form, channel, keep=form.programme_id.data)
    if not form.validate():
        return _week_page(channel, form, status=422)
    programme = db.session.get(Programme, form.programme_id.data)
    try:
        slot = schedule.create_slot(db.session, channel, programme, form.values(), current_user.email)
        db.session.commit()
    except Invalid as e:
        db.session.rollback()
        return _week_page(channel, form, errors=add_errors(form, e.errors, SLOT_FIELDS), status=422)
    except Conflict as e:
        db.session.rollback()
        return _week_page(channel, form, conflict=e, status=409)
    flash(_("Added %(title)s at %(at)s.", title=programme.title, at=f"{_local(slot):%Y-%m-%d %H:%M %Z}"), "ok")
    return redirect(url_for("staff.slot", slot_id=slot.id))


def _week_page(channel: Channel, form: SlotForm, errors=(), conflict: Conflict | None = None, status: int = 200):
    shown, date_error = _first_day(channel)
    monday = shown - timedelta(days=shown.weekday())
    at = now()
    today = broadcast_day(at, channel.zone, channel.broadcast_day_start)
    bounds = [listings.day_range(channel, monday + timedelta(days=i)) for i in range(DAYS_SHOWN)]
    slots = db.session.scalars(
        listings.slots_between(channel.id, bounds[0][0], bounds[-1][1], include_cancelled=True)
    ).all()
    # A slot of the week before that runs on into Monday: Monday's first hours are not a gap.
    before = db.session.scalar(
        select(Slot.end_at)
        .where(Slot.channel_id == channel.id, Slot.status == SCHEDULED, Slot.start_at < bounds[0][0])
        .order_by(Slot.start_at.desc())
        .limit(1)
    )
    days, covered = [], before or bounds[0][0]
    for offset, (start, end) in enumerate(bounds):
        day = monday + timedelta(days=offset)
        own = [s for s in slots if start <= s.start_at < end]
        rows, covered = day_rows(day, start, end, own, covered, at, channel.zone)
        days.append((day, rows))
    return (
        render_template(
            "staff/channel.html",
            channel=channel,
            days=days,
            first=monday,
            today=today,
            at=at,
            previous=monday - timedelta(days=DAYS_SHOWN),
            following=monday + timedelta(days=DAYS_SHOWN),
            form=form,
            errors=[*([date_error] if date_error else []), *errors],
            conflict=conflict,
        ),
        status,
    )


@dataclass(frozen=True)
class Row:
    """A line in a day of the staff grid: a slot, a gap with no programme, "after midnight", or now."""

    kind: str  #: "slot", "gap", "midnight" or "now"
    start: datetime
    end: datetime | None = None
    slot: Slot | None = None


def day_rows(
    day: date, start: datetime, end: datetime, slots: list[Slot], covered: datetime, at: datetime, tz: ZoneInfo
) -> tuple[list[Row], datetime]:
    """A broadcast day's rows in air order, and how far scheduled slots cover (for the next day).

    :param covered: the end of the last scheduled slot before this day (or the day's start).
    """
    rows: list[Row] = []
    covered = max(covered, start)
    for slot in slots:
        if slot.is_cancelled:
            rows.append(Row("slot", slot.start_at, slot.end_at, slot))
            continue
        if slot.start_at > covered:
            rows.append(Row("gap", covered, slot.start_at))
        rows.append(Row("slot", slot.start_at, slot.end_at, slot))
        covered = max(covered, slot.end_at)
    if any(not s.is_cancelled for s in slots) and covered < end:
        rows.append(Row("gap", covered, end))
    if start <= at < end:
        place = next((i for i, row in enumerate(rows) if row.start > at), len(rows))
        rows.insert(place, Row("now", at))
    # Where the wall clock passes midnight, say so: those times belong to this broadcast day still.
    place = next((i for i, row in enumerate(rows) if row.start.astimezone(tz).date() > day), None)
    if place is not None:
        rows.insert(place, Row("midnight", rows[place].start))
    return rows, covered


def _first_day(channel: Channel) -> tuple[date, str | None]:
    today = broadcast_day(now(), channel.zone, channel.broadcast_day_start)
    raw = request.args.get("date")
    if not raw:
        return today, None
    try:
        first = date.fromisoformat(raw)
    except ValueError:
        return today, _("%(raw)s is not a date as YYYY-MM-DD; showing this week.", raw=repr(raw))
    if abs((first - today).days) > MAX_DAYS_AWAY:
        return today, _("%(raw)s is more than ten years away; showing this week.", raw=raw)
    return first, None


# Channels


@bp.route("/new-channel", methods=["GET", "POST"])
@staff_page()
def new_channel():
    """Add a channel."""
    form = ChannelForm()
    _spare_names(form)
    if form.validate_on_submit():
        try:
            channel = schedule.create_channel(db.session, form.values(), current_user.email)
            db.session.commit()
        except (Invalid, Conflict) as e:
            db.session.rollback()
            return _channel_form(form, None, _channel_errors(form, e), 422)
        flash(_("Added channel %(name)s.", name=channel.name), "ok")
        return redirect(url_for("staff.channel", slug=channel.slug))
    return _channel_form(form, None, (), 422 if request.method == "POST" else 200)


@bp.route("/channels/<slug>/settings", methods=["GET", "POST"])
@staff_page()
def edit_channel(slug: str):
    """Change a channel's names, zone or broadcast day."""
    channel = channel_or_404(slug)
    shown = ChannelForm(formdata=None, data=channel_data(channel))
    form = shown if request.method == "GET" else ChannelForm()
    _spare_names(form)
    if form.validate_on_submit():
        changes = changed_values(shown.values(), form.values())
        if not changes:
            flash(_("Nothing changed."), "info")
            return redirect(url_for("staff.channel", slug=channel.slug))
        try:
            schedule.update_channel(db.session, channel, changes, current_user.email)
            db.session.commit()
        except (Invalid, Conflict) as e:
            db.session.rollback()
            return _channel_form(form, channel, _channel_errors(form, e), 422)
        flash(_("Saved channel %(name)s.", name=channel.name), "ok")
        return redirect(url_for("staff.channel", slug=channel.slug))
    return _channel_form(form, channel, (), 422 if request.method == "POST" else 200)


def _spare_names(form: ChannelForm) -> None:
    """A name row for each service language without one, and one more, to fill in without a script."""
    if request.method != "GET":
        return
    form.editions.append_entry()  # a blank edition row, likewise
    have = {(entry.lang.data or "").strip() for entry in form.names}
    for lang in current_app.config["LANGUAGES"]:
        if lang not in have:
            form.names.append_entry({"lang": lang})
    form.names.append_entry()
    titled = {(entry.lang.data or "").strip() for entry in form.embargo_title}
    for lang in current_app.config["LANGUAGES"]:
        if lang not in titled:
            form.embargo_title.append_entry({"lang": lang})


def _channel_errors(form: ChannelForm, error: Invalid | Conflict) -> list[str]:
    if isinstance(error, Invalid):
        # An edition's field ("editions.1.shift") beside that field of its row.
        rows = [entry.form for entry in form.editions if entry.form.values() is not None]
        errors = {}
        for key, message in error.errors.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "editions" and parts[1].isdigit() and int(parts[1]) < len(rows):
                row = rows[int(parts[1])]
                if parts[2] in row._fields:
                    row[parts[2]].errors = [*row[parts[2]].errors, message]
                    continue
            errors[key] = message
        return add_errors(form, errors)
    field = "xmltv_id" if "xmltv_id" in str(error) else "slug"
    form[field].errors = [*form[field].errors, str(error)]
    return []


def _channel_form(form: ChannelForm, channel: Channel | None, errors, status: int):
    return render_template("staff/channel_form.html", form=form, channel=channel, errors=errors), status


# One slot


@bp.route("/slots/<int:slot_id>", methods=["GET", "POST"])
@staff_page()
def slot(slot_id: int):
    """A slot: move or change it (refused when someone changed it meanwhile), its posts, its history."""
    slot = slot_or_404(slot_id)
    if request.method == "GET":
        return _slot_page(slot, _slot_form(slot))
    form = SlotForm()
    offer_programmes(form, slot.channel, keep=form.programme_id.data)
    if not form.validate():
        return _slot_page(slot, form, status=422)
    programme = None
    if form.programme_id.data != slot.programme_id:
        programme = db.session.get(Programme, form.programme_id.data)
    # Only what the person changed: an untouched start or length keeps its seconds.
    changes = form.changes(SlotForm(formdata=None, data=slot_data(slot)))
    version = slot.version
    try:
        schedule.update_slot(db.session, slot, changes, current_user.email, _seen_version(form), programme=programme)
        db.session.commit()
    except Invalid as e:
        db.session.rollback()
        return _slot_page(slot, form, errors=add_errors(form, e.errors, SLOT_FIELDS), status=422)
    except Conflict as e:
        db.session.rollback()
        return _slot_page(slot, form, conflict=e, status=409)
    except StaleVersion as e:
        db.session.rollback()
        return _stale(e.slot, form, _seen_version(form))
    if slot.version == version:
        flash(_("Nothing changed."), "info")
    else:
        flash(_("Saved slot %(id)s.", id=slot.id), "ok")
    return redirect(url_for("staff.slot", slot_id=slot.id))


@bp.get("/slots/<int:slot_id>/cancel")
@staff_page()
def confirm_cancel(slot_id: int):
    """Ask before cancelling: what goes, and what happens to its promos; the answer is a form post."""
    slot = slot_or_404(slot_id)
    # The posts a cancel takes back: those still to go and those out, not ones already dropped.
    posts = (
        db.session.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.slot_id == slot.id, Post.status.not_in((EXPIRED, REVOKED, WITHDRAWN)))
        )
        or 0
    )
    day = broadcast_day(slot.start_at, slot.channel.zone, slot.channel.broadcast_day_start)
    return render_template(
        "staff/confirm_cancel.html",
        slot=slot,
        day=day,
        posts=posts,
        version_form=VersionForm(formdata=None, prefix="act", version=str(slot.version)),
    )


@bp.post("/slots/<int:slot_id>/cancel")
@staff_page()
def cancel_slot(slot_id: int):
    """Cancel a slot: it stays, marked cancelled; its promos are revoked or withdrawn."""
    slot = slot_or_404(slot_id)
    form = VersionForm(prefix="act")
    if not form.validate():
        return _slot_page(slot, _slot_form(slot), errors=[_("The form was incomplete; nothing changed.")], status=422)
    try:
        schedule.cancel_slot(db.session, slot, current_user.email, _seen_version(form))
        db.session.commit()
    except StaleVersion as e:
        db.session.rollback()
        return _stale(e.slot, _slot_form(e.slot), _seen_version(form))
    flash(_("Cancelled slot %(id)s.", id=slot.id), "ok")
    return redirect(url_for("staff.slot", slot_id=slot.id))


@bp.post("/slots/<int:slot_id>/restore")
@staff_page()
def restore_slot(slot_id: int):
    """Put a cancelled slot back on air, if nothing else took its time meanwhile."""
    slot = slot_or_404(slot_id)
    form = VersionForm(prefix="act")
    if not form.validate():
        return _slot_page(slot, _slot_form(slot), errors=[_("The form was incomplete; nothing changed.")], status=422)
    try:
        schedule.update_slot(db.session, slot, {"status": SCHEDULED}, current_user.email, _seen_version(form))
        db.session.commit()
    except Conflict as e:
        db.session.rollback()
        return _slot_page(slot, _slot_form(slot), conflict=e, status=409)
    except StaleVersion as e:
        db.session.rollback()
        return _stale(e.slot, _slot_form(e.slot), _seen_version(form))
    flash(_("Slot %(id)s is back on the schedule.", id=slot.id), "ok")
    return redirect(url_for("staff.slot", slot_id=slot.id))


def _seen_version(form) -> int:
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return -1  # no readable version: certainly not the current one


def _stale(slot: Slot, form, seen: int) -> tuple:
    """The refusal of a stale edit: the other person's changes, and the form to try again over them."""
    db.session.refresh(slot)
    newer = slot.version - seen if 0 < seen < slot.version else slot.version
    entries = db.session.scalars(
        audit.history("slot", slot.id).where(AuditEntry.action != "create").limit(max(newer, 1))
    ).all()
    form.version.data = str(slot.version)
    return _slot_page(slot, form, stale=entries, status=412)


def _local(slot: Slot) -> datetime:
    return slot.start_at.astimezone(slot.channel.zone)


def _slot_form(slot: Slot) -> SlotForm:
    form = SlotForm(formdata=None, data=slot_data(slot))
    offer_programmes(form, slot.channel, keep=slot.programme_id)
    return form


def _slot_page(slot: Slot, form: SlotForm, errors=(), conflict=None, stale=None, status: int = 200):
    posts = db.session.scalars(select(Post).where(Post.slot_id == slot.id).order_by(Post.due_at, Post.id)).all()
    # The slot's own changes (with the import run that made or last changed it), and the
    # decisions people took on its posts.
    own = audit.history("slot", slot.id).with_only_columns(AuditEntry.id).order_by(None)
    trail = db.session.scalars(
        audit.history().where(
            AuditEntry.id.in_(own)
            | ((AuditEntry.entity == "post") & AuditEntry.entity_id.in_([str(p.id) for p in posts]))
        )
    ).all()
    day = broadcast_day(slot.start_at, slot.channel.zone, slot.channel.broadcast_day_start)
    return (
        render_template(
            "staff/slot.html",
            slot=slot,
            day=day,
            form=form,
            version_form=VersionForm(formdata=None, prefix="act", version=str(slot.version)),
            errors=errors,
            conflict=conflict,
            stale=stale,
            posts=posts,
            coming=plan.coming_steps(db.session, slot),
            horizon_days=plan.horizon().days,
            trail=trail,
        ),
        status,
    )
