"""The promo desk through the API (SPEC §8b): a post's own template, bulk approval, attempts with their text."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import AuditEntry, Post
from schedule_service.models.promo import HELD, PLANNED, PUBLISHED
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import webhook_sink

make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

# The interview airs at 00:05 Moscow time on 22 November 2031 (21:05 UTC on the 21st).
START = utc(2031, 11, 21, 21, 5)
NOON = utc(2031, 11, 21, 12, 0)  # 15:00 in Moscow
MORNING = utc(2031, 11, 21, 6, 0)

OWN = "ONLY ON {{ channel }}: {{ title }}, {{ when }}. {{ link }}"


@pytest.fixture(autouse=True)
def _morning():
    with clock.frozen(MORNING):
        yield


@pytest.fixture
def slot(make_slot, quiet_channel, make_programme):
    programme = make_programme("Serzh Sargsyan: the exclusive interview", is_exclusive=True)
    return make_slot(START, channel=quiet_channel, programme=programme, duration_minutes=60)


@pytest.fixture
def hook(httpserver, make_target):
    return make_target("hook", "webhook", url=httpserver.url_for("/hook"))


def entries(session, post_id):
    session.expire_all()
    return session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "post", AuditEntry.entity_id == str(post_id))
    ).all()


def patch(client, editor, post_id, template):
    return client.patch(f"/api/v1/posts/{post_id}", json={"template": template}, headers=editor)


def test_a_posts_own_template_is_rendered_when_sent_with_a_true_when_phrase(
    session, client, editor, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON, text="as planned by the step's template")
    resp = patch(client, editor, post.id, OWN)
    assert resp.status_code == 200 and resp.json["template"] == OWN
    assert resp.json["text"].startswith("ONLY ON Mir: Serzh Sargsyan")  # the preview follows the new template
    assert len(entries(session, post.id)) == 1
    # Saving it unchanged changes nothing, and is not audited again.
    assert patch(client, editor, post.id, OWN).status_code == 200
    assert len(entries(session, post.id)) == 1
    with clock.frozen(utc(2031, 11, 21, 20, 55)):  # sent ten minutes before air
        publish()
    (event,) = sink.events()
    sent = event["data"]["text"]
    assert (
        sent
        == f"ONLY ON Mir: Serzh Sargsyan: the exclusive interview, in 10 minutes. http://schedule.test/slots/{slot.id}"
    )
    shown = client.get(f"/api/v1/posts/{post.id}", headers=editor).json
    assert shown["status"] == PUBLISHED
    [attempt] = shown["attempts"]
    assert attempt["outcome"] == PUBLISHED and attempt["text"] == sent and attempt["at"]


def test_null_gives_the_post_its_steps_template_back(session, client, editor, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON)
    assert patch(client, editor, post.id, OWN).status_code == 200
    resp = patch(client, editor, post.id, None)
    assert resp.status_code == 200 and resp.json["template"] is None
    assert "ONLY ON" not in resp.json["text"]
    assert [e.changes["template"] for e in entries(session, post.id)] == [[None, OWN], [OWN, None]]


def test_a_template_too_long_for_its_target_is_422_with_length_and_limit(
    session, client, editor, slot, make_target, make_post
):
    short = make_target("short", "webhook", url="http://127.0.0.1:9/hook", max_length=120)
    post = make_post(slot, short, due_at=NOON)
    resp = patch(client, editor, post.id, "Watch this! " * 10 + "{{ title }} {{ when }} {{ link }}")
    assert resp.status_code == 422
    problem = resp.json
    assert problem["limit"] == 120 and problem["length"] > 120
    assert "120" in problem["errors"]["template"] and str(problem["length"]) in problem["errors"]["template"]
    session.expire_all()
    assert session.get(Post, post.id).own_template is None
    assert entries(session, post.id) == []


@pytest.mark.parametrize(
    "template, says",
    [("{{ title }} {{ guest_name }} {{ link }}", "guest_name"), ("{{ title }", "not valid")],
)
def test_unknown_placeholders_or_bad_syntax_are_422(session, client, editor, slot, hook, make_post, template, says):
    post = make_post(slot, hook, due_at=NOON)
    resp = patch(client, editor, post.id, template)
    assert resp.status_code == 422 and says in resp.json["errors"]["template"]
    session.expire_all()
    assert session.get(Post, post.id).own_template is None


def test_a_sent_post_keeps_its_template_409(session, client, editor, httpserver, slot, hook, make_post, publish):
    webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        resp = patch(client, editor, post.id, OWN)
    assert resp.status_code == 409 and "planned or held" in resp.json["detail"]
    assert client.patch("/api/v1/posts/999999", json={"template": OWN}, headers=editor).status_code == 404


def test_bulk_approval_approves_the_held_and_says_why_not_for_the_others(
    session, client, editor, slot, hook, make_post
):
    held = [make_post(slot, hook, due_at=NOON, step=f"h{i}", status=HELD) for i in range(2)]
    planned = make_post(slot, hook, due_at=NOON, step="p", status=PLANNED)
    ids = [held[0].id, planned.id, held[1].id, 999999]
    resp = client.post("/api/v1/posts/approve", json={"ids": ids}, headers=editor)
    assert resp.status_code == 200
    assert sorted(p["id"] for p in resp.json["approved"]) == sorted(p.id for p in held)
    assert all(p["status"] == PLANNED for p in resp.json["approved"])
    refused = {r["id"]: r for r in resp.json["refused"]}
    assert set(refused) == {planned.id, 999999}
    assert refused[planned.id]["status"] == PLANNED and "held" in refused[planned.id]["reason"]
    session.expire_all()
    assert [session.get(Post, p.id).status for p in held] == [PLANNED, PLANNED]
    assert [e.action for p in held for e in entries(session, p.id)] == ["approve", "approve"]
    assert entries(session, planned.id) == []
    empty = client.post("/api/v1/posts/approve", json={"ids": []}, headers=editor)
    assert empty.status_code == 422 and "ids" in empty.json["errors"]


def test_a_correction_keeps_the_text_it_replaced_and_the_original_attempt_its_own(
    session, client, editor, httpserver, slot, hook, make_post, publish
):
    sink = webhook_sink(httpserver)
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    with clock.frozen(NOON + timedelta(hours=1)):
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "editor@example.test")
        session.commit()
        publish()
    first, second = (e["data"]["text"] for e in sink.events())
    assert "tonight right after midnight" in first and "tonight at 01:05" in second
    original = client.get(f"/api/v1/posts/{post.id}", headers=editor).json
    assert original["status"] == "corrected"
    assert [a["text"] for a in original["attempts"]] == [first]  # what went out then, not the new text
    (correction,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
    shown = client.get(f"/api/v1/posts/{correction.id}", headers=editor).json
    [attempt] = shown["attempts"]
    assert attempt["text"] == second and attempt["replaced_text"] == first


def test_the_openapi_document_describes_the_desk_routes(client):
    doc = client.get("/api/v1/openapi.json").json
    assert "patch" in doc["paths"]["/api/v1/posts/{post_id}"]
    bulk = doc["paths"]["/api/v1/posts/approve"]["post"]
    assert "not all or nothing" in bulk["summary"] and "refused" in bulk["description"]


def test_the_preview_says_what_was_shortened_and_a_blurb_too_long_its_length_and_limit(
    client, editor, quiet_channel, make_programme, make_slot, make_target
):
    programme = make_programme(
        "Evening talk", summary="The alliance, its history and its future. " * 30, quote="Not against anyone."
    )
    slot = make_slot(START, channel=quiet_channel, programme=programme)
    make_target("toots", "mastodon", url="https://social.example", token="t" * 30)
    body = {"slot_id": slot.id, "at": "2031-11-21T18:00:00+03:00", "target": "toots"}
    shown = client.post("/api/v1/promos/preview", json=body, headers=editor).json
    assert shown["shortened"] == ["quote", "summary"] and shown["length"] <= shown["limit"] == 500
    assert "Not against anyone." not in shown["text"] and "…" in shown["text"]
    whole = client.post("/api/v1/promos/preview", json={**body, "target": "web"}, headers=editor).json
    assert whole["shortened"] == [] and "Not against anyone." in whole["text"]
    make_target("tiny", "webhook", url="http://127.0.0.1:9/hook", max_length=40)
    refused = client.post("/api/v1/promos/preview", json={**body, "target": "tiny"}, headers=editor)
    assert refused.status_code == 422 and refused.json["limit"] == 40 and refused.json["length"] > 40


def test_beside_a_picture_a_telegram_post_is_measured_as_a_caption(
    session, client, editor, quiet_channel, make_programme, make_slot, make_target, make_post
):
    programme = make_programme(
        "Evening talk", summary="The alliance, its history and its future. " * 60, image_url="https://img.test/a.jpg"
    )
    slot = make_slot(START, channel=quiet_channel, programme=programme)
    bot = make_target("bot", "telegram", url="https://api.telegram.test", token="1:" + "t" * 30, chat_id="@tv")
    body = {"slot_id": slot.id, "at": "2031-11-21T18:00:00+03:00", "target": "bot"}
    shown = client.post("/api/v1/promos/preview", json=body, headers=editor).json
    assert shown["limit"] == 1024 and shown["length"] <= 1024 and "summary" in shown["shortened"]

    post = make_post(slot, bot, due_at=NOON)
    long = "Watch this! " * 90 + "{{ title }} {{ when }} {{ link }}"  # fits a message (4096), not a caption
    refused = patch(client, editor, post.id, long)
    assert refused.status_code == 422 and refused.json["limit"] == 1024 and refused.json["length"] > 1024

    programme.image_url = None  # without a picture the post is a message, with a message's limit
    session.commit()
    assert patch(client, editor, post.id, long).status_code == 200
