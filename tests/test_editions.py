"""Regional editions (SPEC §9): written with their channel, read as channels, their slots moved by a shift."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
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


# An edition is a channel to its viewers


def test_the_exclusive_airs_at_five_past_midnight_novosibirsk_time_four_hours_earlier(client, make_slot, mir):
    slot = make_slot(EXCLUSIVE, channel=mir)
    got = client.get("/api/v1/channels/mir-siberia/schedule?date=2031-11-27")
    assert got.status_code == 200, got.json
    assert got.json["channel"]["slug"] == "mir-siberia"
    assert got.json["from"] == "2031-11-26T22:00:00+00:00"  # 05:00 in Novosibirsk
    [shown] = got.json["slots"]
    assert shown["id"] == slot.id and shown["channel"] == "mir-siberia"
    assert shown["start_local"] == "2031-11-28T00:05:00+07:00"
    assert shown["start"] == "2031-11-27T17:05:00+00:00"  # four hours before Moscow's 21:05Z
    assert shown["broadcast_day"] == "2031-11-27"
    assert shown["programme"]["title"] == slot.programme.title
    # The channel itself is unchanged.
    [own] = client.get("/api/v1/channels/mir/schedule?date=2031-11-27").json["slots"]
    assert own["start_local"] == "2031-11-28T00:05:00+03:00" and own["start"] == "2031-11-27T21:05:00+00:00"


def test_an_edit_of_the_channels_slot_shows_in_the_edition_at_once(client, session, make_slot, mir):
    slot = make_slot(EXCLUSIVE, channel=mir)
    schedule.update_slot(session, slot, {"start": EXCLUSIVE + timedelta(minutes=25)}, "test", slot.version)
    session.commit()
    [shown] = client.get("/api/v1/channels/mir-siberia/schedule?date=2031-11-27").json["slots"]
    assert shown["start_local"] == "2031-11-28T00:30:00+07:00"


def test_a_shift_across_midnight_lands_on_the_editions_own_broadcast_day(client, make_channel, make_slot):
    late = {"slug": "mir-late", "name": "Mir +6", "timezone": "Europe/Moscow", "shift": "PT6H"}
    mir = make_channel("mir", editions=[late])
    # 23:30 on Thursday the 27th in Moscow, its broadcast day; six hours later it is 05:30 on Friday,
    # past midnight and past the 05:00 day start: the edition's Friday.
    slot = make_slot(datetime(2031, 11, 27, 23, 30, tzinfo=MOSCOW), channel=mir)
    assert client.get("/api/v1/channels/mir-late/schedule?date=2031-11-27").json["slots"] == []
    [shown] = client.get("/api/v1/channels/mir-late/schedule?date=2031-11-28").json["slots"]
    assert shown["id"] == slot.id
    assert shown["start_local"] == "2031-11-28T05:30:00+03:00" and shown["broadcast_day"] == "2031-11-28"
    [own] = client.get("/api/v1/channels/mir/schedule?date=2031-11-27").json["slots"]
    assert own["broadcast_day"] == "2031-11-27"


def test_an_earlier_shift_moves_a_morning_show_back_to_the_night_before(client, make_channel, make_slot):
    early = {"slug": "mir-early", "name": "Mir −2", "timezone": "Europe/Moscow", "shift": "-PT2H"}
    mir = make_channel("mir", editions=[early])
    make_slot(datetime(2031, 11, 28, 6, 0, tzinfo=MOSCOW), channel=mir)  # Friday's first show
    [shown] = client.get("/api/v1/channels/mir-early/schedule?date=2031-11-27").json["slots"]
    assert shown["start_local"] == "2031-11-28T04:00:00+03:00" and shown["broadcast_day"] == "2031-11-27"
    assert client.get("/api/v1/channels/mir-early/schedule?date=2031-11-28").json["slots"] == []


def test_an_edition_in_a_zone_that_changes_clocks_while_moscow_does_not(client, make_channel, make_slot):
    berlin = {"slug": "mir-berlin", "name": "Mir Berlin", "timezone": "Europe/Berlin", "shift": "-PT1H"}
    mir = make_channel("mir", editions=[berlin])
    # 21:00 in Moscow on Saturday and Sunday; Berlin's clocks go back at 03:00 on Sunday 26 October 2031.
    for day in (25, 26):
        make_slot(datetime(2031, 10, day, 21, 0, tzinfo=MOSCOW), channel=mir)
    saturday = client.get("/api/v1/channels/mir-berlin/schedule?date=2031-10-25").json
    sunday = client.get("/api/v1/channels/mir-berlin/schedule?date=2031-10-26").json
    assert [s["start_local"] for s in saturday["slots"]] == ["2031-10-25T19:00:00+02:00"]
    assert [s["start_local"] for s in sunday["slots"]] == ["2031-10-26T18:00:00+01:00"]
    # Broadcast days are counted in Berlin from 05:00: Saturday's runs 25 hours, over the change.
    assert (saturday["from"], saturday["to"]) == ("2031-10-25T03:00:00+00:00", "2031-10-26T04:00:00+00:00")
    moscow = [client.get(f"/api/v1/channels/mir/schedule?date=2031-10-{d}").json["slots"][0] for d in (25, 26)]
    assert [s["start_local"] for s in moscow] == ["2031-10-25T21:00:00+03:00", "2031-10-26T21:00:00+03:00"]


def test_now_has_an_entry_per_edition(client, make_slot, mir):
    make_slot(EXCLUSIVE, channel=mir)
    # 00:20 in Novosibirsk: the edition airs the interview, Moscow (20:20) does not yet.
    at = datetime(2031, 11, 28, 0, 20, tzinfo=NOVOSIBIRSK)
    got = client.get("/api/v1/now", query_string={"at": at.isoformat()}).json
    by_slug = {c["channel"]["slug"]: c for c in got["channels"]}
    assert set(by_slug) == {"mir", "mir-siberia"}
    assert by_slug["mir-siberia"]["now"]["start_local"] == "2031-11-28T00:05:00+07:00"
    assert by_slug["mir"]["now"] is None
    assert by_slug["mir"]["next"]["start_local"] == "2031-11-28T00:05:00+03:00"


def test_an_editions_channel_page_shows_its_week_in_its_zone(client, make_slot, mir):
    make_slot(EXCLUSIVE, channel=mir)
    page = client.get("/channels/mir-siberia?date=2031-11-27&lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Mir Siberia" in html and "00:05" in html
    assert client.get("/channels/nowhere").status_code == 404


def test_the_front_page_has_a_card_per_edition_after_its_channels(client, make_slot, mir):
    make_slot(EXCLUSIVE, channel=mir)
    with clock.frozen(datetime(2031, 11, 27, 19, 0, tzinfo=NOVOSIBIRSK)):  # 15:00 in Moscow
        html = client.get("/?lang=en").get_data(as_text=True)
    assert html.index('id="channel-mir"') < html.index('id="channel-mir-siberia"')
    card = html[html.index('id="channel-mir-siberia"') :]
    card = card[: card.index("</article>")]
    assert "Mir Siberia" in card and "00:05" in card and "tonight right after midnight" in card
