"""The kill switch and the embargo on the staff pages, both engines: pause and resume from the
channel's page, the staff home naming a paused channel in Russian, and the embargo fields in the
programme and channel forms, lossless (saved unchanged: no change, no audit entry)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schedule_service import clock, schedule
from schedule_service.models import AuditEntry, Channel, Programme
from tests.conftest import utc
from tests.html_forms import read_form
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

NOON = utc(2031, 11, 21, 12, 0)  # 15:00 in Moscow
EDITOR = "ed@example.test"


@pytest.fixture
def staff(client, make_user, make_channel):
    make_channel("mir", names={"en": "Mir", "ru": "Мир"}, languages=["en", "ru"])
    make_user(EDITOR, "editor")
    actions = StaffActions(client)
    assert actions.login(EDITOR).status_code == 302
    return actions


def entries(session) -> int:
    return session.scalar(select(func.count(AuditEntry.id)))


def test_pause_and_resume_from_the_channel_page_and_the_home_names_the_paused_channel(session, staff):
    with clock.frozen(NOON):
        page = staff.get("/staff/channels/mir")
        form = read_form(page.text, "/staff/channels/mir", "form.pause-promos")
        typed = {"reason": "Утечка у партнёра", "until": "2031-11-21T18:30"}
        assert staff.client.post(form.action, data=form.changed(typed)).status_code == 302
        home = staff.get("/staff/?lang=ru").text
        page = staff.get("/staff/channels/mir?lang=ru").text
    assert "Анонсы канала Мир остановлены: Утечка у партнёра" in home
    assert "18:30" in home and "Возобновить анонсы" in page
    channel = session.scalar(select(Channel).where(Channel.slug == "mir").execution_options(populate_existing=True))
    assert channel.promos_paused_until == utc(2031, 11, 21, 15, 30) and channel.promos_paused_by == EDITOR

    # The pause form shows the pause: sent back unchanged, it writes nothing.
    before = entries(session)
    with clock.frozen(NOON + timedelta(minutes=1)):
        form = read_form(staff.get("/staff/channels/mir").text, "/staff/channels/mir", "form.pause-promos")
        assert form.value("until") == "2031-11-21T18:30:00"
        staff.client.post(form.action, data=form.data())
    assert entries(session) == before

    with clock.frozen(NOON + timedelta(minutes=2)):
        staff.post("/staff/channels/mir/promos/resume")
        home = staff.get("/staff/?lang=ru").text
    assert "остановлены" not in home
    session.expire_all()
    assert session.scalar(select(Channel.promos_paused_at).where(Channel.slug == "mir")) is None


def test_a_pause_without_a_reason_is_refused_in_words_and_changes_nothing(session, staff):
    before = entries(session)
    with clock.frozen(NOON):
        answer = staff.post("/staff/channels/mir/promos/pause", {"reason": "", "until": ""}, follow_redirects=True)
        late = staff.post(
            "/staff/channels/mir/promos/pause?lang=ru",
            {"reason": "why", "until": "2031-11-21T10:00"},
            follow_redirects=True,
        )
    assert "Say why the promos stop" in answer.text
    assert "До: в будущем." in late.text
    assert entries(session) == before


def test_the_embargo_fields_are_lossless_in_the_programme_and_channel_forms(session, staff, make_programme):
    programme = make_programme("Interview", embargo_until=utc(2031, 11, 21, 17, 0, 30))
    channel = session.scalar(select(Channel).where(Channel.slug == "mir"))
    schedule.update_channel(session, channel, {"embargo_title": {"ru": "Большой секрет", "hy": "Գաղտնիք"}}, "test")
    session.commit()
    before = entries(session)
    with clock.frozen(NOON):
        path = f"/staff/programmes/{programme.id}"
        form = read_form(staff.get(path).text, path, "main form.programme")
        assert form.value("embargo_until") == "2031-11-21T17:00:30+00:00"
        assert staff.client.post(form.action, data=form.data()).status_code == 302
        path = "/staff/channels/mir/settings"
        form = read_form(staff.get(path).text, path, "main form[method=post]")
        titles = {form.value(f"embargo_title-{i}-lang"): form.value(f"embargo_title-{i}-title") for i in range(3)}
        assert titles == {"hy": "Գաղտնիք", "ru": "Большой секрет", "en": ""}
        assert staff.client.post(form.action, data=form.data()).status_code == 302
    assert entries(session) == before

    with clock.frozen(NOON):
        path = f"/staff/programmes/{programme.id}"
        form = read_form(staff.get(path).text, path, "main form.programme")
        staff.client.post(form.action, data=form.changed({"embargo_until": "2031-11-22T01:00:00+03:00"}))
        bad = staff.client.post(form.action, data=form.changed({"embargo_until": "tomorrow"}))
    assert bad.status_code == 422 and "An instant with its offset" in bad.text
    session.expire_all()
    assert session.get(Programme, programme.id).embargo_until == utc(2031, 11, 21, 22, 0)
    assert entries(session) == before + 1
