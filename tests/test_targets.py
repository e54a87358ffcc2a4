"""Each target against a local server that speaks its contract: webhook, Mastodon, Telegram, VK, web feed."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from schedule_service import clock, schedule
from schedule_service.models import Channel, FeedItem, Post, Programme, Slot, Target
from schedule_service.models.promo import CORRECT, CORRECTED, PUBLISH, PUBLISHED, WITHDRAW, WITHDRAWN
from schedule_service.promos.render import Rendered
from schedule_service.publishing.targets import adapter_for
from schedule_service.publishing.targets.base import FAILED, UNKNOWN, Delivery
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import (
    BOT_TOKEN,
    MASTODON_TOKEN,
    SECRET,
    VK_COMMUNITY,
    VK_TOKEN,
    closed_port_url,
    mastodon_server,
    telegram_server,
    vk_server,
    webhook_sink,
)

make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

START = utc(2031, 11, 21, 21, 5)  # 00:05 in Moscow on the 22nd
NOON = utc(2031, 11, 21, 12, 0)
RUSSIAN = "Серж Саргсян — смотрите сегодня сразу после полуночи на «Мире»."


# The adapters alone: no database, a Delivery as the outbox makes it


def delivery(
    target: Target,
    action: str = PUBLISH,
    text: str = RUSSIAN,
    parent: Post | None = None,
    timeout=5.0,
    allow_private=True,  # the fake targets listen on loopback
):
    channel = Channel(slug="mir", name="Mir", timezone="Europe/Moscow")
    slot = Slot(id=7, channel=channel, programme=Programme(id=3, title="Interview"), start_at=START)
    slot.end_at, slot.status, slot.programme_id = START + timedelta(hours=1), "scheduled", 3
    post = Post(id=11, slot=slot, target=target, step="tonight", action=action, lang="ru")
    post.idempotency_key = f"slot-7-tonight-{target.name}-{action}"
    rendered = Rendered(
        text, "сегодня сразу после полуночи", len(text), None, "Интервью", "http://schedule.test/slots/7"
    )
    return Delivery(post, target, None if action == WITHDRAW else rendered, parent, timeout, None, allow_private)


def published_parent(external_id: str) -> Post:
    return Post(id=10, idempotency_key="slot-7-tonight-x-publish", external_id=external_id, status=PUBLISHED)


def test_a_webhook_is_signed_so_a_standard_webhooks_receiver_verifies_it(httpserver):
    sink = webhook_sink(httpserver)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook))
    assert outcome.kind == PUBLISHED
    (arrival,) = sink.arrivals
    assert sink.bad == []
    assert arrival.headers["webhook-id"] == "slot-7-tonight-hook-publish"
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.body["type"] == "promo.published"
    assert arrival.body["data"]["text"] == RUSSIAN and arrival.body["data"]["channel"] == "mir"


def test_a_webhook_signed_with_another_secret_is_refused_by_the_receiver(httpserver):
    sink = webhook_sink(httpserver)
    other = "whsec_" + "A" * 32
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=other)
    outcome = adapter_for("webhook").publish(delivery(hook))
    assert outcome.kind == FAILED and not outcome.retryable and "400" in outcome.error
    assert sink.arrivals == [] and sink.bad == ["No matching signature found"]


def test_webhook_events_name_what_happened(httpserver):
    sink = webhook_sink(httpserver)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    adapter = adapter_for("webhook")
    adapter.correct(delivery(hook, CORRECT, parent=published_parent("x")))
    adapter.withdraw(delivery(hook, WITHDRAW, parent=published_parent("x")))
    corrected, withdrawn = sink.events()
    assert corrected["type"] == "promo.corrected" and corrected["data"]["text"] == RUSSIAN
    assert withdrawn["type"] == "promo.withdrawn" and "text" not in withdrawn["data"]
    assert withdrawn["data"]["original_idempotency_key"] == "slot-7-tonight-x-publish"
    assert sink.ids() == ["slot-7-tonight-hook-correct", "slot-7-tonight-hook-withdraw"]


def test_a_webhook_target_without_a_secret_fails_without_a_call(httpserver):
    sink = webhook_sink(httpserver)
    outcome = adapter_for("webhook").publish(
        delivery(Target(name="h", kind="webhook", url=httpserver.url_for("/hook")))
    )
    assert outcome.kind == FAILED and not outcome.retryable and "secret" in outcome.error
    assert sink.arrivals == []


def test_a_refused_connection_failed_before_sending_and_may_be_retried():
    hook = Target(name="hook", kind="webhook", url=closed_port_url(), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook))
    assert outcome.kind == FAILED and outcome.retryable and "could not connect" in outcome.error


def test_no_answer_within_the_timeout_is_an_unknown_outcome(httpserver):
    sink = webhook_sink(httpserver, delay=1.5)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook, timeout=0.5))
    assert outcome.kind == UNKNOWN and "0.5 s" in outcome.error
    assert len(sink.arrivals) == 1  # it did arrive
    assert sink.answered.wait(2)


def mastodon(httpserver, token=MASTODON_TOKEN) -> Target:
    return Target(name="social", kind="mastodon", url=httpserver.url_for("/"), token=token)


def test_mastodon_posts_with_an_idempotency_key_so_a_repeat_is_the_same_status(httpserver):
    server = mastodon_server(httpserver)
    adapter, target = adapter_for("mastodon"), mastodon(httpserver)
    first = adapter.publish(delivery(target))
    again = adapter.publish(delivery(target))
    assert first.kind == again.kind == PUBLISHED
    assert first.external_id == again.external_id and first.external_url.endswith(first.external_id)
    assert len(server.statuses) == 1
    (arrival, _) = server.arrivals
    assert arrival.headers["Idempotency-Key"] == "slot-7-tonight-social-publish"
    assert arrival.body == {"status": RUSSIAN, "visibility": "public", "language": "ru"}


def test_mastodon_refusals_and_breakdowns_are_told_apart(httpserver):
    adapter = adapter_for("mastodon")
    target = mastodon(httpserver)
    httpserver.expect_oneshot_request("/api/v1/statuses", method="POST").respond_with_json(
        {"error": "Validation failed: Text character limit of 500 exceeded"}, status=422
    )
    refused = adapter.publish(delivery(target))
    assert refused.kind == FAILED and not refused.retryable and "422" in refused.error
    assert "character limit" in refused.response

    httpserver.expect_oneshot_request("/api/v1/statuses", method="POST").respond_with_json(
        {"error": "Too many requests"}, status=429, headers={"Retry-After": "30"}
    )
    busy = adapter.publish(delivery(target))
    assert busy.kind == FAILED and busy.retryable and busy.retry_after == 30

    httpserver.expect_oneshot_request("/api/v1/statuses", method="POST").respond_with_data("oops", status=500)
    broken = adapter.publish(delivery(target))
    assert broken.kind == UNKNOWN  # it got the request and broke: it may have posted

    mastodon_server(httpserver)
    wrong_token = adapter.publish(delivery(mastodon(httpserver, token="not-the-token")))
    assert wrong_token.kind == FAILED and not wrong_token.retryable and "401" in wrong_token.error


def telegram(httpserver) -> Target:
    return Target(name="tg", kind="telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")


def test_telegram_edits_and_deletes_are_safe_to_repeat(httpserver):
    server = telegram_server(httpserver)
    adapter, target = adapter_for("telegram"), telegram(httpserver)
    sent = adapter.publish(delivery(target, text="first"))
    assert sent.external_id == "1" and sent.external_url == "https://t.me/tv/1"
    parent = published_parent("1")
    assert adapter.correct(delivery(target, CORRECT, text="second", parent=parent)).kind == PUBLISHED
    assert adapter.correct(delivery(target, CORRECT, text="second", parent=parent)).kind == PUBLISHED  # not modified
    assert server.messages == {1: "second"}
    assert adapter.withdraw(delivery(target, WITHDRAW, parent=parent)).kind == PUBLISHED
    assert adapter.withdraw(delivery(target, WITHDRAW, parent=parent)).kind == PUBLISHED  # already gone
    assert server.messages == {}
    assert [a.path.rsplit("/", 1)[-1] for a in server.arrivals] == [
        "sendMessage",
        "editMessageText",
        "editMessageText",
        "deleteMessage",
        "deleteMessage",
    ]
    assert not adapter.deduplicates(PUBLISH) and adapter.deduplicates(CORRECT) and adapter.deduplicates(WITHDRAW)


def test_telegram_flood_control_says_when_to_try_again(httpserver):
    httpserver.expect_request(f"/bot{BOT_TOKEN}/sendMessage", method="POST").respond_with_json(
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
        status=429,
    )
    outcome = adapter_for("telegram").publish(delivery(telegram(httpserver)))
    assert outcome.kind == FAILED and outcome.retryable and outcome.retry_after == 17


def test_telegram_errors_never_show_the_bot_token():
    target = Target(name="tg", kind="telegram", url=closed_port_url("/"), token=BOT_TOKEN, chat_id="@tv")
    outcome = adapter_for("telegram").publish(delivery(target))
    assert outcome.kind == FAILED and BOT_TOKEN not in (outcome.error or "") + (outcome.response or "")
    assert "<token>" in outcome.error


def vk(httpserver) -> Target:
    return Target(name="vk", kind="vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)


def test_vk_posts_to_the_community_wall_then_edits_and_deletes_that_post(httpserver):
    server = vk_server(httpserver)
    adapter, target = adapter_for("vk"), vk(httpserver)
    sent = adapter.publish(delivery(target, text="first"))
    assert sent.kind == PUBLISHED and sent.external_id == "41"
    assert sent.external_url == f"https://vk.com/wall-{VK_COMMUNITY}_41"
    parent = published_parent("41")
    assert adapter.correct(delivery(target, CORRECT, text="second", parent=parent)).kind == PUBLISHED
    assert server.posts == {41: "second"}
    assert adapter.withdraw(delivery(target, WITHDRAW, parent=parent)).kind == PUBLISHED
    assert server.posts == {}
    assert [a.path for a in server.arrivals] == ["/method/wall.post", "/method/wall.edit", "/method/wall.delete"]
    posted = server.arrivals[0].body
    assert posted["owner_id"] == f"-{VK_COMMUNITY}" and posted["from_group"] == "1" and posted["message"] == "first"
    assert posted["access_token"] == VK_TOKEN and posted["v"].startswith("5.")
    assert server.arrivals[1].body["post_id"] == "41" and server.arrivals[2].body["post_id"] == "41"
    # No idempotency key anywhere in VK's API: nothing may be sent again blindly.
    assert not any(adapter.deduplicates(action) for action in (PUBLISH, CORRECT, WITHDRAW))


@pytest.mark.parametrize("code", [6, 9])
def test_vk_too_many_requests_and_flood_control_are_tried_again_later(httpserver, code):
    server = vk_server(httpserver)
    server.errors.append(code)
    outcome = adapter_for("vk").publish(delivery(vk(httpserver)))
    assert outcome.kind == FAILED and outcome.retryable and f"error {code}" in outcome.error
    assert server.posts == {}


@pytest.mark.parametrize("code, words", [(5, "authorization failed"), (15, "Access denied"), (214, "adding post")])
def test_vk_refusing_the_token_or_the_rights_fails_at_once_with_vks_reason(httpserver, code, words):
    server = vk_server(httpserver)
    server.errors.append(code)
    outcome = adapter_for("vk").publish(delivery(vk(httpserver)))
    assert outcome.kind == FAILED and not outcome.retryable
    assert f"error {code}" in outcome.error and words in outcome.error and "token" in outcome.error


def test_vk_asking_for_a_captcha_leaves_the_post_to_a_person_with_vks_message(httpserver):
    server = vk_server(httpserver)
    server.errors.append(14)
    outcome = adapter_for("vk").publish(delivery(vk(httpserver)))
    assert outcome.kind == UNKNOWN and "Captcha needed" in outcome.error and "Captcha needed" in outcome.response


def test_vk_errors_never_show_the_community_token(httpserver):
    outcome = adapter_for("vk").publish(delivery(vk(httpserver)))  # nothing listens at this path: 500
    assert VK_TOKEN not in (outcome.error or "") + (outcome.response or "")
    target = Target(name="vk", kind="vk", url=closed_port_url("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    outcome = adapter_for("vk").publish(delivery(target))
    assert outcome.kind == FAILED and VK_TOKEN not in (outcome.error or "") + (outcome.response or "")


# Through the outbox, on both engines: publish, then correct when the slot moves, then withdraw


@pytest.fixture
def slot(make_slot, quiet_channel):
    return make_slot(START, channel=quiet_channel, duration_minutes=60)


def follow_ups(session, post):
    return session.scalars(select(Post).where(Post.parent_id == post.id).order_by(Post.id)).all()


def test_mastodon_status_is_posted_edited_and_deleted_as_the_slot_changes(
    session, httpserver, slot, make_target, make_post, publish
):
    server = mastodon_server(httpserver)
    target = make_target("social", "mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == PUBLISHED and post.external_id in server.statuses
        schedule.update_slot(session, slot, {"start": START + timedelta(minutes=25)}, "test")  # 00:30 in Moscow
        session.commit()
        publish()
        assert "tonight at 00:30" in server.statuses[post.external_id]["content"]
        assert session.get(Post, post.id).status == CORRECTED
        schedule.cancel_slot(session, slot, "test")
        session.commit()
        publish()
    assert server.statuses == {}
    assert [(a.method, a.path) for a in server.arrivals] == [
        ("POST", "/api/v1/statuses"),
        ("PUT", f"/api/v1/statuses/{post.external_id}"),
        ("DELETE", f"/api/v1/statuses/{post.external_id}"),
    ]
    assert session.get(Post, post.id).status == WITHDRAWN
    assert [p.status for p in follow_ups(session, post)] == [PUBLISHED, PUBLISHED]


def test_telegram_message_is_sent_edited_and_deleted_as_the_slot_changes(
    session, httpserver, slot, make_target, make_post, publish
):
    server = telegram_server(httpserver)
    target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, target, due_at=NOON, lang="ru")
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.external_url == f"https://t.me/tv/{post.external_id}"
        assert "сегодня сразу после полуночи" in server.messages[int(post.external_id)]
        schedule.update_slot(session, slot, {"start": START + timedelta(days=1)}, "test")
        session.commit()
        publish()
        assert "в ночь с субботы на воскресенье в 00:05" in server.messages[int(post.external_id)]
        schedule.cancel_slot(session, slot, "test")
        session.commit()
        publish()
    assert server.messages == {}
    assert all(a.body["chat_id"] == "@tv" for a in server.arrivals)
    assert [a.path for a in server.arrivals] == [
        f"/bot{BOT_TOKEN}/sendMessage",
        f"/bot{BOT_TOKEN}/editMessageText",
        f"/bot{BOT_TOKEN}/deleteMessage",
    ]


def test_vk_wall_post_is_made_edited_and_deleted_as_the_slot_changes(
    session, httpserver, slot, make_target, make_post, publish
):
    server = vk_server(httpserver)
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON, lang="ru")
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert (
            post.status == PUBLISHED and post.external_url == f"https://vk.com/wall-{VK_COMMUNITY}_{post.external_id}"
        )
        assert "сегодня сразу после полуночи" in server.posts[int(post.external_id)]
        schedule.update_slot(session, slot, {"start": START + timedelta(days=1)}, "test")
        session.commit()
        publish()
        assert "в ночь с субботы на воскресенье в 00:05" in server.posts[int(post.external_id)]
        assert session.get(Post, post.id).status == CORRECTED
        schedule.cancel_slot(session, slot, "test")
        session.commit()
        publish()
    assert server.posts == {}
    assert session.get(Post, post.id).status == WITHDRAWN
    assert [a.path for a in server.arrivals] == ["/method/wall.post", "/method/wall.edit", "/method/wall.delete"]


def test_vk_refusing_the_token_fails_the_post_for_good_and_flags_the_target_in_healthz(
    session, client, httpserver, slot, make_target, make_post, publish
):
    from schedule_service.models.promo import FAILED as FAILED_STATUS

    server = vk_server(httpserver, token="a-token-vk-revoked")
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == FAILED_STATUS and post.retry_at is None
        assert "User authorization failed" in post.last_error
        health = client.get("/healthz").json
    assert health["targets"]["failing"] == {"vk": 1} and health["posts"]["failed"] == 1
    assert len(server.arrivals) == 1 and server.posts == {}


def test_vk_flood_control_is_retried_with_backoff_and_then_goes_out_once(
    session, httpserver, slot, make_target, make_post, publish
):
    from schedule_service.models.promo import FAILED as FAILED_STATUS

    server = vk_server(httpserver)
    server.errors.extend([9, 6])
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    first = session.get(Post, post.id)
    assert first.status == FAILED_STATUS and "Flood control" in first.last_error and first.retry_at > NOON
    first_retry = first.retry_at
    with clock.frozen(first_retry):
        publish()
    second = session.get(Post, post.id)
    assert second.status == FAILED_STATUS and second.retry_at - first_retry > first_retry - NOON  # it backs off
    with clock.frozen(second.retry_at):
        publish()
    assert session.get(Post, post.id).status == PUBLISHED and len(server.posts) == 1


def test_vk_captcha_makes_the_post_unknown_with_vks_message(session, httpserver, slot, make_target, make_post, publish):
    server = vk_server(httpserver)
    server.errors.append(14)
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == UNKNOWN and "Captcha needed" in post.last_error and "a person decides" in post.last_error
        assert publish() == 0
    assert len(server.arrivals) == 1


def test_a_vk_answer_lost_after_sending_is_unknown_and_never_sent_again(
    app, session, httpserver, slot, make_target, make_post, publish
):
    app.config["TARGET_TIMEOUT_SECONDS"] = 0.5
    server = vk_server(httpserver, delay=1.5)
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = session.get(Post, post.id)
    assert post.status == UNKNOWN and "may have gone out" in post.last_error and VK_TOKEN not in post.last_error
    with clock.frozen(NOON + timedelta(hours=1)):
        assert publish() == 0
    assert server.answered.wait(5)
    assert len(server.arrivals) == 1 and len(server.posts) == 1  # it did go out; nobody could know


def test_the_web_feed_gets_one_item_that_is_corrected_then_withdrawn(session, slot, make_post, publish):
    web = session.scalar(select(Target).where(Target.name == "web"))
    post = make_post(slot, web, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        (item,) = session.scalars(select(FeedItem)).all()
        assert item.idempotency_key == post.idempotency_key and item.slot_id == slot.id
        assert "tonight right after midnight" in item.text and item.url.endswith(f"/slots/{slot.id}")
        assert session.get(Post, post.id).external_id == str(item.id)
    with clock.frozen(NOON + timedelta(minutes=5)):
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "test")
        session.commit()
        publish()
        session.refresh(item)
        assert "tonight at 01:05" in item.text and item.updated_at == NOON + timedelta(minutes=5)
        schedule.cancel_slot(session, slot, "test")
        session.commit()
        publish()
    (item,) = session.scalars(select(FeedItem)).all()
    assert item.is_withdrawn
    assert session.get(Post, post.id).status == WITHDRAWN


def test_webhook_event_payload_is_json_a_receiver_can_use(session, httpserver, slot, make_target, make_post, publish):
    received = []

    def handle(request):
        from werkzeug import Response

        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(SECRET).verify(request.get_data(), headers)
        except WebhookVerificationError:
            return Response(status=400)
        received.append(json.loads(request.get_data()))
        return Response(status=204)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    target = make_target("hook", "webhook", url=httpserver.url_for("/hook"))
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    (event,) = received
    assert event["data"]["start"] == "2031-11-21T21:05:00+00:00" and event["data"]["step"] == "soon"
    assert event["data"]["idempotency_key"] == post.idempotency_key
    assert session.get(Post, post.id).status == PUBLISHED


def test_mastodon_forgets_a_key_after_an_hour_so_a_late_retry_is_left_to_a_person(
    session, httpserver, slot, make_target, make_post, publish
):
    from schedule_service.models.promo import FAILED, PLANNED, UNKNOWN
    from schedule_service.publishing import decisions

    httpserver.expect_oneshot_request("/api/v1/statuses", method="POST").respond_with_data("oops", status=502)
    server = mastodon_server(httpserver)
    target = make_target("social", "mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    post = session.get(Post, post.id)
    assert post.status == FAILED and "deduplicates" in post.last_error
    assert post.retry_at <= NOON + timedelta(minutes=15)  # well inside the hour Mastodon keeps the key
    with clock.frozen(NOON + timedelta(hours=2)):  # every scheduler was down meanwhile
        publish()
        post = session.get(Post, post.id)
        assert post.status == UNKNOWN and "forgets idempotency keys" in post.last_error
        assert server.arrivals == []
        decisions.retry_post(session, post, "editor@example.test")  # a person checked: it is not there
        session.commit()
        assert post.status == PLANNED
        publish()
    assert session.get(Post, post.id).status == PUBLISHED and len(server.statuses) == 1
