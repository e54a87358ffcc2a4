"""Promos of regional editions (SPEC §9): timed by the edition's air time, worded in its zone,
moved, corrected and withdrawn with the channel's slot."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import Post
from schedule_service.promos.render import render_post
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import webhook_sink

make_target, publish = support.make_target, support.publish

MOSCOW = ZoneInfo("Europe/Moscow")
NOVOSIBIRSK = ZoneInfo("Asia/Novosibirsk")
SIBERIA = {"slug": "mir-siberia", "name": "Mir Siberia", "timezone": "Asia/Novosibirsk", "shift": "-PT4H"}
#: Friday 28 November 2031, 00:05 in Moscow (21:05 UTC on the 27th): the exclusive.
EXCLUSIVE = datetime(2031, 11, 28, 0, 5, tzinfo=MOSCOW)
#: Within the planning horizon of every step.
LONG_BEFORE = utc(2031, 11, 20, 12, 0)
PLAN = [
    {"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web", "siberia"]},
    {"name": "ten-minutes", "offset": "-PT10M", "targets": ["web", "siberia"]},
]


@pytest.fixture
def mir(make_channel, make_target):
    make_target("siberia", "web", edition="mir-siberia")
    return make_channel("mir", editions=[SIBERIA], promo_plan=PLAN)


def planned(session, slot) -> dict[tuple[str, str], Post]:
    query = select(Post).where(Post.slot_id == slot.id, Post.action == "publish", Post.status.in_(("planned", "held")))
    return {(p.step, p.target.name): p for p in session.scalars(query)}


def test_an_editions_posts_air_and_speak_at_its_own_hours(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(EXCLUSIVE, channel=mir)
    posts = planned(session, slot)
    # Moscow: 18:00 on Thursday, and ten minutes before 00:05.
    assert posts[("tonight", "web")].due_at == datetime(2031, 11, 27, 18, 0, tzinfo=MOSCOW)
    assert posts[("ten-minutes", "web")].due_at == EXCLUSIVE - timedelta(minutes=10)
    # Novosibirsk: the edition airs at 00:05 its time, four hours earlier as an instant; its evening
    # post is at 18:00 Novosibirsk time on the edition's broadcast day.
    edition_start = EXCLUSIVE - timedelta(hours=4)
    assert edition_start == datetime(2031, 11, 28, 0, 5, tzinfo=NOVOSIBIRSK)
    tonight = posts[("tonight", "siberia")]
    assert tonight.due_at == datetime(2031, 11, 27, 18, 0, tzinfo=NOVOSIBIRSK)
    assert tonight.valid_until == edition_start
    assert posts[("ten-minutes", "siberia")].due_at == edition_start - timedelta(minutes=10)
    assert "tonight right after midnight" in tonight.text
    # Sent at the moment it is due, it reads the same: the text is made then, in Novosibirsk.
    assert render_post(tonight, tonight.due_at).when == "tonight right after midnight"
    # Read at Novosibirsk's 23:30 (19:30 in Moscow) it is half an hour to air there, not four and a half.
    assert render_post(tonight, datetime(2031, 11, 27, 23, 30, tzinfo=NOVOSIBIRSK)).when == "in 35 minutes"


def test_the_slots_promos_name_the_edition_of_each_step(client, editor, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(EXCLUSIVE, channel=mir)
        steps = client.get(f"/api/v1/slots/{slot.id}/promos", headers=editor).json
    by_key = {(s["step"], s["target"]): s for s in steps}
    assert by_key[("tonight", "siberia")]["edition"] == "mir-siberia"
    assert by_key[("tonight", "web")]["edition"] is None
    assert by_key[("tonight", "siberia")]["due_at"].startswith("2031-11-27T11:00:00")


def test_a_sent_editions_post_says_the_editions_time_to_the_webhook(
    session, httpserver, make_channel, make_target, make_slot, publish
):
    sink = webhook_sink(httpserver)
    make_target("hook", "webhook", url=httpserver.url_for("/hook"), edition="mir-siberia")
    plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["hook"]}]
    mir = make_channel("mir", editions=[SIBERIA], promo_plan=plan)
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(EXCLUSIVE, channel=mir)
    with clock.frozen(datetime(2031, 11, 27, 18, 0, 1, tzinfo=NOVOSIBIRSK)):
        assert publish() == 1
    (event,) = sink.events()
    assert event["data"]["when"] == "tonight right after midnight"
    assert "tonight right after midnight" in event["data"]["text"]
    assert event["data"]["channel"] == "mir-siberia"
    assert datetime.fromisoformat(event["data"]["start"]) == EXCLUSIVE - timedelta(hours=4)
    assert session.get(Post, planned_id(session, slot)).status == "published"


def planned_id(session, slot) -> int:
    return session.scalar(select(Post.id).where(Post.slot_id == slot.id, Post.action == "publish"))


def test_moving_the_slot_moves_every_editions_posts_and_corrects_one_already_out(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(EXCLUSIVE, channel=mir)
    sent = planned(session, slot)[("tonight", "siberia")]
    sent.status, sent.published_at, sent.external_id = "published", sent.due_at, "feed-1"
    session.commit()
    later = EXCLUSIVE + timedelta(minutes=25)
    with clock.frozen(utc(2031, 11, 27, 12, 0)):  # 19:00 in Novosibirsk, after its evening post went out
        schedule.update_slot(session, slot, {"start": later}, "test", slot.version)
        session.commit()
    posts = planned(session, slot)
    assert posts[("ten-minutes", "siberia")].due_at == later - timedelta(hours=4, minutes=10)
    assert posts[("ten-minutes", "web")].due_at == later - timedelta(minutes=10)
    assert posts[("tonight", "web")].due_at == datetime(2031, 11, 27, 18, 0, tzinfo=MOSCOW)
    (correction,) = session.scalars(select(Post).where(Post.parent_id == sent.id)).all()
    assert correction.action == "correct" and correction.status == "planned"
    # True until the edition's showing ends, four hours before Moscow's.
    assert correction.valid_until == later - timedelta(hours=4) + timedelta(minutes=60)
    assert render_post(correction, utc(2031, 11, 27, 12, 0)).when == "tonight at 00:30"


def test_cancelling_the_slot_revokes_and_withdraws_every_editions_posts(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(EXCLUSIVE, channel=mir)
    sent = planned(session, slot)[("tonight", "siberia")]
    sent.status, sent.published_at, sent.external_id = "published", sent.due_at, "feed-1"
    session.commit()
    with clock.frozen(utc(2031, 11, 27, 12, 0)):
        schedule.cancel_slot(session, slot, "test")
        session.commit()
    statuses = {
        (p.step, p.target.name, p.action): p.status
        for p in session.scalars(select(Post).where(Post.slot_id == slot.id))
    }
    assert statuses[("ten-minutes", "siberia", "publish")] == "revoked"
    assert statuses[("tonight", "web", "publish")] == "revoked"
    assert statuses[("tonight", "siberia", "publish")] == "published"
    assert statuses[("tonight", "siberia", "withdraw")] == "planned"


def test_an_edition_that_changes_clocks_times_its_midday_post_by_its_own_wall_clock(
    session, make_channel, make_target, make_slot
):
    make_target("berlin", "web", edition="mir-berlin")
    plan = [{"name": "midday", "day": 0, "at_local": "12:00", "targets": ["berlin"]}]
    berlin = {"slug": "mir-berlin", "name": "Mir Berlin", "timezone": "Europe/Berlin", "shift": "-PT1H"}
    mir = make_channel("mir", editions=[berlin], promo_plan=plan)
    with clock.frozen(utc(2031, 10, 20)):
        saturday = make_slot(datetime(2031, 10, 25, 21, 0, tzinfo=MOSCOW), channel=mir)
        sunday = make_slot(datetime(2031, 10, 26, 21, 0, tzinfo=MOSCOW), channel=mir)
    sat, sun = planned(session, saturday)[("midday", "berlin")], planned(session, sunday)[("midday", "berlin")]
    # 12:00 on Berlin's wall clock either side of its change: 10:00Z in summer time, 11:00Z after.
    assert sat.due_at == utc(2031, 10, 25, 10, 0) and sun.due_at == utc(2031, 10, 26, 11, 0)
    # The shows air at 19:00 and then 18:00 Berlin time (21:00 in Moscow both days).
    assert sat.valid_until == utc(2031, 10, 25, 17, 0) and sun.valid_until == utc(2031, 10, 26, 17, 0)
    assert "tonight at 19:00" in sat.text and "tonight at 18:00" in sun.text
