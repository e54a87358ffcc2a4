"""The week grid and fast entry as staff use them, through the test client, without JavaScript."""

import re

import pytest
from sqlalchemy import func, select

from schedule_service import clock
from schedule_service.db import db
from schedule_service.models import AuditEntry, Post, Programme, Slot
from tests.conftest import utc
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401
from tests.test_staff_pages import day_in, text_of

#: Thursday 20 November 2031, 15:00 in Moscow.
TODAY = utc(2031, 11, 20, 12, 0)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(TODAY):
        yield


@pytest.fixture
def staff(client, make_user):
    staff = StaffActions(client)
    make_user("ed@example.test", "editor")
    assert staff.login("ed@example.test").status_code == 302
    return staff


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


@pytest.fixture
def news(make_programme):
    return make_programme("Vremya", duration_minutes=30)


@pytest.fixture
def film(make_programme):
    return make_programme("Night Film", duration_minutes=90)


def written() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Slot, Programme, AuditEntry, Post))


# The week grid


def test_the_grid_runs_monday_to_sunday_with_start_end_gaps_and_now(staff, mir, news, film, make_slot):
    make_slot(utc(2031, 11, 20, 11, 0), channel=mir, programme=news)  # Thu 14:00–14:30, on before now
    make_slot(utc(2031, 11, 20, 13, 0), channel=mir, programme=film)  # 16:00–17:30
    page = staff.get("/staff/channels/mir?date=2031-11-21")
    assert page.status_code == 200
    heads = [text_of(h).strip() for h in re.findall(r'<h2 id="day-[^"]+-head">(.*?)</h2>', page.text)]
    assert [h.split()[0] for h in heads] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert heads[0].startswith("Mon 17 Nov") and heads[3] == "Thu 20 Nov today"
    thursday = day_in(page.text, "2031-11-20")
    assert thursday.index("no programme 05:00–14:00") < thursday.index("14:00 – 14:30 Vremya")
    assert thursday.index("no programme 14:30–16:00") < thursday.index("now 15:00") < thursday.index("16:00 – 17:30")
    assert "no programme 17:30–05:00" in thursday
    assert "now" not in day_in(page.text, "2031-11-21") and "nothing scheduled" in day_in(page.text, "2031-11-21")


def test_cancelling_from_the_grid_asks_first(staff, session, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    grid = staff.get("/staff/channels/mir").text
    assert f'href="/staff/slots/{slot.id}/cancel"' in grid
    ask = staff.get(f"/staff/slots/{slot.id}/cancel")
    words = text_of(ask.text)
    assert ask.status_code == 200 and "Cancel Vremya?" in words and "2031-11-21 21:00 MSK" in words
    session.refresh(slot)
    assert not slot.is_cancelled  # asking changed nothing
    assert staff.post(f"/staff/slots/{slot.id}/cancel", {"act-version": "1"}).status_code == 302
    session.refresh(slot)
    assert slot.is_cancelled


def test_the_programme_list_is_searched_as_you_type(staff, client, mir, make_programme):
    for n in range(5):
        make_programme(f"Archive film {n}")
    make_programme("Vremya")
    found = staff.get("/staff/programmes/find.json?find=FILM 3").json
    assert [i["label"].split(" (#")[0] for i in found["items"]] == ["Archive film 3"]
    assert found["hint"] == "1 of 6 programmes match “FILM 3”."
    staff.logout()
    assert client.get("/staff/programmes/find.json?find=film").status_code == 302  # to the login page


# Repeat


def test_repeat_previews_then_applies(staff, session, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    form = staff.get(f"/staff/slots/{slot.id}/repeat")
    assert form.status_code == 200 and 'name="until"' in form.text
    before = written()
    preview = staff.post(f"/staff/slots/{slot.id}/repeat", {"every": "weekday", "until": "2031-11-25", "preview": "1"})
    assert preview.status_code == 200
    words = text_of(preview.text)
    assert "2 slots would be made" in words and "Mon 24 Nov" in words and "Tue 25 Nov" in words
    assert "Sat 22 Nov" not in words
    assert written() == before
    done = staff.post(f"/staff/slots/{slot.id}/repeat", {"every": "weekday", "until": "2031-11-25", "apply": "1"})
    assert done.status_code == 302 and done.location == "/staff/channels/mir?date=2031-11-24"
    assert "Made 2 slots." in staff.get(done.location).text
    made = session.scalars(select(Slot).where(Slot.id != slot.id).order_by(Slot.start_at)).all()
    assert [s.start_at for s in made] == [utc(2031, 11, 24, 18, 0), utc(2031, 11, 25, 18, 0)]
    assert {e.actor for e in session.scalars(select(AuditEntry).where(AuditEntry.entity == "slot"))} >= {
        "ed@example.test"
    }


def test_repeat_into_a_taken_time_lists_it_and_writes_nothing(staff, mir, news, film, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    taken = make_slot(utc(2031, 11, 22, 17, 30), channel=mir, programme=film)
    before = written()
    resp = staff.post(f"/staff/slots/{slot.id}/repeat", {"every": "day", "until": "2031-11-24", "apply": "1"})
    assert resp.status_code == 409
    words = text_of(resp.text)
    assert "1 slot clashes with the schedule; nothing is written until it is clear." in words
    assert f"Night Film 2031-11-22 20:30–22:00 (slot {taken.id})" in words
    assert written() == before


def test_a_bad_until_is_shown_by_its_field(staff, mir, news, make_slot):
    slot = make_slot(utc(2031, 11, 21, 18, 0), channel=mir, programme=news)
    resp = staff.post(f"/staff/slots/{slot.id}/repeat", {"every": "day", "until": "2031-11-20", "apply": "1"})
    assert resp.status_code == 422
    assert "a broadcast day after the slot's own (2031-11-21)" in text_of(resp.text)


# Copy


def test_copy_a_week_lists_every_clash_then_applies_all_once_clear(staff, session, mir, news, film, make_slot):
    for day in (17, 19, 21):
        make_slot(utc(2031, 11, day, 18, 0), channel=mir, programme=news)
    taken = make_slot(utc(2031, 11, 26, 17, 45), channel=mir, programme=film)
    link = staff.get("/staff/channels/mir?date=2031-11-17").text
    assert "/staff/channels/mir/copy?from=2031-11-17&amp;days=7&amp;to=2031-11-24" in link
    form = staff.get("/staff/channels/mir/copy?from=2031-11-17&days=7&to=2031-11-24").text
    assert 'value="2031-11-17"' in form and 'value="2031-11-24"' in form
    body = {"source": "2031-11-17", "days": "7", "onto": "2031-11-24"}
    before = written()
    preview = text_of(staff.post("/staff/channels/mir/copy", {**body, "preview": "1"}).text)
    assert "3 slots would be made" in preview and f"(slot {taken.id})" in preview
    refused = staff.post("/staff/channels/mir/copy", {**body, "apply": "1"})
    assert refused.status_code == 409 and written() == before
    staff.post(f"/staff/slots/{taken.id}/cancel", {"act-version": "1"})
    done = staff.post("/staff/channels/mir/copy", {**body, "apply": "1"})
    assert done.status_code == 302
    copies = session.scalars(select(Slot).where(Slot.start_at >= utc(2031, 11, 24)).order_by(Slot.start_at)).all()
    assert [(s.start_at, s.status) for s in copies] == [
        (utc(2031, 11, 24, 18, 0), "scheduled"),
        (utc(2031, 11, 26, 17, 45), "cancelled"),
        (utc(2031, 11, 26, 18, 0), "scheduled"),
        (utc(2031, 11, 28, 18, 0), "scheduled"),
    ]


def test_copying_an_empty_day_says_so(staff, mir):
    resp = staff.post("/staff/channels/mir/copy", {"source": "2031-11-21", "days": "1", "onto": "2031-11-22"})
    assert resp.status_code == 422 and "nothing is scheduled on 2031-11-21 to copy" in text_of(resp.text)


# Paste a lineup


def test_a_lineup_preview_matches_titles_and_offers_to_create_the_rest(staff, session, mir, news, film):
    body = {"day": "2031-11-21", "text": "18:00 VREMYA\n19:00 Pole Chudes\n00:30 Night Film"}
    before = written()
    preview = staff.post("/staff/channels/mir/lineup", {**body, "preview": "1"})
    assert preview.status_code == 200
    words = text_of(preview.text)
    assert "3 slots would be made, with 1 new programme" in words
    assert "Vremya for “VREMYA”" in words and "Pole Chudes new programme" in words
    assert "Not found among the programmes: Pole Chudes" in words and 'name="create_missing"' in preview.text
    assert "00:30–02:00 after midnight" in words
    refused = staff.post("/staff/channels/mir/lineup", {**body, "apply": "1"})
    assert refused.status_code == 422
    assert "1 title is not a programme yet: tick this to create it" in text_of(refused.text)
    assert written() == before
    done = staff.post("/staff/channels/mir/lineup", {**body, "create_missing": "y", "apply": "1"})
    assert done.status_code == 302 and done.location == "/staff/channels/mir?date=2031-11-21"
    friday = day_in(staff.get(done.location).text, "2031-11-21")
    assert "18:00 – 19:00 Vremya" in friday and "19:00 – 00:30 Pole Chudes" in friday
    assert "00:30 – 02:00 Night Film" in friday
    assert session.scalars(select(Programme).where(Programme.title == "Pole Chudes")).one()


def test_a_bad_lineup_line_is_named_beside_the_text(staff, mir, news):
    resp = staff.post(
        "/staff/channels/mir/lineup", {"day": "2031-11-21", "text": "18:00 Vremya\n7pm News", "apply": "1"}
    )
    assert resp.status_code == 422
    assert "line 2: &#39;7pm News&#39; is not HH:MM and a title" in resp.text


def test_the_grid_and_a_lineup_preview_speak_russian(staff, mir, news, make_slot):
    make_slot(utc(2031, 11, 20, 11, 0), channel=mir, programme=news)
    thursday = day_in(staff.get("/staff/channels/mir?date=2031-11-20&lang=ru").text, "2031-11-20")
    assert "нет передачи 05:00–14:00" in thursday and "сейчас 15:00" in thursday and "повторить" in thursday
    body = {"day": "2031-11-21", "text": "18:00 Vremya\n19:00 Поле чудес\n20:00 Vremya", "preview": "1"}
    words = text_of(staff.post("/staff/channels/mir/lineup?lang=ru", body).text)
    assert "Будет создано 3 слота, с 1 новой передачей" in words
    assert "Не найдены среди передач: Поле чудес" in words and "Создать ненайденные передачи" in words


def test_a_bad_lineup_line_is_shown_as_text_not_markup(staff, mir, news):
    """A form error quotes what the editor typed; the page must show it, never run it."""
    resp = staff.post(
        "/staff/channels/mir/lineup", {"day": "2031-11-21", "text": "<img src=x onerror=alert(1)>", "apply": "1"}
    )
    assert resp.status_code == 422
    assert "<img src=x" not in resp.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in resp.text
