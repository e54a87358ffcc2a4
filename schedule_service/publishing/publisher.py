"""The publisher: one scheduler process's loop of claims, and the threads that make the calls."""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.publishing.claiming import Prepared, claim_due, next_due_at, prepare_batch, release
from schedule_service.publishing.outcomes import deliver, record_batch, send
from schedule_service.publishing.settings import Settings
from schedule_service.publishing.targets.base import Outcome, adapter_for

log = logging.getLogger(__name__)

#: Outcomes of calls to targets that deduplicate are recorded this many at a time.
RECORD_EVERY = 16

#: While sending a backlog, the heartbeat is renewed this often.
BEAT_EVERY = timedelta(seconds=5)


def _adapter(prepared: Prepared):
    return adapter_for(prepared.delivery.target.kind)


class Publisher:
    """Sends the claimed posts of one scheduler process, a few at a time.

    On PostgreSQL it has an engine of its own: a pool as large as its threads (so no thread
    opens a connection per post) and asynchronous commit by default, with the writes that keep
    a post from going out twice (the claim's attempt, written before a call) committed
    synchronously.
    """

    def __init__(self, app: Flask, worker: str):
        self.app = app
        self.worker = worker
        self.cfg = Settings.from_config(app.config)
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="publish")
        with app.app_context():
            shared = db.engine
        self._own_engine = shared.dialect.name == "postgresql"
        engine = (
            create_engine(
                shared.url,
                pool_size=self.cfg.concurrency + 2,
                max_overflow=2,
                pool_pre_ping=True,
                connect_args={"options": "-c synchronous_commit=off"},
            )
            if self._own_engine
            else shared
        )
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)

    def run(self, until: datetime | None = None, beat: Callable[[], None] | None = None) -> int:
        """Claim and send what is due; until ``until``, also wait for what falls due before it.

        :param beat: called every few seconds while a long backlog is being sent, so the
            heartbeat does not fall silent while the scheduler works.
        """
        sent = 0
        last_beat = now()
        with self.sessions() as session:
            while not self.stopping.is_set():
                # Large enough to keep the threads busy between two round trips to the database;
                # a post whose turn comes too late for its lease is released, not sent.
                limit = min(self.cfg.batch, self.cfg.concurrency * 8)
                ids = claim_due(session, self.worker, limit, self.cfg.lease)
                if ids:
                    sent += self._send_all(session, ids)
                    if beat is not None and now() - last_beat > BEAT_EVERY:
                        beat()
                        last_beat = now()
                    continue
                if until is None or now() >= until:
                    break
                upcoming = next_due_at(session)
                if upcoming is None or upcoming >= until:
                    break  # nothing falls due before the next tick, which looks again
                # Sleep until the next post falls due, so it goes out on time rather than at a tick.
                if self.stopping.wait(max(0.0, (upcoming - now()).total_seconds())):
                    break
        return sent

    def _send_all(self, session: Session, ids: list[int]) -> int:
        """Prepare a claimed batch, make its calls on the thread pool, record the outcomes."""
        why = "the scheduler is stopping"
        if self.stopping.is_set():
            for post_id in ids:
                release(session, post_id, self.worker, why)
            return 0
        batch = prepare_batch(session, ids, self.worker, self.cfg)
        # Calls to targets that deduplicate go out together and are recorded together; where
        # a repeat would show, each call is bracketed by its own attempt and record; the web
        # feed's "call" is a write in the transaction that records it.
        together = [p for p in batch if p.deduplicates and not _adapter(p).local]
        alone = [p for p in batch if not p.deduplicates and not _adapter(p).local]
        local = [p for p in batch if _adapter(p).local]
        try:
            calls = [self._pool.submit(self._call, p) for p in together]
            singles = [self._pool.submit(self._deliver, p) for p in alone]
        except RuntimeError:  # the pool closed under us: we are stopping
            for prepared in batch:
                release(session, prepared.post_id, self.worker, why, prepared.attempt_id)
            return 0
        sent = sum(1 for p in local if self._deliver_here(session, p))
        # Outcomes are recorded a few at a time as the calls end, so a crash leaves only those
        # few answers unrecorded (to be sent again under the same key).
        which = dict(zip(calls, together, strict=True))
        done: list[tuple[Prepared, Outcome]] = []
        for future in as_completed(calls):
            prepared, outcome = which[future], future.result()
            if outcome is None:  # not called: stopping, or the lease would not outlast the call
                release(session, prepared.post_id, self.worker, why, prepared.attempt_id)
                continue
            done.append((prepared, outcome))
            if len(done) >= RECORD_EVERY:
                sent += record_batch(session, done, self.worker, self.cfg)
                done = []
        sent += record_batch(session, done, self.worker, self.cfg)
        return sent + sum(1 for f in singles if f.result())

    def _call(self, prepared: Prepared) -> Outcome | None:
        """Make one call on a pool thread (no database); None if it must not be made now."""
        if self.stopping.is_set() or prepared.lease_until - now() < timedelta(seconds=self.cfg.timeout + 1):
            return None
        return send(prepared)

    def _deliver(self, prepared: Prepared) -> bool:
        """Attempt, call and record one post on a pool thread, with a session of its own."""
        with self.sessions() as session:
            try:
                if self.stopping.is_set():
                    release(session, prepared.post_id, self.worker, "the scheduler is stopping", prepared.attempt_id)
                    return False
                return deliver(session, prepared, self.worker, self.cfg)
            except Exception:
                # The post keeps its lease; recovery judges it when the lease runs out.
                log.exception("publishing post %s failed", prepared.post_id)
                return False

    def _deliver_here(self, session: Session, prepared: Prepared) -> bool:
        try:
            return deliver(session, prepared, self.worker, self.cfg)
        except Exception:
            log.exception("publishing post %s failed", prepared.post_id)
            return False

    def stop(self) -> None:
        """Stop claiming; posts claimed and not yet started are released, calls under way finish."""
        self.stopping.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._own_engine:
            self.engine.dispose()
