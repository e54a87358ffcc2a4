"""The change feed (SPEC §10) on both engines: every write path, data as its API shows it, cursors, ETags."""

import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from schedule_service import clock, schedule
from schedule_service.db import db
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import Change, Programme, Slot
from tests.conftest import utc

TODAY = utc(2031, 11, 20, 12, 0)
XMLTV = Path(__file__).resolve().parent / "data" / "xmltv"


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(TODAY):
        yield


def feed(client, since=None, **params) -> dict:
    """One page of the feed, checked for what every page must be."""
    if since is not None:
        params["since"] = since
    resp = client.get("/api/v1/changes", query_string=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"]
    return resp.get_json()


def since_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["since"][0])


def everything(client, since=None, limit=None) -> list[dict]:
    """Follow the feed as a consumer does, from ``since`` until nothing is new."""
    seen = []
    while True:
        page = feed(client, since, **({"limit": limit} if limit else {}))
        if not page["items"]:
            assert since_of(page["next"]) == (since or 0)  # nothing new: ask again with the same cursor
            return seen
        seen += page["items"]
        since = since_of(page["next"])
        assert since == page["items"][-1]["cursor"]


def top(client) -> int:
    """The last cursor so far (0 before any change)."""
    items = everything(client)
    return items[-1]["cursor"] if items else 0


def kinds(items) -> list[tuple]:
    return [(i["entity"], i["id"], i["action"]) for i in items]


def test_every_api_write_shows_once_in_order_with_the_entity_as_its_api_shows_it(client, editor):
    mir = client.post(
        "/api/v1/channels", json={"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow"}, headers=editor
    ).json
    show = client.post("/api/v1/programmes", json={"title": "Vremya", "duration_minutes": 30}, headers=editor).json
    slot = client.post(
        "/api/v1/slots",
        json={"channel": "mir", "programme_id": show["id"], "start": "2031-11-21T18:00:00+03:00"},
        headers=editor,
    )
    client.patch(f"/api/v1/programmes/{show['id']}", json={"summary": "The day's news."}, headers=editor)
    moved = client.patch(
        f"/api/v1/slots/{slot.json['id']}",
        json={"start": "2031-11-21T19:00:00+03:00"},
        headers={**editor, "If-Match": slot.headers["ETag"]},
    )
    client.delete(f"/api/v1/slots/{slot.json['id']}", headers={**editor, "If-Match": moved.headers["ETag"]})

    items = everything(client)

    sid = slot.json["id"]
    assert kinds(items) == [
        ("channel", mir["id"], "create"),
        ("programme", show["id"], "create"),
        ("slot", sid, "create"),
        ("programme", show["id"], "update"),
        ("slot", sid, "update"),
        ("slot", sid, "cancel"),
    ]
    cursors = [i["cursor"] for i in items]
    assert cursors == sorted(set(cursors))
    # data: the entity now, exactly as its own API shows it
    assert items[0]["data"] == client.get("/api/v1/channels/mir").json
    assert items[3]["data"] == client.get(f"/api/v1/programmes/{show['id']}").json
    assert items[3]["data"]["summary"] == "The day's news."
    assert items[5]["data"] == client.get(f"/api/v1/slots/{sid}").json
    assert items[5]["data"]["status"] == "cancelled" and items[5]["data"]["start_local"].startswith("2031-11-21T19:00")
    assert all(i["at"].endswith("+00:00") for i in items)


def test_a_deleted_programme_shows_as_deleted_with_no_data(client, editor):
    show = client.post("/api/v1/programmes", json={"title": "Gone soon"}, headers=editor).json
    assert client.delete(f"/api/v1/programmes/{show['id']}", headers=editor).status_code == 204

    items = everything(client)

    assert kinds(items) == [("programme", show["id"], "create"), ("programme", show["id"], "delete")]
    assert [i["data"] for i in items] == [None, None]


def test_a_translation_changed_is_a_change_of_its_programme(client, editor, make_programme):
    show = make_programme("Vremya")
    start = top(client)

    client.patch(f"/api/v1/programmes/{show.id}", json={"translations": {"ru": {"title": "Время"}}}, headers=editor)

    (item,) = everything(client, start)
    assert kinds([item]) == [("programme", show.id, "update")]
    assert item["data"]["translations"]["ru"]["title"] == "Время"


def test_renaming_a_channel_changes_how_its_slots_show(client, editor, make_slot):
    slot = make_slot(utc(2031, 11, 21, 15))
    start = top(client)

    client.patch("/api/v1/channels/mir", json={"slug": "mir-tv"}, headers=editor)

    items = everything(client, start)
    assert kinds(items) == [("channel", slot.channel_id, "update"), ("slot", slot.id, "update")]
    assert items[1]["data"]["channel"] == "mir-tv"


def test_a_refused_write_leaves_no_change(client, editor, make_slot):
    slot = make_slot(utc(2031, 11, 21, 15))
    start = top(client)

    clash = client.post(
        "/api/v1/slots",
        json={"channel": "mir", "programme_id": slot.programme_id, "start": "2031-11-21T15:30:00Z"},
        headers=editor,
    )

    assert clash.status_code == 409
    assert everything(client, start) == []


def test_a_change_that_shows_nowhere_is_not_in_the_feed(session, client, make_slot):
    slot = make_slot(utc(2031, 11, 21, 15))
    start = top(client)

    slot.plan_at = utc(2031, 11, 21, 10)  # bookkeeping of the promo horizon, not shown by the API
    session.commit()

    assert everything(client, start) == []


# Fast entry and the bulk paths


def test_fast_entry_repeat_and_lineup_show_each_slot_and_new_programme(client, editor, make_slot):
    first = make_slot(utc(2031, 11, 21, 15))
    start = top(client)

    repeat = client.post(
        f"/api/v1/slots/{first.id}/repeat", json={"every": "day", "until": "2031-11-23"}, headers=editor
    )
    lineup = client.post(
        "/api/v1/channels/mir/lineup", json={"date": "2031-11-25", "text": "18:00 New show\n19:00"}, headers=editor
    )

    assert repeat.status_code == 201 and lineup.status_code == 201
    made = [s["id"] for s in repeat.json["created"]] + [s["id"] for s in lineup.json["created"]]
    items = everything(client, start)
    new_programme = lineup.json["created"][0]["programme_id"]
    assert {("slot", i, "create") for i in made} | {("programme", new_programme, "create")} == set(kinds(items))
    assert len(items) == len(made) + 1
    assert all(i["data"] == client.get(f"/api/v1/slots/{i['id']}").json for i in items if i["entity"] == "slot")


def test_the_bulk_inserts_show_every_new_programme_and_slot(session, client, make_channel):
    channel = make_channel()
    start = top(client)

    pids = schedule.create_programmes(session, [{"title": "One"}, {"title": "Two"}], "import")
    programmes = [session.get(Programme, pid) for pid in pids]
    sids = schedule.create_slots(
        session,
        channel,
        [
            (programmes[0], {"start": utc(2031, 11, 21, 10), "end": utc(2031, 11, 21, 11)}),
            (programmes[1], {"start": utc(2031, 11, 21, 11), "end": utc(2031, 11, 21, 12)}),
        ],
        "import",
    )
    session.commit()

    items = everything(client, start)
    assert kinds(items) == [("programme", p, "create") for p in pids] + [("slot", s, "create") for s in sids]
    assert items[2]["data"] == client.get(f"/api/v1/slots/{sids[0]}").json


def _import(session, name: str, **kwargs):
    report = xi.import_xmltv(session, io.BytesIO((XMLTV / name).read_bytes()), **kwargs)
    session.commit()
    return report


def test_an_xmltv_import_shows_what_it_made_and_again_nothing(session, client):
    _import(session, "good.xml")

    items = everything(client)
    assert [i["entity"] for i in items].count("channel") == 2
    slots = session.scalars(select(Slot.id)).all()
    assert sorted(i["id"] for i in items if i["entity"] == "slot") == sorted(slots)
    assert all(i["action"] == "create" and i["data"] is not None for i in items)
    last = items[-1]["cursor"]

    _import(session, "good.xml")

    assert everything(client, last) == []  # the same file again changes nothing


def test_a_newer_guide_shows_the_moves_and_cancellations(session, client):
    _import(session, "good.xml")
    last = top(client)

    report = _import(session, "newer.xml")

    items = everything(client, last)
    (summary,) = [c for c in report.channels if c.created or c.updated or c.cancelled]
    actions = [i["action"] for i in items if i["entity"] == "slot"]
    assert actions.count("cancel") == summary.cancelled and actions.count("create") == summary.created
    assert actions.count("update") == summary.updated


def test_a_channel_an_import_refuses_leaves_nothing_in_the_feed(session, client):
    report = _import(session, "bad.xml")

    applied = {c.channel for c in report.channels if c.applied}
    assert applied == {"delta"}
    items = everything(client)
    assert {i["data"]["slug"] for i in items if i["entity"] == "channel"} == {"delta"}
    slot_channels = {i["data"]["channel"] for i in items if i["entity"] == "slot"}
    assert slot_channels == {"delta"}
    assert db.session.scalar(select(func.count()).select_from(Change).where(Change.seq.is_(None))) == 0


# Reading the feed


def test_pages_of_a_limit_follow_one_another_with_nothing_missed_or_repeated(client, make_channel, make_programme):
    for n in range(5):
        make_programme(f"Show {n}")
    make_channel()
    whole = everything(client)

    paged = everything(client, limit=2)

    assert paged == whole and len(whole) == 6
    first = feed(client, limit=2)
    assert len(first["items"]) == 2 and "limit=2" in first["next"]


def test_without_since_the_feed_starts_at_the_beginning_and_a_late_cursor_keeps_waiting(client, make_channel):
    make_channel()
    page = feed(client)
    assert kinds(page["items"])[0][0] == "channel"
    cursor = page["items"][-1]["cursor"]

    again = feed(client, cursor)

    assert again["items"] == [] and since_of(again["next"]) == cursor


def test_an_unchanged_feed_answers_if_none_match_with_304_and_a_change_with_a_new_page(client, editor, make_channel):
    make_channel()
    cursor = top(client)
    first = client.get(f"/api/v1/changes?since={cursor}")
    etag = first.headers["ETag"]

    unchanged = client.get(f"/api/v1/changes?since={cursor}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag and not unchanged.data

    client.patch("/api/v1/channels/mir", json={"name": "Mir TV"}, headers=editor)
    changed = client.get(f"/api/v1/changes?since={cursor}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [i["data"]["name"] for i in changed.json["items"]] == ["Mir TV"]


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", str(2**70)])
def test_a_bad_cursor_is_a_400_problem(client, since):
    resp = client.get(f"/api/v1/changes?since={since}")
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json" and "since" in resp.json["errors"]


def test_a_cursor_the_feed_never_gave_is_a_400_saying_to_start_again(client, make_channel):
    make_channel()
    resp = client.get(f"/api/v1/changes?since={top(client) + 1000}")
    assert resp.status_code == 400 and "without since" in resp.json["detail"]


def test_the_feed_is_public_and_described_in_the_openapi_document(client):
    assert client.get("/api/v1/changes").status_code == 200  # no token
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    op = doc["paths"]["/api/v1/changes"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"since", "limit"}
    item = doc["components"]["schemas"]["ChangeOut"]["properties"]
    assert set(item) == {"cursor", "at", "entity", "id", "action", "data"}
    assert "304" in op["responses"]


def test_what_was_there_before_the_feed_began_shows_as_created(app, client):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import insert

    from schedule_service.models import Channel

    db.session.remove()
    downgrade(revision="a1f0c0de000b")  # the revision before the change log
    with db.engine.begin() as c:  # rows written before the change log existed
        c.execute(insert(Channel.__table__).values(id=7, slug="old", name="Old", timezone="UTC"))
        c.execute(insert(Programme.__table__).values(id=8, title="Old show"))
        c.execute(
            insert(Slot.__table__).values(
                id=9, channel_id=7, programme_id=8, start_at=utc(2031, 1, 1, 10), end_at=utc(2031, 1, 1, 11)
            )
        )
    upgrade()

    items = everything(client)
    assert kinds(items) == [("channel", 7, "create"), ("programme", 8, "create"), ("slot", 9, "create")]
    assert items[2]["data"] == client.get("/api/v1/slots/9").json


def test_an_import_job_shows_each_channel_it_applied_and_a_dry_run_nothing(session, client):
    from datetime import timedelta

    from schedule_service.interchange import import_jobs

    guide = (XMLTV / "good.xml").read_bytes()
    dry = import_jobs.queue_import(session, io.BytesIO(guide), created_by="ed@example.test", dry_run=True)
    session.commit()
    import_jobs.run_pending(session, "s1", timedelta(minutes=5))
    assert session.get(type(dry), dry.id).status == "done"
    assert everything(client) == []

    import_jobs.queue_import(session, io.BytesIO(guide), created_by="ed@example.test")
    session.commit()
    import_jobs.run_pending(session, "s1", timedelta(minutes=5))

    items = everything(client)
    slots = session.scalars(select(Slot.id)).all()
    assert len(slots) == 5 and sorted(i["id"] for i in items if i["entity"] == "slot") == sorted(slots)
    assert [i["entity"] for i in items].count("channel") == 2
    assert db.session.scalar(select(func.count()).select_from(Change).where(Change.seq.is_(None))) == 0


# Editions and the embargo in the feed (SPEC §9, §8b)


def test_an_edition_is_an_entity_of_the_feed_shown_as_its_channel_read_and_null_once_dropped(client, editor):
    client.post("/api/v1/channels", json={"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow"}, headers=editor)
    start = top(client)
    siberia = {"slug": "mir-siberia", "name": "Mir Siberia", "timezone": "Asia/Novosibirsk", "shift": "-PT4H"}
    assert client.patch("/api/v1/channels/mir", json={"editions": [siberia]}, headers=editor).status_code == 200
    added = [i for i in everything(client, start) if i["entity"] == "edition"]
    assert [i["action"] for i in added] == ["create"]
    assert added[0]["data"] == client.get("/api/v1/channels/mir-siberia").json
    assert added[0]["data"]["edition_of"] == "mir" and added[0]["data"]["shift"] == "-PT4H"

    start = top(client)
    assert client.patch("/api/v1/channels/mir", json={"editions": []}, headers=editor).status_code == 200
    dropped = [i for i in everything(client, start) if i["entity"] == "edition"]
    assert [(i["id"], i["action"], i["data"]) for i in dropped] == [(added[0]["id"], "delete", None)]


def test_an_embargoed_programme_shows_as_its_stand_in_and_is_announced_once_when_the_embargo_ends(
    session, client, editor, make_slot
):
    from datetime import timedelta

    from schedule_service import embargo

    slot = make_slot(start=TODAY + timedelta(days=1))
    lifted = TODAY + timedelta(hours=2)
    patched = client.patch(
        f"/api/v1/programmes/{slot.programme_id}",
        json={"summary": "Secret guest.", "embargo_until": lifted.isoformat()},
        headers=editor,
    )
    assert patched.status_code == 200, patched.text
    start = top(client) - 1
    shown = [i for i in everything(client, start) if i["entity"] == "programme"][-1]
    assert shown["data"]["title"] == "Special programme" and not shown["data"]["summary"]
    assert embargo.announce_lifted(session) == 0  # not yet
    session.rollback()

    with clock.frozen(lifted + timedelta(seconds=5)):
        before = top(client)
        assert embargo.announce_lifted(session) == 1
        session.commit()
        assert embargo.announce_lifted(session) == 0  # once
        session.commit()
        news = everything(client, before)
    assert kinds(news) == [("programme", slot.programme_id, "update")]
    assert news[0]["data"]["summary"] == "Secret guest." and news[0]["data"]["title"] == slot.programme.title


def test_changes_of_a_savepoint_rolled_back_are_dropped_and_of_one_released_kept_in_order(session, client):
    """The session keeps a transaction's changes until it commits (models/change.py): a savepoint
    rolled back takes its own with it, nested ones included; one released keeps them; a commit
    with a savepoint still open writes them all; a rollback leaves none."""
    from schedule_service import schedule

    def channel(slug):
        return schedule.create_channel(session, {"slug": slug, "name": slug, "timezone": "UTC"}, "test")

    channel("first")
    with session.begin_nested():
        channel("kept")
        with pytest.raises(RuntimeError), session.begin_nested():
            channel("inner-gone")
            session.flush()
            raise RuntimeError
    with pytest.raises(RuntimeError), session.begin_nested():
        channel("gone")
        with session.begin_nested():
            channel("released-then-gone")
        raise RuntimeError
    session.begin_nested()
    channel("open-at-commit")
    session.commit()
    channel("rolled-back")
    session.flush()
    session.rollback()

    items = everything(client)
    assert [(i["entity"], i["action"], i["data"]["slug"]) for i in items] == [
        ("channel", "create", slug) for slug in ("first", "kept", "open-at-commit")
    ]
    assert [i["cursor"] for i in items] == sorted(i["cursor"] for i in items)
