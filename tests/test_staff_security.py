"""Every write route, API and staff form, is gated: no login → 401 or the login page; a role too
low → 403; a session without its CSRF token → 400. Routes are read from the app's URL map, so a
route added tomorrow is checked too."""

import re

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from schedule_service.models import AuditEntry
from schedule_service.models.user import ROLES
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

WRITES = ("POST", "PUT", "PATCH", "DELETE")

#: Write routes open to anyone, and why.
OPEN = {
    "staff.login": "logging in is how one gets a session (its failures are rate-limited)",
    "staff.logout": "ending one's own session needs no role (it still needs the CSRF token)",
}

#: SPEC §6 and the issue: targets and users are for admins; everything else staff may write.
ADMIN_ONLY = ("/api/v1/targets", "/staff/targets", "/staff/users")


def write_routes(app) -> list[tuple[str, str, str]]:
    """(method, concrete path, endpoint) of every write route, with made-up ids."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods or ()) & set(WRITES)):
            path = rule.rule
            for name, converter in rule._converters.items():
                value = "1" if isinstance(converter, IntegerConverter) else "x"
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", value, path)
            out.append((method, path, rule.endpoint))
    return sorted(out, key=lambda r: (r[1], r[0]))


def required_role(app, endpoint: str, method: str) -> str | None:
    """The role the view's gate (auth.require or security.staff_page) asks for, if it has one."""
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, method.lower(), None)
    return getattr(view, "required_role", None)


def audit_count(session) -> int:
    return session.scalar(select(func.count(AuditEntry.id)))


def expected_role(path: str) -> str:
    return "admin" if path.startswith(ADMIN_ONLY) else "editor"


def test_there_are_write_routes_of_both_kinds(app):
    paths = [path for _, path, _ in write_routes(app)]
    assert any(p.startswith("/api/") for p in paths) and any(p.startswith("/staff/") for p in paths)


def test_every_write_route_has_a_gate_for_the_role_the_spec_names(app):
    wrong = []
    for method, path, endpoint in write_routes(app):
        if endpoint in OPEN:
            continue
        if not path.startswith(("/api/", "/staff/")):
            wrong.append(f"{method} {path}: a write outside /api/ and /staff/")
            continue
        role = required_role(app, endpoint, method)
        if role not in ROLES:
            wrong.append(f"{method} {path}: no auth.require / security.staff_page gate")
        elif role != expected_role(path):
            wrong.append(f"{method} {path}: gated for {role}, the spec says {expected_role(path)}")
    assert not wrong, "\n".join(wrong)


def test_writes_without_a_login_are_refused_and_change_nothing(app, client, session):
    anonymous = StaffActions(client)
    token = anonymous.token()  # a visitor's own CSRF token: it is the login that is missing
    before = audit_count(session)
    wrong = []
    for method, path, endpoint in write_routes(app):
        if endpoint in OPEN:
            continue
        if path.startswith("/api/"):
            resp = client.open(path, method=method, json={})
            if resp.status_code != 401 or resp.mimetype != "application/problem+json":
                wrong.append(f"{method} {path}: {resp.status_code} {resp.mimetype}, want 401 problem")
        else:
            resp = client.open(path, method=method, data={"csrf_token": token})
            if resp.status_code != 302 or not resp.location.startswith("/staff/login"):
                wrong.append(f"{method} {path}: {resp.status_code} {resp.location}, want a redirect to log in")
    assert not wrong, "\n".join(wrong)
    assert audit_count(session) == before


def test_an_editor_is_refused_the_admins_writes(app, client, session, make_user, editor):
    as_editor = StaffActions(client)
    make_user("ed@example.test", "editor")
    as_editor.login("ed@example.test")
    token = as_editor.token()
    before = audit_count(session)
    wrong, checked = [], 0
    for method, path, endpoint in write_routes(app):
        if endpoint in OPEN or expected_role(path) != "admin":
            continue
        checked += 1
        if path.startswith("/api/"):
            # by token, and by session (with a good CSRF token: it is the role that is wrong)
            by_token = app.test_client().open(path, method=method, json={}, headers=editor)
            by_session = client.open(path, method=method, json={}, headers={"X-CSRFToken": token})
            got = (by_token.status_code, by_session.status_code)
        else:
            got = (client.open(path, method=method, data={"csrf_token": token}).status_code,)
        if set(got) != {403}:
            wrong.append(f"{method} {path}: {got}, want 403")
    assert checked, "no admin-only write route found"
    assert not wrong, "\n".join(wrong)
    assert audit_count(session) == before


def test_session_writes_without_the_csrf_token_are_400_and_change_nothing(app, client, session, make_user):
    as_admin = StaffActions(client)
    make_user("boss@example.test", "admin")
    as_admin.login("boss@example.test")
    before = audit_count(session)
    wrong = []
    for method, path, _ in write_routes(app):
        if path.startswith("/api/"):
            resp = client.open(path, method=method, json={})
        else:
            resp = client.open(path, method=method, data={})
        if resp.status_code != 400 or "CSRF" not in resp.text:
            wrong.append(f"{method} {path}: {resp.status_code}, want 400 for the missing CSRF token")
    assert not wrong, "\n".join(wrong)
    assert audit_count(session) == before


def test_token_callers_need_no_csrf_token(app, admin):
    client = app.test_client()
    wrong = []
    for method, path, _ in write_routes(app):
        if not path.startswith("/api/"):
            continue
        resp = client.open(path, method=method, json={}, headers=admin)
        if resp.status_code in (401, 403) or "CSRF" in resp.text:
            wrong.append(f"{method} {path}: {resp.status_code} {resp.text[:80]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_every_form_on_the_staff_pages_carries_a_csrf_token(app, client, make_user, make_slot, role):
    from tests.conftest import utc

    make_user("someone@example.test", role)
    slot = make_slot(utc(2031, 11, 21, 21, 5))
    staff = StaffActions(client)
    staff.login("someone@example.test")
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("staff.") and "GET" in (rule.methods or ()) and not rule.arguments
    ]
    pages.remove("/staff/login")  # a logged-in visitor is sent on; its form is checked anonymously below
    assert 'name="csrf_token"' in app.test_client().get("/staff/login").text
    pages += [f"/staff/slots/{slot.id}", f"/staff/programmes/{slot.programme_id}", "/staff/channels/mir"]
    seen = 0
    for page in pages:
        resp = client.get(page)
        if resp.status_code == 403:
            assert role == "editor" and page.startswith(ADMIN_ONLY), f"{page} refused to an {role}"
            continue
        assert resp.status_code == 200, f"{page}: {resp.status_code}"
        for form in re.findall(r"<form\b[^>]*>.*?</form>", resp.text, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                seen += 1
                assert re.search(r'name="(?:[\w-]+-)?csrf_token"', form), f"a form on {page} lacks its CSRF token"
    assert seen > 5


# Rate limits where the service really runs: behind a proxy, and shared through Redis


def _second_app(database_url: str, **config):
    from schedule_service import create_app

    return create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, **config})


def _dispose(app) -> None:
    from schedule_service.db import db

    with app.app_context():
        db.engine.dispose()


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(app, database_url, make_user):
    make_user("ed@example.test", "editor")
    proxied = _second_app(database_url, TRUSTED_PROXIES=1)
    try:
        staff = StaffActions(proxied.test_client())
        for _ in range(10):
            assert (
                staff.login("ed@example.test", "wrong", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 401
            )
        assert staff.login("ed@example.test", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
        # another client behind the same proxy is not held back by the first one's failures
        assert staff.login("ed@example.test", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 302
    finally:
        _dispose(proxied)


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free loopback port, for this test alone."""
    import shutil
    import socket
    import subprocess
    import time

    from tests.conftest import need

    need(shutil.which("redis-server") is not None, "redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    server.terminate()
    server.wait(10)


def test_with_redis_configured_the_login_limits_live_in_redis(app, database_url, make_user, redis_url):
    import redis

    make_user("ed@example.test", "editor")
    shared = _second_app(database_url, REDIS_URL=redis_url)
    try:
        staff = StaffActions(shared.test_client())
        for _ in range(3):
            assert staff.login("ed@example.test", "wrong").status_code == 401
        store = redis.Redis.from_url(redis_url)
        keys = [k.decode() for k in store.keys("*")]
        store.close()
        # every worker and machine reads the same counters: one per address, one per account
        assert any("login:ed@example.test" in k for k in keys), keys
        assert any("127.0.0.1" in k for k in keys), keys
    finally:
        _dispose(shared)


def test_a_revoked_token_is_refused_even_alongside_a_staff_session(app, client, session, make_user):
    from schedule_service.auth import create_token, revoke_token

    user = make_user("ed@example.test", "editor")
    token, raw = create_token(session, user)
    revoke_token(session, token)
    session.commit()
    StaffActions(client).login("ed@example.test")
    assert client.get("/api/v1/tokens").status_code == 200  # the session alone
    assert client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
