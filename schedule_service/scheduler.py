"""The scheduler's jobs, declared as data, and the two ways to run them.

``flask --app wsgi scheduler run`` runs them in a BlockingScheduler of its own process;
``serve`` runs the same jobs in a BackgroundScheduler beside the web server. Web workers
never start a scheduler. Any number of schedulers may run against one PostgreSQL database:
the outbox's claims keep them from sending a post twice.
"""

import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import delete

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.interchange import import_jobs
from schedule_service.publishing import outbox

log = logging.getLogger(__name__)

#: Heartbeats of schedulers silent this long are forgotten by housekeeping.
FORGET_WORKERS_AFTER = timedelta(days=7)
#: Slots planned per transaction by the horizon sweep.
SWEEP_BATCH = 200
#: How much of its second a tick may spend waiting for posts that fall due within it.
TICK_BUDGET = timedelta(seconds=0.9)


@dataclass
class Runtime:
    """What the jobs of one scheduler process share."""

    app: Flask
    worker: str
    publisher: outbox.Publisher
    #: Set when the process stops: an import under way gives its job back between two channels.
    stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stopping.set()
        self.publisher.stop()


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[Runtime], None]
    seconds: float


def worker_name() -> str:
    """This process, as named in leases and heartbeats (a suffix tells a restarted pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def heartbeat(worker: str) -> None:
    """Record that this scheduler is alive: the dead-man's switch read by /healthz."""
    from schedule_service.models import SchedulerHeartbeat

    beat = db.session.get(SchedulerHeartbeat, worker)
    if beat is None:
        db.session.add(SchedulerHeartbeat(worker=worker, last_tick_at=now()))
    else:
        beat.last_tick_at = now()
    db.session.commit()


def publish_tick(rt: Runtime) -> None:
    """Beat the heart, then send every due post, and those falling due before the next tick."""
    heartbeat(rt.worker)
    rt.publisher.run(until=now() + TICK_BUDGET, beat=lambda: heartbeat(rt.worker))


def recover_leases(rt: Runtime) -> None:
    """Claim again (or leave to a person) posts whose scheduler died holding them."""
    outbox.recover_leases(db.session)


def expire_passed(rt: Runtime) -> None:
    """Expire posts whose moment passed unsent; they are never sent late."""
    count = outbox.expire_passed(db.session)
    if count:
        log.warning("%d post(s) expired unsent: their moment passed", count)


def run_imports(rt: Runtime) -> None:
    """Run the queued XMLTV import jobs, and those whose process died, one after the other."""
    import_jobs.run_pending(db.session, rt.worker, import_jobs.lease_of(rt.app.config), rt.stopping)


def plan_horizon(rt: Runtime) -> None:
    """Make the posts of slots that have entered the planning horizon, a batch per transaction."""
    from schedule_service.promos import plan

    while True:
        planned = plan.plan_due(db.session, limit=SWEEP_BATCH)
        db.session.commit()
        if planned < SWEEP_BATCH:
            return


def announce_embargo_lifts(rt: Runtime) -> None:
    """Tell the change feed's consumers about programmes whose embargo has just ended (SPEC §8b, §10)."""
    from schedule_service import embargo

    if embargo.announce_lifted(db.session):
        db.session.commit()
    else:
        db.session.rollback()


def housekeeping(rt: Runtime) -> None:
    """Forget the heartbeats of schedulers long gone, and the files of dry runs nobody applied."""
    from schedule_service.models import SchedulerHeartbeat

    db.session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.last_tick_at < now() - FORGET_WORKERS_AFTER))
    db.session.commit()
    import_jobs.forget_old_files(db.session)


def jobs(config=None) -> list[Job]:
    """The scheduler's jobs; each runs alone (max_instances=1) and late runs coalesce."""
    config = config or {}
    lease = outbox.Settings.from_config(config).lease.total_seconds()
    return [
        Job("publish", publish_tick, 1.0),
        # A dead scheduler's posts wait out its lease, and at most a third of a lease more.
        Job("recover-leases", recover_leases, min(10.0, max(1.0, lease / 3))),
        Job("expire", expire_passed, 5.0),
        # An import runs for as long as it takes, in a thread of its own beside the tick.
        Job("imports", run_imports, 2.0),
        # Slots whose posts wait for the horizon (SPEC §8a); what waits is kept in the database.
        Job("plan-horizon", plan_horizon, float(config.get("PROMO_SWEEP_SECONDS", 30.0))),
        # Within a minute of an embargo's end the real programme shows everywhere, the change feed too.
        Job("embargo-lifts", announce_embargo_lifts, 20.0),
        Job("housekeeping", housekeeping, 3600.0),
    ]


def _run_in_app(rt: Runtime, func: Callable[[Runtime], None]) -> Callable[[], None]:
    def run() -> None:
        with rt.app.app_context():
            try:
                func(rt)
            except Exception:
                db.session.rollback()
                rt.app.logger.exception("scheduler job %s failed", func.__name__)
            finally:
                db.session.remove()

    return run


class _BusyTickFilter(logging.Filter):
    """Drop APScheduler's note that a tick was skipped because the last one still runs.

    The publishing tick keeps sending while posts are due, for as long as a backlog lasts, and
    beats the heartbeat meanwhile: a skipped tick is that design working, not news.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def configure(scheduler: BaseScheduler, app: Flask, worker: str | None = None) -> Runtime:
    """Add the jobs to ``scheduler``; return what they share."""
    aps_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _BusyTickFilter) for f in aps_log.filters):
        aps_log.addFilter(_BusyTickFilter())
    worker = worker or worker_name()
    rt = Runtime(app, worker, outbox.Publisher(app, worker))
    for job in jobs(app.config):
        scheduler.add_job(
            _run_in_app(rt, job.func),
            "interval",
            seconds=job.seconds,
            id=job.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=None if job.seconds > 60 else _soon(),
        )
    return rt


def _soon():
    from datetime import UTC, datetime

    return datetime.now(UTC)


class EmbeddedScheduler:
    """The jobs in a thread beside the web server (``serve``)."""

    def __init__(self, app: Flask):
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.runtime = configure(self.scheduler, app)

    def start(self) -> "EmbeddedScheduler":
        self.scheduler.start()
        return self

    def shutdown(self) -> None:
        """Stop claiming, let calls under way finish, release the rest."""
        self.runtime.stop()
        self.scheduler.shutdown(wait=True)
        self.runtime.publisher.close()


def start_background(app: Flask) -> EmbeddedScheduler:
    """Start the jobs in a thread beside the web server (``serve``)."""
    return EmbeddedScheduler(app).start()


scheduler_cli = AppGroup("scheduler", help="The scheduler and publisher.")


@scheduler_cli.command("run")
def run() -> None:
    """Run the scheduler/publisher alone, until SIGTERM or Ctrl-C."""
    app = current_app._get_current_object()
    scheduler = BlockingScheduler(timezone="UTC")
    rt = configure(scheduler, app)

    def stop(signum, _frame) -> None:
        click.echo(f"scheduler {rt.worker}: stopping on signal {signum}")
        # No new claims; posts claimed and not started are released; calls under way finish;
        # an import gives its job back after the channel under way.
        rt.stop()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"scheduler {rt.worker}: running")
    scheduler.start()
    rt.publisher.close()
    click.echo(f"scheduler {rt.worker}: stopped")
