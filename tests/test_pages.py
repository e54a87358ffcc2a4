"""Viewer pages: tonight and now/next, the week grid, programme and slot pages, language, zone, caching."""

import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from lxml import html
from sqlalchemy import event, update
from sqlalchemy import text as sql

from schedule_service import clock, schedule
from schedule_service import demo as demo_module
from schedule_service.db import db
from schedule_service.models import Programme, Slot
from tests.conftest import LOADED, MSK, utc

EXCLUSIVE_AT = datetime(2031, 11, 28, 0, 5, tzinfo=MSK)
HTML = {"Accept": "text/html"}


def get(client, url, at=LOADED, **kw):
    with clock.frozen(at):
        return client.get(url, **kw)


def doc(response):
    assert response.status_code == 200, response.data[:500]
    return html.fromstring(response.data)


def text(node) -> str:
    return re.sub(r"\s+", " ", node.text_content()).strip()


# The front page


def test_the_front_page_says_the_exclusive_airs_tonight_right_after_midnight(client, demo):
    page = doc(get(client, "/"))
    highlight = page.cssselect(".highlight")[0]
    assert "Serzh Sargsyan: the exclusive interview" in text(highlight)
    assert "World exclusive" in text(highlight)
    assert text(highlight.cssselect(".phrase")[0]) == "tonight right after midnight"
    assert "00:05" in text(highlight)
    assert "Serzh Sargsyan, President of Armenia" in text(highlight)
    assert page.cssselect(f'.highlight a[href="/slots/{demo.id}"]')


def test_the_phrase_follows_the_clock_through_the_evening(client, demo):
    late = doc(get(client, "/", at=datetime(2031, 11, 27, 23, 30, tzinfo=MSK)))
    assert text(late.cssselect(".highlight .phrase")[0]) == "in 35 minutes"
    on_air = doc(get(client, "/", at=datetime(2031, 11, 28, 0, 20, tzinfo=MSK)))
    assert text(on_air.cssselect(".highlight .phrase")[0]) == "on air now"


def test_the_front_page_in_russian(client, demo):
    page = doc(get(client, "/?lang=ru"))
    assert page.get("lang") == "ru"
    highlight = page.cssselect(".highlight")[0]
    assert "Серж Саргсян: эксклюзивное интервью" in text(highlight)
    assert "Мировой эксклюзив" in text(highlight)
    assert text(highlight.cssselect(".phrase")[0]) == "сегодня сразу после полуночи"
    assert "Сейчас и сегодня вечером" in text(page)


def test_now_next_and_tonight_on_every_channel(client, session, demo, make_channel, make_programme, make_slot):
    ard = make_channel("ard", name="Das Erste", timezone="Europe/Berlin", broadcast_day_start="06:00")
    film = make_programme("Tatort", duration_minutes=90)
    make_slot(datetime(2031, 11, 27, 20, 15, tzinfo=ZoneInfo("Europe/Berlin")), channel=ard, programme=film)
    page = doc(get(client, "/", at=datetime(2031, 11, 27, 22, 30, tzinfo=MSK)))
    mir = page.cssselect("#channel-mir")[0]
    assert "Talk Show: Open Door" in text(mir.cssselect(".now")[0])
    assert "22:00–00:05" in text(mir.cssselect(".now")[0])
    assert "Serzh Sargsyan: the exclusive interview" in text(mir.cssselect(".next")[0])
    tonight = [text(li) for li in mir.cssselect("ol.listing li")]
    assert tonight[0].startswith("22:00 Talk Show")  # what is over has left "tonight"
    assert tonight[1].startswith("00:05 Serzh Sargsyan")
    assert tonight[-1].startswith("03:00 Music of the Night")
    erste = page.cssselect("#channel-ard")[0]
    assert "20:15" in text(erste.cssselect(".now")[0]) and "Tatort" in text(erste.cssselect(".now")[0])
    assert "Nothing scheduled" in text(erste.cssselect(".next")[0])


# Language and zone: the query, then a cookie, then the browser


def test_a_zone_in_the_query_is_shown_and_remembered_until_cleared(client, demo):
    page = doc(get(client, "/?tz=Asia/Tokyo"))
    assert "06:05" in text(page.cssselect(".highlight")[0])  # 00:05 Moscow is 06:05 in Tokyo
    assert page.cssselect('select[name="tz"] option[selected]')[0].get("value") == "Asia/Tokyo"
    assert client.get_cookie("tz").value == "Asia/Tokyo"
    again = doc(get(client, "/"))
    assert "06:05" in text(again.cssselect(".highlight")[0])
    back = doc(get(client, "/?tz="))
    assert "00:05" in text(back.cssselect(".highlight")[0])
    assert client.get_cookie("tz") is None


def test_a_language_comes_from_the_query_then_the_cookie_then_the_browser(client, demo):
    assert doc(get(client, "/", headers={"Accept-Language": "ru-RU,ru;q=0.9"})).get("lang") == "ru"
    assert doc(get(client, "/?lang=en", headers={"Accept-Language": "ru"})).get("lang") == "en"
    assert client.get_cookie("lang").value == "en"
    assert doc(get(client, "/", headers={"Accept-Language": "ru"})).get("lang") == "en"
    page = doc(get(client, "/channels/mir?lang=ru&date=2031-11-27"))
    links = {a.get("hreflang"): a.get("href") for a in page.cssselect("nav.langs a")}
    assert links["en"] == "/channels/mir?date=2031-11-27&lang=en"


def test_a_bad_cookie_is_ignored_but_a_bad_query_is_a_400_page(client, demo):
    client.set_cookie("tz", "Mars/Olympus")
    client.set_cookie("lang", "xx")
    assert get(client, "/").status_code == 200
    for url, says in (("/?tz=Mars/Olympus", "is not an IANA time zone"), ("/channels/mir?lang=de", "not a language")):
        response = get(client, url)
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        assert says in response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers


# The week grid


def test_the_grid_puts_the_show_after_midnight_under_the_night_it_belongs_to(client, demo):
    page = doc(get(client, "/channels/mir?date=2031-11-27"))
    column = page.cssselect('section.day[data-day="2031-11-27"]')[0]
    assert "selected" in column.get("class")
    rows = [text(li) for li in column.cssselect("li")]
    marker = rows.index("after midnight")
    assert rows[marker - 1].startswith("22:00 Talk Show")
    assert rows[marker + 1].startswith("00:05 Serzh Sargsyan: the exclusive interview")
    assert rows[-1].startswith("03:00 Music of the Night")
    # The calendar date of the 28th holds nothing: its broadcast day has no shows.
    assert "Serzh" not in text(page.cssselect('section.day[data-day="2031-11-28"]')[0])
    assert len(page.cssselect("section.day")) == 7


def test_the_grid_in_another_zone_keeps_broadcast_days_and_moves_the_clock(client, demo):
    page = doc(get(client, "/channels/mir?date=2031-11-27&tz=America/New_York"))
    column = page.cssselect('section.day[data-day="2031-11-27"]')[0]
    rows = [text(li) for li in column.cssselect("li")]
    assert "16:05 Serzh Sargsyan: the exclusive interview World exclusive" in rows
    # 05:00 Moscow is 21:00 the evening before in New York: the column says where the date changes.
    assert rows[0] == "Wed, Nov 26" and rows[1].startswith("21:00 Good Morning")
    assert "Thu, Nov 27" in rows


def test_day_navigation_moves_by_day_and_week(client, demo):
    page = doc(get(client, "/channels/mir?date=2031-11-27"))
    nav = page.cssselect("nav.week-nav")[0]
    assert nav.cssselect('a[rel="prev"]')[0].get("href") == "/channels/mir?date=2031-11-20"
    assert nav.cssselect('a[rel="next"]')[0].get("href") == "/channels/mir?date=2031-12-04"
    days = [a.get("href") for a in nav.cssselect("ol.days a")]
    assert days[0] == "/channels/mir?date=2031-11-24" and days[-1] == "/channels/mir?date=2031-11-30"
    assert nav.cssselect('a[aria-current="date"]')[0].get("href") == "/channels/mir?date=2031-11-27"
    # Without ?date= the page opens on today's broadcast day: at 02:00 on the 28th, still the 27th.
    early = doc(get(client, "/channels/mir", at=datetime(2031, 11, 28, 2, 0, tzinfo=MSK)))
    assert early.cssselect("section.day.selected")[0].get("data-day") == "2031-11-27"


def test_a_night_when_the_clocks_go_back_lists_both_half_past_twos(client, make_channel, make_programme, make_slot):
    berlin = ZoneInfo("Europe/Berlin")
    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    p = make_programme("Nachtkonzert", duration_minutes=30)
    first = make_slot(utc(2031, 10, 26, 0, 30), channel=ard, programme=p)  # 02:30 CEST
    second = make_slot(utc(2031, 10, 26, 1, 30), channel=ard, programme=p)  # 02:30 CET, an hour later
    assert first.start_at.astimezone(berlin).hour == second.start_at.astimezone(berlin).hour == 2
    page = doc(get(client, "/channels/ard?date=2031-10-25", at=utc(2031, 10, 25, 12)))
    column = page.cssselect('section.day[data-day="2031-10-25"]')[0]
    assert [text(li) for li in column.cssselect("li")] == ["after midnight", "02:30 Nachtkonzert", "02:30 Nachtkonzert"]
    times = [t.get("datetime") for t in column.cssselect("time")]
    assert times == ["2031-10-26T02:30:00+02:00", "2031-10-26T02:30:00+01:00"]


def test_unknown_channels_and_dates_out_of_range_are_pages_not_500s(client, demo):
    for url, status in (
        ("/channels/nope", 404),
        ("/channels/mir?date=2999-01-01", 400),
        ("/channels/mir?date=27.11.2031", 400),
        ("/slots/999999", 404),
        ("/programmes/999999", 404),
        ("/channels/mir?tz=Not/AZone", 400),
        ("/programmes/not-a-number", 404),  # no route matches: still a page, with no Accept header too
        ("/no/such/page", 404),
    ):
        response = get(client, url)
        assert response.status_code == status, url
        assert response.mimetype == "text/html"
        assert html.fromstring(response.data).cssselect("section.error h1")[0].text.startswith(str(status))


# Programme and slot pages


@pytest.fixture
def pictured(demo, session):
    """The demo's exclusive with a picture, as the editors would add one."""
    schedule.update_programme(session, demo.programme, {"image_url": "https://img.example/sargsyan.jpg"}, "test")
    session.commit()
    return demo


def test_a_slot_page_has_everything_a_viewer_needs(client, pictured):
    page = doc(get(client, f"/slots/{pictured.id}"))
    article = page.cssselect("article.programme")[0]
    assert text(article.cssselect("h1")[0]) == "Serzh Sargsyan: the exclusive interview"
    assert "World exclusive" in text(article.cssselect(".badges")[0])
    assert "Serzh Sargsyan, President of Armenia" in text(article.cssselect(".guests")[0])
    assert "25th anniversary of the Collective Security Treaty" in text(article.cssselect(".summary")[0])
    assert "is not directed against anyone" in text(article.cssselect("blockquote")[0])
    assert article.cssselect("figure img")[0].get("src") == "https://img.example/sargsyan.jpg"
    assert text(article.cssselect("figcaption")[0]) == "Photo: Press Service of the President of Russia"
    airtime = text(article.cssselect(".airtime")[0])
    assert "tonight right after midnight" in airtime and "Friday, November 28, 2031, 00:05–01:05" in airtime
    assert article.cssselect("a.button")[0].get("href") == f"/slots/{pictured.id}.ics?lang=en"


def test_a_slot_page_previews_well_as_a_link(client, pictured):
    page = doc(get(client, f"/slots/{pictured.id}"))
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.cssselect("meta[content]")}
    assert meta["og:title"] == "Serzh Sargsyan: the exclusive interview"  # its title says "exclusive" once
    assert meta["og:image"] == meta["twitter:image"] == "https://img.example/sargsyan.jpg"
    assert meta["og:url"] == f"http://schedule.test/slots/{pictured.id}"
    assert "00:05" in meta["og:description"] and "Mir" in meta["og:description"]
    assert meta["twitter:card"] == "summary_large_image"
    data = json.loads(page.cssselect('script[type="application/ld+json"]')[0].text)
    assert data["@context"] == "https://schema.org" and data["@type"] == "BroadcastEvent"
    assert data["startDate"] == "2031-11-28T00:05:00+03:00" and data["endDate"] == "2031-11-28T01:05:00+03:00"
    assert data["publishedOn"]["@type"] == "BroadcastService" and data["publishedOn"]["name"] == "Mir"
    assert data["workPerformed"]["name"] == "Serzh Sargsyan: the exclusive interview"
    assert data["performer"] == [{"@type": "Person", "name": "Serzh Sargsyan", "jobTitle": "President of Armenia"}]
    assert data["eventStatus"] == "https://schema.org/EventScheduled"


def test_the_russian_slot_page_names_guests_category_and_picture_in_russian(client, pictured):
    page = doc(get(client, f"/slots/{pictured.id}?lang=ru"))
    article = page.cssselect("article.programme")[0]
    assert "Серж Саргсян, президент Армении" in text(article.cssselect(".guests")[0])
    assert "Serzh" not in text(article)
    assert "Рубрика: интервью" in text(article)
    picture = article.cssselect("figure img")[0]
    assert picture.get("alt") == "Серж Саргсян в студии телеканала «Мир» отвечает на вопросы ведущего"
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.cssselect("meta[content]")}
    assert meta["og:image:alt"] == picture.get("alt")
    data = json.loads(page.cssselect('script[type="application/ld+json"]')[0].text)
    assert data["performer"] == [{"@type": "Person", "name": "Серж Саргсян", "jobTitle": "президент Армении"}]
    assert data["workPerformed"]["genre"] == "интервью"
    # The English page keeps the programme's own words.
    english = doc(get(client, f"/slots/{pictured.id}?lang=en")).cssselect("article.programme")[0]
    assert english.cssselect("figure img")[0].get("alt") == demo_module.EXCLUSIVE["image_alt"]
    assert "Category: interview" in text(english)


def test_json_ld_cannot_be_broken_out_of(client, make_programme, make_slot):
    evil = make_programme("</script><script>alert(1)</script>", summary="<b>&</b>")
    slot = make_slot(utc(2031, 11, 27, 18), programme=evil)
    response = get(client, f"/slots/{slot.id}")
    body = response.get_data(as_text=True)
    assert "<script>alert(1)" not in body
    data = json.loads(doc(response).cssselect('script[type="application/ld+json"]')[0].text)
    assert data["name"] == "</script><script>alert(1)</script>"


def test_a_programme_page_lists_its_showings_as_broadcast_events(client, pictured, session, make_slot):
    repeat = make_slot(datetime(2031, 12, 6, 13, 0, tzinfo=MSK), channel=pictured.channel, programme=pictured.programme)
    page = doc(get(client, f"/programmes/{pictured.programme_id}?lang=ru"))
    assert text(page.cssselect("h1")[0]) == "Серж Саргсян: эксклюзивное интервью"
    showings = page.cssselect("ul.showings li")
    assert len(showings) == 2 and "сегодня сразу после полуночи" in text(showings[0])
    assert f"/slots/{repeat.id}.ics?lang=ru" in [a.get("href") for a in showings[1].cssselect("a")]
    data = json.loads(page.cssselect('script[type="application/ld+json"]')[0].text)
    assert data["@type"] == "CreativeWork" and data["name"] == "Серж Саргсян: эксклюзивное интервью"
    assert [e["@type"] for e in data["publication"]] == ["BroadcastEvent", "BroadcastEvent"]
    assert data["publication"][1]["url"] == f"http://schedule.test/slots/{repeat.id}"


def test_a_cancelled_slot_says_so(client, session, demo):
    schedule.cancel_slot(session, demo, "test")
    session.commit()
    page = doc(get(client, f"/slots/{demo.id}"))
    assert "This showing is cancelled." in text(page)
    assert not page.cssselect("a.button")  # nothing to add to a calendar
    data = json.loads(page.cssselect('script[type="application/ld+json"]')[0].text)
    assert data["eventStatus"] == "https://schema.org/EventCancelled"
    assert "Serzh" not in text(doc(get(client, "/")).cssselect("#channel-mir")[0])


# Caching: ETag, Cache-Control, 304, and a fresh ETag when the schedule changes


PUBLIC_READS = [
    "/",
    "/channels/mir",
    "/programmes/{p}",
    "/slots/{s}",
    "/api/v1/channels/mir/schedule",
    "/api/v1/now?at=2031-11-27T20:30:00Z",
]


@pytest.mark.parametrize("url", PUBLIC_READS)
def test_public_reads_answer_if_none_match_with_304_until_the_schedule_changes(client, session, demo, url):
    url = url.format(p=demo.programme_id, s=demo.id)
    first = get(client, url)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=60"
    etag = first.headers["ETag"]
    again = get(client, url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    schedule.update_programme(session, demo.programme, {"title": "Serzh Sargsyan: the interview"}, "test")
    session.commit()
    changed = get(client, url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "Serzh Sargsyan: the interview" in changed.get_data(as_text=True)


@pytest.fixture
def statements():
    """The SQL statements run while the block is open (transaction control left out)."""
    seen = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "ROLLBACK", "COMMIT")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def test_a_warm_read_costs_one_tiny_query_at_most(app, client, demo, statements):
    url = "/channels/mir?date=2031-11-27"
    etag = get(client, url).headers["ETag"]
    app.config["PUBLIC_GENERATION_TTL"] = 0  # ask the database every time
    statements.clear()
    assert get(client, url).status_code == 200
    assert get(client, url, headers={"If-None-Match": etag}).status_code == 304
    assert len(statements) == 2 and all("schedule_generation" in s for s in statements), statements
    app.config["PUBLIC_GENERATION_TTL"] = 60  # the generation is kept: no query at all
    get(client, url)
    statements.clear()
    assert get(client, url, headers={"If-None-Match": etag}).status_code == 304
    assert statements == []


def test_a_change_from_another_process_shows_within_the_ttl(app, client, session, demo, monkeypatch):
    from schedule_service.web import caching

    ticks = [1000.0]
    monkeypatch.setattr(caching, "time", SimpleNamespace(monotonic=lambda: ticks[0]))  # this module's clock only
    app.config["PUBLIC_GENERATION_TTL"] = 1.0
    url = f"/slots/{demo.id}"
    etag = get(client, url).headers["ETag"]
    # A request has a session of its own; here the test shares one with the app: close it, which
    # also ends its transaction (SQLite takes one writer at a time).
    session.close()
    # What another process's commit looks like from here: rows and generation change underneath.
    with db.engine.begin() as conn:
        conn.execute(update(Programme).where(Programme.id == demo.programme_id).values(title="Retitled elsewhere"))
        conn.execute(sql("UPDATE schedule_generation SET value = value + 1"))
    ticks[0] += 0.9
    assert get(client, url, headers={"If-None-Match": etag}).status_code == 304  # kept for up to a second
    ticks[0] += 0.2
    fresh = get(client, url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and "Retitled elsewhere" in fresh.get_data(as_text=True)


def test_a_bulk_update_changes_the_etag_too(client, session, demo):
    etag = get(client, "/channels/mir?date=2031-11-27").headers["ETag"]
    session.execute(update(Slot).where(Slot.id == demo.id).values(is_premiere=True))
    session.commit()
    page = get(client, "/channels/mir?date=2031-11-27")
    assert page.headers["ETag"] != etag and "Premiere" in page.get_data(as_text=True)


def test_the_page_moves_on_with_the_minute(client, demo):
    before = get(client, "/", at=datetime(2031, 11, 27, 23, 30, tzinfo=MSK))
    after = get(
        client, "/", at=datetime(2031, 11, 27, 23, 31, tzinfo=MSK), headers={"If-None-Match": before.headers["ETag"]}
    )
    assert after.status_code == 200 and "in 34 minutes" in after.get_data(as_text=True)


def test_every_process_agrees_on_the_etag(app, client, demo):
    """Two workers with caches of their own send the same ETag for the same bytes."""
    from schedule_service import create_app

    other = create_app(
        {
            "SCHEDULE_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "PUBLIC_URL": "http://schedule.test",
        }
    )
    ours = get(client, "/channels/mir?date=2031-11-27")
    with other.app_context():
        theirs = get(other.test_client(), "/channels/mir?date=2031-11-27")
        db.session.remove()
        db.engine.dispose()
    assert theirs.headers["ETag"] == ours.headers["ETag"] and theirs.data == ours.data


def test_language_and_zone_are_part_of_the_cache_key(client, demo):
    en = get(client, "/channels/mir?date=2031-11-27")
    client.set_cookie("lang", "ru")
    ru = get(client, "/channels/mir?date=2031-11-27")
    assert ru.headers["ETag"] != en.headers["ETag"] and "после полуночи" in ru.get_data(as_text=True)
    assert "Cookie" in ru.headers["Vary"] and "Accept-Language" in ru.headers["Vary"]
    client.set_cookie("tz", "Asia/Tokyo")
    tokyo = get(client, "/channels/mir?date=2031-11-27")
    assert tokyo.headers["ETag"] != ru.headers["ETag"] and "06:05" in tokyo.get_data(as_text=True)


def test_the_api_reads_refuse_bad_input_as_problems(client, demo):
    for url in ("/api/v1/channels/mir/schedule?tz=Mars/Olympus", "/api/v1/now?at=yesterday"):
        response = get(client, url)
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert get(client, "/api/v1/channels/nope/schedule").status_code == 404


def test_now_next_in_the_api_is_for_the_second_asked(client, demo):
    at = datetime(2031, 11, 27, 22, 30, 5, 123456, tzinfo=MSK)
    body = get(client, "/api/v1/now", at=at).json
    assert body["at"] == at.astimezone(UTC).replace(microsecond=0).isoformat()
    mir = body["channels"][0]
    assert mir["now"]["programme"]["title"] == "Talk Show: Open Door"
    assert mir["next"]["id"] == demo.id
    later = get(client, "/api/v1/now", at=at + timedelta(hours=2)).json["channels"][0]
    assert later["now"]["id"] == demo.id
