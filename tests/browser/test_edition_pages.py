"""A regional edition's channel page in a real browser (SPEC §9): Debian's chromium through Playwright."""

import pytest
from sqlalchemy import select

from schedule_service import schedule
from schedule_service.models import Channel

pytestmark = pytest.mark.browser

SIBERIA = {"slug": "mir-siberia", "name": "Mir Siberia", "names": {"ru": "Мир Сибирь"},
           "timezone": "Asia/Novosibirsk", "shift": "-PT4H"}  # fmt: skip


@pytest.fixture
def site(demo_site, session):
    mir = session.scalar(select(Channel).where(Channel.slug == "mir"))
    schedule.update_channel(session, mir, {"editions": [SIBERIA]}, "test")
    session.commit()
    return demo_site


def test_an_editions_week_shows_the_exclusive_at_five_past_midnight_its_time(site, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(site + "/channels/mir-siberia")
        assert page.locator("h1").inner_text() == "Mir Siberia"
        assert "Novosibirsk" in page.locator("h1 + p").inner_text()
        assert page.locator("nav.channels a[aria-current=page]").inner_text() == "Mir Siberia"
        night = page.locator('section.day[data-day="2031-11-27"]')
        assert "selected" in night.get_attribute("class")
        rows = night.locator("li").all_inner_texts()
        interview = next(r for r in rows if "Serzh Sargsyan: the exclusive interview" in r)
        assert interview.startswith("00:05")
        assert rows.index(interview) > [r.lower() for r in rows].index("after midnight")
        # In Russian, the edition's own name.
        page.goto(site + "/channels/mir-siberia?lang=ru")
        assert page.locator("h1").inner_text() == "Мир Сибирь"
    finally:
        context.close()
