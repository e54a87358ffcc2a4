"""Every staff page on a phone (390 px wide) in Chromium, in Russian: nothing makes the page scroll sideways.

Wide tables (a change history, a plan's steps) scroll inside themselves; a long option in a
select shrinks to the screen.
"""

import pytest
from sqlalchemy import select

from schedule_service.models import Programme, Slot
from tests.staff_actions import PASSWORD, cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser


def staff_pages(app, session) -> list[str]:
    """Every staff page a GET opens without arguments, and the pages of the demo's exclusive."""
    with app.test_request_context():
        plain = sorted(
            r.rule
            for r in app.url_map.iter_rules()
            if r.rule.startswith("/staff") and "GET" in r.methods and not r.arguments and not r.rule.endswith(".json")
        )
    exclusive = session.scalar(select(Programme.id).where(Programme.is_exclusive))
    slot = session.scalar(select(Slot.id).where(Slot.programme_id == exclusive))
    session.rollback()  # end the read, so the server may write (SQLite has one writer)
    return [
        *plain,
        "/staff/channels/mir",
        "/staff/channels/mir/plan",
        f"/staff/programmes/{exclusive}",
        f"/staff/programmes/{exclusive}/plan",
        f"/staff/slots/{slot}",
    ]


def test_every_staff_page_fits_a_phone_in_russian(app, demo_site, browser, session, make_user):
    make_user("ed@example.test", "admin")
    pages = staff_pages(app, session)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU")
    page = context.new_page()
    try:
        page.goto(demo_site + "/staff/channels/mir")
        page.fill("#email", "ed@example.test")
        page.fill("#password", PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(demo_site + "/staff/channels/mir")
        wide = {}
        for path in pages:
            response = page.goto(demo_site + path + "?lang=ru")
            assert response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[path] = width
    finally:
        context.close()
    assert wide == {}
    assert len(pages) >= 15
