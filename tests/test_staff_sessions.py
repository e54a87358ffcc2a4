"""Staff sessions end when they should: logout, a new password, "sign out everywhere", their lifetime."""

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from schedule_service import create_app
from schedule_service.auth import create_token
from schedule_service.db import db
from tests.staff_actions import PASSWORD, StaffActions, cheap_password_hashing  # noqa: F401

COOKIE = "session"


@pytest.fixture
def editor_user(make_user):
    return make_user("editor@example.test", "editor")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin@example.test", "admin")


def browser(app, email: str | None = None) -> StaffActions:
    staff = StaffActions(app.test_client())
    if email:
        assert staff.login(email).status_code == 302
    return staff


def copy_of(app, staff: StaffActions) -> StaffActions:
    """Another browser holding a copy of ``staff``'s session cookie, as a thief would."""
    thief = StaffActions(app.test_client())
    thief.client.set_cookie(COOKIE, staff.client.get_cookie(COOKIE).value)
    return thief


def is_logged_in(staff: StaffActions) -> bool:
    resp = staff.get("/staff/")
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def test_a_session_cookie_copied_before_logout_does_not_work_after_it(app, editor_user):
    staff = browser(app, editor_user.email)
    copied = copy_of(app, staff)
    assert is_logged_in(copied)

    staff.logout()

    assert not is_logged_in(copied)
    assert not is_logged_in(staff)
    assert is_logged_in(browser(app, editor_user.email))  # logging in again works


def test_an_admins_password_reset_ends_the_users_sessions_and_revokes_their_tokens(
    app, client, session, editor_user, admin_user
):
    user_browser = browser(app, editor_user.email)
    _, raw = create_token(session, editor_user)
    session.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/posts", headers=bearer).status_code == 200
    admin = browser(app, admin_user.email)

    prefix = f"u{editor_user.id}"
    resp = admin.post(
        f"/staff/users/{editor_user.id}",
        {f"{prefix}-role": "editor", f"{prefix}-active": "y", f"{prefix}-password": "a new horse battery"},
        follow_redirects=True,
    )

    assert resp.status_code == 200
    assert "ends every session of theirs" in resp.text and "their 1 API token is revoked" in resp.text
    assert not is_logged_in(user_browser)
    assert client.get("/api/v1/posts", headers=bearer).status_code == 401
    assert browser(app).login(editor_user.email).status_code == 401  # the old password is gone
    assert browser(app).login(editor_user.email, "a new horse battery").status_code == 302
    assert is_logged_in(admin)  # the admin's own session is not touched


def test_an_admin_who_changes_their_own_password_stays_logged_in_here_only(app, admin_user):
    admin = browser(app, admin_user.email)
    elsewhere = browser(app, admin_user.email)
    prefix = f"u{admin_user.id}"

    resp = admin.post(
        f"/staff/users/{admin_user.id}",
        {f"{prefix}-role": "admin", f"{prefix}-active": "y", f"{prefix}-password": "a new horse battery"},
    )

    assert resp.status_code == 302
    assert is_logged_in(admin)
    assert not is_logged_in(elsewhere)


def test_sign_out_everywhere_ends_every_session_of_the_user_but_not_their_tokens(
    app, client, session, editor_user, admin_user
):
    laptop, phone = browser(app, editor_user.email), browser(app, editor_user.email)
    _, raw = create_token(session, editor_user)
    session.commit()
    admin = browser(app, admin_user.email)
    assert "Sign out everywhere" in admin.get("/staff/users").text

    resp = admin.post(f"/staff/users/{editor_user.id}/sign-out", follow_redirects=True)

    assert resp.status_code == 200 and "Every session of editor@example.test has ended" in resp.text
    assert not is_logged_in(laptop) and not is_logged_in(phone)
    assert client.get("/api/v1/posts", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert is_logged_in(admin)


def test_sign_out_everywhere_is_for_admins(app, editor_user, make_user):
    other = make_user("other@example.test", "editor")
    other_browser = browser(app, other.email)
    staff = browser(app, editor_user.email)

    assert staff.post(f"/staff/users/{other.id}/sign-out").status_code == 403
    assert is_logged_in(other_browser)


def expiry_of(resp) -> datetime:
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}="))
    expires = next(part for part in cookie.split("; ") if part.lower().startswith("expires="))
    return parsedate_to_datetime(expires.split("=", 1)[1])


def test_a_staff_session_lasts_twelve_hours_not_flasks_31_days(app, editor_user):
    resp = browser(app).login(editor_user.email)

    left = expiry_of(resp) - datetime.now(UTC)
    assert timedelta(hours=11) < left <= timedelta(hours=12)


def test_the_session_lifetime_is_configurable_and_an_older_cookie_is_refused(database_url, monkeypatch):
    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "SESSION_LIFETIME_HOURS": 1})
    try:
        with app.app_context():
            from schedule_service.auth import create_user

            create_user(db.session, "brief@example.test", PASSWORD, "editor")
            db.session.commit()
            staff = StaffActions(app.test_client())
            resp = staff.login("brief@example.test")
            assert timedelta(minutes=50) < expiry_of(resp) - datetime.now(UTC) <= timedelta(hours=1)
            copied = copy_of(app, staff)  # a browser that ignores the cookie's expiry
            assert is_logged_in(copied)

            later = time.time() + 2 * 3600
            monkeypatch.setattr(time, "time", lambda: later)  # the cookie's signature is checked by its age

            assert not is_logged_in(copied)
    finally:
        with app.app_context():
            db.session.remove()
            from tests.conftest import _empty

            _empty(app)
            db.engine.dispose()
