"""Promo plans, previews and posts through the API (SPEC §6), on both database engines."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schedule_service import clock
from schedule_service.models import AuditEntry, Post, Slot, Target
from tests.conftest import utc

MOSCOW = ZoneInfo("Europe/Moscow")
CHANNEL = {
    "slug": "mir",
    "name": "Mir",
    "names": {"ru": "Мир"},
    "timezone": "Europe/Moscow",
    "broadcast_day_start": "05:00",
}
PROGRAMME = {
    "title": "Serzh Sargsyan: the exclusive interview",
    "exclusive": True,
    "category": "interview",
    "guests": [{"name": "Serzh Sargsyan", "role": "President of Armenia"}],
    "duration_minutes": 60,
    "quote": "The collective security agreement is not directed against anyone.",
    "translations": {"ru": {"title": "Серж Саргсян: эксклюзивное интервью"}},
}
TONIGHT = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web"]}]


#: A week before the slots below: their steps are within the planning horizon (14 days).
WEEK_BEFORE = utc(2031, 11, 15, 9, 0)


@pytest.fixture(autouse=True)
def _week_before():
    with clock.frozen(WEEK_BEFORE):
        yield


@pytest.fixture
def mir(client, editor):
    assert client.post("/api/v1/channels", json=CHANNEL, headers=editor).status_code == 201


@pytest.fixture
def interview(client, editor):
    return client.post("/api/v1/programmes", json=PROGRAMME, headers=editor).json


def add_slot(client, editor, programme, start="2031-11-22T00:05:00+03:00", **body):
    return client.post(
        "/api/v1/slots",
        json={"channel": "mir", "programme_id": programme["id"], "start": start, "duration_minutes": 60, **body},
        headers=editor,
    )


def preview(client, editor, **body):
    return client.post("/api/v1/promos/preview", json=body, headers=editor)


def test_specs_example_plan_preview_and_planned_post(client, editor, mir, interview):
    resp = client.put("/api/v1/channels/mir/promo-plan", json=TONIGHT, headers=editor)
    assert resp.status_code == 200 and resp.json == TONIGHT
    slot = add_slot(client, editor, interview).json
    for lang, want in (("en", "tonight right after midnight"), ("ru", "сегодня сразу после полуночи")):
        body = {"slot_id": slot["id"], "at": "2031-11-21T18:00:00+03:00", "lang": lang, "target": "web"}
        shown = preview(client, editor, **body).json
        assert shown["when"] == want and want in shown["text"]
        assert shown["length"] == len(shown["text"]) and shown["limit"] is None
        assert shown["text"].endswith(f"http://schedule.test/slots/{slot['id']}")
    listed = client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json
    assert listed["next"] is None
    [post] = listed["items"]
    assert post["status"] == "planned" and post["target"] == "web" and post["step"] == "tonight"
    assert post["due_at"] == "2031-11-21T15:00:00+00:00"
    assert post["valid_until"] == "2031-11-21T21:05:00+00:00"
    assert post["action"] == "publish" and post["attempts"] == 0 and post["published_at"] is None
    assert "tonight right after midnight" in post["text"]
    one = client.get(f"/api/v1/posts/{post['id']}", headers=editor).json
    assert one["id"] == post["id"] and one["attempt_log"] == []


def test_staff_only(client, editor, mir, interview):
    for method, path in [
        ("get", "/api/v1/channels/mir/promo-plan"),
        ("put", "/api/v1/channels/mir/promo-plan"),
        ("get", f"/api/v1/programmes/{interview['id']}/promo-plan"),
        ("post", "/api/v1/promos/preview"),
        ("get", "/api/v1/posts"),
        ("get", "/api/v1/posts/1"),
    ]:
        resp = getattr(client, method)(path, json=TONIGHT if method == "put" else None)
        assert resp.status_code == 401, path
        assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_a_channel_shows_the_default_plan_until_it_sets_one_and_can_go_back(client, editor, mir, session):
    default = client.get("/api/v1/channels/mir/promo-plan", headers=editor).json
    assert [s["name"] for s in default] == ["day-before", "tonight", "ten-minutes", "on-air"]
    assert default[0] == {"name": "day-before", "day": -1, "at_local": "12:00", "targets": ["web"]}
    assert default[2] == {"name": "ten-minutes", "offset": "-PT10M", "targets": ["web"]}
    client.put("/api/v1/channels/mir/promo-plan", json=TONIGHT, headers=editor)
    assert client.get("/api/v1/channels/mir/promo-plan", headers=editor).json == TONIGHT
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "channel").order_by(AuditEntry.id)).all()[-1]
    assert entry.action == "update" and entry.changes["promo_plan"] == [None, TONIGHT]
    assert entry.actor.startswith("editor-")
    assert client.delete("/api/v1/channels/mir/promo-plan", headers=editor).status_code == 204
    assert client.get("/api/v1/channels/mir/promo-plan", headers=editor).json == default


def test_a_programmes_own_plan_is_null_until_set(client, editor, mir, interview):
    path = f"/api/v1/programmes/{interview['id']}/promo-plan"
    resp = client.get(path, headers=editor)
    assert resp.status_code == 200 and resp.json is None
    steps = [{"name": "hour-before", "offset": "-PT1H", "targets": ["web"], "template": "short"}]
    assert client.put(path, json=steps, headers=editor).json == steps
    assert client.get(path, headers=editor).json == steps
    slot = add_slot(client, editor, interview).json
    [post] = client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"]
    assert post["step"] == "hour-before" and post["due_at"] == "2031-11-21T20:05:00+00:00"
    assert client.delete(path, headers=editor).status_code == 204
    assert client.get(path, headers=editor).json is None
    assert client.get("/api/v1/programmes/999/promo-plan", headers=editor).status_code == 404


def test_a_bad_plan_is_422_field_by_field_and_changes_nothing(client, editor, mir, session):
    client.put("/api/v1/channels/mir/promo-plan", json=TONIGHT, headers=editor)
    bad = [
        {"name": "tonight", "day": 0, "at_local": "25:00", "targets": ["web"]},
        {"name": "soon", "offset": "P1M", "targets": ["nowhere"]},
        {"name": "both", "offset": "-PT5M", "day": 0, "at_local": "18:00", "targets": ["web"]},
    ]
    resp = client.put("/api/v1/channels/mir/promo-plan", json=bad, headers=editor)
    assert resp.status_code == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert set(resp.json["errors"]) == {"0.at_local", "1.offset", "1.targets", "2.offset"}
    assert "nowhere" in resp.json["errors"]["1.targets"]
    assert client.get("/api/v1/channels/mir/promo-plan", headers=editor).json == TONIGHT
    # Shape errors are caught before the rules.
    resp = client.put("/api/v1/channels/mir/promo-plan", json=[{"offset": 5, "targets": "web"}], headers=editor)
    assert resp.status_code == 422 and {"0.name", "0.offset", "0.targets"} <= set(resp.json["errors"])
    resp = client.put("/api/v1/channels/mir/promo-plan", json={"name": "x"}, headers=editor)
    assert resp.status_code == 422
    assert client.put("/api/v1/channels/nowhere/promo-plan", json=TONIGHT, headers=editor).status_code == 404


def test_a_plan_whose_blurb_cannot_fit_a_coming_slot_is_refused(client, editor, admin, mir, interview, session):
    session.add(Target(name="tiny", kind="mastodon", max_length=90))
    session.commit()
    slot = add_slot(client, editor, interview).json
    steps = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web", "tiny"]}]
    resp = client.put("/api/v1/channels/mir/promo-plan", json=steps, headers=editor)
    assert resp.status_code == 422
    assert "tiny" in resp.json["errors"]["0.targets"] and f"slot {slot['id']}" in resp.json["errors"]["0.targets"]
    # The old (default) plan and its posts stand.
    assert client.get("/api/v1/channels/mir/promo-plan", headers=editor).json[0]["name"] == "day-before"
    items = client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"]
    assert {p["step"] for p in items} == {"day-before", "tonight", "ten-minutes", "on-air"}


def test_a_slot_whose_blurb_cannot_fit_is_refused_at_planning_time(client, editor, mir, interview, session):
    session.add(Target(name="tiny", kind="mastodon", max_length=90))
    session.commit()
    steps = [{"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["tiny"]}]
    assert client.put("/api/v1/channels/mir/promo-plan", json=steps, headers=editor).status_code == 200
    resp = add_slot(client, editor, interview)
    assert resp.status_code == 422
    assert "allows 90" in resp.json["errors"]["promo_plan"]
    assert session.scalar(select(Slot)) is None and session.scalar(select(Post)) is None


def test_moving_and_cancelling_a_slot_through_the_api_moves_and_revokes_its_posts(client, editor, mir, interview):
    client.put("/api/v1/channels/mir/promo-plan", json=TONIGHT, headers=editor)
    slot = add_slot(client, editor, interview).json
    moved = client.patch(
        f"/api/v1/slots/{slot['id']}", json={"start": "2031-11-23T00:05:00+03:00"}, headers={**editor, "If-Match": "*"}
    )
    assert moved.status_code == 200
    [post] = client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"]
    assert post["due_at"] == "2031-11-22T15:00:00+00:00" and post["status"] == "planned"
    assert client.delete(f"/api/v1/slots/{slot['id']}", headers={**editor, "If-Match": "*"}).status_code == 200
    statuses = client.get(f"/api/v1/posts?slot_id={slot['id']}&status=revoked", headers=editor).json["items"]
    assert [p["id"] for p in statuses] == [post["id"]]


def test_posts_filter_and_page(client, editor, mir, interview):
    first = add_slot(client, editor, interview).json
    add_slot(client, editor, interview, start="2031-11-23T00:05:00+03:00")
    everything = client.get("/api/v1/posts", headers=editor).json["items"]
    assert len(everything) == 8
    page = client.get("/api/v1/posts?limit=3", headers=editor).json
    assert len(page["items"]) == 3 and page["next"]
    rest = client.get(page["next"].removeprefix("http://localhost"), headers=editor).json
    assert [p["id"] for p in rest["items"]][0] == page["items"][-1]["id"] + 1
    assert len(client.get(f"/api/v1/posts?slot_id={first['id']}", headers=editor).json["items"]) == 4
    assert client.get("/api/v1/posts?status=published", headers=editor).json["items"] == []
    assert len(client.get("/api/v1/posts?target=web&status=planned", headers=editor).json["items"]) == 8
    assert client.get("/api/v1/posts?status=nonsense", headers=editor).status_code == 400
    assert client.get("/api/v1/posts/9999", headers=editor).status_code == 404


def test_preview_any_moment_language_target_and_template(client, editor, mir, interview, session):
    session.add(Target(name="masto", kind="mastodon", lang="ru", timezone="Asia/Kolkata"))
    session.commit()
    slot = add_slot(client, editor, interview).json
    shown = preview(client, editor, slot_id=slot["id"], at="2031-11-21T18:00:00+03:00", target="masto").json
    # The target's language and zone: 02:35 in Kolkata.
    assert shown["lang"] == "ru" and shown["when"] == "сегодня ночью в 02:35"
    assert shown["limit"] == 500 and shown["length"] <= 500
    short = preview(client, editor, slot_id=slot["id"], at="2031-11-21T23:55:00+03:00", lang="en", template="short")
    assert short.json["when"] == "in 10 minutes" and "\n" not in short.json["text"]
    with clock.frozen(datetime(2031, 11, 22, 0, 30, tzinfo=MOSCOW)):
        assert preview(client, editor, slot_id=slot["id"]).json["when"] == "on air now"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": "2031-11-22T01:05:00+03:00"}, "at"),
        ({"at": "2031-11-21T18:00:00"}, "at"),
        ({"target": "nowhere"}, "target"),
        ({"lang": "de"}, "lang"),
        ({"template": "missing"}, "template"),
        ({"slot_id": 999}, "slot_id"),
    ],
)
def test_preview_refuses_in_words(client, editor, mir, interview, body, field):
    slot = add_slot(client, editor, interview).json
    resp = preview(client, editor, **{"slot_id": slot["id"], "at": "2031-11-21T18:00:00+03:00", **body})
    assert resp.status_code == 422
    assert field in resp.json["errors"]


def test_the_openapi_document_describes_the_promo_routes(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    for path in (
        "/api/v1/channels/{slug}/promo-plan",
        "/api/v1/programmes/{programme_id}/promo-plan",
        "/api/v1/promos/preview",
        "/api/v1/posts",
        "/api/v1/posts/{post_id}",
        "/api/v1/slots/{slot_id}/promos",
    ):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert schemas["Channel"]["properties"]["promote"]["enum"] == ["highlights", "all", "none"]
    assert "promoted" in schemas["SlotIn"]["properties"] and "promoted" in schemas["SlotOut"]["properties"]


def test_the_demo_plans_its_posts(runner, session):
    with clock.frozen(utc(2031, 11, 21, 9, 0)):
        assert runner.invoke(args=["demo", "load"]).exit_code == 0
    steps = {p.step for p in session.scalars(select(Post))}
    assert {"tonight", "ten-minutes", "on-air"} <= steps


def test_the_demos_russian_promo_names_its_guest_in_russian(client, editor, demo):
    body = {"slot_id": demo.id, "at": "2031-11-27T18:00:00+03:00", "target": "web"}
    russian = preview(client, editor, lang="ru", **body).json
    assert russian["text"].startswith(
        "Серж Саргсян: эксклюзивное интервью — смотрите сегодня сразу после полуночи на телеканале «Мир»."
    )
    assert "Serzh" not in russian["text"]
    english = preview(client, editor, lang="en", **body).json
    assert english["text"].startswith(
        "Serzh Sargsyan: the exclusive interview — watch tonight right after midnight on Mir."
    )


# What gets promoted, and when posts are made (SPEC §8a)


def test_promote_and_promoted_through_the_api(client, editor, mir, session):
    channel = client.get("/api/v1/channels/mir").json
    assert channel["promote"] == "highlights"
    bad = client.patch("/api/v1/channels/mir", json={"promote": "most"}, headers=editor)
    assert bad.status_code == 422 and "promote" in bad.json["errors"]

    news = client.post("/api/v1/programmes", json={"title": "News", "duration_minutes": 30}, headers=editor).json
    slot = add_slot(client, editor, news).json
    assert slot["promoted"] is False
    assert client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"] == []

    marked = client.patch(f"/api/v1/slots/{slot['id']}", json={"promoted": True}, headers={**editor, "If-Match": "*"})
    assert marked.status_code == 200 and marked.json["promoted"] is True
    assert len(client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"]) == 4
    trail = client.get("/api/v1/audit", query_string={"entity": "slot", "id": slot["id"]}, headers=editor).json
    assert trail["items"][0]["changes"] == {"promoted": [False, True]}

    assert client.patch("/api/v1/channels/mir", json={"promote": "none"}, headers=editor).json["promote"] == "none"
    posts = client.get(f"/api/v1/posts?slot_id={slot['id']}", headers=editor).json["items"]
    assert {p["status"] for p in posts} == {"revoked"}


def test_a_slots_coming_steps_with_their_posts_once_within_the_horizon(client, editor, mir, interview):
    client.put("/api/v1/channels/mir/promo-plan", json=TONIGHT, headers=editor)
    near = add_slot(client, editor, interview).json
    far = add_slot(client, editor, interview, start="2031-12-22T00:05:00+03:00").json
    assert client.get(f"/api/v1/slots/{far['id']}/promos").status_code == 401

    (step,) = client.get(f"/api/v1/slots/{near['id']}/promos", headers=editor).json
    (post,) = client.get(f"/api/v1/posts?slot_id={near['id']}", headers=editor).json["items"]
    assert step == {
        "step": "tonight",
        "target": "web",
        "edition": None,
        "due_at": "2031-11-21T15:00:00+00:00",
        "post_id": post["id"],
        "status": "planned",
    }
    (later,) = client.get(f"/api/v1/slots/{far['id']}/promos", headers=editor).json
    assert later["due_at"] == "2031-12-21T15:00:00+00:00" and later["post_id"] is None
    assert client.get(f"/api/v1/posts?slot_id={far['id']}", headers=editor).json["items"] == []
    assert client.get("/api/v1/slots/999999/promos", headers=editor).status_code == 404
