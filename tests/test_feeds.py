"""Feeds: XMLTV (DTD and tv_validate_file), iCalendar, RSS/Atom/JSON Feed, and their caching."""

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import jsonschema
import pytest
from lxml import etree

from schedule_service import clock, schedule
from schedule_service.demo import load_demo
from schedule_service.models import FeedItem
from tests.conftest import need, utc

DATA = Path(__file__).parent / "data"
MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
LOADED = datetime(2031, 11, 27, 15, 0, tzinfo=MSK)
SAFE = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def get(client, url, at=LOADED, **kw):
    with clock.frozen(at):
        return client.get(url, **kw)


@pytest.fixture
def guide(session, make_channel, make_programme, make_slot):
    """The demo on Mir, and a Berlin channel with a premiere, its repeat, a picture and a presenter."""
    with clock.frozen(LOADED):
        load_demo(session)
        session.commit()
    ard = make_channel("ard", name="Das Erste", timezone="Europe/Berlin", broadcast_day_start="06:00")
    doc = make_programme(
        "Die Akte",
        subtitle="Folge 1",
        summary="Eine Dokumentation.",
        category="documentary",
        presenter="Anna Schmidt",
        guests=[{"name": "Serzh Sargsyan", "role": "President of Armenia"}],
        image_url="https://img.example/akte.jpg",
        language="de",
        translations={"en": {"title": "The File", "summary": "A documentary."}},
    )
    premiere = make_slot(datetime(2031, 11, 27, 20, 15, tzinfo=BERLIN), channel=ard, programme=doc, is_premiere=True)
    repeat = make_slot(datetime(2031, 11, 29, 23, 30, tzinfo=BERLIN), channel=ard, programme=doc)
    return {"ard": ard, "premiere": premiere, "repeat": repeat}


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, SAFE)


def dtd_valid(root: etree._Element) -> None:
    dtd = etree.DTD(str(DATA / "xmltv.dtd"))
    assert dtd.validate(root), dtd.error_log.filter_from_errors()


# XMLTV


def test_xmltv_is_valid_and_says_everything_a_guide_needs(client, guide):
    response = get(client, "/xmltv.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = parse(response.data)
    dtd_valid(root)
    assert [c.get("id") for c in root.findall("channel")] == ["ard.schedule.test", "mir.example"]
    mir = root.find("channel[@id='mir.example']")
    assert [(d.get("lang"), d.text) for d in mir.findall("display-name")] == [("en", "Mir"), ("ru", "Мир")]
    exclusive = root.xpath("programme[title='Serzh Sargsyan: the exclusive interview']")[0]
    assert exclusive.get("start") == "20311128000500 +0300" and exclusive.get("stop") == "20311128010500 +0300"
    assert exclusive.get("channel") == "mir.example"
    assert [(t.get("lang"), t.text) for t in exclusive.findall("title")] == [
        ("en", "Serzh Sargsyan: the exclusive interview"),
        ("ru", "Серж Саргсян: эксклюзивное интервью"),
    ]
    assert exclusive.findtext("credits/guest") == "Serzh Sargsyan"
    categories = [(c.get("lang"), c.text) for c in exclusive.findall("category")]
    assert categories == [("en", "interview"), ("ru", "интервью")]
    akte = root.xpath("programme[@channel='ard.schedule.test']")
    assert [p.get("start") for p in akte] == ["20311127201500 +0100", "20311129233000 +0100"]
    first, again = akte
    assert [t.get("lang") for t in first.findall("title")] == ["de", "en"]
    assert first.findtext("sub-title") == "Folge 1"
    assert [c.tag for c in first.find("credits")] == ["presenter", "guest"]
    assert first.find("icon").get("src") == "https://img.example/akte.jpg"
    assert first.find("premiere") is not None and first.find("previously-shown") is None
    shown = again.find("previously-shown")
    assert shown.get("start") == "20311127201500 +0100" and shown.get("channel") == "ard.schedule.test"
    assert again.find("premiere") is None


def test_xmltv_ids_of_programmes_and_showings_stay_put(client, session, guide):
    before = parse(get(client, "/xmltv.xml").data)
    ids = {
        p.findtext("url"): p.findtext("episode-num[@system='schedule-service']") for p in before.findall("programme")
    }
    schedule.update_slot(session, guide["repeat"], {"start": utc(2031, 11, 30, 20, 0)}, "test")
    session.commit()
    after = parse(get(client, "/xmltv.xml").data)
    assert {
        p.findtext("url"): p.findtext("episode-num[@system='schedule-service']") for p in after.findall("programme")
    } == ids
    moved = after.xpath(f"programme[url='http://schedule.test/slots/{guide['repeat'].id}']")[0]
    assert moved.get("start") == "20311130210000 +0100"


def test_xmltv_passes_tv_validate_file(client, guide, tmp_path):
    need(shutil.which("tv_validate_file") is not None, "tv_validate_file missing (apt-get install xmltv-util)")
    path = tmp_path / "guide.xml"
    path.write_bytes(get(client, "/xmltv.xml").data)
    result = subprocess.run(
        ["tv_validate_file", str(path)],
        env={**os.environ, "XMLTV_SUPPLEMENT": "/usr/share/xmltv"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_channels_xmltv_and_its_window(client, guide):
    root = parse(get(client, "/channels/mir/xmltv.xml?days=1").data)
    dtd_valid(root)
    assert [c.get("id") for c in root.findall("channel")] == ["mir.example"]
    starts = [p.get("start") for p in root.findall("programme")]
    # One broadcast day: 05:00 on the 27th to the night film after midnight and the music at 03:00.
    assert starts[0] == "20311127050000 +0300" and starts[-1] == "20311128030000 +0300"
    ard = parse(get(client, "/channels/ard/xmltv.xml?days=3").data)
    assert len(ard.findall("programme")) == 2
    assert len(parse(get(client, "/channels/ard/xmltv.xml?days=1").data).findall("programme")) == 1


@pytest.mark.parametrize(
    "url,status",
    [
        ("/channels/nope/xmltv.xml", 404),
        ("/channels/nope/calendar.ics", 404),
        ("/slots/999999.ics", 404),
        ("/xmltv.xml?days=0", 400),
        ("/xmltv.xml?days=32", 400),
        ("/xmltv.xml?days=seven", 400),
        ("/channels/mir/calendar.ics?lang=xx", 400),
        ("/feeds/promos.json?lang=xx", 400),
    ],
)
def test_bad_feed_requests_are_problems(client, guide, url, status):
    response = get(client, url)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == status and response.json["detail"]


def test_xmltv_answers_if_none_match_with_304_until_the_schedule_changes(client, session, guide):
    first = get(client, "/xmltv.xml")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert get(client, "/xmltv.xml", headers={"If-None-Match": etag}).status_code == 304
    # An hour later the window has not moved: still 304.
    assert get(client, "/xmltv.xml", at=LOADED + timedelta(hours=1), headers={"If-None-Match": etag}).status_code == 304
    schedule.cancel_slot(session, guide["premiere"], "test")
    session.commit()
    changed = get(client, "/xmltv.xml", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(parse(changed.data).xpath("programme[@channel='ard.schedule.test']")) == 1


def test_the_cli_prints_the_same_xmltv(app, runner, client, guide):
    with clock.frozen(LOADED):
        result = runner.invoke(args=["xmltv", "export", "--channel", "mir", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == get(client, "/channels/mir/xmltv.xml?days=2").data
    dtd_valid(parse(result.stdout_bytes))
    missing = runner.invoke(args=["xmltv", "export", "--channel", "nope"])
    assert missing.exit_code != 0 and "no channel 'nope'" in missing.output


# iCalendar


def events(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_a_channels_calendar_parses_with_its_zone_and_stable_uids(client, guide):
    response = get(client, "/channels/mir/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(response.data)
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Moscow"]
    assert str(cal["X-WR-CALNAME"]) == "Mir"
    evs = events(response.data)
    exclusive = next(e for e in evs.values() if str(e["SUMMARY"]) == "Serzh Sargsyan: the exclusive interview")
    assert exclusive["DTSTART"].params["TZID"] == "Europe/Moscow"
    assert exclusive.decoded("DTSTART") == datetime(2031, 11, 28, 0, 5, tzinfo=MSK)
    assert exclusive.decoded("DTEND") == datetime(2031, 11, 28, 1, 5, tzinfo=MSK)
    assert str(exclusive["STATUS"]) == "CONFIRMED" and int(exclusive["SEQUENCE"]) == 1
    assert str(exclusive["LOCATION"]) == "Mir"
    assert "is not directed against anyone" in str(exclusive["DESCRIPTION"])
    demo_slots = client.get("/api/v1/slots?limit=1000").json["items"]
    assert len(evs) == len([s for s in demo_slots if s["channel"] == "mir"]) > 7 * 12  # the demo's week
    assert all(uid.endswith("@schedule.test") for uid in evs)
    russian = events(get(client, "/channels/mir/calendar.ics?lang=ru").data)
    assert set(russian) == set(evs)
    assert str(russian[str(exclusive["UID"])]["SUMMARY"]) == "Серж Саргсян: эксклюзивное интервью"
    assert str(russian[str(exclusive["UID"])]["LOCATION"]) == "Мир"
    # Guests and the category as Russian writes them.
    assert "Серж Саргсян (президент Армении)" in str(russian[str(exclusive["UID"])]["DESCRIPTION"])
    assert russian[str(exclusive["UID"])]["CATEGORIES"].cats == ["интервью"]
    assert "Serzh Sargsyan (President of Armenia)" in str(exclusive["DESCRIPTION"])


def test_sequence_grows_with_every_change_and_a_cancelled_showing_stays_cancelled(client, session, guide):
    slot = guide["repeat"]
    uid = f"slot-{slot.id}@schedule.test"
    first = events(get(client, f"/slots/{slot.id}.ics").data)[uid]
    assert int(first["SEQUENCE"]) == 1
    schedule.update_slot(session, slot, {"start": utc(2031, 11, 29, 21, 0)}, "test")
    session.commit()
    moved = events(get(client, f"/slots/{slot.id}.ics").data)[uid]
    assert int(moved["SEQUENCE"]) == 2 and moved.decoded("DTSTART") == datetime(2031, 11, 29, 22, 0, tzinfo=BERLIN)
    schedule.cancel_slot(session, slot, "test")
    session.commit()
    for url in (f"/slots/{slot.id}.ics", "/channels/ard/calendar.ics"):
        gone = events(get(client, url).data)[uid]
        assert str(gone["STATUS"]) == "CANCELLED" and int(gone["SEQUENCE"]) == 3, url


def test_a_slots_calendar_file_adds_one_event(client, guide):
    response = get(client, f"/slots/{guide['premiere'].id}.ics?lang=en")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    cal = icalendar.Calendar.from_ical(response.data)
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    (event,) = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == "The File"
    assert str(event["URL"]) == f"http://schedule.test/slots/{guide['premiere'].id}"
    assert event.decoded("DTSTART") == datetime(2031, 11, 27, 20, 15, tzinfo=BERLIN)
    tag = {"If-None-Match": response.headers["ETag"]}
    # English is the default: the same bytes, the same ETag; Russian is another file.
    assert get(client, f"/slots/{guide['premiere'].id}.ics", headers=tag).status_code == 304
    russian = get(client, f"/slots/{guide['premiere'].id}.ics?lang=ru", headers=tag)
    assert russian.status_code == 200
    assert str(icalendar.Calendar.from_ical(russian.data).walk("VEVENT")[0]["SUMMARY"]) == "Die Akte"


# Promo feeds (the rows the web publishing target writes)


@pytest.fixture
def promos(session, guide):
    def item(key, lang, title, minutes, **kw):
        at = utc(2031, 11, 27, 9) + timedelta(minutes=minutes)
        row = FeedItem(
            idempotency_key=key,
            slot_id=kw.pop("slot_id", None),
            lang=lang,
            title=title,
            text=f"{title}: watch tonight right after midnight on Mir",
            url=kw.pop("url", None),
            published_at=at,
            updated_at=at,
            **kw,
        )
        session.add(row)
        return row

    slot = guide["premiere"]
    rows = [
        item("slot-1:evening:web", "en", "World exclusive: Serzh Sargsyan", 0, slot_id=slot.id),
        item(
            "slot-1:evening:web-ru", "ru", "Мировой эксклюзив: Серж Саргсян", 1, image_url="https://img.example/s.jpg"
        ),
        item("slot-1:late:web", "en", "Withdrawn promo", 2, is_withdrawn=True),
        item("slot-2:evening:web", "en", "The File", 3, url="http://schedule.test/slots/2"),
    ]
    session.commit()
    return rows


def test_rss_and_atom_parse_cleanly_newest_first_without_withdrawn_items(client, promos):
    ids = {}
    for ext, mimetype in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
        response = get(client, f"/feeds/promos.{ext}")
        assert response.mimetype == mimetype
        feed = feedparser.parse(response.data)
        assert not feed.bozo, feed.get("bozo_exception")
        assert [e.title for e in feed.entries] == [
            "The File",
            "Мировой эксклюзив: Серж Саргсян",
            "World exclusive: Serzh Sargsyan",
        ]
        assert feed.entries[2].link == f"http://schedule.test/slots/{promos[0].slot_id}"
        ids[ext] = [e.id for e in feed.entries]
    assert ids["rss"] == ids["atom"] and len(set(ids["rss"])) == 3
    assert all(i.startswith("urn:uuid:") for i in ids["rss"])


def test_a_corrected_promo_keeps_its_id_and_a_withdrawn_one_leaves(client, session, promos):
    before = feedparser.parse(get(client, "/feeds/promos.atom").data)
    promos[0].text = "World exclusive: Serzh Sargsyan — now at 00:15"
    promos[0].updated_at = utc(2031, 11, 27, 10)
    session.commit()
    corrected = feedparser.parse(get(client, "/feeds/promos.atom").data)
    assert [e.id for e in corrected.entries] == [e.id for e in before.entries]
    assert "now at 00:15" in corrected.entries[2].summary
    promos[3].is_withdrawn = True
    session.commit()
    after = feedparser.parse(get(client, "/feeds/promos.atom").data)
    assert [e.id for e in after.entries] == [e.id for e in before.entries][1:]


def test_json_feed_follows_the_1_1_spec(client, promos):
    response = get(client, "/feeds/promos.json")
    assert response.mimetype == "application/feed+json"
    feed = json.loads(response.data)
    schema = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text())
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    assert "date-time" in checker.checkers  # so the dates are really checked
    jsonschema.Draft202012Validator(schema, format_checker=checker).validate(feed)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "http://schedule.test/feeds/promos.json"
    assert [i["title"] for i in feed["items"]] == [
        "The File",
        "Мировой эксклюзив: Серж Саргсян",
        "World exclusive: Serzh Sargsyan",
    ]
    assert feed["items"][1]["image"] == "https://img.example/s.jpg" and feed["items"][1]["language"] == "ru"
    atom_ids = [e.id for e in feedparser.parse(get(client, "/feeds/promos.atom").data).entries]
    assert [i["id"] for i in feed["items"]] == atom_ids


def test_the_schema_refuses_what_the_spec_refuses():
    schema = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1", "content_text": "x"}]}
    assert validator.is_valid(good)
    for bad in (
        {**good, "version": "https://jsonfeed.org/version/1"},
        {**good, "items": [{"id": "1"}]},  # no content
        {**good, "items": [{"id": "1", "content_text": "x", "date_published": "yesterday"}]},
        {**good, "items": [{"id": "1", "content_text": "x", "titel": "typo"}]},
        {k: v for k, v in good.items() if k != "title"},
    ):
        assert not validator.is_valid(bad), bad


def test_a_feed_in_one_language(client, promos):
    feed = json.loads(get(client, "/feeds/promos.json?lang=ru").data)
    assert [i["title"] for i in feed["items"]] == ["Мировой эксклюзив: Серж Саргсян"]
    assert feed["language"] == "ru" and feed["title"] == "Телепрограмма: анонсы"
    rss = feedparser.parse(get(client, "/feeds/promos.rss?lang=ru").data)
    assert rss.feed.language == "ru" and len(rss.entries) == 1


def test_an_empty_feed_is_still_a_feed(client, guide):
    for ext in ("rss", "atom"):
        assert not feedparser.parse(get(client, f"/feeds/promos.{ext}").data).bozo
    assert json.loads(get(client, "/feeds/promos.json").data)["items"] == []


def test_promo_feeds_answer_304_until_an_item_is_published(client, session, promos):
    first = get(client, "/feeds/promos.rss")
    assert get(client, "/feeds/promos.rss", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    session.add(
        FeedItem(
            idempotency_key="slot-3:evening:web",
            lang="en",
            title="News at nine",
            text="News at nine: tonight at 21:00",
            published_at=utc(2031, 11, 27, 11),
            updated_at=utc(2031, 11, 27, 11),
        )
    )
    session.commit()
    changed = get(client, "/feeds/promos.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and feedparser.parse(changed.data).entries[0].title == "News at nine"


def test_feed_dates_are_the_items_own(client, promos):
    """Nothing in a feed depends on when it was rendered, so every worker sends the same bytes."""
    a = get(client, "/feeds/promos.atom", at=LOADED)
    b = get(client, "/feeds/promos.atom", at=LOADED + timedelta(days=3))
    assert a.data == b.data
    assert feedparser.parse(a.data).feed.updated_parsed[:6] == (2031, 11, 27, 9, 3, 0)
    assert datetime.fromisoformat(
        json.loads(get(client, "/feeds/promos.json").data)["items"][0]["date_published"]
    ) == datetime(2031, 11, 27, 9, 3, tzinfo=UTC)
