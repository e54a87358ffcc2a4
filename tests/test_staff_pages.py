"""The staff pages as staff use them: log in, the week grid, slots, programmes, users, tokens, audit."""

import re

import pytest
from sqlalchemy import select

from schedule_service.db import db
from schedule_service.models import ApiToken, AuditEntry, Programme, Slot, User
from tests.conftest import utc
from tests.staff_actions import PASSWORD, StaffActions, cheap_password_hashing  # noqa: F401


@pytest.fixture
def staff(client):
    return StaffActions(client)


@pytest.fixture
def editor_user(make_user):
    return make_user("ed@example.test", "editor")


@pytest.fixture
def logged_in(staff, editor_user):
    assert staff.login(editor_user.email).status_code == 302
    return staff


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


@pytest.fixture
def interview(make_programme):
    return make_programme("Serzh Sargsyan: the exclusive interview", duration_minutes=60, is_exclusive=True)


def slot_form(programme, start_local: str, **extra) -> dict:
    return {"programme_id": str(programme.id), "start_local": start_local, "fold": "", **extra}


def day_in(html: str, day: str) -> str:
    """The words of one broadcast day's column of the week grid."""
    found = re.search(rf'<section class="day[^"]*" id="day-{day}".*?</section>', html, re.S)
    assert found, f"the grid has no column for {day}"
    return text_of(found.group(0))


def text_of(html: str) -> str:
    """The page's words, without tags, to assert what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")


# Logging in and out


def test_the_login_form_carries_a_csrf_token(client):
    page = client.get("/staff/login")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text


def test_staff_pages_send_anonymous_visitors_to_log_in(client):
    resp = client.get("/staff/programmes")
    assert resp.status_code == 302
    assert resp.location.startswith("/staff/login?next=")


def test_logging_in_leads_back_where_you_were_going(staff, editor_user):
    resp = staff.login(editor_user.email, query_string={"next": "/staff/programmes"})
    assert resp.status_code == 302 and resp.location == "/staff/programmes"
    assert "ed@example.test" in staff.get("/staff/programmes").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_after_login_there_is_no_redirect_off_the_site(staff, editor_user, target):
    resp = staff.login(editor_user.email, query_string={"next": target})
    assert resp.status_code == 302 and resp.location == "/staff/"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(staff, editor_user):
    for email, password in ((editor_user.email, "wrong horse"), ("nobody@example.test", PASSWORD)):
        resp = staff.login(email, password)
        assert resp.status_code == 401
        assert "Wrong email or password." in resp.text
    assert staff.get("/staff/").status_code == 302


def test_an_inactive_user_cannot_log_in(staff, editor_user, session):
    editor_user.is_active = False
    session.commit()
    assert staff.login(editor_user.email).status_code == 401


def test_the_session_cookie_is_http_only_and_same_site(client, staff, editor_user):
    resp = staff.login(editor_user.email)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_in_production_the_session_cookie_is_secure(app, database_url, monkeypatch):
    import importlib

    from schedule_service import create_app

    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    importlib.reload(importlib.import_module("config.production"))
    app = create_app({"SCHEDULE_ENV": "production", "SQLALCHEMY_DATABASE_URI": database_url})
    app.config["WTF_CSRF_SSL_STRICT"] = False  # the test client speaks plain http
    client = StaffActions(app.test_client())
    with app.app_context():
        from schedule_service.auth import create_user

        create_user(db.session, "prod@example.test", PASSWORD, "editor")
        db.session.commit()
    cookie = client.login("prod@example.test").headers["Set-Cookie"]
    with app.app_context():
        db.engine.dispose()
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logging_out_ends_the_session(logged_in):
    resp = logged_in.logout()
    assert resp.status_code == 302 and resp.location == "/staff/login"
    assert logged_in.get("/staff/").status_code == 302


def test_failed_logins_are_rate_limited_per_address(staff, editor_user):
    for _ in range(10):
        assert staff.login(editor_user.email, "wrong horse").status_code == 401
    resp = staff.login(editor_user.email, PASSWORD)  # even the right password waits now
    assert resp.status_code == 429
    assert "Too many failed attempts" in resp.text and 'name="csrf_token"' in resp.text
    # another address is not held back by this one's failures
    assert staff.login(editor_user.email, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


def test_successful_logins_do_not_use_up_the_limit(staff, editor_user):
    for _ in range(12):
        assert staff.login(editor_user.email).status_code == 302
        staff.logout()


def test_failed_logins_are_rate_limited_per_account_across_addresses(staff, editor_user):
    for i in range(20):
        resp = staff.login(editor_user.email, "wrong horse", environ_base={"REMOTE_ADDR": f"10.1.0.{i}"})
        assert resp.status_code == 401
    resp = staff.login(editor_user.email, environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert resp.status_code == 429


# Security headers


@pytest.mark.parametrize("path", ["/staff/login", "/api/v1/channels", "/healthz", "/staff/nothing-here"])
def test_every_response_has_the_security_headers(client, path):
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_staff_pages_are_never_cached_by_shared_caches(logged_in):
    assert logged_in.get("/staff/").headers["Cache-Control"] == "private, no-store"


# The week grid and slots


def test_the_week_grid_puts_a_slot_after_midnight_on_the_broadcast_day_before(logged_in, mir, interview, make_slot):
    make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)  # 00:05 Moscow on the 22nd
    page = logged_in.get("/staff/channels/mir?date=2031-11-21")
    assert page.status_code == 200
    friday, saturday = (day_in(page.text, d) for d in ("2031-11-21", "2031-11-22"))
    assert "Fri 21 Nov" in friday
    assert "00:05 – 01:05" in friday and interview.title in friday and "after midnight" in friday
    assert interview.title not in saturday


def test_a_bad_date_on_the_grid_says_so_and_shows_this_week(logged_in, mir):
    page = logged_in.get("/staff/channels/mir?date=21.11.2031")
    assert page.status_code == 200
    assert "is not a date as YYYY-MM-DD" in text_of(page.text)


def test_adding_a_slot_that_clashes_shows_the_slots_in_the_way_and_adds_nothing(
    logged_in, session, mir, interview, make_programme, make_slot
):
    first = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    film = make_programme("Night Film", duration_minutes=90)
    resp = logged_in.post("/staff/channels/mir/slots", slot_form(film, "2031-11-22T00:30"))
    assert resp.status_code == 409
    words = text_of(resp.text)
    assert "In the way:" in words
    assert interview.title in words and "2031-11-22 00:05 MSK" in words and f"slot {first.id}" in words
    assert session.scalar(select(db.func.count(Slot.id))) == 1


def test_adding_a_slot_at_a_time_the_clocks_skip_says_why(logged_in, session, make_channel, interview):
    make_channel("ard", timezone="Europe/Berlin")
    resp = logged_in.post("/staff/channels/ard/slots", slot_form(interview, "2031-03-30T02:30"))
    assert resp.status_code == 422
    error = re.search(r'id="start_local-error"[^>]*>([^<]+)<', resp.text).group(1)
    assert "does not exist in Europe/Berlin" in error and "daylight saving" in error
    assert session.scalar(select(db.func.count(Slot.id))) == 0


def test_a_time_that_happens_twice_needs_a_choice_and_then_is_added(logged_in, session, make_channel, interview):
    make_channel("nbc", timezone="America/New_York")
    resp = logged_in.post("/staff/channels/nbc/slots", slot_form(interview, "2031-11-02T01:30", duration_minutes="20"))
    assert resp.status_code == 422
    assert "happens twice" in re.search(r'id="start_local-error"[^>]*>([^<]+)<', resp.text).group(1)
    resp = logged_in.post(
        "/staff/channels/nbc/slots", slot_form(interview, "2031-11-02T01:30", duration_minutes="20", fold="1")
    )
    assert resp.status_code == 302
    slot = session.scalars(select(Slot)).one()
    assert slot.start_at == utc(2031, 11, 2, 6, 30)  # the second 01:30, after the clocks went back (EST)


def test_adding_a_slot_right_plans_it_and_names_who_did(logged_in, session, mir, interview):
    resp = logged_in.post("/staff/channels/mir/slots", slot_form(interview, "2031-11-22T00:05", premiere="y"))
    assert resp.status_code == 302
    slot = session.scalars(select(Slot)).one()
    assert resp.location == f"/staff/slots/{slot.id}"
    assert slot.start_at == utc(2031, 11, 21, 21, 5) and slot.end_at == utc(2031, 11, 21, 22, 5)
    assert slot.is_premiere and not slot.is_live
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "slot")).one()
    assert entry.actor == "ed@example.test" and entry.action == "create"
    page = text_of(logged_in.get(resp.location).text)
    assert "2031-11-22 00:05 MSK" in page and "broadcast day 2031-11-21" in page


def options_of(html: str) -> list[str]:
    return re.findall(r'<option[^>]*value="\d+"[^>]*>([^<]+) \(#\d+\)</option>', html)


def test_with_many_programmes_the_form_lists_the_likely_ones_and_finds_the_rest(
    logged_in, session, monkeypatch, mir, make_programme, make_slot
):
    from schedule_service.web.staff import grid

    monkeypatch.setattr(grid, "CHOICES_SHOWN", 4)
    monkeypatch.setattr(grid, "NEWEST_SHOWN", 2)
    aired = make_programme("Evening news")
    old = [make_programme(f"Archive film {n}") for n in range(3)]
    make_programme("Brand new show"), make_programme("Another new show")
    make_slot(utc(2031, 11, 21, 18), channel=mir, programme=aired)
    page = logged_in.get("/staff/channels/mir?date=2031-11-18").text
    assert sorted(options_of(page)) == sorted(["Evening news", "Brand new show", "Another new show"])
    assert "Listing 3 of 6 programmes" in text_of(page)
    found = logged_in.get("/staff/channels/mir?date=2031-11-18&find=film 2").text
    assert options_of(found) == ["Archive film 2"]
    wildcard = logged_in.get("/staff/channels/mir", query_string={"find": "%"}).text
    assert options_of(wildcard) == []  # % is a character here, not a wildcard
    # One found and posted is accepted though the plain list does not offer it.
    resp = logged_in.post("/staff/channels/mir/slots", slot_form(old[2], "2031-11-22T10:00"))
    assert resp.status_code == 302
    assert session.scalars(select(Slot).where(Slot.programme_id == old[2].id)).one()
    assert "Archive film 2" in options_of(logged_in.get(resp.location).text)  # the slot's own, on its page


def test_bad_slot_input_is_explained_next_to_the_field_and_changes_nothing(logged_in, session, mir, interview):
    resp = logged_in.post("/staff/channels/mir/slots", slot_form(interview, "tomorrow evening", duration_minutes="-5"))
    assert resp.status_code == 422
    assert re.search(r'id="start_local-error"', resp.text)
    assert "Between 1 minute and 48 hours." in resp.text
    assert session.scalar(select(db.func.count(Slot.id))) == 0


def test_moving_a_slot_records_the_change(logged_in, session, mir, interview, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    form = slot_form(interview, "2031-11-22T01:00", duration_minutes="45", version="1")
    resp = logged_in.post(f"/staff/slots/{slot.id}", form)
    assert resp.status_code == 302
    session.refresh(slot)
    assert slot.start_at == utc(2031, 11, 21, 22, 0) and slot.version == 2
    assert (slot.end_at - slot.start_at).total_seconds() == 45 * 60
    page = text_of(logged_in.get(f"/staff/slots/{slot.id}").text)
    assert "ed@example.test" in page and "2031-11-21T21:05:00+00:00 → 2031-11-21T22:00:00+00:00" in page


def test_a_stale_edit_is_refused_showing_the_other_persons_change(
    logged_in, client, session, mir, interview, make_slot, admin
):
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    page = logged_in.get(f"/staff/slots/{slot.id}").text
    assert 'name="version" type="hidden" value="1"' in page
    # meanwhile someone else makes it live through the API
    other = client.patch(f"/api/v1/slots/{slot.id}", json={"live": True}, headers={**admin, "If-Match": slot.etag})
    assert other.status_code == 200

    resp = logged_in.post(f"/staff/slots/{slot.id}", slot_form(interview, "2031-11-22T01:00", version="1"))
    assert resp.status_code == 412
    words = text_of(resp.text)
    assert "someone changed this slot since you opened it" in words
    assert re.search(r"admin-\w+@example.test", words) and "<dt>live</dt>" in resp.text and "is_live" not in words
    assert 'value="2031-11-22T01:00"' in resp.text  # what they typed is kept
    session.refresh(slot)
    assert slot.start_at == utc(2031, 11, 21, 21, 5) and slot.version == 2


def test_cancelling_and_restoring_a_slot(logged_in, session, mir, interview, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    assert logged_in.post(f"/staff/slots/{slot.id}/cancel", {"act-version": "1"}).status_code == 302
    session.refresh(slot)
    assert slot.is_cancelled and slot.version == 2
    assert "cancelled" in logged_in.get("/staff/channels/mir?date=2031-11-21").text
    # a second click from the page as it was before is stale, and changes nothing
    assert logged_in.post(f"/staff/slots/{slot.id}/cancel", {"act-version": "1"}).status_code == 412
    assert logged_in.post(f"/staff/slots/{slot.id}/restore", {"act-version": "2"}).status_code == 302
    session.refresh(slot)
    assert not slot.is_cancelled and slot.version == 3


def test_restoring_into_a_taken_time_shows_what_took_it(logged_in, session, mir, interview, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    logged_in.post(f"/staff/slots/{slot.id}/cancel", {"act-version": "1"})
    taker = make_slot(utc(2031, 11, 21, 21, 0), channel=mir, programme=interview)
    resp = logged_in.post(f"/staff/slots/{slot.id}/restore", {"act-version": "2"})
    assert resp.status_code == 409 and f"slot {taker.id}" in text_of(resp.text)
    session.refresh(slot)
    assert slot.is_cancelled


def test_an_unknown_slot_or_channel_is_404(logged_in):
    assert logged_in.get("/staff/slots/999").status_code == 404
    assert logged_in.get("/staff/channels/nowhere").status_code == 404


# Channels


def test_adding_a_channel_with_a_zone_that_is_not_iana_says_so(logged_in, session):
    form = {"slug": "nope", "name": "Nope", "timezone": "Mars/Olympus", "broadcast_day_start": "06:00"}
    resp = logged_in.post("/staff/new-channel", form)
    assert resp.status_code == 422
    assert "is not an IANA time zone" in re.search(r'id="timezone-error"[^>]*>([^<]+)<', resp.text).group(1)
    resp = logged_in.post(
        "/staff/new-channel", {**form, "timezone": "Asia/Yerevan", "names-0-lang": "ru", "names-0-name": "Ноуп"}
    )
    assert resp.status_code == 302
    assert logged_in.post("/staff/new-channel", {**form, "timezone": "UTC"}).status_code == 422  # slug taken


# Programmes


def test_a_programme_with_translations(logged_in, session):
    form = {
        "title": "Serzh Sargsyan: the exclusive interview",
        "exclusive": "y",
        "guests-0-name": "Serzh Sargsyan",
        "guests-0-role": "President of Armenia",
        "duration_minutes": "60",
        "language": "en",
        "translations-0-lang": "ru",
        "translations-0-title": "Серж Саргсян: эксклюзивное интервью",
        "translations-1-lang": "",
    }
    resp = logged_in.post("/staff/programmes/new", form)
    assert resp.status_code == 302
    programme = session.scalars(select(Programme)).one()
    assert programme.is_exclusive and programme.guests == [{"name": "Serzh Sargsyan", "role": "President of Armenia"}]
    assert programme.text("title", "ru") == "Серж Саргсян: эксклюзивное интервью"
    page = logged_in.get(f"/staff/programmes/{programme.id}").text
    assert "Серж Саргсян: эксклюзивное интервью" in page
    assert session.scalars(select(AuditEntry).where(AuditEntry.entity == "programme")).one().actor == "ed@example.test"


def test_bad_programme_input_is_shown_by_the_field_and_saves_nothing(logged_in, session):
    resp = logged_in.post(
        "/staff/programmes/new",
        {"title": "", "image_url": "ftp://x", "language": "en", "translations-0-title": "Без языка"},
    )
    assert resp.status_code == 422
    assert re.search(r'id="title-error"', resp.text) and re.search(r'id="image_url-error"', resp.text)
    assert "A translation needs its language." in resp.text
    assert session.scalar(select(db.func.count(Programme.id))) == 0


def test_a_scheduled_programme_cannot_be_deleted(logged_in, session, mir, interview, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=interview)
    resp = logged_in.post(f"/staff/programmes/{interview.id}/delete")
    assert resp.status_code == 409 and f"slot {slot.id}" in text_of(resp.text)
    assert session.get(Programme, interview.id) is not None


# Users, tokens, audit


def test_only_admins_manage_users(logged_in):
    assert logged_in.get("/staff/users").status_code == 403


def test_an_admin_adds_and_changes_users(staff, make_user, session):
    boss = make_user("boss@example.test", "admin")
    staff.login(boss.email)
    resp = staff.post("/staff/users", {"email": "new@example.test", "role": "editor", "password": "long enough"})
    assert resp.status_code == 302
    again = staff.post("/staff/users", {"email": "new@example.test", "role": "editor", "password": "long enough"})
    assert again.status_code == 422 and "already exists" in again.text
    new = session.scalar(select(User).where(User.email == "new@example.test"))
    resp = staff.post(f"/staff/users/{new.id}", {f"u{new.id}-role": "editor", f"u{new.id}-password": ""})
    assert resp.status_code == 302
    session.refresh(new)
    assert not new.is_active  # the box was unticked
    refused = staff.post(f"/staff/users/{boss.id}", {f"u{boss.id}-role": "editor", f"u{boss.id}-active": "y"})
    assert refused.status_code == 422 and "last active admin" in refused.text
    session.refresh(boss)
    assert boss.role == "admin"


def test_a_token_is_shown_once_and_revoked_by_its_owner(logged_in, session, app):
    client = app.test_client()  # a program elsewhere, without the staff member's session
    resp = logged_in.post("/staff/tokens", {"name": "playout"})
    assert resp.status_code == 201
    raw = re.search(r'<code id="new-token">([^<]+)</code>', resp.text).group(1)
    assert client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert raw not in logged_in.get("/staff/tokens").text
    token = session.scalars(select(ApiToken)).one()
    assert logged_in.post(f"/staff/tokens/{token.id}/revoke").status_code == 302
    assert client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_someone_elses_token_is_not_yours_to_revoke(logged_in, auth_header, session):
    auth_header("editor")
    theirs = session.scalars(select(ApiToken)).one()
    assert logged_in.post(f"/staff/tokens/{theirs.id}/revoke").status_code == 404
    session.refresh(theirs)
    assert theirs.revoked_at is None


def test_the_audit_page_shows_changes_newest_first_and_filters(logged_in, mir, make_channel):
    make_channel("ard", timezone="Europe/Berlin")
    page = text_of(logged_in.get("/staff/audit").text)
    assert page.index("channel ard") < page.index("channel mir")
    only = text_of(logged_in.get("/staff/audit?entity=channel&id=mir").text)
    assert "channel mir" in only and "channel ard" not in only
    assert "Europe/Moscow" in only


def test_the_audit_page_pages_back(logged_in, make_channel):
    for i in range(101):
        make_channel(f"c{i:03}")
    first = logged_in.get("/staff/audit?entity=channel").text
    older = re.search(r'href="([^"]+before=\d+[^"]*)">Older changes', first).group(1).replace("&amp;", "&")
    rest = text_of(logged_in.get(older).text)
    assert "channel c000" in rest and "channel c100" not in rest


def test_the_home_page_lists_channels(logged_in, mir):
    page = logged_in.get("/staff/")
    assert page.status_code == 200 and "Mir" in page.text and "Europe/Moscow" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/staff/audit?before=99999999999999999999",
        "/staff/programmes?page=99999999999999999999",
        "/staff/channels/mir?date=9999-12-31",
        "/staff/channels/mir?date=0001-01-01",
    ],
)
def test_absurd_numbers_in_staff_urls_still_give_a_page(logged_in, mir, path):
    assert logged_in.get(path).status_code == 200


def test_an_id_beyond_any_row_is_404_not_a_database_error(logged_in, client):
    assert logged_in.get("/staff/slots/99999999999999999999").status_code == 404
    assert client.get("/api/v1/slots/2147483648").status_code == 404
