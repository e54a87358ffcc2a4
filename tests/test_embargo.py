"""The embargo on both engines (SPEC §8b): before its instant nothing about a programme leaves the
service by any public route (pages, JSON-LD and share cards, the public JSON reads, XMLTV,
iCalendar, the promo feeds), its posts wait; at the instant the real programme shows everywhere,
caches included. Staff see it all along."""

import json
from datetime import timedelta

import pytest

from schedule_service import clock, schedule
from schedule_service.models import FeedItem, Post
from schedule_service.models.promo import PLANNED, PUBLISHED
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import webhook_sink

make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

START = utc(2031, 11, 21, 21, 5)  # 00:05 in Moscow, the night of the 21st
NOON = utc(2031, 11, 21, 12, 0)
LIFTED = utc(2031, 11, 21, 14, 0)  # the embargo's end
BEFORE = LIFTED - timedelta(minutes=30)
AFTER = LIFTED + timedelta(seconds=1)

SECRETS = ("Sargsyan", "Саргсян", "The Secret Interview", "Тайное интервью", "never said before", "Talk", "photo.jpg")

PUBLIC_URLS = [
    "/",
    "/?lang=ru",
    "/channels/mir?date=2031-11-21",
    "/channels/mir?date=2031-11-21&lang=ru",
    "/programmes/{programme}",
    "/programmes/{programme}?lang=ru",
    "/slots/{slot}",
    "/slots/{slot}?lang=ru",
    "/api/v1/channels/mir/schedule?date=2031-11-21",
    "/api/v1/channels/mir/schedule?date=2031-11-21&lang=ru",
    "/api/v1/now?at=2031-11-21T21:30:00Z",
    "/api/v1/programmes",
    "/api/v1/programmes/{programme}",
    "/xmltv.xml",
    "/channels/mir/xmltv.xml",
    "/channels/mir/calendar.ics",
    "/channels/mir/calendar.ics?lang=ru",
    "/slots/{slot}.ics",
    "/feeds/promos.rss",
    "/feeds/promos.atom",
    "/feeds/promos.json",
]


@pytest.fixture
def interview(session, make_programme):
    return make_programme(
        "The Secret Interview",
        summary="He says what he never said before.",
        category="Talk",
        quote="I never said before",
        guests=[{"name": "Serzh Sargsyan", "role": "former president"}],
        image_url="https://img.example.org/photo.jpg",
        translations={"ru": {"title": "Тайное интервью", "guests": [{"name": "Серж Саргсян", "role": None}]}},
        embargo_until=LIFTED,
    )


@pytest.fixture
def slot(session, make_slot, quiet_channel, interview):
    slot = make_slot(START, channel=quiet_channel, programme=interview, duration_minutes=60)
    # What the web target published about it before the embargo was set.
    session.add(
        FeedItem(
            idempotency_key=f"feed-{slot.id}",
            slot_id=slot.id,
            lang="en",
            title="The Secret Interview",
            text="Serzh Sargsyan tonight right after midnight",
            url=f"http://localhost/slots/{slot.id}",
            published_at=NOON - timedelta(hours=1),
        )
    )
    session.commit()
    return slot


def read(client, url: str, slot, headers=None):
    answer = client.get(url.format(slot=slot.id, programme=slot.programme_id), headers=headers or {})
    assert answer.status_code == 200, (url, answer.status_code)
    return answer


def text_of(answer) -> str:
    body = answer.get_data(as_text=True).replace("\r\n ", "")  # iCalendar folds long lines
    if answer.mimetype.endswith("json"):
        body = json.dumps(answer.get_json(), ensure_ascii=False)
    return body


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_before_its_instant_no_public_output_tells_anything_about_the_programme(client, slot, url):
    with clock.frozen(BEFORE):
        body = text_of(read(client, url, slot))
    for secret in SECRETS:
        assert secret not in body, (url, secret)
    if "feeds/" not in url:  # the feeds leave the item out
        stand_in = "Спецпроект" if "lang=ru" in url else "Special programme"
        assert stand_in in body, url


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_after_its_instant_every_output_shows_the_programme(client, slot, url):
    with clock.frozen(BEFORE):
        read(client, url, slot)  # cached before, as a viewer's read would be
    with clock.frozen(AFTER):
        body = text_of(read(client, url, slot))
    assert ("Тайное интервью" if "lang=ru" in url else "The Secret Interview") in body, url
    assert "Special programme" not in body and "Спецпроект" not in body, url


def test_the_channel_s_own_embargo_title_is_shown_in_the_reader_s_language(session, client, slot):
    channel = slot.channel
    schedule.update_channel(session, channel, {"embargo_title": {"en": "A big one", "ru": "Большое событие"}}, "test")
    session.commit()
    with clock.frozen(BEFORE):
        en = read(client, "/slots/{slot}", slot).get_data(as_text=True)
        ru = read(client, "/api/v1/channels/mir/schedule?date=2031-11-21&lang=ru", slot).get_json()
    assert "A big one" in en and "Special programme" not in en
    (listed,) = ru["slots"]
    assert listed["programme"]["title"] == "Большое событие"
    assert listed["programme"]["summary"] is None and listed["programme"]["guests"] == []
    assert listed["programme"]["image_url"] is None and listed["programme"]["exclusive"] is False


def test_staff_see_the_programme_through_the_api_all_along(client, editor, slot):
    with clock.frozen(BEFORE):
        own = read(client, "/api/v1/programmes/{programme}", slot, editor).get_json()
        listed = read(client, "/api/v1/channels/mir/schedule?date=2031-11-21", slot, editor)
        public = read(client, "/api/v1/channels/mir/schedule?date=2031-11-21", slot).get_json()
    assert own["title"] == "The Secret Interview" and own["embargo_until"] == "2031-11-21T14:00:00+00:00"
    assert listed.get_json()["slots"][0]["programme"]["title"] == "The Secret Interview"
    assert listed.headers["Cache-Control"] == "private, no-store"  # never kept for anyone else
    assert public["slots"][0]["programme"]["title"] == "Special programme"


def test_public_reads_are_not_kept_past_the_instant_and_change_their_etag_at_it(client, slot):
    url = "/api/v1/channels/mir/schedule?date=2031-11-21"
    with clock.frozen(LIFTED - timedelta(seconds=20)):
        before = read(client, url, slot)
        again = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert before.headers["Cache-Control"] == "public, max-age=20"
    assert again.status_code == 304 and again.headers["Cache-Control"] == "public, max-age=20"
    with clock.frozen(AFTER):
        after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert after.get_json()["slots"][0]["programme"]["title"] == "The Secret Interview"
    assert after.headers["Cache-Control"] == "public, max-age=60"


def test_its_promo_posts_wait_for_the_instant_then_go(
    session, client, httpserver, slot, make_target, make_post, publish
):
    sink = webhook_sink(httpserver)
    hook = make_target("hook", "webhook", url=httpserver.url_for("/hook"))
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(BEFORE):
        assert publish() == 0
        health = client.get("/healthz").get_json()
    assert sink.arrivals == [] and session.get(Post, post.id, populate_existing=True).status == PLANNED
    assert health["status"] == "ok" and health["held_back"]["posts"] == 1
    with clock.frozen(AFTER):
        assert publish() == 1
    assert sink.ids() == [post.idempotency_key]
    assert session.get(Post, post.id, populate_existing=True).status == PUBLISHED
    assert "Secret Interview" in sink.events()[0]["data"]["text"]


def test_embargo_until_is_written_and_read_through_the_api_and_audited(client, editor, slot):
    answer = client.patch(
        f"/api/v1/programmes/{slot.programme_id}", json={"embargo_until": "2031-11-21T20:00:00+03:00"}, headers=editor
    )
    assert answer.status_code == 200 and answer.get_json()["embargo_until"] == "2031-11-21T17:00:00+00:00"
    bad = client.patch(f"/api/v1/programmes/{slot.programme_id}", json={"embargo_until": "tonight"}, headers=editor)
    assert bad.status_code == 422 and "embargo_until" in bad.get_json()["errors"]
    trail = client.get(f"/api/v1/audit?entity=programme&id={slot.programme_id}", headers=editor).get_json()
    assert trail["items"][0]["changes"]["embargo_until"] == ["2031-11-21T14:00:00+00:00", "2031-11-21T17:00:00+00:00"]


def test_an_uploaded_picture_and_the_share_cards_keep_the_secret_until_the_instant(
    app, session, client, slot, tmp_path
):
    from schedule_service import media
    from tests.pictures_support import photo

    app.config["PICTURES_DIR"] = str(tmp_path / "pictures")
    digest = media.ingest(photo(), tmp_path / "pictures")
    schedule.update_programme(session, slot.programme, {"image_hash": digest}, "test")
    session.commit()
    cards = (f"/slots/{slot.id}/card.png", f"/programmes/{slot.programme_id}/card.png")
    with clock.frozen(BEFORE):
        page = read(client, "/slots/{slot}", slot).get_data(as_text=True)
        guarded = [read(client, url, slot).data for url in cards]
    assert digest not in page and f"/slots/{slot.id}/card.png" in page  # the drawn stand-in card, not the photo
    with clock.frozen(AFTER):
        page = read(client, "/slots/{slot}", slot).get_data(as_text=True)
        shown = [read(client, url, slot).data for url in cards]
    assert digest in page
    assert all(before != after for before, after in zip(guarded, shown, strict=True))


def test_an_edition_shows_its_channel_s_own_embargo_title(session, client, slot):
    siberia = {"slug": "mir-siberia", "name": "Mir Siberia", "timezone": "Asia/Novosibirsk", "shift": "-PT4H"}
    schedule.update_channel(
        session, slot.channel, {"editions": [siberia], "embargo_title": {"en": "A big one"}}, "test"
    )
    session.commit()
    with clock.frozen(BEFORE):
        listed = read(client, "/api/v1/channels/mir-siberia/schedule?date=2031-11-21", slot).get_json()
    titles = [s["programme"]["title"] for s in listed["slots"]]
    assert titles == ["A big one"]
