"""Regional editions in the feeds (SPEC §9): an XMLTV channel and an iCalendar of their own, in their zone."""

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from lxml import etree

from schedule_service import clock, schedule
from tests.conftest import need

DATA = Path(__file__).parent / "data"
MOSCOW = ZoneInfo("Europe/Moscow")
SIBERIA = {
    "slug": "mir-siberia",
    "name": "Mir Siberia",
    "names": {"ru": "Мир Сибирь"},
    "timezone": "Asia/Novosibirsk",
    "shift": "-PT4H",
}
EXCLUSIVE = datetime(2031, 11, 28, 0, 5, tzinfo=MOSCOW)
#: Thursday afternoon in Moscow, before the night of the exclusive.
NOW = datetime(2031, 11, 27, 15, 0, tzinfo=MOSCOW)
SAFE = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


@pytest.fixture
def aired(make_channel, make_slot, make_programme):
    mir = make_channel("mir", name="Mir", editions=[SIBERIA])
    interview = make_programme("Serzh Sargsyan: the exclusive interview", is_exclusive=True)
    first = make_slot(EXCLUSIVE, channel=mir, programme=interview)
    repeat = make_slot(EXCLUSIVE + timedelta(hours=12), channel=mir, programme=interview)
    return {"channel": mir, "first": first, "repeat": repeat}


def get(client, url):
    with clock.frozen(NOW):
        return client.get(url)


def xmllint_valid(body: bytes, tmp_path) -> None:
    need(shutil.which("xmllint") is not None, "xmllint is not installed (apt install libxml2-utils)")
    path = tmp_path / "guide.xml"
    path.write_bytes(body)
    done = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--dtdvalid", str(DATA / "xmltv.dtd"), str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_guide_has_a_channel_per_edition_with_its_programmes_in_its_zone(client, aired, tmp_path):
    resp = get(client, "/xmltv.xml")
    assert resp.status_code == 200
    xmllint_valid(resp.data, tmp_path)
    tv = etree.fromstring(resp.data, SAFE)
    assert {c.get("id") for c in tv.iter("channel")} == {"mir.schedule.test", "mir-siberia.schedule.test"}
    siberia = tv.find("channel[@id='mir-siberia.schedule.test']")
    assert [n.text for n in siberia.iter("display-name")] == ["Mir Siberia", "Мир Сибирь"]
    assert siberia.findtext("url") == "http://schedule.test/channels/mir-siberia"
    starts = {
        p.get("channel"): p.get("start")
        for p in tv.iter("programme")
        if p.findtext("url").endswith(f"/slots/{aired['first'].id}")
    }
    assert starts == {"mir.schedule.test": "20311128000500 +0300", "mir-siberia.schedule.test": "20311128000500 +0700"}


def test_an_editions_own_guide_holds_it_alone_and_is_valid(client, aired, tmp_path):
    resp = get(client, "/channels/mir-siberia/xmltv.xml")
    assert resp.status_code == 200
    xmllint_valid(resp.data, tmp_path)
    tv = etree.fromstring(resp.data, SAFE)
    assert [c.get("id") for c in tv.iter("channel")] == ["mir-siberia.schedule.test"]
    programmes = list(tv.iter("programme"))
    assert [p.get("start") for p in programmes] == ["20311128000500 +0700", "20311128120500 +0700"]
    assert {p.get("channel") for p in programmes} == {"mir-siberia.schedule.test"}
    # The repeat was first shown at the channel's first showing, as the edition's zone tells it.
    assert programmes[0].find("previously-shown") is None
    assert programmes[1].find("previously-shown").get("start") == "20311128040500 +0700"
    assert get(client, "/channels/nowhere/xmltv.xml").status_code == 404


def test_an_editions_calendar_is_in_its_zone_with_uids_of_its_own(client, session, aired):
    own = icalendar.Calendar.from_ical(get(client, "/channels/mir/calendar.ics").data)
    resp = get(client, "/channels/mir-siberia/calendar.ics")
    assert resp.status_code == 200
    cal = icalendar.Calendar.from_ical(resp.data)
    assert str(cal["x-wr-timezone"]) == "Asia/Novosibirsk"
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    first = f"slot-{aired['first'].id}-mir-siberia@schedule.test"
    assert set(events) == {first, f"slot-{aired['repeat'].id}-mir-siberia@schedule.test"}
    assert events[first].decoded("dtstart") == datetime(2031, 11, 28, 0, 5, tzinfo=ZoneInfo("Asia/Novosibirsk"))
    assert str(events[first].decoded("dtstart").tzinfo) == "Asia/Novosibirsk"
    assert str(events[first]["location"]) == "Mir Siberia"
    # The channel's own events keep their UIDs: a subscriber to both sees two showings, not one moved.
    assert {str(e["uid"]) for e in own.walk("VEVENT")}.isdisjoint(events)
    # A cancelled showing is cancelled in the edition too, under the same UID, with a newer SEQUENCE.
    schedule.cancel_slot(session, aired["first"], "test")
    session.commit()
    after = icalendar.Calendar.from_ical(get(client, "/channels/mir-siberia/calendar.ics").data)
    cancelled = {str(e["uid"]): e for e in after.walk("VEVENT")}[first]
    assert str(cancelled["status"]) == "CANCELLED"
    assert int(cancelled["sequence"]) > int(events[first]["sequence"])
