"""Fast entry through the API (SPEC §12): repeat a slot, copy days, paste a lineup; all or nothing."""

import pytest
from sqlalchemy import func, select

from schedule_service import clock
from schedule_service.db import db
from schedule_service.models import AuditEntry, Post, Programme, Slot
from tests.conftest import utc

#: The afternoon the tests run on: the slots below are in the coming days, so their posts get planned.
TODAY = utc(2031, 11, 20, 12, 0)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(TODAY):
        yield


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


@pytest.fixture
def news(make_programme):
    return make_programme("Vremya", duration_minutes=30)


@pytest.fixture
def film(make_programme):
    # Exclusive, so its slots get promo posts whatever the channel promotes (SPEC §8a).
    return make_programme("Night Film", duration_minutes=90, is_exclusive=True)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def written() -> tuple[int, int, int, int]:
    """What a refused or dry-run write must leave as it was."""
    return count(Slot), count(Programme), count(AuditEntry), count(Post)


def locals_of(body) -> list[str]:
    return [s["start_local"] for s in body["created"]]


# Repeat a slot


def test_repeating_daily_makes_a_slot_a_day_each_audited_and_planned(client, editor, mir, film, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=film, is_premiere=True)
    resp = client.post(f"/api/v1/slots/{slot.id}/repeat", json={"every": "day", "until": "2031-11-24"}, headers=editor)
    assert resp.status_code == 201
    body = resp.json
    assert body["applied"] is True and body["conflicts"] == []
    assert locals_of(body) == [f"2031-11-{d}T21:00:00+03:00" for d in (22, 23, 24)]
    assert all(s["duration_minutes"] == 90 and not s["premiere"] for s in body["created"])  # reruns
    ids = [s["id"] for s in body["created"]]
    assert db.session.get(Slot, ids[0]).programme_id == film.id
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "slot", AuditEntry.action == "create"))
    made = {e.entity_id: e.actor for e in entries}
    assert all(made[str(i)].startswith("editor-") for i in ids)
    assert all(count(Post, Post.slot_id == i) > 0 for i in ids)


def test_weekdays_are_broadcast_days_monday_to_friday(client, editor, mir, film, make_slot):
    # Thursday's broadcast day, 00:30 on Friday morning.
    slot = make_slot(utc(2031, 11, 20, 21, 30), channel=mir, programme=film)
    resp = client.post(
        f"/api/v1/slots/{slot.id}/repeat", json={"every": "weekday", "until": "2031-11-25"}, headers=editor
    )
    assert resp.status_code == 201
    assert [s["broadcast_day"] for s in resp.json["created"]] == ["2031-11-21", "2031-11-24", "2031-11-25"]
    assert locals_of(resp.json)[0] == "2031-11-22T00:30:00+03:00"  # Friday night, after midnight


def test_repeating_weekly(client, editor, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    resp = client.post(f"/api/v1/slots/{slot.id}/repeat", json={"every": "week", "until": "2031-12-12"}, headers=editor)
    assert [s["broadcast_day"] for s in resp.json["created"]] == ["2031-11-28", "2031-12-05", "2031-12-12"]


def test_a_repeat_with_slots_in_the_way_lists_every_one_and_writes_nothing(client, editor, mir, news, film, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    first = make_slot(utc(2031, 11, 22, 17, 0), channel=mir, programme=film)  # 20:00–21:30 Moscow
    second = make_slot(utc(2031, 11, 24, 18, 15), channel=mir, programme=film)
    before = written()
    resp = client.post(f"/api/v1/slots/{slot.id}/repeat", json={"every": "day", "until": "2031-11-25"}, headers=editor)
    assert resp.status_code == 409
    body = resp.json
    assert body["applied"] is False and len(body["created"]) == 4
    assert [(c["start"], [s["id"] for s in c["slots"]]) for c in body["conflicts"]] == [
        ("2031-11-22T18:00:00+00:00", [first.id]),
        ("2031-11-24T18:00:00+00:00", [second.id]),
    ]
    assert body["conflicts"][0]["slots"][0]["start_local"] == "2031-11-22T20:00:00+03:00"
    assert written() == before


def test_a_dry_run_says_what_would_be_made_and_writes_nothing(client, editor, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    before = written()
    body = {"every": "day", "until": "2031-11-23", "dry_run": True}
    resp = client.post(f"/api/v1/slots/{slot.id}/repeat", json=body, headers=editor)
    assert resp.status_code == 200
    assert resp.json["applied"] is False and resp.json["conflicts"] == []
    assert locals_of(resp.json) == ["2031-11-22T21:00:00+03:00", "2031-11-23T21:00:00+03:00"]
    assert all(s["id"] is None and s["programme_id"] == news.id for s in resp.json["created"])
    assert written() == before


def test_a_daily_repeat_keeps_its_wall_time_across_a_clock_change(client, editor, make_channel, news, make_slot):
    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    slot = make_slot(utc(2031, 10, 24, 18, 0), channel=ard, programme=news)  # 20:00 CEST
    with clock.frozen(utc(2031, 10, 20)):
        resp = client.post(
            f"/api/v1/slots/{slot.id}/repeat", json={"every": "day", "until": "2031-10-27"}, headers=editor
        )
    assert resp.status_code == 201
    assert [(s["start_local"], s["start"]) for s in resp.json["created"]] == [
        ("2031-10-25T20:00:00+02:00", "2031-10-25T18:00:00+00:00"),
        ("2031-10-26T20:00:00+01:00", "2031-10-26T19:00:00+00:00"),  # the clocks went back that night
        ("2031-10-27T20:00:00+01:00", "2031-10-27T19:00:00+00:00"),
    ]


def test_a_repeat_onto_a_time_the_clocks_skip_is_refused_naming_it(client, editor, make_channel, film, make_slot):
    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    slot = make_slot(utc(2031, 3, 28, 1, 30), channel=ard, programme=film)  # 02:30 CET
    before = written()
    with clock.frozen(utc(2031, 3, 20)):
        resp = client.post(
            f"/api/v1/slots/{slot.id}/repeat", json={"every": "day", "until": "2031-03-31"}, headers=editor
        )
    assert resp.status_code == 422
    assert "2031-03-30 02:30 does not exist in Europe/Berlin" in resp.json["errors"]["until"]
    assert written() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"every": "month", "until": "2031-12-01"}, "every"),
        ({"every": "day", "until": "2031-11-21"}, "until"),
        ({"every": "day", "until": "2033-01-01"}, "until"),
        ({"every": "day"}, "until"),
    ],
)
def test_a_bad_repeat_is_422_by_field(client, editor, mir, news, make_slot, body, field):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    resp = client.post(f"/api/v1/slots/{slot.id}/repeat", json=body, headers=editor)
    assert resp.status_code == 422 and field in resp.json["errors"]


# Copy broadcast days


def test_copying_a_day_keeps_wall_times_after_midnight_too(client, editor, mir, news, film, make_slot):
    make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)  # Fri 21:00
    make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=film, is_live=True)  # Sat 00:05, Friday's night
    resp = client.post(
        "/api/v1/channels/mir/copy", json={"from": "2031-11-21", "to": "2031-11-28", "days": 1}, headers=editor
    )
    assert resp.status_code == 201
    created = resp.json["created"]
    assert locals_of(resp.json) == ["2031-11-28T21:00:00+03:00", "2031-11-29T00:05:00+03:00"]
    assert {s["broadcast_day"] for s in created} == {"2031-11-28"}
    assert [s["programme_id"] for s in created] == [news.id, film.id]
    assert created[1]["live"] and created[1]["duration_minutes"] == 90
    assert count(Post, Post.slot_id == created[1]["id"]) > 0  # the exclusive's copy is promoted
    assert count(AuditEntry, AuditEntry.entity == "slot", AuditEntry.action == "create") == 4


def test_copying_a_week_onto_a_week_with_slots_in_the_way_lists_them_all_and_writes_nothing(
    client, editor, mir, news, film, make_slot
):
    for day in range(17, 24):  # Mon 17 … Sun 23 November, 21:00 Moscow
        make_slot(utc(2031, 11, day, 18, 0), channel=mir, programme=news)
    taken = [
        make_slot(utc(2031, 11, 25, 17, 45), channel=mir, programme=film),
        make_slot(utc(2031, 11, 30, 18, 10), channel=mir, programme=film),
    ]
    before = written()
    body = {"from": "2031-11-17", "to": "2031-11-24", "days": 7}
    resp = client.post("/api/v1/channels/mir/copy", json=body, headers=editor)
    assert resp.status_code == 409
    assert len(resp.json["created"]) == 7 and resp.json["applied"] is False
    assert [c["slots"][0]["id"] for c in resp.json["conflicts"]] == [t.id for t in taken]
    assert written() == before
    dry = client.post("/api/v1/channels/mir/copy", json={**body, "dry_run": True}, headers=editor)
    assert dry.status_code == 200 and len(dry.json["conflicts"]) == 2
    assert written() == before


def test_copying_onto_a_day_the_clocks_change_keeps_wall_times(client, editor, make_channel, news, film, make_slot):
    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    make_slot(utc(2031, 3, 22, 19, 0), channel=ard, programme=news)  # Sat 20:00 CET
    make_slot(utc(2031, 3, 23, 0, 0), channel=ard, programme=film)  # Sun 01:00 CET, Saturday's night
    with clock.frozen(utc(2031, 3, 20)):
        resp = client.post("/api/v1/channels/ard/copy", json={"from": "2031-03-22", "to": "2031-03-29"}, headers=editor)
    assert resp.status_code == 201
    assert [(s["start_local"], s["start"]) for s in resp.json["created"]] == [
        ("2031-03-29T20:00:00+01:00", "2031-03-29T19:00:00+00:00"),
        ("2031-03-30T01:00:00+01:00", "2031-03-30T00:00:00+00:00"),
    ]


def test_copying_nothing_or_onto_itself_is_422(client, editor, mir):
    empty = client.post("/api/v1/channels/mir/copy", json={"from": "2031-11-21", "to": "2031-11-28"}, headers=editor)
    assert empty.status_code == 422 and "nothing is scheduled on 2031-11-21" in empty.json["errors"]["from"]
    same = client.post("/api/v1/channels/mir/copy", json={"from": "2031-11-21", "to": "2031-11-21"}, headers=editor)
    assert same.status_code == 422 and "to" in same.json["errors"]
    week = {"from": "2031-11-21", "to": "2031-11-28", "days": 8}
    assert client.post("/api/v1/channels/mir/copy", json=week, headers=editor).status_code == 422
    ancient = client.post("/api/v1/channels/mir/copy", json={"from": "0001-01-01", "to": "0001-01-02"}, headers=editor)
    assert ancient.status_code == 422 and "ten years" in ancient.json["errors"]["from"]


# Paste a day's lineup

LINEUP = """\
18:00 vremya
19:00 Pole Chudes
00:30 Night Film
"""


def test_a_pasted_lineup_matches_titles_makes_new_programmes_and_runs_after_midnight(client, editor, mir, news, film):
    resp = client.post("/api/v1/channels/mir/lineup", json={"date": "2031-11-21", "text": LINEUP}, headers=editor)
    assert resp.status_code == 201
    created = resp.json["created"]
    assert locals_of(resp.json) == [
        "2031-11-21T18:00:00+03:00",
        "2031-11-21T19:00:00+03:00",
        "2031-11-22T00:30:00+03:00",  # before the 05:00 day start: after midnight
    ]
    assert [s["end_local"] for s in created] == [
        "2031-11-21T19:00:00+03:00",  # where the next begins, not after Vremya's 30 minutes
        "2031-11-22T00:30:00+03:00",
        "2031-11-22T02:00:00+03:00",  # the last: its programme's 90 minutes
    ]
    assert {s["broadcast_day"] for s in created} == {"2031-11-21"}
    new = db.session.scalars(select(Programme).where(Programme.title == "Pole Chudes")).one()
    assert [s["programme_id"] for s in created] == [news.id, new.id, film.id]
    assert count(AuditEntry, AuditEntry.entity == "programme", AuditEntry.entity_id == str(new.id)) == 1
    assert count(Post, Post.slot_id == created[2]["id"]) > 0  # the exclusive's slot is promoted
    made = db.session.scalars(select(AuditEntry.entity_id).where(AuditEntry.entity == "slot")).all()
    assert {str(s["id"]) for s in created} <= set(made)


def test_a_last_line_with_a_time_alone_ends_the_day(client, editor, mir, news):
    text = "23:00 Vremya\n23:45 A new late show\n01:15"
    resp = client.post("/api/v1/channels/mir/lineup", json={"date": "2031-11-21", "text": text}, headers=editor)
    assert resp.status_code == 201
    assert [(s["start_local"][11:16], s["end_local"][11:16]) for s in resp.json["created"]] == [
        ("23:00", "23:45"),
        ("23:45", "01:15"),
    ]


def test_a_lineup_title_may_be_a_translated_one(client, editor, mir, make_programme):
    programme = make_programme("Field of Miracles", translations={"ru": {"title": "Поле чудес"}})
    resp = client.post(
        "/api/v1/channels/mir/lineup",
        json={"date": "2031-11-21", "text": "19:00 Поле чудес", "dry_run": True},
        headers=editor,
    )
    assert resp.status_code == 200
    assert resp.json["created"][0]["programme_id"] == programme.id


def test_a_lineup_dry_run_creates_no_programme(client, editor, mir, news, film):
    before = written()
    resp = client.post(
        "/api/v1/channels/mir/lineup", json={"date": "2031-11-21", "text": LINEUP, "dry_run": True}, headers=editor
    )
    assert resp.status_code == 200 and resp.json["applied"] is False
    assert [s["programme_id"] for s in resp.json["created"]] == [news.id, None, film.id]
    assert written() == before


def test_a_lineup_with_a_slot_in_the_way_writes_nothing_not_even_its_new_programmes(
    client, editor, mir, news, film, make_slot
):
    taken = make_slot(utc(2031, 11, 21, 21, 0), channel=mir, programme=film)  # 00:00–01:30 Moscow
    before = written()
    resp = client.post("/api/v1/channels/mir/lineup", json={"date": "2031-11-21", "text": LINEUP}, headers=editor)
    assert resp.status_code == 409
    assert [(c["start"], c["slots"][0]["id"]) for c in resp.json["conflicts"]] == [
        ("2031-11-21T16:00:00+00:00", taken.id),  # Pole Chudes runs on to 00:30
        ("2031-11-21T21:30:00+00:00", taken.id),
    ]
    assert written() == before


def test_a_lineup_on_the_night_the_clocks_skip_an_hour(client, editor, make_channel, news, film):
    make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    text = "20:00 Vremya\n01:00 Night Film\n04:00 Vremya"
    with clock.frozen(utc(2031, 3, 20)):
        resp = client.post("/api/v1/channels/ard/lineup", json={"date": "2031-03-29", "text": text}, headers=editor)
        gap = client.post(
            "/api/v1/channels/ard/lineup",
            json={"date": "2031-03-29", "text": "01:00 Night Film\n02:30 Vremya"},
            headers=editor,
        )
    assert resp.status_code == 201
    night = resp.json["created"][1]
    assert night["start_local"] == "2031-03-30T01:00:00+01:00" and night["end_local"] == "2031-03-30T04:00:00+02:00"
    assert night["duration_minutes"] == 120  # three hours on the clock, two in fact
    assert gap.status_code == 422
    assert "line 2: 2031-03-30 02:30 does not exist in Europe/Berlin" in gap.json["errors"]["text"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("18:00 Vremya\nnews at nine\n19:00 Vremya", "line 2: 'news at nine' is not HH:MM and a title"),
        ("18:00 Vremya\n25:00 Vremya", "line 2: 25:00 is not a time of day"),
        ("19:00 Vremya\n18:00 Vremya", "line 2: 18:00 is not after 19:00 on the line above"),
        ("18:00 Vremya\n19:00 Something new", "line 2: 'Something new' is new, so its end is unknown"),
        ("18:00 Vremya\n19:00\n20:00 Vremya", "line 2: a time alone only ends the list"),
        ("18:00 Vremya\n17:00", "line 2: 17:00 is not after 18:00"),
        ("18:00 Vre\x01mya\n19:00 Vremya", "holds U+0001, a character XML cannot carry"),
    ],
)
def test_a_bad_lineup_names_its_line(client, editor, mir, news, text, says):
    before = written()
    resp = client.post("/api/v1/channels/mir/lineup", json={"date": "2031-11-21", "text": text}, headers=editor)
    assert resp.status_code == 422
    assert says in resp.json["errors"]["text"]
    assert written() == before


def test_a_lineup_time_the_clocks_repeat_is_refused_naming_it(client, editor, make_channel, news, film):
    make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    with clock.frozen(utc(2031, 10, 20)):
        resp = client.post(
            "/api/v1/channels/ard/lineup",
            json={"date": "2031-10-25", "text": "01:30 Night Film\n02:30 Vremya"},
            headers=editor,
        )
    assert resp.status_code == 422
    assert "line 2: 2031-10-26 02:30 happens twice in Europe/Berlin" in resp.json["errors"]["text"]


# Who may, and where it is documented


def test_fast_entry_needs_staff(client, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    calls = [
        (f"/api/v1/slots/{slot.id}/repeat", {"every": "day", "until": "2031-11-23"}),
        ("/api/v1/channels/mir/copy", {"from": "2031-11-21", "to": "2031-11-22"}),
        ("/api/v1/channels/mir/lineup", {"date": "2031-11-22", "text": "18:00 Vremya"}),
    ]
    for path, body in calls:
        assert client.post(path, json=body).status_code == 401
    assert count(Slot) == 1


def test_unknown_slot_or_channel_is_404(client, editor):
    assert (
        client.post(
            "/api/v1/slots/999/repeat", json={"every": "day", "until": "2031-12-01"}, headers=editor
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/channels/nope/copy", json={"from": "2031-11-21", "to": "2031-11-22"}, headers=editor
        ).status_code
        == 404
    )


def test_the_openapi_document_describes_fast_entry(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/slots/{slot_id}/repeat", "/api/v1/channels/{slug}/copy", "/api/v1/channels/{slug}/lineup"):
        responses = paths[path]["post"]["responses"]
        assert {"200", "201", "409"} <= set(responses)
