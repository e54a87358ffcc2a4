"""Slots through the API: the time rules of SPEC §4."""

import pytest

from schedule_service.db import db
from schedule_service.models import AuditEntry, Slot


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


@pytest.fixture
def interview(make_programme):
    return make_programme(duration_minutes=60)


def post_slot(client, headers, **body):
    return client.post("/api/v1/slots", json=body, headers=headers)


def test_after_midnight_in_moscow_is_on_the_night_before(client, editor, mir, interview):
    resp = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05")
    assert resp.status_code == 201
    slot = resp.json
    assert slot["start"] == "2031-11-21T21:05:00+00:00"
    assert slot["start_local"] == "2031-11-22T00:05:00+03:00"
    assert slot["broadcast_day"] == "2031-11-21"
    assert slot["end"] == "2031-11-21T22:05:00+00:00"  # from the programme's duration
    assert slot["version"] == 1 and slot["status"] == "scheduled"
    assert resp.headers["ETag"] == f'"slot-{slot["id"]}-v1"'


def test_start_with_an_offset_is_an_instant(client, editor, mir, interview):
    resp = post_slot(client, editor, channel="mir", programme_id=interview.id, start="2031-11-22T00:05:00+03:00")
    assert resp.json["start"] == "2031-11-21T21:05:00+00:00"


def test_a_wall_time_in_a_dst_gap_is_422_in_words(client, editor, make_channel, interview):
    make_channel("ard", timezone="Europe/Berlin")
    resp = post_slot(client, editor, channel="ard", programme_id=interview.id, start_local="2031-03-30T02:30")
    assert resp.status_code == 422
    assert "does not exist" in resp.json["errors"]["start_local"]
    assert db.session.query(Slot).count() == 0


def test_a_wall_time_in_a_fold_needs_fold(client, editor, make_channel, interview):
    make_channel("nbc", timezone="America/New_York")
    body = {"channel": "nbc", "programme_id": interview.id, "start_local": "2031-11-02T01:30", "duration_minutes": 20}
    resp = client.post("/api/v1/slots", json=body, headers=editor)
    assert resp.status_code == 422 and "fold" in resp.json["errors"]["start_local"]
    first = client.post("/api/v1/slots", json={**body, "fold": 0}, headers=editor).json
    second = client.post("/api/v1/slots", json={**body, "fold": 1}, headers=editor).json
    assert first["start"] == "2031-11-02T05:30:00+00:00" and first["start_local"].endswith("-04:00")
    assert second["start"] == "2031-11-02T06:30:00+00:00" and second["start_local"].endswith("-05:00")


def test_an_overlap_is_409_naming_the_slots_in_the_way(client, editor, mir, interview):
    first = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05").json
    resp = post_slot(
        client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:30", duration_minutes=30
    )
    assert resp.status_code == 409
    assert [c["id"] for c in resp.json["conflicts"]] == [first["id"]]
    assert str(first["id"]) in resp.json["detail"]
    # back to back is not an overlap
    after = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T01:05")
    assert after.status_code == 201


def test_the_same_time_on_another_channel_is_fine(client, editor, mir, make_channel, interview):
    make_channel("mir24")
    for slug in ("mir", "mir24"):
        assert (
            post_slot(
                client, editor, channel=slug, programme_id=interview.id, start_local="2031-11-22T00:05"
            ).status_code
            == 201
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2031-11-22T00:05:00+03:00", "end": "2031-11-21T23:00:00+03:00"}, "end"),
        ({"start": "2031-11-22T00:05:00"}, "start"),  # no offset: not an instant
        ({"start_local": "2031-11-22T00:05:00+03:00"}, "start_local"),
        ({"start": "2031-11-22T00:05:00+03:00", "start_local": "2031-11-22T00:05"}, "start"),
        ({"start_local": "2031-11-22T00:05", "fold": 2}, "fold"),
        ({"start_local": "2031-11-22T00:05", "programme_id": 999999}, "programme_id"),
        ({"start_local": "2031-11-22T00:05", "channel": "nope"}, "channel"),
        ({"start_local": "2031-11-22T00:05", "colour": "red"}, "colour"),
        ({}, "start"),
    ],
)
def test_bad_slots_are_422_and_write_nothing(client, editor, mir, interview, body, field):
    body = {"channel": "mir", "programme_id": interview.id, **body}
    resp = client.post("/api/v1/slots", json=body, headers=editor)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert db.session.query(Slot).count() == 0


def test_moving_needs_the_current_version(client, editor, mir, interview):
    made = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05")
    etag = made.headers["ETag"]
    moved = client.patch(
        f"/api/v1/slots/{made.json['id']}",
        json={"start_local": "2031-11-22T00:15"},
        headers={**editor, "If-Match": etag},
    )
    assert moved.status_code == 200
    assert moved.json["version"] == 2 and moved.json["start_local"] == "2031-11-22T00:15:00+03:00"
    assert moved.json["duration_minutes"] == 60
    assert moved.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/slots/{made.json['id']}", json={"live": True}, headers={**editor, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["current"]["start_local"] == "2031-11-22T00:15:00+03:00"
    assert db.session.get(Slot, made.json["id"]).is_live is False


def test_a_move_into_another_slot_is_409(client, editor, mir, interview):
    a = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05").json
    b = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T02:00").json
    resp = client.patch(
        f"/api/v1/slots/{b['id']}", json={"start_local": "2031-11-22T00:30"}, headers={**editor, "If-Match": "*"}
    )
    assert resp.status_code == 409 and [c["id"] for c in resp.json["conflicts"]] == [a["id"]]


def test_cancelling_keeps_the_row_and_frees_the_time(client, editor, mir, interview):
    made = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05").json
    resp = client.delete(f"/api/v1/slots/{made['id']}", headers={**editor, "If-Match": "*"})
    assert resp.status_code == 200 and resp.json["status"] == "cancelled" and resp.json["version"] == 2
    assert client.get(f"/api/v1/slots/{made['id']}").json["status"] == "cancelled"
    again = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05")
    assert again.status_code == 201
    # restoring the cancelled one would now overlap
    restore = client.patch(
        f"/api/v1/slots/{made['id']}", json={"status": "scheduled"}, headers={**editor, "If-Match": "*"}
    )
    assert restore.status_code == 409


def test_every_slot_write_is_audited(client, editor, mir, interview):
    made = post_slot(client, editor, channel="mir", programme_id=interview.id, start_local="2031-11-22T00:05").json
    client.patch(
        f"/api/v1/slots/{made['id']}", json={"start_local": "2031-11-22T00:15"}, headers={**editor, "If-Match": "*"}
    )
    entries = (
        db.session.query(AuditEntry).filter_by(entity="slot", entity_id=str(made["id"])).order_by(AuditEntry.id).all()
    )
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].changes["start_at"] == ["2031-11-21T21:05:00+00:00", "2031-11-21T21:15:00+00:00"]
    assert entries[1].actor.startswith("editor-")
    # The trail speaks the API's field names, not the columns'.
    trail = client.get(f"/api/v1/audit?entity=slot&id={made['id']}", headers=editor).json["items"]
    assert trail[0]["changes"] == {
        "start": ["2031-11-21T21:05:00+00:00", "2031-11-21T21:15:00+00:00"],
        "end": ["2031-11-21T22:05:00+00:00", "2031-11-21T22:15:00+00:00"],
    }
    assert {"start", "end", "premiere", "live"} <= set(trail[1]["changes"])
    assert not any(field.startswith("is_") or field.endswith("_at") for field in trail[1]["changes"])
