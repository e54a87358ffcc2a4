"""Editions on the staff channel settings page (SPEC §9, §12): shown, edited, lossless, in English and Russian."""

import base64

import pytest
from sqlalchemy import func, select

from schedule_service.models import AuditEntry, Channel, Target
from tests.html_forms import read_form
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

SIBERIA = {
    "slug": "mir-siberia",
    "name": "Mir Siberia",
    "names": {"ru": "Мир Сибирь", "hy": "Միր Սիբիր"},
    "timezone": "Asia/Novosibirsk",
    "shift": "-PT4H",
}
URALS = {"slug": "mir-urals", "name": "Mir Urals", "names": {}, "timezone": "Asia/Yekaterinburg", "shift": "-PT2H"}
PAGE = "/staff/channels/mir/settings"
SECRET = "whsec_" + base64.b64encode(b"editions-tests-signing-key-32byte").decode()


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", editions=[SIBERIA, URALS])


@pytest.fixture
def staff(client, make_user, mir):
    make_user("ed@example.test", "editor")
    actions = StaffActions(client)
    assert actions.login("ed@example.test").status_code == 302
    return actions


def _form(staff, path: str = PAGE):
    page = staff.get(path)
    assert page.status_code == 200, page.text
    return read_form(page.text, path, "main form[method=post]")


def _audit_count(session) -> int:
    return session.scalar(select(func.count(AuditEntry.id)))


def test_the_settings_page_shows_every_edition_and_a_blank_row(staff, mir):
    form = _form(staff)
    assert [form.value(f"editions-{i}-slug") for i in range(3)] == ["mir-siberia", "mir-urals", ""]
    assert form.value("editions-0-timezone") == "Asia/Novosibirsk"
    assert form.value("editions-0-shift") == "-PT4H"
    assert form.value("editions-0-names") == "ru: Мир Сибирь\r\nhy: Միր Սիբիր"


def test_saving_the_settings_unchanged_changes_nothing(staff, session, client, mir):
    before = client.get("/api/v1/channels/mir").json
    entries = _audit_count(session)
    form = _form(staff)
    resp = staff.client.post(form.action, data=form.data())
    assert resp.status_code == 302, resp.text
    session.expire_all()
    assert client.get("/api/v1/channels/mir").json == before
    assert _audit_count(session) == entries


def test_an_edition_is_added_changed_and_dropped_through_the_form(staff, session, client, mir):
    form = _form(staff)
    typed = {
        "editions-0-shift": "-PT3H",
        "editions-1-slug": "",
        "editions-1-name": "",
        "editions-2-slug": "mir-far-east",
        "editions-2-name": "Mir Far East",
        "editions-2-names": "ru: Мир Дальний Восток",
        "editions-2-timezone": "Asia/Vladivostok",
        "editions-2-shift": "-PT7H",
    }
    entries = _audit_count(session)
    resp = staff.client.post(form.action, data=form.changed(typed))
    assert resp.status_code == 302, resp.text
    got = client.get("/api/v1/channels/mir").json["editions"]
    assert got == [
        {**SIBERIA, "shift": "-PT3H"},
        {
            "slug": "mir-far-east",
            "name": "Mir Far East",
            "names": {"ru": "Мир Дальний Восток"},
            "timezone": "Asia/Vladivostok",
            "shift": "-PT7H",
        },
    ]
    assert _audit_count(session) == entries + 1
    assert client.get("/api/v1/channels/mir-urals").status_code == 404


def test_a_bad_edition_is_refused_beside_its_field_and_nothing_changes(staff, session, client, make_channel, mir):
    make_channel("zvezda")
    form = _form(staff)
    before = client.get("/api/v1/channels/mir").json
    resp = staff.client.post(
        form.action,
        data=form.changed({"editions-0-shift": "four hours", "editions-1-slug": "zvezda"}),
    )
    assert resp.status_code == 422
    page = read_form(resp.text, PAGE, "main form[method=post]")
    assert page.value("editions-0-shift") == "four hours"  # what was typed stays, to correct
    assert "is not an ISO 8601 duration" in resp.text and "is taken by another channel or edition" in resp.text
    assert 'id="editions-0-shift-error"' in resp.text
    session.expire_all()
    assert client.get("/api/v1/channels/mir").json == before


def test_the_settings_page_speaks_russian_about_editions(staff):
    page = staff.get(PAGE + "?lang=ru")
    assert page.status_code == 200
    assert "Региональные выпуски" in page.text and "Сдвиг" in page.text
    assert "Regional editions" not in page.text and "Edition time zone" not in page.text


def test_a_new_channel_gets_an_edition_through_the_blank_row(staff, client, session):
    form = _form(staff, "/staff/new-channel")
    typed = {
        "slug": "pervyi",
        "name": "Channel One",
        "timezone": "Europe/Moscow",
        "editions-0-slug": "pervyi-orbita",
        "editions-0-name": "Orbita",
        "editions-0-timezone": "Asia/Vladivostok",
        "editions-0-shift": "-PT7H",
    }
    resp = staff.client.post(form.action, data=form.changed(typed))
    assert resp.status_code == 302, resp.text
    assert client.get("/api/v1/channels/pervyi-orbita").json["edition_of"] == "pervyi"
    assert session.scalar(select(Channel.slug).where(Channel.slug == "pervyi-orbita")) is None


def test_an_admin_binds_a_target_to_an_edition_on_its_page(client, session, make_user, mir):
    # A target of its own: the tests' cleanup keeps the built-in web target, not what is set on it.
    session.add(Target(name="siberia-feed", kind="webhook", url="http://127.0.0.1:9/hook", secret=SECRET))
    session.commit()
    make_user("boss@example.test", "admin")
    admin = StaffActions(client)
    assert admin.login("boss@example.test").status_code == 302
    form = _form(admin, "/staff/targets/siberia-feed")
    assert form.value("edition") == ""
    entries = _audit_count(session)
    unchanged = admin.client.post(form.action, data=form.data())
    assert unchanged.status_code == 302 and _audit_count(session) == entries
    resp = admin.client.post(form.action, data=form.changed({"edition": "mir-siberia"}))
    assert resp.status_code == 302, resp.text
    session.expire_all()
    assert session.scalar(select(Target.edition).where(Target.name == "siberia-feed")) == "mir-siberia"
    assert _form(admin, "/staff/targets/siberia-feed?lang=ru").value("edition") == "mir-siberia"
    assert "Выпуск" in admin.get("/staff/targets/siberia-feed?lang=ru").text
