"""The viewer pages in a real browser: Debian's chromium through Playwright, the app under waitress.

The server runs in this process so the clock can be frozen at the afternoon the demo was loaded:
the exclusive then airs "tonight right after midnight". Playwright never downloads a browser here.
"""

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def site(demo_site):
    return demo_site


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


def test_the_front_page_says_the_exclusive_airs_tonight_right_after_midnight(site, page):
    page.goto(site + "/")
    highlight = page.locator(".highlight").first
    assert highlight.locator(".phrase").inner_text() == "tonight right after midnight"
    assert "Serzh Sargsyan: the exclusive interview" in highlight.inner_text()
    assert "WORLD EXCLUSIVE" in highlight.locator(".badge").inner_text().upper()
    assert page.locator("#channel-mir .now").inner_text().startswith("13:00–16:00")
    highlight.locator("h3 a").click()
    page.wait_for_url(site + "/slots/*")
    assert page.locator("h1").inner_text() == "Serzh Sargsyan: the exclusive interview"
    assert page.get_by_role("link", name="Add to calendar").get_attribute("href").endswith(".ics?lang=en")


def test_switching_language_and_zone_changes_the_page_and_is_remembered(site, page):
    page.goto(site + "/")
    page.get_by_role("link", name="Русский").click()
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator(".highlight .phrase").first.inner_text() == "сегодня сразу после полуночи"
    assert "Серж Саргсян: эксклюзивное интервью" in page.locator(".highlight").first.inner_text()
    page.select_option("select#tz", "Asia/Tokyo")
    page.get_by_role("button", name="Показать").click()
    page.wait_for_url("**tz=Asia%2FTokyo*")
    highlight = page.locator(".highlight").first.inner_text()
    assert "06:05" in highlight and "завтра в 06:05" in highlight  # 00:05 in Moscow is the morning in Tokyo
    # Both choices stay with the viewer on the next page, without the query.
    page.get_by_role("link", name="Вся неделя →").first.click()
    page.wait_for_url(site + "/channels/mir")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Токио" in page.locator("h1 + p").inner_text()
    assert "06:05" in page.locator("section.day.selected").inner_text()


def test_the_grid_shows_the_night_after_the_evening_it_belongs_to(site, page):
    page.goto(site + "/channels/mir")
    assert page.locator("section.day").count() == 7
    assert all(page.locator("section.day").nth(i).is_visible() for i in range(7))
    today = page.locator('section.day[data-day="2031-11-27"]')
    assert "selected" in today.get_attribute("class")
    rows = today.locator("li").all_inner_texts()
    marker = rows.index("AFTER MIDNIGHT") if "AFTER MIDNIGHT" in rows else rows.index("after midnight")
    assert rows[marker + 1].startswith("00:05")
    assert "Serzh Sargsyan: the exclusive interview" in rows[marker + 1]
    assert "Serzh" not in page.locator('section.day[data-day="2031-11-28"]').inner_text()


def test_on_a_phone_the_grid_shows_one_day_and_the_links_switch_days(site, browser):
    context = browser.new_context(viewport=PHONE, locale="en-GB", is_mobile=True)
    page = context.new_page()
    try:
        page.goto(site + "/channels/mir")
        visible = [page.locator("section.day").nth(i).is_visible() for i in range(7)]
        assert visible.count(True) == 1 and page.locator("section.day.selected").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.locator('nav.week-nav ol.days a[href$="date=2031-11-28"]').click()
        page.wait_for_url("**date=2031-11-28")
        assert page.locator('section.day[data-day="2031-11-28"]').is_visible()
        assert not page.locator('section.day[data-day="2031-11-27"]').is_visible()
        page.goto(site + "/")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.locator(".highlight .phrase").first.is_visible()
    finally:
        context.close()


def test_pages_work_without_javascript(site, browser):
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(site + "/channels/mir")
        page.select_option("select#tz", "America/New_York")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**tz=America%2FNew_York*")
        assert "16:05" in page.locator('section.day[data-day="2031-11-27"]').inner_text()
    finally:
        context.close()
