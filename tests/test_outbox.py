"""The outbox on both engines: claims, honest outcomes, backoff, expiry, lease recovery, follow-ups."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import Post, PostAttempt
from schedule_service.models.promo import (
    CORRECT,
    CORRECTED,
    EXPIRED,
    FAILED,
    HELD,
    PLANNED,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
    WITHDRAW,
    WITHDRAWN,
)
from schedule_service.publishing import outbox
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import BOT_TOKEN, closed_port_url, telegram_server, webhook_sink

# The shared publishing fixtures, made visible to pytest in this module.
make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

# The interview airs at 00:05 Moscow time on 22 November 2031 (21:05 UTC on the 21st).
START = utc(2031, 11, 21, 21, 5)
NOON = utc(2031, 11, 21, 12, 0)  # 15:00 in Moscow


@pytest.fixture
def slot(make_slot, quiet_channel):
    return make_slot(START, channel=quiet_channel, duration_minutes=60)


@pytest.fixture
def hook(httpserver, make_target):
    return make_target("hook", "webhook", url=httpserver.url_for("/hook"))


def attempts_of(session, post):
    return session.scalars(select(PostAttempt).where(PostAttempt.post_id == post.id).order_by(PostAttempt.id)).all()


def fresh(session, post) -> Post:
    return session.get(Post, post.id, populate_existing=True)


def test_a_due_post_reaches_the_webhook_once_signed_with_its_key(session, httpserver, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    later_post = make_post(slot, hook, due_at=NOON + timedelta(hours=1), step="later")
    held = make_post(slot, hook, due_at=NOON, step="needs-approval", status=HELD)
    with clock.frozen(NOON + timedelta(seconds=0.4)):
        assert publish() == 1
        assert publish() == 0  # nothing is sent twice

    assert sink.bad == [] and sink.ids() == [post.idempotency_key]
    event = sink.events()[0]
    assert event["type"] == "promo.published"
    assert event["data"]["slot_id"] == slot.id and event["data"]["post_id"] == post.id
    assert "tonight right after midnight" in event["data"]["text"]
    assert event["data"]["link"].endswith(f"/slots/{slot.id}")

    post = fresh(session, post)
    assert post.status == PUBLISHED and post.attempts == 1
    assert post.published_at == NOON + timedelta(seconds=0.4)
    assert post.text == event["data"]["text"] and post.lease_until is None
    (attempt,) = attempts_of(session, post)
    assert attempt.outcome == PUBLISHED and attempt.finished_at is not None and attempt.worker == "test-worker"
    assert fresh(session, later_post).status == PLANNED
    assert fresh(session, held).status == HELD and fresh(session, held).attempts == 0


def test_text_is_rendered_when_sent_so_the_when_phrase_is_true_then(
    session, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON, text="as planned: tonight right after midnight")
    with clock.frozen(utc(2031, 11, 21, 20, 55)):  # the scheduler comes round late, still before air
        publish()
    (event,) = sink.events()
    assert "in 10 minutes" in event["data"]["text"] and event["data"]["when"] == "in 10 minutes"
    assert fresh(session, post).text == event["data"]["text"]


def test_a_refused_connection_fails_then_retries_with_growing_backoff(
    session, httpserver, slot, make_target, make_post, publish
):
    hook = make_target("hook", "webhook", url=closed_port_url())
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = fresh(session, post)
    assert post.status == FAILED and "could not connect" in post.last_error
    assert post.retry_at == NOON + timedelta(seconds=5)
    assert attempts_of(session, post)[0].outcome == FAILED

    with clock.frozen(NOON + timedelta(seconds=4)):
        assert publish() == 0  # not before its retry time
    with clock.frozen(NOON + timedelta(seconds=5)):
        publish()
    assert fresh(session, post).retry_at == NOON + timedelta(seconds=15)  # 5 s, then 10 s

    sink = webhook_sink(httpserver)
    hook.url = httpserver.url_for("/hook")
    session.commit()
    with clock.frozen(NOON + timedelta(seconds=15)):
        publish()
    post = fresh(session, post)
    assert post.status == PUBLISHED and post.attempts == 3 and post.last_error is None
    assert sink.ids() == [post.idempotency_key]
    assert [a.outcome for a in attempts_of(session, post)] == [FAILED, FAILED, PUBLISHED]


def test_a_refusal_by_the_target_is_not_retried_but_shown(session, httpserver, client, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver, status=410)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = fresh(session, post)
        assert post.status == FAILED and post.retry_at is None and "410" in post.last_error
        assert len(sink.arrivals) == 1
    with clock.frozen(NOON + timedelta(hours=1)):
        assert publish() == 0
        session.commit()
        assert client.get("/healthz").json["posts"]["failed"] == 1


def test_a_post_waiting_for_a_retry_expires_when_its_moment_passes(
    session, httpserver, slot, make_target, make_post, publish
):
    hook = make_target("hook", "webhook", url=closed_port_url())
    post = make_post(slot, hook, due_at=START - timedelta(seconds=2))
    with clock.frozen(START - timedelta(seconds=2)):
        publish()
    assert fresh(session, post).status == FAILED
    with clock.frozen(START):
        assert publish() == 0
        assert outbox.expire_passed(session) == 1
    post = fresh(session, post)
    assert post.status == EXPIRED and "could not connect" in post.last_error and "never sent late" in post.last_error


def test_down_across_a_post_s_moment_it_is_sent_late_if_still_true_else_expired(
    session, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    day_before = make_post(slot, hook, due_at=NOON, step="noon")  # true until air time
    ten_minutes = make_post(slot, hook, due_at=START - timedelta(minutes=10), step="ten-minutes")
    on_air = make_post(slot, hook, due_at=START, valid_until=slot.end_at, step="on-air")
    # Every scheduler was down from before noon until 21:10 UTC, five minutes into the show.
    with clock.frozen(START + timedelta(minutes=5)):
        assert publish() == 1
        assert outbox.expire_passed(session) == 2
    assert sink.ids() == [on_air.idempotency_key]
    assert sink.events()[0]["data"]["when"] == "on air now"
    for post in (day_before, ten_minutes):
        post = fresh(session, post)
        assert post.status == EXPIRED and post.attempts == 0 and "never sent late" in post.last_error
    assert fresh(session, on_air).status == PUBLISHED


def test_a_held_post_expires_unsent(session, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON, status=HELD)
    with clock.frozen(START):
        outbox.expire_passed(session)
    assert fresh(session, post).status == EXPIRED


def test_an_answer_lost_after_sending_is_unknown_on_telegram_and_never_sent_again(
    app, session, httpserver, slot, make_target, make_post, publish
):
    app.config["TARGET_TIMEOUT_SECONDS"] = 0.5
    server = telegram_server(httpserver, delay=1.5)
    tg = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, tg, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = fresh(session, post)
    assert post.status == UNKNOWN and "may have gone out" in post.last_error
    assert BOT_TOKEN not in post.last_error
    with clock.frozen(NOON + timedelta(hours=1)):
        assert publish() == 0
    assert server.answered.wait(5)
    assert len(server.arrivals) == 1  # it did arrive; nobody could know


def test_an_answer_lost_after_sending_is_sent_again_where_the_target_deduplicates(
    app, session, httpserver, slot, hook, make_post, publish
):
    app.config["TARGET_TIMEOUT_SECONDS"] = 0.5
    sink = webhook_sink(httpserver, delay=1.5)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = fresh(session, post)
    assert post.status == FAILED and "deduplicates" in post.last_error and post.retry_at is not None
    assert sink.answered.wait(5)  # the slow answer is over; the receiver is listening again
    httpserver.clear()
    sink_again = webhook_sink(httpserver)
    with clock.frozen(post.retry_at):
        publish()
    assert fresh(session, post).status == PUBLISHED
    # The receiver saw the same webhook-id twice and keeps one: that is the scheme's contract.
    assert sink.ids() + sink_again.ids() == [post.idempotency_key, post.idempotency_key]
    assert [a.outcome for a in attempts_of(session, post)] == [UNKNOWN, PUBLISHED]


def test_a_claim_whose_process_died_before_sending_is_claimed_again_after_its_lease(
    session, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        assert outbox.claim_due(session, "died:1", 10, timedelta(seconds=60)) == [post.id]
        assert publish() == 0  # another scheduler leaves a claimed post alone
        assert outbox.recover_leases(session) == 0  # the lease still runs
    with clock.frozen(NOON + timedelta(seconds=61)):
        assert outbox.recover_leases(session) == 1
        post = fresh(session, post)
        assert post.status == PLANNED and "stopped before sending" in post.last_error
        publish()
    assert fresh(session, post).status == PUBLISHED and sink.ids() == [post.idempotency_key]


@pytest.mark.parametrize("kind", ["telegram", "webhook"])
def test_a_claim_whose_process_died_during_the_call_is_resent_only_where_deduplicated(
    kind, session, httpserver, slot, make_target, make_post, publish
):
    server = telegram_server(httpserver) if kind == "telegram" else webhook_sink(httpserver)
    if kind == "telegram":
        target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    else:
        target = make_target("hook", "webhook", url=httpserver.url_for("/hook"))
    post = make_post(slot, target, due_at=NOON)
    cfg = outbox.Settings.from_config({})
    with clock.frozen(NOON):
        outbox.claim_due(session, "died:2", 10, cfg.lease)
        assert outbox.prepare(session, post.id, "died:2", cfg) is not None  # the attempt is open: then it died
    with clock.frozen(NOON + timedelta(seconds=61)):
        outbox.recover_leases(session)
        post = fresh(session, post)
        (attempt,) = attempts_of(session, post)
        assert attempt.outcome == UNKNOWN and "died:2 stopped during the call" in attempt.response
        publish()
    post = fresh(session, post)
    if kind == "telegram":
        assert post.status == UNKNOWN and "may have gone out" in post.last_error
        assert server.arrivals == []
    else:
        assert post.status == PUBLISHED and server.ids() == [post.idempotency_key]


def test_claimers_racing_never_share_a_post(app, session, slot, hook, make_post):
    posts = [make_post(slot, hook, due_at=NOON, step=f"s{i}") for i in range(40)]
    claimed: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        with app.app_context():
            from schedule_service.db import db

            mine = claimed.setdefault(name, [])
            while batch := outbox.claim_due(db.session, name, 3, timedelta(seconds=60)):
                mine.extend(batch)
            db.session.remove()

    with clock.frozen(NOON):
        threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    every = [i for ids in claimed.values() for i in ids]
    assert sorted(every) == sorted(p.id for p in posts)  # each exactly once
    session.expire_all()
    assert {fresh(session, p).claimed_by for p in posts} <= set(claimed)
    assert {fresh(session, p).status for p in posts} == {PUBLISHING}


def test_a_stopping_scheduler_releases_what_it_claimed_and_did_not_start(app, session, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON)
    publisher = outbox.Publisher(app, "stopping:1")
    with clock.frozen(NOON):
        (post_id,) = outbox.claim_due(session, "stopping:1", 10, timedelta(seconds=60))
        publisher.stop()
        publisher._send_all(session, [post_id])
    publisher.close()
    post = fresh(session, post)
    assert post.status == PLANNED and post.claimed_by is None and post.attempts == 0


def test_a_disabled_target_is_not_called_and_its_post_waits(session, httpserver, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver)
    hook.is_enabled = False
    session.commit()
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = fresh(session, post)
    assert post.status == FAILED and "disabled" in post.last_error and sink.arrivals == []
    hook.is_enabled = True
    session.commit()
    with clock.frozen(post.retry_at):
        publish()
    assert fresh(session, post).status == PUBLISHED and len(sink.arrivals) == 1


def test_a_blurb_too_long_for_its_target_fails_without_a_call(session, httpserver, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver)
    hook.max_length = 20
    session.commit()
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = fresh(session, post)
    assert post.status == FAILED and post.retry_at is None and "allows 20" in post.last_error
    assert sink.arrivals == []


# Follow-ups: corrections and withdrawals


def test_moving_a_slot_corrects_its_published_post(session, httpserver, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    with clock.frozen(NOON + timedelta(hours=1)):
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "editor@example.test")
        session.commit()
        (correction,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
        assert correction.action == CORRECT and correction.status == PLANNED
        assert correction.idempotency_key != post.idempotency_key
        publish()
    published, corrected = sink.events()
    assert corrected["type"] == "promo.corrected"
    assert corrected["data"]["original_idempotency_key"] == post.idempotency_key
    assert "tonight at 01:05" in corrected["data"]["text"] and corrected["data"]["start"] == "2031-11-21T22:05:00+00:00"
    assert sink.ids() == [post.idempotency_key, correction.idempotency_key]
    assert fresh(session, post).status == CORRECTED
    assert fresh(session, correction).status == PUBLISHED


def test_a_second_move_before_the_correction_went_out_supersedes_it(
    session, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "test")
        session.commit()
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=2)}, "test")
        session.commit()
        publish()
    first, second = session.scalars(select(Post).where(Post.parent_id == post.id).order_by(Post.id)).all()
    assert first.status == REVOKED and second.status == PUBLISHED
    assert [e["type"] for e in sink.events()] == ["promo.published", "promo.corrected"]
    assert "tonight at 02:05" in sink.events()[1]["data"]["text"]


def test_cancelling_a_slot_withdraws_its_published_post(session, httpserver, slot, hook, make_post, publish):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    waiting = make_post(slot, hook, due_at=NOON + timedelta(hours=2), step="later")
    with clock.frozen(NOON):
        publish()
        schedule.cancel_slot(session, slot, "editor@example.test")
        session.commit()
        publish()
    (withdrawal,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
    assert withdrawal.action == WITHDRAW and fresh(session, withdrawal).status == PUBLISHED
    assert [e["type"] for e in sink.events()] == ["promo.published", "promo.withdrawn"]
    assert sink.events()[1]["data"]["original_idempotency_key"] == post.idempotency_key
    assert fresh(session, post).status == WITHDRAWN
    assert fresh(session, waiting).status == REVOKED  # the promos side never sends the unsent one


def test_a_slot_that_moves_while_its_post_is_on_the_way_gets_a_correction(session, httpserver, slot, hook, make_post):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    cfg = outbox.settings()  # the test config: its targets listen on loopback
    with clock.frozen(NOON):
        outbox.claim_due(session, "w", 10, cfg.lease)
        prepared = outbox.prepare(session, post.id, "w", cfg)
        # The text is made; before the call returns, an editor moves the show.
        schedule.update_slot(session, slot, {"start": START + timedelta(minutes=30)}, "test")
        session.commit()
        assert session.scalars(select(Post).where(Post.parent_id == post.id)).all() == []
        outbox.record(session, prepared, outbox.send(prepared), "w", cfg)
    (correction,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
    assert correction.action == CORRECT and correction.status == PLANNED
    assert fresh(session, post).status == PUBLISHED and len(sink.arrivals) == 1


def test_a_lease_shorter_than_a_call_is_refused_at_start():
    with pytest.raises(ValueError, match="PUBLISH_LEASE_SECONDS"):
        outbox.Settings.from_config({"PUBLISH_LEASE_SECONDS": 15, "TARGET_TIMEOUT_SECONDS": 10})
    assert outbox.Settings.from_config({}).lease == timedelta(seconds=60)


def test_a_post_that_went_out_is_published_even_if_a_stale_write_moved_it_meanwhile(
    app, session, httpserver, slot, hook, make_post
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    planner = session()  # the session itself, not the proxy that follows the app context
    stale = planner.get(Post, post.id)  # a re-plan read it as planned…
    planner.commit()
    cfg = outbox.settings()  # the test config: its targets listen on loopback
    with clock.frozen(NOON), app.app_context():
        from schedule_service.db import db

        other = db.session  # …while a scheduler claimed it and sent it
        outbox.claim_due(other, "w", 10, cfg.lease)
        prepared = outbox.prepare(other, post.id, "w", cfg)
        outcome = outbox.send(prepared)
        stale.status = REVOKED  # …and then wrote what it had decided, without a claim of its own
        planner.commit()
        assert outbox.record(other, prepared, outcome, "w", cfg)
        db.session.remove()
    assert fresh(session, post).status == PUBLISHED and len(sink.arrivals) == 1


def test_a_post_moved_back_to_planned_under_a_claim_is_not_claimed_twice(app, session, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON, status=FAILED, retry_at=NOON)
    planner = session()
    stale = planner.get(Post, post.id)  # a re-plan read it as failed…
    planner.commit()
    with clock.frozen(NOON):
        assert outbox.claim_due(session, "w1", 10, timedelta(seconds=60)) == [post.id]
        stale.status = PLANNED  # …and sets it planned again, over the claim
        planner.commit()
        assert outbox.claim_due(session, "w2", 10, timedelta(seconds=60)) == []
    with clock.frozen(NOON + timedelta(seconds=61)):  # had w1 died, its lease ends and the post is free
        assert outbox.claim_due(session, "w2", 10, timedelta(seconds=60)) == [post.id]
