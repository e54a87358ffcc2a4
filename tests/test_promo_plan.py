"""Promo plans → post rows: planned with the slot, moved with it, revoked when it is cancelled."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import Post, Target
from schedule_service.promos import plan
from tests.conftest import utc

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
#: Saturday 00:05 in Moscow: on the broadcast day of Friday 21 November 2031.
START = datetime(2031, 11, 22, 0, 5, tzinfo=MOSCOW)
#: Within the planning horizon (14 days) of every step of the slots below.
LONG_BEFORE = utc(2031, 11, 14, 12, 0)


def posts(session, slot, **where) -> list[Post]:
    """The slot's own posts (corrections and withdrawals of sent ones are another module's)."""
    query = select(Post).where(Post.slot_id == slot.id, Post.action == "publish").order_by(Post.id)
    for key, value in where.items():
        query = query.where(getattr(Post, key) == value)
    return list(session.scalars(query))


def by_step(session, slot) -> dict[str, Post]:
    return {p.step: p for p in posts(session, slot) if p.status in ("planned", "held")}


def add_target(session, name: str, kind: str = "mastodon", **values) -> Target:
    target = Target(name=name, kind=kind, **values)
    session.add(target)
    session.commit()
    return target


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


def test_the_default_plan_announces_the_day_before_tonight_ten_minutes_before_and_at_air(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    planned = by_step(session, slot)
    assert set(planned) == {"day-before", "tonight", "ten-minutes", "on-air"}
    assert planned["day-before"].due_at == datetime(2031, 11, 20, 12, 0, tzinfo=MOSCOW)
    assert planned["tonight"].due_at == datetime(2031, 11, 21, 18, 0, tzinfo=MOSCOW)
    assert planned["ten-minutes"].due_at == START - timedelta(minutes=10)
    assert planned["on-air"].due_at == START
    # Before air a post is true until the start; "on air now" until the end.
    assert {p.step: p.valid_until for p in planned.values()} == {
        "day-before": START,
        "tonight": START,
        "ten-minutes": START,
        "on-air": START + timedelta(hours=1),
    }
    assert all(p.status == "planned" and p.target.name == "web" and p.action == "publish" for p in planned.values())
    assert planned["tonight"].idempotency_key == f"slot-{slot.id}-tonight-web-publish"
    # The text as it will read when due.
    assert "overnight Thursday to Friday" not in planned["day-before"].text
    assert "overnight Friday to Saturday at 00:05" in planned["day-before"].text
    assert "tonight right after midnight" in planned["tonight"].text
    assert "in 10 minutes" in planned["ten-minutes"].text
    assert "on air now" in planned["on-air"].text


def test_steps_whose_moment_has_passed_are_not_planned(session, make_slot, mir):
    with clock.frozen(datetime(2031, 11, 21, 20, 0, tzinfo=MOSCOW)):
        slot = make_slot(START, channel=mir)
    assert set(by_step(session, slot)) == {"ten-minutes", "on-air"}


def test_approval_holds_posts_for_approving_targets_and_exclusives_where_asked(session, make_slot, make_programme, mir):
    add_target(session, "masto", "mastodon", is_approval_required=True)
    mir.promo_plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web", "masto"]}]
    session.commit()
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir, programme=make_programme(is_exclusive=True))
    assert {p.target.name: p.status for p in posts(session, slot)} == {"web": "planned", "masto": "held"}

    mir.is_exclusive_approval_required = True
    session.commit()
    with clock.frozen(LONG_BEFORE):
        exclusive = make_slot(START + timedelta(days=1), channel=mir, programme=make_programme(is_exclusive=True))
        ordinary = make_slot(START + timedelta(days=2), channel=mir, programme=make_programme(is_exclusive=False))
    assert {p.status for p in posts(session, exclusive)} == {"held"}
    assert {p.target.name: p.status for p in posts(session, ordinary)} == {"web": "planned", "masto": "held"}


def test_a_programmes_plan_replaces_its_channels(session, make_slot, make_programme, mir):
    mir.promo_plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web"]}]
    session.commit()
    own = make_programme(title="Own plan")
    own.promo_plan = [{"name": "hour-before", "offset": "-PT1H", "targets": ["web"]}]
    session.commit()
    with clock.frozen(LONG_BEFORE):
        follows = make_slot(START, channel=mir)
        replaced = make_slot(START + timedelta(days=1), channel=mir, programme=own)
    assert set(by_step(session, follows)) == {"tonight"}
    assert set(by_step(session, replaced)) == {"hour-before"}
    assert by_step(session, replaced)["hour-before"].due_at == START + timedelta(days=1, hours=-1)


def test_at_local_is_a_wall_time_in_the_audience_zone(session, make_slot, mir):
    add_target(session, "india", "webhook", timezone="Asia/Kolkata", url="http://127.0.0.1:9/hook")
    mir.promo_plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web", "india"]}]
    session.commit()
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    rows = {p.target.name: p for p in posts(session, slot)}
    assert rows["web"].due_at == datetime(2031, 11, 21, 18, 0, tzinfo=MOSCOW)
    assert rows["india"].due_at == datetime(2031, 11, 21, 18, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    # Each is said in its own zone: 00:05 in Moscow is 02:35 in Kolkata.
    assert "tonight right after midnight" in rows["web"].text
    assert "tonight at 02:35" in rows["india"].text


def test_offsets_are_exact_durations_and_wall_times_survive_dst(session, make_slot, make_channel):
    berlin = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    berlin.promo_plan = [
        {"name": "day-ahead", "offset": "-P1D", "targets": ["web"]},
        {"name": "gap", "day": 0, "at_local": "02:30", "targets": ["web"]},
    ]
    session.commit()
    # Sunday 30 March 2031 20:00 CEST; the clocks sprang forward at 02:00 that night.
    start = datetime(2031, 3, 30, 20, 0, tzinfo=BERLIN)
    with clock.frozen(utc(2031, 3, 20)):
        slot = make_slot(start, channel=berlin)
    planned = by_step(session, slot)
    # 24 hours before is 19:00 CET the day before, not 20:00.
    assert planned["day-ahead"].due_at == utc(2031, 3, 29, 18, 0)
    assert planned["day-ahead"].due_at.astimezone(BERLIN).hour == 19
    # 02:30 did not happen that night: the post goes at 03:30 CEST, as far past the jump as meant.
    assert planned["gap"].due_at == utc(2031, 3, 30, 1, 30)

    berlin.promo_plan = [{"name": "fold", "day": 0, "at_local": "02:30", "targets": ["web"]}]
    session.commit()
    with clock.frozen(utc(2031, 10, 20)):
        autumn = make_slot(datetime(2031, 10, 26, 20, 0, tzinfo=BERLIN), channel=berlin)
    # 02:30 happened twice on 26 October: the first, in summer time.
    assert by_step(session, autumn)["fold"].due_at == utc(2031, 10, 26, 0, 30)


def test_moving_a_slot_moves_its_unsent_posts_and_revokes_those_now_past(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    before = by_step(session, slot)
    failed = before["ten-minutes"]
    failed.status, failed.attempts, failed.retry_at, failed.last_error = "failed", 2, utc(2031, 11, 1), "timeout"
    session.commit()
    later = START + timedelta(days=1, hours=1)
    with clock.frozen(datetime(2031, 11, 21, 13, 0, tzinfo=MOSCOW)):
        schedule.update_slot(session, slot, {"start": later}, "test")
        session.commit()
    after = {p.step: p for p in posts(session, slot)}
    assert {p.id for p in after.values()} == {p.id for p in before.values()}  # the same rows, moved
    assert after["on-air"].due_at == later and after["on-air"].valid_until == later + timedelta(hours=1)
    assert after["tonight"].due_at == datetime(2031, 11, 22, 18, 0, tzinfo=MOSCOW)
    assert after["tonight"].valid_until == later
    assert after["ten-minutes"].status == "planned" and after["ten-minutes"].retry_at is None
    assert after["ten-minutes"].due_at == later - timedelta(minutes=10)
    # The day before is now Friday 12:00, and it is Friday 13:00: never sent late.
    assert after["day-before"].status == "revoked"
    assert after["tonight"].idempotency_key == f"slot-{slot.id}-tonight-web-publish"


def test_a_step_that_would_fall_after_the_end_is_revoked(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
        # To Friday 10:00–11:00: "tonight at 18:00" would come after the show.
        schedule.update_slot(session, slot, {"start": datetime(2031, 11, 21, 10, 0, tzinfo=MOSCOW)}, "test")
        session.commit()
    statuses = {p.step: p.status for p in posts(session, slot)}
    assert statuses["tonight"] == "revoked" and statuses["on-air"] == "planned"


def test_cancelling_revokes_unsent_posts_and_leaves_sent_ones_to_corrections(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    sent = by_step(session, slot)["day-before"]
    sent.status, sent.published_at, sent.external_id = "published", utc(2031, 11, 20, 9), "feed-1"
    session.commit()
    with clock.frozen(utc(2031, 11, 20, 10)):
        schedule.cancel_slot(session, slot, "test")
        session.commit()
    assert {p.step: p.status for p in posts(session, slot)} == {
        "day-before": "published",
        "tonight": "revoked",
        "ten-minutes": "revoked",
        "on-air": "revoked",
    }


def test_restoring_a_cancelled_slot_plans_fresh_posts_under_new_keys(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
        schedule.cancel_slot(session, slot, "test")
        session.commit()
        schedule.update_slot(session, slot, {"status": "scheduled"}, "test")
        session.commit()
    rows = posts(session, slot)
    assert len(rows) == 8
    assert {p.status for p in rows[:4]} == {"revoked"}
    assert {p.status for p in rows[4:]} == {"planned"}
    assert {p.idempotency_key for p in rows[4:]} == {
        f"slot-{slot.id}-{step}-web-publish-2" for step in ("day-before", "tonight", "ten-minutes", "on-air")
    }


def test_moving_a_slot_whose_post_is_out_plans_no_second_one(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    sent = by_step(session, slot)["day-before"]
    sent.status = "published"
    session.commit()
    with clock.frozen(LONG_BEFORE):
        schedule.update_slot(session, slot, {"start": START + timedelta(days=2)}, "test")
        session.commit()
    assert [p.status for p in posts(session, slot) if p.step == "day-before"] == ["published"]


def test_a_blurb_too_long_for_a_target_refuses_the_slot(session, make_slot, make_programme, mir):
    add_target(session, "masto", "mastodon", max_length=200)
    mir.promo_plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["masto"]}]
    session.commit()
    with clock.frozen(LONG_BEFORE), pytest.raises(schedule.Invalid) as refused:
        make_slot(START, channel=mir, programme=make_programme(title="Too long " * 25))
    assert "tonight" in refused.value.errors["promo_plan"] and "masto" in refused.value.errors["promo_plan"]
    assert "allows 200" in refused.value.errors["promo_plan"]


def test_a_plan_naming_a_target_deleted_since_skips_it(session, make_slot, mir):
    gone = add_target(session, "gone", "webhook", url="http://127.0.0.1:9/")
    mir.promo_plan = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web", "gone"]}]
    session.commit()
    session.delete(gone)
    session.commit()
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    assert [p.target.name for p in posts(session, slot)] == ["web"]


def test_setting_a_channel_plan_replans_its_coming_slots(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
        steps = [{"name": "tonight", "day": 0, "at_local": "19:30", "targets": ["web"]}]
        plan.set_channel_plan(session, mir, steps, "editor@example.test")
        session.commit()
    assert {p.step: p.status for p in posts(session, slot)} == {
        "day-before": "revoked",
        "tonight": "planned",
        "ten-minutes": "revoked",
        "on-air": "revoked",
    }
    assert by_step(session, slot)["tonight"].due_at == datetime(2031, 11, 21, 19, 30, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("steps", "errors"),
    [
        ([{"name": "a", "targets": ["web"]}], {"0.offset"}),
        ([{"name": "a", "offset": "-PT10M", "day": 0, "at_local": "18:00", "targets": ["web"]}], {"0.offset"}),
        ([{"name": "a", "offset": "P1M", "targets": ["web"]}], {"0.offset"}),
        ([{"name": "a", "offset": "soon", "targets": ["web"]}], {"0.offset"}),
        ([{"name": "a", "offset": "-P90D", "targets": ["web"]}], {"0.offset"}),
        ([{"name": "a", "day": 0, "at_local": "25:00", "targets": ["web"]}], {"0.at_local"}),
        ([{"name": "a", "day": -100, "at_local": "18:00", "targets": ["web"]}], {"0.day"}),
        ([{"name": "a", "day": 0, "at_local": "18:00", "targets": ["nowhere"]}], {"0.targets"}),
        ([{"name": "a", "day": 0, "at_local": "18:00", "targets": []}], {"0.targets"}),
        ([{"name": "a", "day": 0, "at_local": "18:00", "targets": ["web"], "template": "nope"}], {"0.template"}),
        ([{"name": "a b", "offset": "PT0S", "targets": ["web"]}], {"0.name"}),
        (
            [{"name": "a", "offset": "PT0S", "targets": ["web"]}, {"name": "a", "offset": "-PT5M", "targets": ["web"]}],
            {"1.name"},
        ),
        ([{"name": "a", "offset": "PT0S", "targets": ["web"], "colour": "red"}], {"0.colour"}),
    ],
)
def test_a_bad_plan_is_refused_field_by_field(session, mir, steps, errors):
    with pytest.raises(schedule.Invalid) as refused:
        plan.validate_plan(session, steps)
    assert set(refused.value.errors) == errors


def test_hyphenated_names_that_spell_one_key_still_get_a_post_each(session, make_slot, mir):
    add_target(session, "x", "webhook", url="http://127.0.0.1:9/")
    add_target(session, "web-x", "webhook", url="http://127.0.0.1:9/")
    mir.promo_plan = [
        {"name": "a-web", "offset": "-PT1H", "targets": ["x"]},
        {"name": "a", "offset": "-PT2H", "targets": ["web-x"]},
    ]
    session.commit()
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    keys = sorted(p.idempotency_key for p in posts(session, slot))
    assert keys == [f"slot-{slot.id}-a-web-x-publish", f"slot-{slot.id}-a-web-x-publish-2"]


# What gets promoted (SPEC §8a)


def steps_of(session, slot) -> set[str]:
    return set(by_step(session, slot))


def test_highlights_are_promoted_slots_premieres_and_exclusives(session, make_slot, make_programme, mir):
    assert mir.promote == "highlights"  # the default
    with clock.frozen(LONG_BEFORE):
        plain = make_slot(START, channel=mir, is_promoted=False)
        marked = make_slot(START + timedelta(days=1), channel=mir, is_promoted=True)
        premiere = make_slot(START + timedelta(days=2), channel=mir, is_promoted=False, is_premiere=True)
        exclusive = make_slot(
            START + timedelta(days=3), channel=mir, is_promoted=False, programme=make_programme(is_exclusive=True)
        )
    assert posts(session, plain) == []
    for slot in (marked, premiere, exclusive):
        assert steps_of(session, slot) == {"day-before", "tonight", "ten-minutes", "on-air"}


def test_a_channel_promotes_all_or_none_and_a_programme_with_a_plan_everywhere(
    session, make_slot, make_programme, make_channel
):
    every = make_channel("every", promote="all")
    silent = make_channel("silent", promote="none")
    own = make_programme(title="Own plan")
    schedule_plan = [{"name": "hour-before", "offset": "-PT1H", "targets": ["web"]}]
    plan.set_programme_plan(session, own, schedule_plan, "test")
    session.commit()
    with clock.frozen(LONG_BEFORE):
        ordinary = make_slot(START, channel=every, is_promoted=False)
        marked = make_slot(START, channel=silent, is_promoted=True, is_premiere=True)
        planned = make_slot(START + timedelta(days=1), channel=silent, programme=own, is_promoted=False)
    assert steps_of(session, ordinary) == {"day-before", "tonight", "ten-minutes", "on-air"}
    assert posts(session, marked) == []
    assert steps_of(session, planned) == {"hour-before"}


def test_changing_promote_promoted_or_exclusive_replans_the_coming_slots(session, make_slot, make_programme, mir):
    interview = make_programme(title="Interview")
    with clock.frozen(LONG_BEFORE):
        plain = make_slot(START, channel=mir, is_promoted=False)
        show = make_slot(START + timedelta(days=1), channel=mir, programme=interview, is_promoted=False)
        assert posts(session, plain) == [] and posts(session, show) == []

        schedule.update_slot(session, plain, {"is_promoted": True}, "test")
        session.commit()
        assert len(by_step(session, plain)) == 4
        schedule.update_programme(session, interview, {"is_exclusive": True}, "test")
        session.commit()
        assert len(by_step(session, show)) == 4

        schedule.update_channel(session, mir, {"promote": "none"}, "test")
        session.commit()
        # Posts planned, or unsent ones revoked: none of them is still to go out.
        assert by_step(session, plain) == {} and by_step(session, show) == {}
        assert {p.status for p in posts(session, plain) + posts(session, show)} == {"revoked"}

        schedule.update_channel(session, mir, {"promote": "highlights"}, "test")
        schedule.update_slot(session, plain, {"is_promoted": False}, "test")
        session.commit()
    assert by_step(session, plain) == {}
    assert len(by_step(session, show)) == 4  # the exclusive, again, under fresh keys
    assert {p.idempotency_key.rsplit("-", 1)[-1] for p in by_step(session, show).values()} == {"2"}


def test_a_bad_promote_is_refused(session, mir):
    with pytest.raises(schedule.Invalid) as refused:
        schedule.update_channel(session, mir, {"promote": "some"}, "test")
    assert "promote" in refused.value.errors


# The planning horizon (SPEC §8a)


def test_a_slot_beyond_the_horizon_gets_its_posts_when_it_enters_it(session, make_slot, mir):
    three_weeks_before = START - timedelta(days=21)
    with clock.frozen(three_weeks_before):
        slot = make_slot(START, channel=mir)
    assert posts(session, slot) == []
    # Its first step, the day before at 12:00, comes within 14 days on 6 November at 12:00 Moscow.
    assert slot.plan_at == datetime(2031, 11, 6, 12, 0, tzinfo=MOSCOW)
    coming = plan.coming_steps(session, slot)
    assert [(c["step"], c["post_id"]) for c in coming] == [
        ("day-before", None),
        ("tonight", None),
        ("ten-minutes", None),
        ("on-air", None),
    ]

    with clock.frozen(datetime(2031, 11, 6, 11, 59, tzinfo=MOSCOW)):
        assert plan.plan_due(session) == 0
    with clock.frozen(datetime(2031, 11, 6, 12, 0, tzinfo=MOSCOW)):
        assert plan.plan_due(session) == 1
        session.commit()
        assert plan.plan_due(session) == 0  # planned once
        coming = plan.coming_steps(session, slot)
    assert steps_of(session, slot) == {"day-before", "tonight", "ten-minutes", "on-air"}
    assert {c["post_id"] for c in coming} == {p.id for p in posts(session, slot)}
    assert slot.plan_at is None


def test_a_slot_moved_beyond_the_horizon_waits_again(session, make_slot, mir):
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
        schedule.update_slot(session, slot, {"start": START + timedelta(days=30)}, "test")
        session.commit()
    assert by_step(session, slot) == {}
    assert slot.plan_at is not None


def test_the_horizon_is_configurable(app, session, make_slot, mir):
    app.config["PROMO_HORIZON"] = timedelta(days=2)
    with clock.frozen(LONG_BEFORE):
        slot = make_slot(START, channel=mir)
    assert posts(session, slot) == []
    assert slot.plan_at == datetime(2031, 11, 18, 12, 0, tzinfo=MOSCOW)
