"""Programmes: the list, and the form with guests, translations and the picture."""

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from schedule_service import audit, media, schedule
from schedule_service.db import db
from schedule_service.models import Programme, ProgrammeTranslation, Slot
from schedule_service.schedule import Conflict
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.form_data import programme_data
from schedule_service.web.staff.forms import ProgrammeForm, changed_values

PAGE = 50


def programme_or_404(programme_id: int) -> Programme:
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        abort(404, _("There is no programme %(id)s.", id=programme_id))
    return programme


def title_holds(text: str):
    """Programmes whose title, or a translation's, holds ``text`` in any case; ``%`` and ``_`` are plain.

    An editor reading the pages in Russian types the Russian title the grid shows.
    """
    # SQLite lowers ASCII letters only: a Cyrillic title is found as typed, too.
    translated = select(ProgrammeTranslation.programme_id).where(
        func.lower(ProgrammeTranslation.title).contains(text.lower(), autoescape=True)
        | ProgrammeTranslation.title.contains(text, autoescape=True)
    )
    return func.lower(Programme.title).contains(text.lower(), autoescape=True) | Programme.id.in_(translated)


@bp.get("/programmes")
@staff_page()
def programmes():
    """Programmes by title, searchable."""
    q = (request.args.get("q") or "").strip()
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 10**6)
    query = select(Programme)
    if q:
        query = query.where(title_holds(q))
    rows = db.session.scalars(query.order_by(Programme.title, Programme.id).offset((page - 1) * PAGE).limit(PAGE + 1))
    rows = rows.all()
    return render_template("staff/programmes.html", programmes=rows[:PAGE], more=len(rows) > PAGE, page=page, q=q)


@bp.route("/programmes/new", methods=["GET", "POST"])
@staff_page()
def new_programme():
    """Add a programme."""
    form = ProgrammeForm()
    if request.method == "GET":
        _spare_rows(form)
    if form.validate_on_submit() and (picture := _picture_change(form, None)) is not None:
        programme = schedule.create_programme(db.session, form.values() | picture, current_user.email)
        db.session.commit()
        flash(_("Added %(title)s.", title=programme.title), "ok")
        return redirect(url_for("staff.programme", programme_id=programme.id))
    return _form_page(form, None, status=422 if request.method == "POST" else 200)


@bp.route("/programmes/<int:programme_id>", methods=["GET", "POST"])
@staff_page()
def programme(programme_id: int):
    """Change a programme and its translations."""
    programme = programme_or_404(programme_id)
    shown = ProgrammeForm(formdata=None, data=programme_data(programme))
    if request.method == "GET":
        _spare_rows(shown, programme)
        return _form_page(shown, programme)
    form = ProgrammeForm()
    if form.validate_on_submit() and (picture := _picture_change(form, programme)) is not None:
        changes = changed_values(shown.values(), form.values()) | picture
        if changes:
            schedule.update_programme(db.session, programme, changes, current_user.email)
            db.session.commit()
            flash(_("Saved %(title)s.", title=programme.title), "ok")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for("staff.programme", programme_id=programme.id))
    return _form_page(form, programme, status=422)


@bp.post("/programmes/<int:programme_id>/delete")
@staff_page()
def delete_programme(programme_id: int):
    """Delete a programme no slot uses; one that is scheduled is refused, naming the slots."""
    programme = programme_or_404(programme_id)
    title = programme.title
    try:
        schedule.delete_programme(db.session, programme, current_user.email)
        db.session.commit()
    except Conflict as e:
        db.session.rollback()
        form = ProgrammeForm(formdata=None, data=programme_data(programme))
        _spare_rows(form, programme)
        return _form_page(form, programme, conflict=e, status=409)
    flash(_("Deleted %(title)s.", title=title), "ok")
    return redirect(url_for("staff.programmes"))


def _picture_change(form: ProgrammeForm, programme: Programme | None) -> dict | None:
    """``{"image_hash": …}`` when a picture was chosen (kept, re-encoded) or removed, else ``{}``;
    None, with the reason beside the field, when the chosen file is no picture: nothing is saved."""
    upload = form.picture.data
    data = upload.read() if upload is not None and getattr(upload, "filename", None) else b""
    was = programme.image_hash if programme is not None else None
    if data:
        try:
            digest = media.ingest(data, Path(current_app.config["PICTURES_DIR"]))
        except media.PictureError as e:
            form.picture.errors = [*form.picture.errors, str(e)]
            return None
        return {"image_hash": digest} if digest != was else {}
    if form.remove_picture.data and was:
        return {"image_hash": None}
    return {}


#: Empty guest rows under the filled ones, to add guests without a script.
SPARE_GUESTS = 2


def _spare_rows(form: ProgrammeForm, programme: Programme | None = None) -> None:
    """Rows to fill in without a script: one translation per service language not yet translated,
    one more, and empty guest rows (in each translation too, when guests are translated).

    Only on a fresh form: one sent back keeps the rows it had.
    """
    have = {(entry.lang.data or "").strip() for entry in form.translations}
    own = form.language.data or (programme.language if programme else "en")
    for lang in current_app.config["LANGUAGES"]:
        if lang != own and lang not in have:
            form.translations.append_entry({"lang": lang})
    form.translations.append_entry()
    for guests in [form.guests, *(entry.form["guests"] for entry in form.translations if "guests" in entry.form)]:
        for _row in range(SPARE_GUESTS):
            guests.append_entry()


def _form_page(form: ProgrammeForm, programme: Programme | None, conflict: Conflict | None = None, status=200):
    slots = []
    trail = []
    if programme is not None:
        slots = db.session.scalars(
            select(Slot).where(Slot.programme_id == programme.id).order_by(Slot.start_at.desc()).limit(20)
        ).all()
        trail = db.session.scalars(audit.history("programme", programme.id).limit(50)).all()
    return (
        render_template(
            "staff/programme_form.html",
            form=form,
            programme=programme,
            slots=slots,
            trail=trail,
            conflict=conflict,
        ),
        status,
    )
