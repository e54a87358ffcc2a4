"""Repeated public reads answered in front of the app: the same bytes and headers, never a personal answer."""

from datetime import timedelta

import pytest

from schedule_service import schedule
from tests.test_pages import LOADED, get

SCHEDULE = "/api/v1/channels/mir/schedule?date=2031-11-27"


@pytest.fixture
def through_app(app):
    """How many requests reached the app's own request handling."""
    seen = []
    app.before_request(lambda: seen.append(1))
    app.config["PUBLIC_GENERATION_TTL"] = 60
    return seen


def test_a_repeated_read_is_answered_byte_for_byte_as_the_app_answered_it(client, demo, through_app):
    get(client, SCHEDULE)  # renders and fills the body cache
    from_app = get(client, SCHEDULE)  # a cache hit through the whole app: kept whole
    again = get(client, SCHEDULE)
    assert len(through_app) == 2
    assert again.status_code == 200 and again.data == from_app.data
    assert list(again.headers.items()) == list(from_app.headers.items())
    for name in ("Content-Security-Policy", "X-Frame-Options", "ETag", "Cache-Control", "Content-Type"):
        assert again.headers[name]


def test_if_none_match_gets_the_same_304(client, demo, through_app):
    etag = get(client, SCHEDULE).headers["ETag"]
    get(client, SCHEDULE)
    from_app = get(client, SCHEDULE, headers={"If-None-Match": etag})
    assert len(through_app) == 3
    again = get(client, SCHEDULE, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert len(through_app) == 3
    assert again.status_code == from_app.status_code == 304 and again.data == b""
    assert list(again.headers.items()) == list(from_app.headers.items())
    other = get(client, SCHEDULE, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.headers["ETag"] == etag


def test_a_change_to_the_schedule_shows_at_once(client, session, demo, through_app):
    for _ in range(3):
        before = get(client, SCHEDULE)
    schedule.update_programme(session, demo.programme, {"title": "Retitled in this process"}, "test")
    session.commit()
    after = get(client, SCHEDULE)
    assert "Retitled in this process" in after.get_data(as_text=True)
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_read_of_now_is_not_answered_from_an_earlier_minute(client, demo, through_app):
    for _ in range(3):
        get(client, "/api/v1/now")
    seen = len(through_app)
    later = get(client, "/api/v1/now", at=LOADED + timedelta(minutes=1))
    assert len(through_app) == seen + 1
    assert later.get_json()["at"] != get(client, "/api/v1/now").get_json()["at"]


def test_the_language_cookie_and_header_choose_the_answer(client, demo, through_app):
    for _ in range(2):
        english = get(client, "/")
        russian = get(client, "/", headers={"Accept-Language": "ru"})
    client.set_cookie("lang", "ru")
    for _ in range(2):
        by_cookie = get(client, "/")
    assert '<html lang="en"' in english.get_data(as_text=True)
    assert '<html lang="ru"' in russian.get_data(as_text=True)
    assert by_cookie.data == russian.data
    assert english.headers["Vary"] == "Cookie, Accept-Language"


def test_a_choice_in_the_query_sets_its_cookie_every_time(client, demo):
    for _ in range(3):
        response = get(client, "/?lang=ru")
        assert "lang=ru" in response.headers["Set-Cookie"]
        client.delete_cookie("lang")


@pytest.mark.parametrize(
    ("cookies", "headers"),
    [
        ({"session": "anything"}, {}),
        ({}, {"Authorization": "Bearer anything"}),
        ({"lang": "ru", "remember_token": "x"}, {}),
    ],
)
def test_a_request_that_could_be_personal_always_goes_through_the_app(client, demo, through_app, cookies, headers):
    get(client, SCHEDULE)
    get(client, SCHEDULE)
    for name, value in cookies.items():
        client.set_cookie(name, value)
    get(client, SCHEDULE, headers=headers)
    seen = len(through_app)
    for _ in range(3):
        get(client, SCHEDULE, headers=headers)
    assert len(through_app) == seen + 3
