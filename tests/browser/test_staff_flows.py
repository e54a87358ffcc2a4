"""The staff's main flows in a real browser: Debian's chromium through Playwright, the app under waitress.

Log in, add a slot that clashes and see why, add it right, see its posts planned, preview a
promo, approve a held one, and find it in the publish log. The server runs in this process so
the clock can be frozen on the afternoon the demo was loaded. Playwright never downloads a browser.
"""

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from schedule_service.models import Post, Slot
from schedule_service.models.promo import HELD, PLANNED
from tests.browser.conftest import MSK
from tests.staff_actions import PASSWORD, cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser

EXCLUSIVE = "Serzh Sargsyan: the exclusive interview"


@pytest.fixture
def site(demo_site, make_user):
    """The demo and an admin, on the afternoon the demo was loaded."""
    make_user("boss@example.test", "admin")
    return demo_site


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    # The CSP forbids inline script and foreign sources: the pages must not trip over it.
    assert not [e for e in errors if "Content Security Policy" in e], errors


def log_in(page, site):
    page.goto(site + "/staff/")
    page.wait_for_url(re.compile(r".*/staff/login\?next=.*"))
    page.fill("#email", "boss@example.test")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site + "/staff/")


def choose_programme(page, title: str) -> None:
    value = page.locator("#programme_id option", has_text=title).first.get_attribute("value")
    page.select_option("#programme_id", value)


def test_a_wrong_password_keeps_you_out_and_says_so(site, page):
    page.goto(site + "/staff/login")
    page.fill("#email", "boss@example.test")
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.locator("#password-error").inner_text() == "Wrong email or password."
    page.goto(site + "/staff/")
    assert "/staff/login" in page.url


def test_from_a_clash_to_an_approved_promo_in_the_publish_log(site, page, session):
    log_in(page, site)

    # Hold the web feed's posts for approval (admins: targets).
    page.get_by_role("link", name="Targets").click()
    page.get_by_role("link", name="web", exact=True).click()
    page.check("#requires_approval")
    page.get_by_role("button", name="Save").click()
    assert "Saved target web." in page.locator(".flash").inner_text()

    # The week of Mir; a slot at 21:30 tonight runs into the weekly review.
    page.get_by_role("link", name="Schedule", exact=True).click()
    page.get_by_role("link", name="Mir").first.click()
    assert "Thu 27 Nov" in page.locator("table.week thead").inner_text()
    choose_programme(page, EXCLUSIVE)
    page.fill("#start_local", "2031-11-27T21:30")
    page.get_by_role("button", name="Add slot").click()
    clash = page.locator(".conflict").inner_text()
    assert "Not saved: it clashes with the schedule." in clash
    assert "Vmeste: Weekly Review" in clash and "2031-11-27 21:00 MSK" in clash

    # The demo fills its week; the Thursday after is free: add it there.
    choose_programme(page, EXCLUSIVE)
    page.fill("#start_local", "2031-12-04T20:00")
    page.get_by_role("button", name="Add slot").click()
    page.wait_for_url(re.compile(r".*/staff/slots/\d+$"))
    assert (
        "Added Serzh Sargsyan: the exclusive interview at 2031-12-04 20:00 MSK." in page.locator(".flash").inner_text()
    )
    posts = page.locator("table.posts tbody").inner_text()
    assert "tonight" in posts and "ten-minutes" in posts and "held" in posts
    slot_id = int(page.url.rsplit("/", 1)[1])

    # Preview the promos: the evening post says when the show airs, as read at 18:00.
    page.get_by_role("link", name="Preview its promos").click()
    previews = page.locator("table.previews")
    tonight = previews.locator("tr", has_text="2031-12-04 18:00 MSK").first
    assert tonight.locator(".when").inner_text() == "tonight at 20:00"
    assert EXCLUSIVE in tonight.locator(".preview").inner_text()
    assert previews.locator("tr", has_text="in 10 minutes").count() == 1

    # Approve the held evening post.
    page.get_by_role("link", name="Approvals").click()
    row = page.locator("tr.status-held", has_text="tonight").filter(has_text="2031-12-04 18:00").first
    assert "tonight at 20:00" in row.locator(".preview").inner_text()
    row.get_by_role("button", name="Approve").click()
    assert "is approved; it goes out when due" in page.locator(".flash").inner_text()
    post = session.scalars(select(Post).where(Post.slot_id == slot_id, Post.step == "tonight")).one()
    session.refresh(post)
    assert post.status == PLANNED

    # The publish log shows it, planned, with the others of its slot still held.
    page.get_by_role("link", name="Publish log").click()
    page.fill("#slot", str(slot_id))
    page.get_by_role("button", name="Show").click()
    assert page.locator(f"#post-{post.id} .status").inner_text() == "planned"
    held = session.scalars(select(Post).where(Post.slot_id == slot_id, Post.status == HELD)).all()
    assert held and all(page.locator(f"#post-{p.id} .status").inner_text() == "held" for p in held)
    assert session.get(Slot, slot_id).start_at == datetime(2031, 12, 4, 20, 0, tzinfo=MSK)
