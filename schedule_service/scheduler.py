"""The scheduler's jobs, declared as data, and the two ways to run them.

``flask --app wsgi scheduler run`` runs them in a BlockingScheduler of its own process;
``serve`` runs the same jobs in a BackgroundScheduler beside the web server. Web workers
never start a scheduler.
"""

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup

from schedule_service.db import db


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[str], None]
    seconds: float


def worker_name() -> str:
    """This process, as named in leases and heartbeats."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(worker: str) -> None:
    """Record that this scheduler is alive: the dead-man's switch read by /healthz."""
    from schedule_service.clock import now
    from schedule_service.models import SchedulerHeartbeat

    beat = db.session.get(SchedulerHeartbeat, worker)
    if beat is None:
        db.session.add(SchedulerHeartbeat(worker=worker, last_tick_at=now()))
    else:
        beat.last_tick_at = now()
    db.session.commit()


def jobs() -> list[Job]:
    """The scheduler's jobs; each runs alone (max_instances=1) and late runs coalesce."""
    return [Job("heartbeat", heartbeat, 1.0)]


def _run_in_app(app: Flask, func: Callable[[str], None], worker: str) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                func(worker)
            except Exception:
                db.session.rollback()
                app.logger.exception("scheduler job %s failed", func.__name__)
            finally:
                db.session.remove()

    return run


def configure(scheduler: BaseScheduler, app: Flask, worker: str) -> BaseScheduler:
    for job in jobs():
        scheduler.add_job(
            _run_in_app(app, job.func, worker),
            "interval",
            seconds=job.seconds,
            id=job.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler


def start_background(app: Flask) -> BackgroundScheduler:
    """Start the jobs in a thread beside the web server (``serve``)."""
    scheduler = configure(BackgroundScheduler(timezone="UTC"), app, worker_name())
    scheduler.start()
    return scheduler


scheduler_cli = AppGroup("scheduler", help="The scheduler and publisher.")


@scheduler_cli.command("run")
def run() -> None:
    """Run the scheduler/publisher alone, until SIGTERM or Ctrl-C."""
    app = current_app._get_current_object()
    worker = worker_name()
    scheduler = configure(BlockingScheduler(timezone="UTC"), app, worker)

    def stop(signum, _frame) -> None:
        click.echo(f"scheduler {worker}: stopping on signal {signum}")
        # wait=True lets a running tick finish sending what it claimed.
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"scheduler {worker}: running")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
