"""The staff week grid on a phone in Chromium: read the week, paste a day, find a programme, cancel a slot.

390 px wide, as on a common phone; the demo loaded on the Thursday afternoon before its night.
"""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from schedule_service.models import Programme, Slot
from tests.staff_actions import PASSWORD, cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser

FRIDAY = """\
05:00 Доброе утро, Содружество
09:00 Новости
13:00 Поле чудес
18:00 Вечерние новости
00:30 Музыка ночи
"""


@pytest.fixture
def site(demo_site, make_user):
    make_user("ed@example.test", "editor")
    return demo_site


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    context.close()
    # No script or style refused by the CSP, and every page and asset there (the browser's own
    # favicon request is not a page's).
    assert not errors, errors


def fits(page) -> bool:
    """Nothing sticks out sideways: no horizontal scrolling on the phone."""
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_an_editor_fills_a_day_and_cancels_a_slot_on_a_phone(site, phone, session, monkeypatch):
    from schedule_service.web.staff import grid

    monkeypatch.setattr(grid, "CHOICES_SHOWN", 5)  # the demo's programmes are few; pretend thousands
    page = phone
    page.goto(site + "/staff/channels/mir")
    page.fill("#email", "ed@example.test")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site + "/staff/channels/mir")

    # The week, Monday to Sunday, today marked, with the now line inside today's column.
    days = page.locator(".week section.day h2").all_inner_texts()
    assert [d.split()[0] for d in days] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    today = page.locator(".week section.today")
    assert today.locator("h2").inner_text().startswith("Thu 27 Nov")
    assert today.locator(".now-line").inner_text() == "now 15:00"
    assert today.locator("li.on-air").inner_text().startswith("13:00–16:00")
    assert fits(page)

    # A Friday beyond the demo's week is empty: paste its lineup from the day's own link.
    page.goto(site + "/staff/channels/mir?date=2031-12-12")
    friday = page.locator("#day-2031-12-12")
    assert "nothing scheduled" in friday.inner_text()
    friday.get_by_role("link", name="paste").click()
    assert page.input_value("#day") == "2031-12-12"
    page.fill("#text", FRIDAY)
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("table.fast-entry-preview")
    assert "5 slots would be made, with 1 new programme" in preview.locator("caption").inner_text()
    assert "new programme" in preview.locator("tr", has_text="Поле чудес").inner_text()
    assert "00:30–" in preview.locator("tr", has_text="Music of the Night").inner_text()
    assert fits(page)
    page.get_by_label("Create the programmes not found").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*/staff/channels/mir\?date=2031-12-12$"))
    assert "Made 5 slots." in page.locator(".flash").first.inner_text()
    friday = page.locator("#day-2031-12-12")
    assert "13:00–18:00" in friday.locator("li.slot", has_text="Поле чудес").inner_text()
    assert "no programme 02:30–05:00" in friday.inner_text()
    assert session.scalars(select(Programme).where(Programme.title == "Поле чудес")).one()
    session.rollback()  # end the read, so the server may write (SQLite has one writer)

    # Searching the programme list as you type: the list is refilled without leaving the page.
    page.fill("#find", "cranes")
    expect(page.locator("#programme_id option")).to_have_count(1)
    assert "Feature Film: The Cranes Are Flying" in page.locator("#programme_id option").inner_text()
    assert page.url.endswith("?date=2031-12-12")

    # Cancelling asks first; "No" keeps the slot, "Yes" cancels it.
    page.goto(site + "/staff/channels/mir")
    kitchen = page.locator("#day-2031-11-27 li.slot", has_text="Our Kitchen")
    kitchen.get_by_role("link", name="cancel").click()
    assert page.locator("h1").inner_text() == "Cancel Our Kitchen?"
    page.get_by_role("link", name="No, keep it").click()
    assert "cancelled" not in page.locator("#day-2031-11-27 li.slot", has_text="Our Kitchen").inner_text()
    page.locator("#day-2031-11-27 li.slot", has_text="Our Kitchen").get_by_role("link", name="cancel").click()
    page.get_by_role("button", name="Yes, cancel this slot").click()
    assert "Cancelled slot" in page.locator(".flash").inner_text()
    kitchens = session.scalars(select(Slot).join(Slot.programme).where(Programme.title == "Our Kitchen")).all()
    assert [s.start_at.date().isoformat() for s in kitchens if s.is_cancelled] == ["2031-11-27"]
