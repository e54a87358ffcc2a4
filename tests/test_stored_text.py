"""Feeds and files never fail on what is stored: text saved before the text rules held (or by a
path that skipped them) and instants at the edge of the calendar still give valid documents."""

from datetime import UTC, datetime, timedelta

import feedparser
import icalendar
from lxml import etree

from schedule_service.models import FeedItem, Slot
from tests.conftest import utc

BAD = "Ctrl\x01TV \x07bell \ufffe"


def test_xmltv_and_calendars_leave_out_what_xml_cannot_carry(client, session, make_channel, make_programme, make_slot):
    channel = make_channel("ctrl", name=BAD, names={"ru": "Мир\x0b"}, xmltv_id="ctrl\x01.tv")
    programme = make_programme(title=BAD, summary="A\x1fB", guests=[{"name": "G\x02uest", "role": None}])
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=channel, programme=programme)

    for url in ("/xmltv.xml?days=31", "/channels/ctrl/xmltv.xml?days=31"):
        response = client.get(url)
        assert response.status_code == 200, url
        tv = etree.fromstring(response.data)
        assert tv.find("channel/display-name").text == "CtrlTV bell "
    assert client.get("/channels/ctrl/calendar.ics").status_code == 200
    response = client.get(f"/slots/{slot.id}.ics")
    assert response.status_code == 200
    event = icalendar.Calendar.from_ical(response.data).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "CtrlTV bell "
    assert "\x01" not in response.text and "\x07" not in response.text


def test_the_cli_export_survives_bad_stored_text(runner, make_channel, make_programme, make_slot):
    make_slot(utc(2031, 11, 21, 21, 5), channel=make_channel("ctrl", name=BAD), programme=make_programme(title=BAD))
    result = runner.invoke(args=["xmltv", "export", "--days", "31"])
    assert result.exit_code == 0, result.output
    assert "CtrlTV bell" in result.output


def _item(session, title, text, minutes=0):
    at = datetime(2031, 11, 27, 9, tzinfo=UTC) + timedelta(minutes=minutes)
    session.add(
        FeedItem(
            idempotency_key=f"k{minutes}",
            lang="en",
            title=title,
            text=text,
            published_at=at,
            updated_at=at,
        )
    )
    session.commit()


def test_promo_feeds_survive_bad_stored_text(client, session):
    _item(session, "Bell\x07", "Watch \x01tonight \ufffe")
    for ext in ("rss", "atom", "json"):
        response = client.get(f"/feeds/promos.{ext}")
        assert response.status_code == 200, ext
        if ext != "json":
            feed = feedparser.parse(response.data)
            assert not feed.bozo, feed.get("bozo_exception")
            assert feed.entries[0].title == "Bell"


XSS = '<img src=x onerror="alert(1)"> & more'


def test_rss_description_and_content_are_escaped_html(client, session):
    _item(session, "Serzh <b>Sargsyan</b>", f"World exclusive: {XSS}")
    rss = etree.fromstring(client.get("/feeds/promos.rss").data)
    item = rss.find("channel/item")
    encoded = item.find("{http://purl.org/rss/1.0/modules/content/}encoded")
    # A reader takes these as HTML: the markup must reach it as text, not as an element.
    for element in (item.find("description"), encoded):
        assert element.text == 'World exclusive: &lt;img src=x onerror="alert(1)"&gt; &amp; more'
    entry = feedparser.parse(client.get("/feeds/promos.rss").data).entries[0]
    assert "<img" not in entry.description and "&lt;img" in entry.description


def test_atom_and_json_feed_keep_the_text_as_text(client, session):
    _item(session, "Serzh", f"World exclusive: {XSS}")
    atom = etree.fromstring(client.get("/feeds/promos.atom").data)
    content = atom.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content")
    assert content.get("type") == "text" and content.text == f"World exclusive: {XSS}"
    assert client.get("/feeds/promos.json").get_json()["items"][0]["content_text"] == f"World exclusive: {XSS}"


def test_a_slot_at_the_end_of_year_9999_does_not_break_its_calendar_file(client, session, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5))
    # As a slot written before the supported range held: 9999-12-31 23:00 Moscow time.
    session.get(Slot, slot.id).start_at = datetime(9999, 12, 31, 20, 0, tzinfo=UTC)
    session.get(Slot, slot.id).end_at = datetime(9999, 12, 31, 20, 59, tzinfo=UTC)
    session.commit()
    assert client.get(f"/slots/{slot.id}").status_code == 200
    response = client.get(f"/slots/{slot.id}.ics")
    assert response.status_code == 200
    event = icalendar.Calendar.from_ical(response.data).walk("VEVENT")[0]
    assert event.decoded("DTSTART").year == 9999
    assert client.get(f"/api/v1/slots/{slot.id}").status_code == 200
