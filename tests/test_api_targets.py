"""The Targets API (admins only, secrets write-only) and a person's decisions on posts, on both engines."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from schedule_service import clock
from schedule_service.models import AuditEntry, Post, PostAttempt, Target
from schedule_service.models.promo import CORRECT, FAILED, HELD, PLANNED, PUBLISHED, UNKNOWN
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import SECRET
from tests.staff_actions import cheap_password_hashing  # noqa: F401  (autouse: staff users are made often)

make_post, make_target, quiet_channel = support.make_post, support.make_target, support.quiet_channel

START = utc(2031, 11, 21, 21, 5)
NOON = utc(2031, 11, 21, 12, 0)
HOOK = {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}
BOT = {"name": "tg", "kind": "telegram", "token": "123456:secret-bot-token", "chat_id": -1001234567890, "lang": "ru"}
VK = {"name": "vk", "kind": "vk", "token": "vk1.a.secret-community-token", "chat_id": 226123, "lang": "ru"}


def test_an_admin_adds_targets_whose_credentials_never_come_back(client, admin):
    resp = client.post("/api/v1/targets", json=HOOK, headers=admin)
    assert resp.status_code == 201
    assert resp.json["name"] == "hook" and resp.json["has_secret"] is True
    assert "secret" not in resp.json and SECRET not in resp.get_data(as_text=True)
    bot = client.post("/api/v1/targets", json={**BOT, "requires_approval": True}, headers=admin)
    assert bot.status_code == 201
    assert bot.json["chat_id"] == "-1001234567890" and bot.json["limit"] == 4096
    assert bot.json["requires_approval"] is True and bot.json["enabled"] is True and bot.json["has_token"]
    listing = client.get("/api/v1/targets", headers=admin)
    assert [t["name"] for t in listing.json["items"]] == ["web", "hook", "tg"]
    assert "secret-bot-token" not in listing.get_data(as_text=True) and SECRET not in listing.get_data(as_text=True)
    assert client.get("/api/v1/targets/tg", headers=admin).json["kind"] == "telegram"


def test_targets_are_for_admins_only(client, editor, admin):
    assert client.get("/api/v1/targets").status_code == 401
    assert client.get("/api/v1/targets", headers=editor).status_code == 403
    assert client.post("/api/v1/targets", json=HOOK, headers=editor).status_code == 403
    client.post("/api/v1/targets", json=HOOK, headers=admin)
    assert client.patch("/api/v1/targets/hook", json={"enabled": False}, headers=editor).status_code == 403
    assert client.delete("/api/v1/targets/hook", headers=editor).status_code == 403


REFUSED = [
    ({**HOOK, "timezone": "Mars/Olympus_Mons"}, "timezone", "IANA"),
    ({**HOOK, "kind": "myspace"}, "kind", "Must be one of"),
    ({**HOOK, "secret": None}, "secret", "required"),
    ({**HOOK, "secret": "whsec_not base64!"}, "secret", "base64"),
    ({**HOOK, "url": "ftp://example.test/x"}, "url", "http"),
    ({k: v for k, v in HOOK.items() if k != "url"}, "url", "required"),
    ({**HOOK, "name": "Has Spaces"}, "name", "lowercase"),
    ({**BOT, "chat_id": "not a chat"}, "chat_id", "@channelname"),
    ({**BOT, "chat_id": None}, "chat_id", "required"),
    ({**BOT, "token": None}, "token", "required"),
    ({**BOT, "max_length": 5000}, "max_length", "4096"),
    ({**BOT, "lang": "xx"}, "lang", "en"),
    ({**HOOK, "chat_id": "@tv"}, "chat_id", "telegram"),
    ({"name": "m", "kind": "mastodon", "url": "https://social.test"}, "token", "required"),
    ({**VK, "token": None}, "token", "community access token"),
    ({**VK, "chat_id": None}, "chat_id", "community"),
    ({**VK, "chat_id": -226123}, "chat_id", "not the wall's -123456"),
    ({**VK, "chat_id": "@mirtv"}, "chat_id", "positive number"),
    ({**VK, "max_length": 20000}, "max_length", "16384"),
]


def test_a_target_that_could_not_publish_is_refused_in_words(client, admin, session):
    for body, field, words in REFUSED:
        resp = client.post("/api/v1/targets", json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert words in resp.json["errors"][field], (body, resp.json["errors"])
    assert session.scalars(select(Target.name)).all() == ["web"]


def test_a_vk_target_needs_a_community_and_a_token_and_takes_vks_own_limit(client, admin):
    resp = client.post("/api/v1/targets", json=VK, headers=admin)
    assert resp.status_code == 201, resp.json
    assert resp.json["kind"] == "vk" and resp.json["chat_id"] == "226123" and resp.json["limit"] == 16384
    assert resp.json["url"] is None and resp.json["has_token"] is True
    assert "secret-community-token" not in resp.get_data(as_text=True)


def test_a_taken_name_is_409(client, admin):
    client.post("/api/v1/targets", json=HOOK, headers=admin)
    resp = client.post("/api/v1/targets", json=HOOK, headers=admin)
    assert resp.status_code == 409 and "already exists" in resp.json["detail"]


def test_patch_changes_settings_and_replaces_credentials_but_not_name_or_kind(client, admin, session):
    client.post("/api/v1/targets", json=HOOK, headers=admin)
    new_secret = "whsec_" + "B" * 40
    resp = client.patch(
        "/api/v1/targets/hook",
        json={"enabled": False, "timezone": "Asia/Yerevan", "secret": new_secret, "max_length": 280},
        headers=admin,
    )
    assert resp.status_code == 200
    assert resp.json["enabled"] is False and resp.json["timezone"] == "Asia/Yerevan" and resp.json["limit"] == 280
    assert session.scalar(select(Target.secret).where(Target.name == "hook")) == new_secret
    for change in ({"name": "other"}, {"kind": "mastodon"}):
        resp = client.patch("/api/v1/targets/hook", json=change, headers=admin)
        assert resp.status_code == 422 and "cannot change" in next(iter(resp.json["errors"].values()))
    assert client.patch("/api/v1/targets/nope", json={"enabled": True}, headers=admin).status_code == 404


def test_target_changes_are_audited_without_secrets(client, admin, session):
    client.post("/api/v1/targets", json=HOOK, headers=admin)
    client.patch("/api/v1/targets/hook", json={"secret": "whsec_" + "C" * 40, "lang": "ru"}, headers=admin)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "target").order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[0].changes["secret"] == [None, "(set)"] and entries[0].changes["url"][1] == HOOK["url"]
    assert entries[1].changes == {"lang": [None, "ru"], "secret": ["(set)", "(changed)"]}
    trail = client.get("/api/v1/audit?entity=target", headers=admin).get_data(as_text=True)
    assert SECRET not in trail and "C" * 40 not in trail


def test_a_target_with_a_publish_log_is_disabled_not_deleted(client, admin, session, make_slot, quiet_channel):
    client.post("/api/v1/targets", json=HOOK, headers=admin)
    client.post("/api/v1/targets", json={**HOOK, "name": "spare"}, headers=admin)
    assert client.delete("/api/v1/targets/spare", headers=admin).status_code == 204
    assert client.get("/api/v1/targets/spare", headers=admin).status_code == 404
    hook = session.scalar(select(Target).where(Target.name == "hook"))
    slot = make_slot(START, channel=quiet_channel)
    session.add(Post(slot_id=slot.id, target_id=hook.id, step="s", idempotency_key="k", due_at=NOON, valid_until=START))
    session.commit()
    resp = client.delete("/api/v1/targets/hook", headers=admin)
    assert resp.status_code == 409 and "disable it" in resp.json["detail"]
    assert client.delete("/api/v1/targets/web", headers=admin).status_code == 409
    assert session.scalar(select(Target).where(Target.name == "hook")) is not None


# A person's decisions on posts


@pytest.fixture
def slot(make_slot, quiet_channel):
    return make_slot(START, channel=quiet_channel)


@pytest.fixture
def hook(make_target):
    return make_target("hook", "webhook", url="http://127.0.0.1:9/hook")


def act(client, headers, post, action, **body):
    return client.post(f"/api/v1/posts/{post.id}/{action}", json=body or None, headers=headers)


def test_a_held_post_is_approved_and_a_planned_one_held(client, editor, session, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON, status=HELD)
    with clock.frozen(NOON - timedelta(hours=1)):
        resp = act(client, editor, post, "approve")
        assert resp.status_code == 200 and resp.json["status"] == PLANNED
        assert act(client, editor, post, "hold").json["status"] == HELD
        again = act(client, editor, post, "hold")
    assert again.status_code == 409
    assert again.json["detail"] == f"post {post.id} is held; only a planned post can be held"
    trail = session.scalars(select(AuditEntry).where(AuditEntry.entity == "post").order_by(AuditEntry.id)).all()
    assert [(e.action, e.changes["status"]) for e in trail] == [
        ("approve", ["held", "planned"]),
        ("hold", ["planned", "held"]),
    ]
    assert trail[0].actor.startswith("editor-")


def test_a_post_past_its_moment_cannot_be_approved_or_retried(client, editor, slot, hook, make_post):
    held = make_post(slot, hook, due_at=NOON, status=HELD)
    failed = make_post(slot, hook, due_at=NOON, status=FAILED, step="other")
    with clock.frozen(START + timedelta(minutes=1)):
        for post, action in ((held, "approve"), (failed, "retry")):
            resp = act(client, editor, post, action)
            assert resp.status_code == 409 and "it would be false" in resp.json["detail"]


def test_failed_and_unknown_posts_are_retried_and_published_ones_are_not(
    client, editor, session, slot, hook, make_post
):
    failed = make_post(slot, hook, due_at=NOON, status=FAILED, last_error="could not connect", step="a")
    unknown = make_post(slot, hook, due_at=NOON, status=UNKNOWN, step="b")
    published = make_post(slot, hook, due_at=NOON, status=PUBLISHED, step="c")
    with clock.frozen(NOON):
        for post in (failed, unknown):
            resp = act(client, editor, post, "retry")
            assert resp.status_code == 200 and resp.json["status"] == PLANNED and resp.json["last_error"] is None
        resp = act(client, editor, published, "retry")
    assert resp.status_code == 409 and "only a failed or unknown post can be retried" in resp.json["detail"]
    assert client.post("/api/v1/posts/999999/retry", headers=editor).status_code == 404
    assert client.post(f"/api/v1/posts/{failed.id}/retry").status_code == 401


def test_an_unknown_post_is_marked_published_with_what_a_person_found(client, editor, session, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON, status=UNKNOWN, attempts=1)
    session.add(PostAttempt(post_id=post.id, started_at=NOON, outcome=UNKNOWN, worker="w"))
    session.commit()
    with clock.frozen(NOON + timedelta(hours=1)):
        resp = act(client, editor, post, "published", external_id="42", url="https://t.me/tv/42")
    assert resp.status_code == 200
    assert resp.json["status"] == PUBLISHED and resp.json["external_id"] == "42"
    assert resp.json["external_url"] == "https://t.me/tv/42"
    assert resp.json["published_at"] == "2031-11-21T12:00:00+00:00"  # when it was sent, not when settled
    assert [a["outcome"] for a in resp.json["attempt_log"]] == [UNKNOWN]
    assert act(client, editor, post, "published").status_code == 409


def test_a_post_settled_after_its_slot_moved_is_corrected(client, editor, session, slot, hook, make_post):
    from schedule_service import schedule

    post = make_post(slot, hook, due_at=NOON, status=UNKNOWN, attempts=1)
    session.add(PostAttempt(post_id=post.id, started_at=NOON, outcome=UNKNOWN, worker="w"))
    session.commit()
    with clock.frozen(NOON + timedelta(minutes=30)):
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "test")
        session.commit()
        assert act(client, editor, post, "published").status_code == 200
    (correction,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
    assert correction.action == CORRECT and correction.status == PLANNED


def test_mark_published_refuses_a_url_that_is_not_one(client, editor, slot, hook, make_post):
    post = make_post(slot, hook, due_at=NOON, status=UNKNOWN)
    resp = act(client, editor, post, "published", url="javascript:alert(1)")
    assert resp.status_code == 422 and "url" in resp.json["errors"]
