"""XMLTV imports as jobs: queued by a request, run by a scheduler process, resumed after a crash (SPEC §7).

A request stores the uploaded file in pieces (:func:`queue_import`) and answers at once; a
scheduler process claims the job under a lease like the outbox's (:func:`claim_next`) and runs
it (:func:`run_job`) channel by channel. Each channel's changes and the job's record of that
channel commit together, so a job taken up again after its process died skips the channels
already applied and its report still says what they did. A process whose lease ran out and
was taken over cannot commit another channel: its record of the channel is conditional on
still holding the claim, and the channel rolls back with it.
"""

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import IO, Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.interchange import import_memo
from schedule_service.interchange import xmltv_import as xi
from schedule_service.interchange.xmltv_read import BadItem, Guide, MapEntry, is_xml_char
from schedule_service.models import ImportFileChunk, ImportJob
from schedule_service.models.import_job import DONE, FAILED, QUEUED, RUNNING

log = logging.getLogger(__name__)

#: Bytes per stored piece of an uploaded file: a request and a job hold one piece at a time.
CHUNK_SIZE = 1024 * 1024
#: Claims of one job before it fails: a file that kills its process must not kill them all in turn.
MAX_ATTEMPTS = 3
#: Bad items listed in full in a report; ``bad_items_total`` says how many there were in all.
MAX_LISTED = 1000
#: How long the file of a finished dry run is kept, so it can be applied without uploading it again.
KEEP_DRY_RUN_FILES = timedelta(days=1)
#: A running job renews its lease at least this often while it reads the file.
RENEW_EVERY = timedelta(seconds=10)


class EmptyFile(ValueError):
    """The upload holds no bytes at all."""


class LeaseLost(Exception):
    """Another process took the job over: this one must stop without committing anything more."""


class Stopping(BaseException):
    """The scheduler is shutting down: give the job back for another process to take up."""


def lease_of(config) -> timedelta:
    return timedelta(seconds=float(config.get("IMPORT_LEASE_SECONDS", 300)))


# Queueing


def map_to_json(channel_map: dict[str, MapEntry] | None) -> dict[str, Any] | None:
    if channel_map is None:
        return None
    return {
        chan: None if e.is_skipped else {**asdict(e), "languages": list(e.languages)} for chan, e in channel_map.items()
    }


def map_from_json(stored: dict[str, Any] | None) -> dict[str, MapEntry] | None:
    if stored is None:
        return None
    return {
        chan: MapEntry(None) if e is None else MapEntry(e["slug"], e["name"], e["timezone"], tuple(e["languages"]))
        for chan, e in stored.items()
    }


def queue_import(
    session: Session,
    stream: IO[bytes],
    *,
    created_by: str,
    file_name: str | None = None,
    dry_run: bool = False,
    skip_bad: bool = False,
    timezone: str = "UTC",
    own_hosts: tuple[str, ...] = (),
    channel_map: dict[str, MapEntry] | None = None,
) -> ImportJob:
    """Store the file piece by piece and queue its import; flush, never commit; raise :class:`EmptyFile`."""
    job = ImportJob(
        status=QUEUED,
        is_dry_run=dry_run,
        is_skip_bad=skip_bad,
        timezone=timezone,
        own_hosts=list(own_hosts),
        channel_map=map_to_json(channel_map),
        file_name=_clean_name(file_name),
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    digest, size, seq = hashlib.sha256(), 0, 0
    while chunk := stream.read(CHUNK_SIZE):
        # A Core insert: the ORM would keep every piece in the session's identity map.
        session.execute(insert(ImportFileChunk).values(job_id=job.id, seq=seq, data=chunk))
        digest.update(chunk)
        size += len(chunk)
        seq += 1
    if size == 0:
        raise EmptyFile("the file is empty: there is no XML in it")
    job.file_size, job.file_sha256 = size, digest.hexdigest()
    session.flush()
    return job


def _clean_name(name: str | None) -> str | None:
    """The upload's file name as shown on pages: what a browser sent, less what no page can carry."""
    name = "".join(c for c in name or "" if is_xml_char(ord(c)) and c not in "\r\n\t").strip()
    return name[:255] or None


def has_file(session: Session, job: ImportJob) -> bool:
    return session.scalar(select(ImportFileChunk.seq).where(ImportFileChunk.job_id == job.id).limit(1)) is not None


def queue_apply(session: Session, dry_run: ImportJob, created_by: str) -> ImportJob:
    """Queue the import for real of a finished dry run's file, which then moves to the new job."""
    job = ImportJob(
        status=QUEUED,
        is_dry_run=False,
        is_skip_bad=dry_run.is_skip_bad,
        timezone=dry_run.timezone,
        own_hosts=list(dry_run.own_hosts),
        channel_map=dry_run.channel_map,
        file_name=dry_run.file_name,
        file_size=dry_run.file_size,
        file_sha256=dry_run.file_sha256,
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    # Moved inside the database: the file never passes through this process.
    session.execute(update(ImportFileChunk).where(ImportFileChunk.job_id == dry_run.id).values(job_id=job.id))
    return job


# Claiming


def _claimable(at):
    return or_(ImportJob.status == QUEUED, and_(ImportJob.status == RUNNING, ImportJob.lease_until <= at))


def claim_next(session: Session, worker: str, lease: timedelta) -> int | None:
    """Claim the oldest queued job, or one whose process died (its lease ran out); commit; its id."""
    at = now()
    picked = select(ImportJob.id).where(_claimable(at)).order_by(ImportJob.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    claim = (
        update(ImportJob)
        .where(ImportJob.id.in_(picked.scalar_subquery()), _claimable(at))
        .values(
            status=RUNNING,
            claimed_by=worker,
            lease_until=at + lease,
            attempts=ImportJob.attempts + 1,
            started_at=func.coalesce(ImportJob.started_at, at),
        )
        .returning(ImportJob.id)
        .execution_options(synchronize_session=False)
    )
    try:
        job_id = session.scalar(claim)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return job_id


def _mine(job_id: int, worker: str):
    return and_(ImportJob.id == job_id, ImportJob.claimed_by == worker, ImportJob.status == RUNNING)


def _write(session: Session, job_id: int, worker: str, **values) -> None:
    """Change the job while this worker holds it; raise :class:`LeaseLost` when it does not."""
    result = session.execute(update(ImportJob).where(_mine(job_id, worker)).values(**values))
    if result.rowcount != 1:
        raise LeaseLost(f"import job {job_id} is no longer held by {worker}")


# Running


def run_pending(
    session: Session, worker: str, lease: timedelta, stopping: threading.Event | None = None, limit: int = 100
) -> int:
    """Claim and run jobs until none is left (at most ``limit``); how many were run."""
    ran = 0
    while ran < limit and (stopping is None or not stopping.is_set()):
        job_id = claim_next(session, worker, lease)
        if job_id is None:
            break
        run_job(session, job_id, worker, lease, stopping)
        ran += 1
    return ran


def run_job(
    session: Session, job_id: int, worker: str, lease: timedelta, stopping: threading.Event | None = None
) -> None:
    """Run a job this worker has claimed, from where any earlier process left it."""
    job = session.get(ImportJob, job_id, populate_existing=True)
    if job is None or job.claimed_by != worker or job.status != RUNNING:
        session.rollback()
        return
    if job.attempts > MAX_ATTEMPTS:
        _finish(
            session,
            job,
            worker,
            FAILED,
            error={"detail": f"its scheduler process stopped {job.attempts - 1} times while importing it; given up"},
        )
        return
    memo_key = mark = None
    if not job.is_dry_run and job.summary is None and job.file_sha256:
        # The same bytes with the same options as the last import, and nothing changed since: done.
        memo_key = import_memo.key_of(
            job.file_sha256,
            channel_map=job.channel_map,
            skip_bad=job.is_skip_bad,
            timezone=job.timezone,
            own_hosts=tuple(job.own_hosts),
        )
        known = import_memo.recall(session, memo_key)
        if known is not None:
            _finish(session, job, worker, DONE, summary=_summary(None, known, set()))
            return
        mark = import_memo.begin(session)
    try:
        with tempfile.TemporaryDirectory(prefix="xmltv-job-") as scratch:
            path = _file_to_disk(session, job, scratch)
            renew = _renewer(session, job.id, worker, lease)
            try:
                guide = xi.read_guide_in_parts(path, progress=lambda _n: renew(), name=job.file_name)
            except xi.GuideRefused as e:
                session.rollback()
                item = BadItem(e.line, None, e.message)
                _finish(session, job, worker, FAILED, error=_refusal(f"the file is refused: {e}", [item]))
                return
            with guide:
                report = _apply(session, job, guide, worker, lease, stopping)
            if mark is not None and report is not None:
                import_memo.remember(session, memo_key, mark, report)
    except LeaseLost as e:
        session.rollback()
        log.warning("%s; stopped without writing more", e)
    except Stopping:
        session.rollback()
        _give_back(session, job_id, worker)
    except Exception as e:
        session.rollback()
        log.exception("import job %s failed", job_id)
        try:
            _finish(session, job, worker, FAILED, error={"detail": f"the import stopped: {e}"})
        except LeaseLost:
            session.rollback()


def _file_to_disk(session: Session, job: ImportJob, scratch: str) -> str:
    """Copy the stored file to a scratch file, piece by piece."""
    path = os.path.join(scratch, "guide.xml")
    with open(path, "wb") as out:
        seq = 0
        while (
            data := session.scalar(
                select(ImportFileChunk.data).where(ImportFileChunk.job_id == job.id, ImportFileChunk.seq == seq)
            )
        ) is not None:
            out.write(data)
            seq += 1
    session.commit()
    return path


def _renewer(session: Session, job_id: int, worker: str, lease: timedelta) -> Callable[[], None]:
    last = [now()]

    def renew() -> None:
        if now() - last[0] >= RENEW_EVERY:
            last[0] = now()
            _write(session, job_id, worker, lease_until=last[0] + lease)
            session.commit()

    return renew


class _Remaining:
    """The guide without the channels an earlier run of the job already applied."""

    def __init__(self, guide: Guide, done: set[str]):
        self._guide, self._done = guide, done
        self.channels = guide.channels
        self.programmes = guide.programmes
        self.bad_items = [b for b in guide.bad_items if b.channel not in done]
        self.name, self.sha256 = guide.name, guide.sha256  # what the import's audit entries name

    def items(self, chans: list[str]):
        return self._guide.items([c for c in chans if c not in self._done])


def _apply(
    session: Session,
    job: ImportJob,
    guide: Guide,
    worker: str,
    lease: timedelta,
    stopping: threading.Event | None,
) -> xi.ImportReport | None:
    """Apply the guide's channels not yet done; the report when the job is done, None when it failed."""
    earlier = job.summary
    done_slugs = {c["channel"] for c in (earlier or {}).get("channels", [])}
    done_chans = {chan for c in (earlier or {}).get("channels", []) for chan in c["xmltv_ids"]}
    channel_map = map_from_json(job.channel_map)
    options = {
        "channel_map": channel_map,
        "default_timezone": job.timezone,
        "own_hosts": tuple(job.own_hosts),
    }
    targets, _unknown = xi._targets(session, guide, channel_map or {}, job.timezone, tuple(job.own_hosts))
    _write(session, job.id, worker, channels_total=len(targets), lease_until=now() + lease)
    session.commit()
    job_id, dry_run = job.id, job.is_dry_run
    pending: dict[str, Any] = {}

    def channel_done(report: xi.ImportReport) -> None:
        pending["summary"] = _summary(earlier, report, done_slugs)
        pending["done"] = len(pending["summary"]["channels"])

    def end_channel() -> None:
        if stopping is not None and stopping.is_set():
            raise Stopping
        if dry_run:
            session.rollback()  # the channel's changes: a dry run writes nothing but its report
        # With a real run, the channel and the job's record of it commit together.
        _write(
            session,
            job_id,
            worker,
            summary=pending["summary"],
            channels_done=pending["done"],
            lease_until=now() + lease,
        )
        session.commit()

    report = xi.apply_guide(
        session,
        _Remaining(guide, done_chans),
        skip_bad=job.is_skip_bad,
        dry_run=dry_run,
        end_channel=end_channel,
        end_every=0.0 if dry_run else xi.COMMIT_EVERY,
        channel_done=channel_done,
        **options,
    )
    summary = _summary(earlier, report, done_slugs)
    if summary["applied_channels"] == 0 and summary["bad_items_total"]:
        detail = f"nothing was imported: {summary['bad_items_total']} bad item(s) kept every channel out"
        items = [BadItem(b["line"], b["channel"], b["message"]) for b in summary["bad_items"]]
        _finish(session, job, worker, FAILED, summary=summary, error=_refusal(detail, items))
        return None
    _finish(session, job, worker, DONE, summary=summary)
    return report


def _summary(earlier: dict | None, report: xi.ImportReport, done_slugs: set[str]) -> dict[str, Any]:
    """The report of the whole job: an earlier run's channels, then this run's."""
    now_ = report.to_dict()
    earlier = earlier or {}
    channels = earlier.get("channels", []) + [c for c in now_["channels"] if c["channel"] not in done_slugs]

    def merged(key: str) -> list[dict]:
        seen = {(b["line"], b["channel"], b["message"]) for b in earlier.get(key, [])}
        out = earlier.get(key, []) + [b for b in now_[key] if (b["line"], b["channel"], b["message"]) not in seen]
        return sorted(out, key=lambda b: b["line"] or 0)

    bad_items, warnings = merged("bad_items"), merged("warnings")
    bad_total = max(len(bad_items), earlier.get("bad_items_total", 0))
    keys = ("created", "updated", "unchanged", "cancelled", "skipped", "errors")
    rejected = sum(1 for c in channels if not c["applied"])
    return {
        "dry_run": report.dry_run,
        "skip_bad": report.skip_bad,
        "ok": rejected == 0 and (report.skip_bad or not bad_total),
        "programmes": report.programmes,
        "applied_channels": sum(1 for c in channels if c["applied"]),
        "rejected_channels": rejected,
        "totals": {k: sum(c[k] for c in channels) for k in keys},
        "programmes_created": earlier.get("programmes_created", 0) + report.programmes_created,
        "programmes_updated": earlier.get("programmes_updated", 0) + report.programmes_updated,
        "channels": channels,
        "bad_items": bad_items[:MAX_LISTED],
        "bad_items_total": bad_total,
        "warnings": warnings[:MAX_LISTED],
    }


def by_line(items: list[BadItem]) -> dict[str, str]:
    """{"line N": message} for a problem's ``errors`` (messages on one line joined)."""
    out: dict[str, str] = {}
    for item in items:
        key = f"line {item.line}" if item.line else "file"
        text = f"{item.channel}: {item.message}" if item.channel else item.message
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def _refusal(detail: str, items: list[BadItem]) -> dict[str, Any]:
    return {"detail": detail, "errors": by_line(items), "bad_items": [asdict(i) for i in items[:MAX_LISTED]]}


def _finish(session: Session, job: ImportJob, worker: str, status: str, **values) -> None:
    _write(session, job.id, worker, status=status, finished_at=now(), lease_until=None, **values)
    if not job.is_dry_run or status == FAILED:
        # The file is kept only for a dry run that can still be applied.
        session.execute(delete(ImportFileChunk).where(ImportFileChunk.job_id == job.id))
    session.commit()


def _give_back(session: Session, job_id: int, worker: str) -> None:
    """Queue a job again at once, for another process, when this one stops on purpose."""
    session.execute(
        update(ImportJob)
        .where(_mine(job_id, worker))
        .values(status=QUEUED, claimed_by=None, lease_until=None, attempts=ImportJob.attempts - 1)
    )
    session.commit()


def forget_old_files(session: Session) -> int:
    """Drop the files of dry runs finished long ago that nobody applied."""
    old = select(ImportJob.id).where(
        ImportJob.status.in_((DONE, FAILED)), ImportJob.finished_at < now() - KEEP_DRY_RUN_FILES
    )
    result = session.execute(delete(ImportFileChunk).where(ImportFileChunk.job_id.in_(old.scalar_subquery())))
    session.commit()
    return result.rowcount


def representation(job: ImportJob) -> dict[str, Any]:
    """The job as the API shows it."""
    return {
        "id": job.id,
        "status": job.status,
        "dry_run": job.is_dry_run,
        "skip_bad": job.is_skip_bad,
        "file": {"name": job.file_name, "size": job.file_size, "sha256": job.file_sha256},
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"channels_done": job.channels_done, "channels_total": job.channels_total},
        "summary": job.summary,
        "error": job.error,
    }
