"""Uploading an XMLTV guide from the staff pages: a dry run first, then the import, both as jobs (SPEC §7, §12).

The page only stores the file and queues the job, as the API does; a scheduler process runs
it. The job's page reloads itself (a ``Refresh`` header, no script) until the job is finished.
"""

import io

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from schedule_service.broadcast_time import zone
from schedule_service.db import db
from schedule_service.interchange import import_jobs as jobs
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import ImportJob
from schedule_service.web.api.imports import _own_hosts
from schedule_service.web.security import staff_page
from schedule_service.web.staff import bp

#: Seconds between reloads of the page of a job still under way.
REFRESH_SECONDS = 2
#: Jobs listed under the upload form.
RECENT = 20


@bp.route("/imports", methods=["GET", "POST"])
@staff_page()
def imports():
    """The upload form (a dry run comes first) and the latest jobs."""
    errors: dict[str, str] = {}
    values = {"timezone": "UTC", "skip_bad": False}
    if request.method == "POST":
        values = {"timezone": (request.form.get("timezone") or "UTC").strip(), "skip_bad": "skip_bad" in request.form}
        upload = request.files.get("file")
        channel_map = None
        if upload is None or not upload.filename:
            errors["file"] = _("Choose the XMLTV file to import.")
        try:
            zone(values["timezone"])
        except ValueError:
            errors["timezone"] = _("%(zone)s is not an IANA time zone such as Europe/Moscow.", zone=values["timezone"])
        map_upload = request.files.get("channel_map")
        if map_upload is not None and map_upload.filename:
            try:
                channel_map = xi.load_channel_map(io.BytesIO(map_upload.read()))
            except (ValueError, UnicodeDecodeError) as e:
                errors["channel_map"] = _("The channel map is not usable: %(why)s", why=str(e))
        if not errors:
            try:
                job = jobs.queue_import(
                    db.session,
                    upload.stream,
                    created_by=current_user.email,
                    file_name=upload.filename,
                    dry_run=True,
                    skip_bad=values["skip_bad"],
                    timezone=values["timezone"],
                    own_hosts=_own_hosts(),
                    channel_map=channel_map,
                )
            except jobs.EmptyFile:
                db.session.rollback()
                errors["file"] = _("The file is empty.")
            else:
                db.session.commit()
                return redirect(url_for("staff.import_job", job_id=job.id), 303)
    recent = db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(RECENT)).all()
    status = 422 if errors else 200
    return render_template("staff/imports.html", errors=errors, values=values, jobs=recent), status


@bp.get("/imports/<int:job_id>")
@staff_page()
def import_job(job_id: int):
    """A job's progress while it runs; its report, and for a dry run the button to apply it, once done."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    can_apply = job.is_dry_run and job.status == "done" and jobs.has_file(db.session, job)
    page = render_template("staff/import_job.html", job=job, can_apply=can_apply, refresh=REFRESH_SECONDS)
    headers = {} if job.is_finished else {"Refresh": str(REFRESH_SECONDS)}
    return page, 200, headers


@bp.post("/imports/<int:job_id>/apply")
@staff_page()
def apply_import(job_id: int):
    """Import for real the file a dry run checked."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    if not (job.is_dry_run and job.status == "done" and jobs.has_file(db.session, job)):
        flash(_("This file can no longer be applied: upload it again."), "error")
        return redirect(url_for("staff.import_job", job_id=job.id), 303)
    applied = jobs.queue_apply(db.session, job, current_user.email)
    db.session.commit()
    return redirect(url_for("staff.import_job", job_id=applied.id), 303)
