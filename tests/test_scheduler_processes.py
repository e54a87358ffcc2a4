"""Real scheduler processes on one PostgreSQL database, and /healthz as a monitor reads it.

The process tests start `flask --app wsgi scheduler run` as an operator would, kill them as a
machine would (SIGKILL) or stop them as an orchestrator would (SIGTERM), and count what a
Standard Webhooks receiver got.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select

from schedule_service import clock
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Post, PostAttempt, SchedulerHeartbeat, Slot, Target
from schedule_service.models.promo import EXPIRED, PLANNED, PUBLISHED, PUBLISHING, UNKNOWN
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import SECRET, CountingSink

make_post, quiet_channel = support.make_post, support.quiet_channel

ROOT = Path(__file__).resolve().parent.parent
#: A short lease, so a killed scheduler's claims come back within the test.
LEASE_SECONDS = 5


@pytest.fixture
def schedulers(pg_url, tmp_path):
    """Start `flask --app wsgi scheduler run` processes; every one is stopped after the test."""
    procs: list[subprocess.Popen] = []

    def start(name: str = "s", **settings: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": pg_url,
            "SCHEDULE_ENV": "testing",
            "PUBLISH_LEASE_SECONDS": str(LEASE_SECONDS),
            "TARGET_TIMEOUT_SECONDS": "2",  # a lease outlasts a call
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
        log = open(tmp_path / f"{name}-{len(procs)}.log", "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log = log  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.log.close()


@pytest.fixture
def sink():
    receiver = CountingSink(SECRET, delay=0.01)
    yield receiver
    receiver.close()


def make_slot_and_hook(session, url: str, start_in: timedelta):
    """A channel with no plan of its own, a slot ``start_in`` from now, a webhook target at ``url``."""
    from schedule_service import schedule

    channel = schedule.create_channel(
        session, {"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow", "promo_plan": []}, "test"
    )
    programme = schedule.create_programme(session, {"title": "Interview", "duration_minutes": 30}, "test")
    slot = schedule.create_slot(session, channel, programme, {"start": now() + start_in}, "test")
    hook = Target(name="hook", kind="webhook", url=url, secret=SECRET)
    session.add(hook)
    session.commit()
    return slot, hook


def add_posts(session, slot, hook, dues: list) -> list[int]:
    posts = [
        Post(
            slot_id=slot.id,
            target_id=hook.id,
            step=f"step-{i}",
            idempotency_key=f"slot-{slot.id}-step-{i}-hook-publish",
            due_at=due,
            valid_until=slot.start_at,
            status=PLANNED,
        )
        for i, due in enumerate(dues)
    ]
    session.add_all(posts)
    session.commit()
    return [p.id for p in posts]


def wait_for(condition, seconds: float, what: str) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds:g} s for {what}")


def statuses(session) -> dict[str, int]:
    session.rollback()
    return dict(session.execute(select(Post.status, func.count(Post.id)).group_by(Post.status)).all())


@pytest.mark.postgresql_only
def test_two_schedulers_one_killed_mid_way_deliver_every_post_once(pg_app, schedulers, sink):
    session = db.session
    slot, hook = make_slot_and_hook(session, sink.url, timedelta(minutes=5))
    count = 400
    base = now() + timedelta(seconds=3)
    # 400 posts falling due over four seconds, 100 a second.
    ids = add_posts(session, slot, hook, [base + timedelta(seconds=4 * i / count) for i in range(count)])
    first, _second = schedulers("a"), schedulers("b")
    wait_for(lambda: sink.count() >= count // 3, 30, "a third of the posts to arrive")
    first.send_signal(signal.SIGKILL)  # mid-way, no chance to release anything
    first.wait(10)
    schedulers("c")  # the operator restarts it
    wait_for(lambda: sink.count() >= count, 40, "every post to arrive")
    wait_for(lambda: statuses(session).get(PUBLISHED) == count, 20, "every post to be recorded published")

    assert sink.bad == 0
    assert set(sink.seen) == {f"slot-{slot.id}-step-{i}-hook-publish" for i in range(count)}  # none lost
    # A request the killed process had under way may have arrived: it is sent again under the
    # same webhook-id (receivers deduplicate on it). Nothing goes out without its attempt
    # written first, so no post arrived more often than it was tried.
    tried = dict(session.execute(select(PostAttempt.post_id, func.count()).group_by(PostAttempt.post_id)).all())
    by_key = {f"slot-{slot.id}-step-{i}-hook-publish": post_id for i, post_id in enumerate(ids)}
    assert all(n <= tried[by_key[key]] for key, n in sink.seen.items())
    repeated = [key for key, n in sink.seen.items() if n > 1]
    assert len(repeated) <= count // 10 and all(n <= 2 for n in sink.seen.values())
    judged = session.scalar(
        select(func.count()).where(
            or_(
                PostAttempt.response.contains("stopped during the call"), PostAttempt.response.contains("lease ran out")
            )
        )
    )
    assert judged >= len(repeated)  # each repeat was a call whose lease ran out, and the log says so


@pytest.mark.postgresql_only
def test_a_scheduler_killed_while_slots_enter_the_horizon_leaves_no_slot_unplanned(pg_app, schedulers):
    from schedule_service import schedule
    from schedule_service.promos import plan

    session = db.session
    # A ten-minute horizon, swept every second, in this process and the schedulers alike.
    pg_app.config["PROMO_HORIZON"] = timedelta(minutes=10)
    settings = {"PROMO_HORIZON": "PT10M", "PROMO_SWEEP_SECONDS": "1"}
    steps = [
        {"name": "soon", "offset": "-PT10M", "targets": ["web"]},
        {"name": "sooner", "offset": "-PT5M", "targets": ["web"]},
    ]
    channel = schedule.create_channel(
        session, {"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow", "promote": "all"}, "test"
    )
    plan.set_channel_plan(session, channel, steps, "test")
    programme = schedule.create_programme(session, {"title": "News", "duration_minutes": 1}, "test")
    count = 80
    # Slots half a second long whose first steps enter the horizon over twenty seconds.
    base = now() + timedelta(minutes=20, seconds=4)
    for i in range(count):
        start = base + timedelta(seconds=i / 4)
        schedule.create_slot(
            session, channel, programme, {"start": start, "end": start + timedelta(seconds=0.25)}, "test"
        )
    session.commit()
    assert session.scalar(select(func.count(Post.id))) == 0

    def planned() -> int:
        session.rollback()
        return session.scalar(select(func.count(Slot.id)).where(Slot.plan_at.is_(None)))

    first = schedulers("a", **settings)
    wait_for(lambda: planned() >= count // 4, 30, "a quarter of the slots to be planned")
    first.send_signal(signal.SIGKILL)  # mid-way: no chance to finish what it was doing
    first.wait(10)
    assert planned() < count  # slots were still entering the horizon
    schedulers("b", **settings)  # the operator restarts it
    wait_for(lambda: planned() == count, 60, "every slot to be planned")

    rows = session.execute(select(Post.slot_id, Post.step, Post.idempotency_key, Post.status)).all()
    assert len(rows) == 2 * count  # every post exists, and exactly once
    assert {(r.slot_id, r.step) for r in rows} == {
        (slot_id, step) for slot_id in session.scalars(select(Slot.id)) for step in ("soon", "sooner")
    }
    assert all(r.idempotency_key.endswith("-publish") and r.status == PLANNED for r in rows)


@pytest.mark.postgresql_only
def test_a_scheduler_down_across_a_post_s_moment_sends_it_late_if_true_else_expires_it(pg_app, schedulers, sink):
    session = db.session
    slot, hook = make_slot_and_hook(session, sink.url, timedelta(minutes=2))
    still_true, late = add_posts(session, slot, hook, [now() - timedelta(minutes=5), now() - timedelta(minutes=4)])
    stale = session.get(Post, late)
    stale.valid_until = now() - timedelta(seconds=30)  # a "starts in 5 minutes" notice whose moment passed
    session.commit()
    schedulers()
    wait_for(lambda: statuses(session).get(EXPIRED) == 1 and statuses(session).get(PUBLISHED) == 1, 30, "outcomes")
    assert list(sink.seen) == [session.get(Post, still_true).idempotency_key]
    assert session.get(Post, late).attempts == 0


@pytest.mark.postgresql_only
def test_sigterm_finishes_calls_under_way_and_releases_the_rest(pg_app, schedulers):
    session = db.session
    slow = CountingSink(SECRET, delay=0.3)
    try:
        slot, hook = make_slot_and_hook(session, slow.url, timedelta(minutes=5))
        count = 120
        add_posts(session, slot, hook, [now()] * count)
        proc = schedulers()
        wait_for(lambda: slow.count() >= 5, 30, "the first posts to arrive")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        after_stop = statuses(session)
        assert after_stop.get(PUBLISHING, 0) == 0  # nothing left claimed
        assert set(after_stop) <= {PUBLISHED, PLANNED} and after_stop.get(PLANNED, 0) > 0
        assert after_stop[PUBLISHED] == slow.count()  # every call under way was finished and recorded
        schedulers()
        wait_for(lambda: slow.count() >= count, 60, "the rest to arrive from the next scheduler")
        assert all(n == 1 for n in slow.seen.values())  # a clean stop never repeats a post
    finally:
        slow.close()


@pytest.mark.postgresql_only
def test_web_workers_never_run_a_scheduler_and_healthz_sees_the_one_that_does(pg_app, pg_url, schedulers, sink):
    import requests

    session = db.session
    slot, hook = make_slot_and_hook(session, sink.url, timedelta(minutes=10))
    add_posts(session, slot, hook, [now() - timedelta(minutes=3)])
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": pg_url, "SCHEDULE_ENV": "testing"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    web = subprocess.Popen(
        [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 30, "gunicorn to answer")
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert health.json()["scheduler"] == {"last_tick_at": None, "overdue_posts": 1, "due_posts": 1}
        time.sleep(1.5)
        assert statuses(session) == {PLANNED: 1} and sink.count() == 0  # the web tier sent nothing
        assert session.scalar(select(func.count()).select_from(SchedulerHeartbeat)) == 0
        schedulers()
        wait_for(lambda: sink.count() == 1, 30, "the scheduler to send the overdue post")
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200, 10, "ok")
        body = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert body["status"] == "ok" and body["scheduler"]["overdue_posts"] == 0
        assert now() - _instant(body["scheduler"]["last_tick_at"]) < timedelta(seconds=5)
    finally:
        web.terminate()
        web.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False


def _instant(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


# /healthz, in-process with a frozen clock, on both engines

NOON = utc(2031, 11, 21, 12, 0)


@pytest.fixture
def due_post(session, make_slot, quiet_channel, make_post):
    web = session.scalar(select(Target).where(Target.name == "web"))
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=quiet_channel)
    return make_post(slot, web, due_at=NOON)


def beat(session, at) -> None:
    session.add(SchedulerHeartbeat(worker="host:1", last_tick_at=at))
    session.commit()


def test_healthz_is_ok_with_nothing_due_even_before_any_scheduler_ran(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.json["status"] == "ok" and resp.json["scheduler"]["last_tick_at"] is None


def test_healthz_degrades_when_posts_are_due_and_no_scheduler_ticked_for_a_minute(client, session, due_post):
    beat(session, NOON - timedelta(minutes=5))
    with clock.frozen(NOON + timedelta(seconds=30)):
        resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json["status"] == "degraded"
    assert resp.json["scheduler"]["last_tick_at"] == "2031-11-21T11:55:00+00:00"
    assert resp.json["scheduler"]["overdue_posts"] == 0 and "no scheduler has ticked" in resp.json["detail"]


def test_healthz_is_ok_while_a_ticking_scheduler_is_on_time(client, session, due_post):
    beat(session, NOON + timedelta(seconds=29))
    with clock.frozen(NOON + timedelta(seconds=30)):
        resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["scheduler"]["due_posts"] == 1


def test_healthz_degrades_when_a_post_is_over_two_minutes_late_though_schedulers_tick(client, session, due_post):
    beat(session, NOON + timedelta(minutes=3))
    with clock.frozen(NOON + timedelta(minutes=2, seconds=1)):
        resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json["scheduler"]["overdue_posts"] == 1
    assert "overdue" in resp.json["detail"]


def test_healthz_counts_what_a_person_should_look_at(client, session, due_post, make_post):
    for i, status in enumerate([UNKNOWN, EXPIRED, EXPIRED]):
        make_post(due_post.slot, due_post.target, due_at=NOON, step=f"x{i}", status=status)
    beat(session, NOON)
    with clock.frozen(NOON):
        body = client.get("/healthz").json
    assert body["posts"] == {"held": 0, "failed": 0, "unknown": 1, "expired": 2}
