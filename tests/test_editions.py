"""Regional editions (SPEC §9): written with their channel, read as channels, their slots moved by a shift."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schedule_service.db import db
from schedule_service.models import AuditEntry, Channel, Edition

MOSCOW = ZoneInfo("Europe/Moscow")
NOVOSIBIRSK = ZoneInfo("Asia/Novosibirsk")
SIBERIA = {
    "slug": "mir-siberia",
    "name": "Mir Siberia",
    "names": {"ru": "Мир Сибирь"},
    "timezone": "Asia/Novosibirsk",
    "shift": "-PT4H",
}
MIR = {"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow", "broadcast_day_start": "05:00"}
#: The exclusive: Friday 28 November 2031, 00:05 Moscow, on the broadcast day of Thursday the 27th.
EXCLUSIVE = datetime(2031, 11, 28, 0, 5, tzinfo=MOSCOW)


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", editions=[SIBERIA])


# The API


def test_staff_give_a_channel_editions_and_everyone_reads_them(client, editor):
    resp = client.post("/api/v1/channels", json={**MIR, "editions": [SIBERIA]}, headers=editor)
    assert resp.status_code == 201, resp.json
    assert resp.json["editions"] == [SIBERIA]
    assert client.get("/api/v1/channels/mir").json["editions"] == [SIBERIA]
    edition = client.get("/api/v1/channels/mir-siberia")
    assert edition.status_code == 200
    assert edition.json["timezone"] == "Asia/Novosibirsk" and edition.json["name"] == "Mir Siberia"
    assert edition.json["edition_of"] == "mir" and edition.json["shift"] == "-PT4H"
    assert edition.json["broadcast_day_start"] == "05:00"


def test_editions_change_by_patch_and_a_patch_that_repeats_them_changes_nothing(client, editor, mir):
    urals = {"slug": "mir-urals", "name": "Mir Urals", "names": {}, "timezone": "Asia/Yekaterinburg", "shift": "-PT2H"}
    resp = client.patch("/api/v1/channels/mir", json={"editions": [SIBERIA, urals]}, headers=editor)
    assert resp.status_code == 200, resp.json
    assert [e["slug"] for e in resp.json["editions"]] == ["mir-siberia", "mir-urals"]
    entries = db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    again = client.patch("/api/v1/channels/mir", json={"editions": [SIBERIA, urals]}, headers=editor)
    assert again.status_code == 200
    assert db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) == entries
    dropped = client.patch("/api/v1/channels/mir", json={"editions": [urals]}, headers=editor)
    assert [e["slug"] for e in dropped.json["editions"]] == ["mir-urals"]
    assert client.get("/api/v1/channels/mir-siberia").status_code == 404


@pytest.mark.parametrize(
    ("edition", "field"),
    [
        ({**SIBERIA, "timezone": "Siberia/Nowhere"}, "editions.0.timezone"),
        ({**SIBERIA, "shift": "four hours"}, "editions.0.shift"),
        ({**SIBERIA, "shift": "-P1M"}, "editions.0.shift"),
        ({**SIBERIA, "shift": "-P5D"}, "editions.0.shift"),
        ({**SIBERIA, "slug": "mir"}, "editions.0.slug"),
        ({**SIBERIA, "slug": "zvezda"}, "editions.0.slug"),
        ({**SIBERIA, "slug": "Mir Siberia"}, "editions.0.slug"),
    ],
)
def test_bad_editions_are_422_naming_the_field_and_change_nothing(client, editor, make_channel, edition, field):
    make_channel("mir")
    make_channel("zvezda")
    resp = client.patch("/api/v1/channels/mir", json={"editions": [edition]}, headers=editor)
    assert resp.status_code == 422, resp.json
    assert resp.content_type == "application/problem+json"
    assert field in resp.json["errors"]
    assert db.session.scalars(select(Edition)).all() == []


def test_an_edition_slug_is_taken_across_channels(client, editor, mir):
    other = client.post("/api/v1/channels", json={**MIR, "slug": "zvezda", "editions": [SIBERIA]}, headers=editor)
    assert other.status_code == 422 and "editions.0.slug" in other.json["errors"]
    clash = client.post("/api/v1/channels", json={**MIR, "slug": "mir-siberia"}, headers=editor)
    assert clash.status_code == 409
    assert db.session.scalars(select(Channel.slug).order_by(Channel.slug)).all() == ["mir"]


def test_a_target_names_an_edition_that_exists(client, admin, mir):
    body = {"name": "siberia-feed", "kind": "web", "edition": "mir-siberia"}
    resp = client.post("/api/v1/targets", json=body, headers=admin)
    assert resp.status_code == 201, resp.json
    assert resp.json["edition"] == "mir-siberia"
    bad = client.post("/api/v1/targets", json={**body, "name": "other", "edition": "mir-nowhere"}, headers=admin)
    assert bad.status_code == 422 and "edition" in bad.json["errors"]
