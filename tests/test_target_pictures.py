"""Pictures on the networks (SPEC §11): each target against a local server that speaks its contract.

A post whose programme has a picture reaches Mastodon as media with its description and then a
status naming it, Telegram as a photo with the text as its caption, VK through its upload chain
and the wall post's attachments, a webhook as ``data.image``; each correction keeps the picture.
A picture that cannot be had never fails a post: it goes without one.
"""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug import Response

from schedule_service import clock, schedule
from schedule_service.models import Post, PostAttempt, Target
from schedule_service.models.promo import CORRECT, CORRECTED, PUBLISHED
from schedule_service.publishing import post_picture
from schedule_service.publishing.targets import adapter_for
from schedule_service.publishing.targets.base import FAILED, PostPicture
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import (
    BOT_TOKEN,
    MASTODON_TOKEN,
    VK_COMMUNITY,
    VK_TOKEN,
    mastodon_server,
    telegram_server,
    vk_server,
    webhook_sink,
)
from tests.test_targets import RUSSIAN, delivery, published_parent

make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

START = utc(2031, 11, 21, 21, 5)  # 00:05 in Moscow on the 22nd
NOON = utc(2031, 11, 21, 12, 0)
#: The first bytes of a JPEG, then something to carry: what the networks must receive byte for byte.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
ALT = "Serzh Sargsyan in the studio, facing the interviewer"
ALT_RU = "Серж Саргсян в студии напротив ведущего"
CREDIT = "Press Service of the President of Russia"
#: Long enough that a 1024-character caption cannot hold it whole.
SUMMARY = " ".join(["The former president speaks about the years in office and what came after."] * 30)


def picture(url: str = "http://pictures.test/seed.jpg") -> PostPicture:
    return PostPicture(url=url, alt=ALT, credit=CREDIT, content_type="image/jpeg", data=JPEG)


def with_picture(d, parent_has_picture: bool = False):
    d.picture = picture()
    d.parent_has_picture = parent_has_picture
    return d


def picture_served(httpserver, path: str = "/pictures/seed.jpg", data: bytes = JPEG) -> str:
    httpserver.expect_request(path, method="GET").respond_with_data(data, content_type="image/jpeg")
    return httpserver.url_for(path)


# The adapters alone: a Delivery with a picture, as the outbox makes it


def test_mastodon_uploads_the_picture_with_its_description_then_posts_the_status_naming_it(httpserver):
    server = mastodon_server(httpserver, processing=2)  # 202, then 206 once, then processed
    target = Target(name="social", kind="mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    adapter = adapter_for("mastodon")
    sent = adapter.publish(with_picture(delivery(target)))
    assert sent.kind == PUBLISHED
    upload, *looks, status = server.arrivals
    assert (upload.method, upload.path) == ("POST", "/api/v2/media")
    assert upload.body == {"description": ALT, "file": JPEG}
    assert [a.path for a in looks] == ["/api/v1/media/501", "/api/v1/media/501"]
    assert status.body["media_ids"] == ["501"] and status.headers["Idempotency-Key"]
    shown = server.statuses[sent.external_id]
    assert shown["content"] == RUSSIAN and [m["description"] for m in shown["media_attachments"]] == [ALT]

    parent = published_parent(sent.external_id)
    corrected = adapter.correct(with_picture(delivery(target, CORRECT, text="second", parent=parent), True))
    assert corrected.kind == PUBLISHED
    shown = server.statuses[sent.external_id]
    assert shown["content"] == "second" and [m["id"] for m in shown["media_attachments"]] == ["501"]
    assert [(a.method, a.path) for a in server.arrivals[-2:]] == [
        ("GET", f"/api/v1/statuses/{sent.external_id}"),
        ("PUT", f"/api/v1/statuses/{sent.external_id}"),
    ]


def test_mastodon_still_processing_the_picture_fails_the_post_without_posting_it(httpserver):
    server = mastodon_server(httpserver, processing=1000)
    target = Target(name="social", kind="mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    outcome = adapter_for("mastodon").publish(with_picture(delivery(target, timeout=0.6)))
    assert outcome.kind == FAILED and outcome.retryable and "still processing" in outcome.error
    assert server.statuses == {}


def test_telegram_sends_a_photo_with_the_text_as_caption_and_corrects_the_caption(httpserver):
    server = telegram_server(httpserver)
    target = Target(name="tg", kind="telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    adapter = adapter_for("telegram")
    sent = adapter.publish(with_picture(delivery(target, text="first")))
    assert sent.kind == PUBLISHED and server.photos == {1: JPEG} and server.messages == {1: "first"}
    parent = published_parent(sent.external_id)
    fixed = adapter.correct(delivery(target, CORRECT, text="second", parent=parent))
    assert fixed.kind == FAILED  # the message is a photo: it has no text to edit
    corrected = adapter.correct(with_picture(delivery(target, CORRECT, text="second", parent=parent), True))
    assert corrected.kind == PUBLISHED and server.messages == {1: "second"} and server.photos == {1: JPEG}
    assert [a.path.rsplit("/", 1)[-1] for a in server.arrivals] == [
        "sendPhoto",
        "editMessageText",
        "editMessageCaption",
    ]


def test_a_webhook_names_the_picture_and_says_null_when_there_is_none(httpserver):
    sink = webhook_sink(httpserver)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=support.SECRET)
    adapter_for("webhook").publish(with_picture(delivery(hook)))
    adapter_for("webhook").publish(delivery(hook))
    with_one, without = sink.events()
    assert with_one["data"]["image"] == {"url": "http://pictures.test/seed.jpg", "alt": ALT, "credit": CREDIT}
    assert without["data"]["image"] is None
    assert sink.bad == []


def vk(httpserver) -> Target:
    return Target(name="vk", kind="vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)


def test_vk_uploads_the_picture_then_attaches_it_to_the_wall_post_and_the_edit_keeps_it(httpserver):
    server = vk_server(httpserver)
    adapter = adapter_for("vk")
    sent = adapter.publish(with_picture(delivery(vk(httpserver), text="first")))
    assert sent.kind == PUBLISHED
    assert [a.path for a in server.arrivals] == [
        "/method/photos.getWallUploadServer",
        "/upload/wall",
        "/method/photos.saveWallPhoto",
        "/method/wall.post",
    ]
    assert server.arrivals[0].body["group_id"] == VK_COMMUNITY and server.arrivals[1].body == {"photo": JPEG}
    (photo_id,) = server.photos
    assert server.photos[photo_id] == JPEG
    post_id = int(sent.external_id)
    assert server.attachments[post_id] == f"photo-{VK_COMMUNITY}_{photo_id}"

    parent = published_parent(sent.external_id)
    corrected = adapter.correct(with_picture(delivery(vk(httpserver), CORRECT, text="second", parent=parent), True))
    assert corrected.kind == PUBLISHED
    assert server.posts[post_id] == "second" and server.attachments[post_id] == f"photo-{VK_COMMUNITY}_{photo_id}"
    assert [a.path for a in server.arrivals[-2:]] == ["/method/wall.getById", "/method/wall.edit"]


@pytest.mark.parametrize(
    "code, retryable",
    [(6, True), (9, True), (5, False), (15, False), (214, False), (14, True)],
)
def test_vk_errors_while_uploading_fail_the_post_and_are_never_unknown(httpserver, code, retryable):
    server = vk_server(httpserver)
    server.errors.append(code)
    outcome = adapter_for("vk").publish(with_picture(delivery(vk(httpserver))))
    assert outcome.kind == FAILED and outcome.retryable is retryable and f"error {code}" in outcome.error
    assert server.posts == {} and [a.path for a in server.arrivals] == ["/method/photos.getWallUploadServer"]
    assert VK_TOKEN not in (outcome.error or "") + (outcome.response or "")


def test_vk_upload_server_taking_no_picture_fails_the_post_before_anything_is_posted(httpserver):
    server = vk_server(httpserver)
    empty = PostPicture(
        url="http://pictures.test/empty.jpg", alt=None, credit=None, content_type="image/jpeg", data=b""
    )
    d = delivery(vk(httpserver))
    d.picture = empty
    outcome = adapter_for("vk").publish(d)
    assert outcome.kind == FAILED and "took no picture" in outcome.error
    assert server.posts == {}


# Fetching the picture


def test_a_picture_is_fetched_with_its_type_from_its_bytes(httpserver):
    url = picture_served(httpserver)
    assert post_picture.fetch(url, 5, allow_private=True) == (JPEG, "image/jpeg")


def test_a_picture_inside_the_network_is_refused_without_targets_allow_private(httpserver):
    url = picture_served(httpserver)
    with pytest.raises(post_picture.NoPicture, match="inside the network"):
        post_picture.fetch(url, 5, allow_private=False)
    assert httpserver.log == []  # never asked


def test_what_is_not_a_picture_or_too_large_is_not_sent(httpserver, monkeypatch):
    page = picture_served(httpserver, "/page.html", b"<!doctype html><title>Not found</title>")
    with pytest.raises(post_picture.NoPicture, match="not a JPEG, PNG or WebP"):
        post_picture.fetch(page, 5, allow_private=True)
    monkeypatch.setattr(post_picture, "MAX_BYTES", 1000)
    big = picture_served(httpserver, "/big.jpg")
    with pytest.raises(post_picture.NoPicture, match="1000 bytes"):
        post_picture.fetch(big, 5, allow_private=True)
    # Without a Content-Length to refuse at once, the body is counted as it comes.
    chunks = (JPEG[i : i + 100] for i in range(0, len(JPEG), 100))
    httpserver.expect_request("/chunked.jpg").respond_with_response(Response(chunks, content_type="image/jpeg"))
    with pytest.raises(post_picture.NoPicture, match="larger than 1000 bytes"):
        post_picture.fetch(httpserver.url_for("/chunked.jpg"), 5, allow_private=True)


def test_a_moved_picture_is_followed_to_where_it_is_now(httpserver):
    picture_served(httpserver)
    httpserver.expect_request("/old.jpg").respond_with_data("", status=301, headers={"Location": "/pictures/seed.jpg"})
    assert post_picture.fetch(httpserver.url_for("/old.jpg"), 5, allow_private=True) == (JPEG, "image/jpeg")
    assert [entry[0].path for entry in httpserver.log] == ["/old.jpg", "/pictures/seed.jpg"]


# Through the outbox, on both engines


@pytest.fixture
def programme(make_programme, httpserver):
    return make_programme(
        image_url=picture_served(httpserver),
        image_alt=ALT,
        image_credit=CREDIT,
        summary=SUMMARY,
        translations={"ru": {"title": "Серж Саргсян: эксклюзивное интервью", "image_alt": ALT_RU}},
    )


@pytest.fixture
def slot(make_slot, quiet_channel, programme):
    return make_slot(START, channel=quiet_channel, programme=programme, duration_minutes=60)


def test_telegram_gets_a_photo_whose_caption_shortens_the_summary_and_keeps_title_when_and_link(
    session, httpserver, slot, make_target, make_post, publish
):
    server = telegram_server(httpserver)
    target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        message_id = int(post.external_id)
        caption = server.messages[message_id]
        assert post.status == PUBLISHED and server.photos[message_id] == JPEG
        assert len(caption.encode("utf-16-le")) // 2 <= 1024 < len(SUMMARY)
        assert "Serzh Sargsyan: the exclusive interview" in caption and "tonight right after midnight" in caption
        assert caption.endswith(f"/slots/{slot.id}") and "…" in caption and SUMMARY not in caption
        schedule.update_slot(session, slot, {"start": START + timedelta(minutes=25)}, "test")
        session.commit()
        publish()
    caption = server.messages[message_id]
    assert "tonight at 00:30" in caption and len(caption) <= 1024 and server.photos[message_id] == JPEG
    assert session.get(Post, post.id).status == CORRECTED
    assert [a.path.rsplit("/", 1)[-1] for a in server.arrivals] == ["sendPhoto", "editMessageCaption"]


def test_mastodon_gets_the_picture_with_the_alt_text_in_the_posts_language_and_the_edit_keeps_it(
    session, httpserver, slot, make_target, make_post, publish
):
    server = mastodon_server(httpserver)
    target = make_target("social", "mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    post = make_post(slot, target, due_at=NOON, lang="ru")
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == PUBLISHED
        (media,) = server.statuses[post.external_id]["media_attachments"]
        assert media["description"] == ALT_RU and server.media[media["id"]]["data"] == JPEG
        schedule.update_slot(session, slot, {"start": START + timedelta(minutes=25)}, "test")
        session.commit()
        publish()
    status = server.statuses[post.external_id]
    assert "00:30" in status["content"] and [m["id"] for m in status["media_attachments"]] == [media["id"]]
    assert len(server.media) == 1  # kept, not uploaded again


def test_vk_wall_post_carries_the_picture_and_its_correction_keeps_it(
    session, httpserver, slot, make_target, make_post, publish
):
    server = vk_server(httpserver)
    target = make_target("vk", "vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY)
    post = make_post(slot, target, due_at=NOON, lang="ru")
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        (photo_id,) = server.photos
        assert server.attachments[int(post.external_id)] == f"photo-{VK_COMMUNITY}_{photo_id}"
        schedule.update_slot(session, slot, {"start": START + timedelta(days=1)}, "test")
        session.commit()
        publish()
    assert "в ночь с субботы на воскресенье в 00:05" in server.posts[int(post.external_id)]
    assert server.attachments[int(post.external_id)] == f"photo-{VK_COMMUNITY}_{photo_id}"
    assert session.get(Post, post.id).status == CORRECTED


def test_a_webhook_event_names_the_picture_with_its_alt_text_and_credit(
    session, httpserver, slot, make_target, make_post, publish
):
    sink = webhook_sink(httpserver)
    target = make_target("hook", "webhook", url=httpserver.url_for("/hook"))
    make_post(slot, target, due_at=NOON, lang="ru")
    with clock.frozen(NOON):
        publish()
    (event,) = sink.events()
    assert event["data"]["image"] == {"url": slot.programme.image_url, "alt": ALT_RU, "credit": CREDIT}


def test_a_picture_that_cannot_be_had_leaves_the_post_to_go_as_text(
    session, httpserver, make_programme, make_slot, quiet_channel, make_target, make_post, publish, caplog
):
    httpserver.expect_request("/pictures/gone.jpg").respond_with_data("Not Found", status=404)
    gone = make_programme(image_url=httpserver.url_for("/pictures/gone.jpg"), summary=SUMMARY)
    slot = make_slot(START, channel=quiet_channel, programme=gone, duration_minutes=60)
    server = telegram_server(httpserver)
    target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON), caplog.at_level(logging.WARNING, "schedule_service.publishing.post_picture"):
        publish()
    post = session.get(Post, post.id)
    assert post.status == PUBLISHED and server.photos == {}
    assert SUMMARY in server.messages[int(post.external_id)]  # a text message: the 4096 limit, summary whole
    assert any("goes without its picture" in r.getMessage() and "404" in r.getMessage() for r in caplog.records)


def test_a_picture_inside_the_network_is_not_fetched_for_a_post_and_the_post_goes_without_it(
    app, session, httpserver, slot, caplog
):
    post = Post(slot=slot, target=None, lang="en")
    with caplog.at_level(logging.WARNING, "schedule_service.publishing.post_picture"):
        assert post_picture.picture_for(session, post, "en", timeout=5, allow_private=False) is None
        found = post_picture.picture_for(session, post, "ru", timeout=5, allow_private=True)
    assert found == PostPicture(slot.programme.image_url, ALT_RU, CREDIT, "image/jpeg", JPEG)
    assert any("inside the network" in r.getMessage() for r in caplog.records)
    assert len(httpserver.log) == 1  # only the fetch that was allowed


def test_the_attempt_that_sent_a_picture_says_so(session, httpserver, slot, make_target, make_post, publish):
    telegram_server(httpserver)
    target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
    (attempt,) = session.scalars(select(PostAttempt).where(PostAttempt.post_id == post.id)).all()
    assert attempt.picture_url == slot.programme.image_url


def test_a_photo_whose_answer_was_lost_is_corrected_as_a_photo_once_a_person_marks_it_sent(
    app, session, httpserver, slot, make_target, make_post, publish
):
    from schedule_service.models.promo import UNKNOWN
    from schedule_service.publishing import decisions

    app.config["TARGET_TIMEOUT_SECONDS"] = 0.5
    server = telegram_server(httpserver, delay=1.0)
    target = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    post = make_post(slot, target, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == UNKNOWN
        assert server.answered.wait(5) and server.photos  # it did go out, as a photo; nobody could know
        decisions.mark_published(session, post, "editor@example.test", external_id="1")
        session.commit()
        app.config["TARGET_TIMEOUT_SECONDS"] = 5
        schedule.update_slot(session, slot, {"start": START + timedelta(minutes=25)}, "test")
        session.commit()
        publish()
    assert session.get(Post, post.id).status == CORRECTED
    assert [a.path.rsplit("/", 1)[-1] for a in server.arrivals] == ["sendPhoto", "editMessageCaption"]
    assert "tonight at 00:30" in server.messages[1] and server.photos == {1: JPEG}


def test_an_uploaded_picture_goes_first_to_mastodon_and_telegram_and_a_webhook_names_its_service_url(
    app, session, httpserver, tmp_path, make_programme, make_slot, quiet_channel, make_target, make_post, publish
):
    from schedule_service import media
    from tests.pictures_support import opened, photo

    app.config["PICTURES_DIR"] = str(tmp_path / "pictures")
    digest = media.ingest(photo(exif=True), tmp_path / "pictures")
    # It also has an image_url, which must not be fetched: the upload wins.
    programme = make_programme(image_url=httpserver.url_for("/never.jpg"), image_alt=ALT, image_credit=CREDIT)
    schedule.update_programme(session, programme, {"image_hash": digest}, "test")
    session.commit()
    slot = make_slot(START, channel=quiet_channel, programme=programme, duration_minutes=60)
    toots = mastodon_server(httpserver)
    bot = telegram_server(httpserver)
    sink = webhook_sink(httpserver)
    social = make_target("social", "mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN)
    tg = make_target("tg", "telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv")
    hook = make_target("hook", "webhook", url=httpserver.url_for("/hook"))
    posts = [make_post(slot, target, due_at=NOON) for target in (social, tg, hook)]
    with clock.frozen(NOON):
        publish()
    assert [session.get(Post, p.id).status for p in posts] == [PUBLISHED] * 3
    kept = (tmp_path / "pictures" / digest / "original.jpg").read_bytes()
    (uploaded,) = toots.media.values()
    assert uploaded["data"] == kept and uploaded["description"] == ALT
    assert list(bot.photos.values()) == [kept]
    assert opened(kept).getexif() == {}  # what went out carries no metadata
    (event,) = sink.events()
    assert event["data"]["image"] == {
        "url": f"{app.config['PUBLIC_URL'].rstrip('/')}/pictures/{digest}/original.jpg",
        "alt": ALT,
        "credit": CREDIT,
    }
    assert not any(entry[0].path == "/never.jpg" for entry in httpserver.log)
