"""XMLTV imports as jobs (SPEC §7): queued by a request, run by a scheduler, taken up again after a crash."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schedule_service import clock
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.interchange import import_jobs
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import AuditEntry, Channel, ImportFileChunk, ImportJob, Slot
from tests.import_support import fail_planning
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "xmltv"
LEASE = timedelta(minutes=5)

TWO_CHANNELS = b"""<?xml version="1.0" encoding="UTF-8"?>
<tv>
<channel id="one"><display-name>One</display-name></channel>
<channel id="two"><display-name>Two</display-name></channel>
<programme start="20311121100000 +0000" stop="20311121110000 +0000" channel="one"><title>Early news</title></programme>
<programme start="20311121110000 +0000" stop="20311121120000 +0000" channel="one"><title>Noon news</title></programme>
<programme start="20311121100000 +0000" stop="20311121110000 +0000" channel="two"><title>Cartoons</title></programme>
</tv>
"""


class Died(BaseException):
    """The scheduler process died here (as a SIGKILL would stop it: nothing after runs)."""


def queue(session, body: bytes = TWO_CHANNELS, **options) -> ImportJob:
    import io

    job = import_jobs.queue_import(session, io.BytesIO(body), created_by="editor@example.test", **options)
    session.commit()
    return job


def slot_count(session, slug: str) -> int:
    return session.scalar(select(func.count(Slot.id)).join(Channel).where(Channel.slug == slug))


def import_runs(session) -> list[str]:
    """The channels with an import entry in the trail, one per channel per run (SPEC §8a)."""
    query = select(AuditEntry.entity_id).where(AuditEntry.action == "import").order_by(AuditEntry.id)
    return list(session.scalars(query))


def test_a_job_runs_channel_by_channel_and_reports_progress_and_summary(session):
    job = queue(session, file_name="two.xml")
    assert job.file_size == len(TWO_CHANNELS) and job.file_sha256

    assert import_jobs.run_pending(session, "s1", LEASE) == 1

    session.refresh(job)
    assert job.status == "done" and (job.channels_done, job.channels_total) == (2, 2)
    assert [(c["channel"], c["created"]) for c in job.summary["channels"]] == [("one", 2), ("two", 1)]
    assert slot_count(session, "one") == 2 and slot_count(session, "two") == 1
    # The file is kept only until the job is done.
    assert session.scalar(select(func.count()).select_from(ImportFileChunk)) == 0


def test_the_files_name_keeps_only_what_a_page_can_show(session):
    assert queue(session, file_name="guide\x00\ud800\x01.xml").file_name == "guide.xml"
    assert queue(session, file_name="\x01").file_name is None


def test_a_big_upload_is_stored_in_pieces_and_read_back_whole(session, monkeypatch):
    monkeypatch.setattr(import_jobs, "CHUNK_SIZE", 100)
    job = queue(session)
    assert session.scalar(select(func.count()).where(ImportFileChunk.job_id == job.id)) == len(TWO_CHANNELS) // 100 + 1

    import_jobs.run_pending(session, "s1", LEASE)

    session.refresh(job)
    assert job.status == "done" and job.summary["totals"]["created"] == 3


def test_a_dry_run_job_reports_what_would_change_and_writes_nothing(session):
    queue(session)
    import_jobs.run_pending(session, "s1", LEASE)
    newer = TWO_CHANNELS.replace(b"<title>Noon news</title>", b"<title>Noon sport</title>")
    dry = queue(session, newer, dry_run=True)
    slots_before = session.execute(select(Slot.id, Slot.status, Slot.version).order_by(Slot.id)).all()
    audits_before = session.scalar(select(func.count(AuditEntry.id)))

    import_jobs.run_pending(session, "s1", LEASE)

    session.refresh(dry)
    assert dry.status == "done" and dry.summary["dry_run"]
    one = dry.summary["channels"][0]
    assert (one["created"], one["cancelled"], one["unchanged"]) == (1, 1, 1)
    assert session.execute(select(Slot.id, Slot.status, Slot.version).order_by(Slot.id)).all() == slots_before
    assert session.scalar(select(func.count(AuditEntry.id))) == audits_before
    assert import_jobs.has_file(session, dry)  # kept, so the dry run can be applied


def test_a_job_whose_process_died_is_finished_by_another_without_applying_a_channel_twice(session, monkeypatch):
    from schedule_service.promos import plan

    job = queue(session)
    real_plan = fail_planning(monkeypatch, "two", Died())
    monkeypatch.setattr(xi, "COMMIT_EVERY", 0.0)  # a commit after each channel, as on a slow machine
    assert import_jobs.claim_next(session, "dead", LEASE) == job.id
    with pytest.raises(Died):
        import_jobs.run_job(session, job.id, "dead", LEASE)
    session.rollback()
    monkeypatch.setattr(plan, "plan_bulk", real_plan)
    session.refresh(job)
    assert job.status == "running" and job.claimed_by == "dead" and job.channels_done == 1
    assert slot_count(session, "one") == 2 and slot_count(session, "two") == 0
    assert import_runs(session) == ["one"]

    # While its lease holds, nobody takes the job; after it, another scheduler does.
    assert import_jobs.claim_next(session, "alive", LEASE) is None
    with clock.frozen(now() + LEASE + timedelta(seconds=1)):
        assert import_jobs.run_pending(session, "alive", LEASE) == 1

    session.refresh(job)
    assert job.status == "done" and job.claimed_by == "alive" and job.attempts == 2
    assert (job.channels_done, job.channels_total) == (2, 2)
    assert slot_count(session, "one") == 2 and slot_count(session, "two") == 1
    assert import_runs(session) == ["one", "two"]  # channel one was not applied again
    # The report still says what the dead process did on channel one.
    assert [(c["channel"], c["created"], c["unchanged"]) for c in job.summary["channels"]] == [
        ("one", 2, 0),
        ("two", 1, 0),
    ]
    assert job.summary["totals"]["created"] == 3


def test_a_process_that_lost_its_claim_commits_nothing_more(session):
    job = queue(session)
    assert import_jobs.claim_next(session, "slow", LEASE) == job.id
    with clock.frozen(now() + LEASE + timedelta(seconds=1)):
        assert import_jobs.claim_next(session, "other", LEASE) == job.id

    import_jobs.run_job(session, job.id, "slow", LEASE)  # the slow one wakes up

    assert slot_count(session, "one") == 0
    session.refresh(job)
    assert job.claimed_by == "other" and job.status == "running"


def test_a_job_that_keeps_killing_its_process_fails_instead_of_looping(session):
    job = queue(session)
    for attempt in range(import_jobs.MAX_ATTEMPTS):
        with clock.frozen(now() + (LEASE + timedelta(seconds=1)) * attempt):
            assert import_jobs.claim_next(session, f"dead-{attempt}", LEASE) == job.id
    with clock.frozen(now() + (LEASE + timedelta(seconds=1)) * import_jobs.MAX_ATTEMPTS):
        import_jobs.run_pending(session, "alive", LEASE)

    session.refresh(job)
    assert job.status == "failed" and "given up" in job.error["detail"]
    assert slot_count(session, "one") == 0


def test_a_stopping_scheduler_gives_the_job_back_between_channels(session):
    import threading

    job = queue(session)
    stopping = threading.Event()
    stopping.set()
    assert import_jobs.claim_next(session, "stopping", LEASE) == job.id

    import_jobs.run_job(session, job.id, "stopping", LEASE, stopping)

    session.refresh(job)
    assert job.status == "queued" and job.claimed_by is None and job.channels_done == 0
    assert slot_count(session, "one") == 0
    assert import_jobs.run_pending(session, "next", LEASE) == 1
    assert slot_count(session, "one") == 2


def test_housekeeping_forgets_the_files_of_dry_runs_nobody_applied(session):
    dry = queue(session, dry_run=True)
    import_jobs.run_pending(session, "s1", LEASE)

    assert import_jobs.forget_old_files(session) == 0  # still there to be applied
    with clock.frozen(now() + import_jobs.KEEP_DRY_RUN_FILES + timedelta(minutes=1)):
        assert import_jobs.forget_old_files(session) == 1
    assert not import_jobs.has_file(session, dry)


def test_the_scheduler_declares_the_import_job(app):
    from schedule_service import scheduler

    assert "imports" in [j.id for j in scheduler.jobs(app.config)]


# The staff pages


@pytest.fixture
def staff(client, make_user):
    make_user("editor@example.test", "editor")
    actions = StaffActions(client)
    assert actions.login("editor@example.test").status_code == 302
    return actions


def test_staff_upload_a_guide_see_the_dry_run_then_apply_it(staff, session):
    page = staff.get("/staff/imports")
    assert page.status_code == 200 and 'type="file"' in page.text

    import io

    resp = staff.post(
        "/staff/imports",
        {"file": (io.BytesIO(TWO_CHANNELS), "two.xml"), "timezone": "Europe/Moscow"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303
    job_page = staff.get(resp.location)
    assert "queued" in job_page.text and job_page.headers["Refresh"] == "2"  # reloads itself, no script

    import_jobs.run_pending(session, "s1", LEASE)
    done = staff.get(resp.location)
    assert "Refresh" not in done.headers
    assert "What the import would do" in done.text and "Apply this file" in done.text
    assert "2 of 2 channel(s)" in done.text
    assert session.scalar(select(func.count(Channel.id))) == 0  # the dry run wrote nothing

    applied = staff.post(resp.location + "/apply")
    assert applied.status_code == 303 and applied.location != resp.location
    import_jobs.run_pending(session, "s1", LEASE)
    result = staff.get(applied.location)
    assert "What the import did" in result.text and "Apply this file" not in result.text
    assert slot_count(session, "one") == 2
    one = session.scalar(select(Channel).where(Channel.slug == "one"))
    assert one.timezone == "Europe/Moscow"
    # The dry run's file moved to the import: it cannot be applied twice.
    assert "Apply this file" not in staff.get(resp.location).text


def test_staff_upload_form_says_what_is_missing(staff, session):
    resp = staff.post("/staff/imports", {"timezone": "Mars/Base"}, content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "Choose the XMLTV file" in resp.text and "Mars/Base is not an IANA time zone" in resp.text
    assert session.scalar(select(func.count(ImportJob.id))) == 0


def test_the_staff_import_page_speaks_russian(staff, session):
    page = staff.get("/staff/imports?lang=ru")
    assert "Импорт XMLTV" in page.text


# A real scheduler process


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_a_real_scheduler_process_runs_an_api_import(pg_app, pg_url, tmp_path):
    from schedule_service.auth import create_token, create_user

    _, raw = create_token(db.session, create_user(db.session, "pg@example.test", "correct horse", "editor"))
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    client = pg_app.test_client()
    resp = client.post(
        "/api/v1/import/xmltv", data=(DATA / "good.xml").read_bytes(), content_type="application/xml", headers=headers
    )
    assert resp.status_code == 202
    env = {**os.environ, "DATABASE_URL": pg_url, "SCHEDULE_ENV": "testing", "PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "scheduler.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60  # a bound on waiting, not a measure of speed
            job = client.get(resp.headers["Location"], headers=headers).json
            while job["status"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.2)
                job = client.get(resp.headers["Location"], headers=headers).json
        finally:
            proc.terminate()
            proc.wait(30)
    assert job["status"] == "done", (tmp_path / "scheduler.log").read_text()
    assert job["summary"]["totals"]["created"] == 5
    assert job["progress"] == {"channels_done": 2, "channels_total": 2}
    db.session.rollback()
    assert db.session.scalar(select(func.count(Slot.id))) == 5


def many_channels(channels: int, per_channel: int) -> bytes:
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n']
    for c in range(channels):
        parts.append(b'<channel id="c%d"><display-name>C %d</display-name></channel>\n' % (c, c))
    for c in range(channels):
        for i in range(per_channel):
            start, stop = (
                f"203111{21 + i // 24:02d}{i % 24:02d}0000",
                f"203111{21 + (i + 1) // 24:02d}{(i + 1) % 24:02d}0000",
            )
            parts.append(
                b'<programme start="%s +0000" stop="%s +0000" channel="c%d"><title>Show %d</title></programme>\n'
                % (start.encode(), stop.encode(), c, i)
            )
    parts.append(b"</tv>\n")
    return b"".join(parts)


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_a_scheduler_killed_mid_import_is_relieved_by_another_and_no_channel_is_applied_twice(pg_app, pg_url, tmp_path):
    import io
    import signal

    channels, per_channel = 60, 48
    job = import_jobs.queue_import(db.session, io.BytesIO(many_channels(channels, per_channel)), created_by="pg")
    db.session.commit()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "SCHEDULE_ENV": "testing",
        "PYTHONUNBUFFERED": "1",
        "IMPORT_LEASE_SECONDS": "3",
    }

    def start(name: str):
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115  (closed after the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return proc, log

    def state():
        db.session.rollback()
        return db.session.get(ImportJob, job.id, populate_existing=True)

    def wait(until, seconds: float = 120) -> ImportJob:
        deadline = time.monotonic() + seconds  # a bound on waiting, not a measure of speed
        current = state()
        while not until(current) and time.monotonic() < deadline:
            time.sleep(0.05)
            current = state()
        return current

    first, first_log = start("first")
    try:
        midway = wait(lambda j: j.channels_done >= 1 or j.is_finished)
        killed = (midway.status, midway.claimed_by, midway.channels_done)
        first.send_signal(signal.SIGKILL)  # as a machine dies: no clean-up of any kind
        first.wait(30)
    finally:
        first_log.close()
    assert killed[0] == "running" and 1 <= killed[2] < channels, "the import ended before the kill"

    second, second_log = start("second")
    try:
        done = wait(lambda j: j.is_finished)
    finally:
        second.terminate()
        second.wait(30)
        second_log.close()

    assert done.status == "done", (tmp_path / "second.log").read_text()
    assert done.attempts == 2 and done.claimed_by != killed[1]
    assert (done.channels_done, done.channels_total) == (channels, channels)
    assert sum(c["created"] for c in done.summary["channels"]) == channels * per_channel
    assert len({c["channel"] for c in done.summary["channels"]}) == channels
    # Every slot exists once, and each channel has exactly one import entry (SPEC §8a): nothing applied twice.
    assert db.session.scalar(select(func.count(Slot.id))) == channels * per_channel
    runs = select(AuditEntry.entity_id).where(AuditEntry.entity == "channel", AuditEntry.action == "import")
    assert sorted(db.session.scalars(runs)) == sorted(f"c{c}" for c in range(channels))
