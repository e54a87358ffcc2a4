"""Fixtures: the app on SQLite and PostgreSQL, a client, factories along the data's path.

Every database test runs twice, once per engine. PostgreSQL comes from TEST_DATABASE_URL:
each test session makes a database of its own there and drops it after. Without the URL the
PostgreSQL half skips locally; with CI=true every skip is a failure.
"""

import os
import secrets
import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from schedule_service import create_app
from schedule_service.db import db as _db

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TEST_DATABASE_URL")


def need(condition: bool, reason: str) -> None:
    """Skip when ``condition`` fails on a user's machine; fail in CI, which must run everything."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where the whole suite must run: {report.longrepr}"
    return report


# Databases, one per engine per test session


@pytest.fixture(scope="session")
def postgresql_database():
    """A fresh PostgreSQL database for this test session; its URL. Dropped after."""
    need(bool(PG_URL), "TEST_DATABASE_URL is not set (PostgreSQL tests)")
    base = make_url(PG_URL)
    name = f"sstest_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'schedule.db'}"
    _migrate(url)
    return url


def _migrate(url: str) -> None:
    """Make the schema the only way it is made: Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
def pg_url(postgresql_database):
    """PostgreSQL only: for tests of several processes on one database."""
    return postgresql_database


@pytest.fixture
def pg_app(pg_url):
    """The app on the session's PostgreSQL database alone (for tests with processes of their own), emptied after."""
    app = create_app(
        {"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": pg_url, "PUBLIC_URL": "http://schedule.test"}
    )
    with app.app_context():
        yield app
        _db.session.remove()
        _empty(app)
        _db.engine.dispose()


@pytest.fixture
def app(database_url):
    app = create_app(
        {
            "SCHEDULE_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PUBLIC_URL": "http://schedule.test",
        }
    )
    with app.app_context():
        yield app
        _db.session.remove()
        _empty(app)
        _db.engine.dispose()


def _empty(app) -> None:
    """Remove every row but the built-in web target, so the next test starts as after migrating."""
    tables = [t.name for t in reversed(_db.metadata.sorted_tables) if t.name != "target"]
    with _db.engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                c.execute(text(f'DELETE FROM "{t}"'))
        c.execute(text("DELETE FROM target WHERE name <> 'web'"))
        c.execute(
            text(
                "UPDATE target SET kind = 'web', url = NULL, secret = NULL, token = NULL, chat_id = NULL, "
                "lang = NULL, timezone = NULL, max_length = NULL, is_approval_required = false, is_enabled = true"
            )
        )


@pytest.fixture
def session(app):
    return _db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# No unplanned calls to the outside world: only loopback is reachable from tests.


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
            raise OSError(f"tests may not reach {host!r}; use a local server")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


# Factories


@pytest.fixture
def make_user(session):
    from schedule_service.auth import create_user

    def make(email: str = "editor@example.test", role: str = "editor", password: str = "correct horse"):
        user = create_user(session, email, password, role)
        session.commit()
        return user

    return make


@pytest.fixture
def auth_header(session, make_user):
    """Bearer headers for a staff user of the given role (editor by default)."""
    from schedule_service.auth import create_token

    def make(role: str = "editor") -> dict[str, str]:
        user = make_user(f"{role}-{secrets.token_hex(3)}@example.test", role)
        _, raw = create_token(session, user)
        session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return make


@pytest.fixture
def editor(auth_header):
    return auth_header("editor")


@pytest.fixture
def admin(auth_header):
    return auth_header("admin")


@pytest.fixture
def make_channel(session):
    from schedule_service import schedule

    def make(slug: str = "mir", **values):
        values = {"name": slug.title(), "timezone": "Europe/Moscow", "broadcast_day_start": "05:00", **values}
        channel = schedule.create_channel(session, {"slug": slug, **values}, "test")
        session.commit()
        return channel

    return make


@pytest.fixture
def make_programme(session):
    from schedule_service import schedule

    def make(title: str = "Serzh Sargsyan: the exclusive interview", **values):
        values = {"duration_minutes": 60, **values}
        programme = schedule.create_programme(session, {"title": title, **values}, "test")
        session.commit()
        return programme

    return make


@pytest.fixture
def make_slot(session, make_channel, make_programme):
    """A slot, marked for promotion unless told; makes its channel and programme when not given."""
    from schedule_service import schedule

    def make(start: datetime, channel=None, programme=None, **values):
        channel = channel or make_channel()
        programme = programme or make_programme()
        values = {"start": start, "is_promoted": True, **values}
        slot = schedule.create_slot(session, channel, programme, values, "test")
        session.commit()
        return slot

    return make


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


MSK = ZoneInfo("Europe/Moscow")
#: The afternoon the demo is loaded: its exclusive airs at 00:05 Moscow time that night.
LOADED = datetime(2031, 11, 27, 15, 0, tzinfo=MSK)


@pytest.fixture
def demo(session):
    """The demo (SPEC §3) loaded at :data:`LOADED`; its exclusive interview's slot."""
    from schedule_service import clock
    from schedule_service.demo import load_demo
    from schedule_service.models import Programme, Slot

    with clock.frozen(LOADED):
        load_demo(session)
        session.commit()
    return session.scalars(select(Slot).join(Slot.programme).where(Programme.is_exclusive.is_(True))).one()
