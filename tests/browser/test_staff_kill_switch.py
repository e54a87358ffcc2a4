"""The kill switch in Chromium, in Russian: an editor pauses Mir's promos on its page, and the staff
home names the paused channel with the reason; resuming takes it away."""

import pytest

from tests.staff_actions import PASSWORD, cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_staff_home_shows_a_paused_channel_and_its_reason_in_russian(demo_site, browser, make_user):
    make_user("ed@example.test", "editor")
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    try:
        page.goto(demo_site + "/staff/channels/mir?lang=ru")
        page.fill("#email", "ed@example.test")
        page.fill("#password", PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(demo_site + "/staff/channels/mir*")
        page.goto(demo_site + "/staff/channels/mir?lang=ru")
        pause = page.locator("form.pause-promos")
        pause.locator("input[name=reason]").fill("Ждём подтверждения от пресс-службы")
        pause.locator("input[name=until]").fill("2031-11-27T20:00:00")
        pause.get_by_role("button", name="Остановить анонсы").click()
        page.wait_for_load_state()

        page.goto(demo_site + "/staff/?lang=ru")
        notice = page.locator("p.paused")
        assert notice.count() == 1
        text = notice.inner_text()
        assert "Анонсы канала Мир остановлены: Ждём подтверждения от пресс-службы" in text
        assert "20:00" in text and "Они снова пойдут сами" in text

        page.goto(demo_site + "/staff/channels/mir?lang=ru")
        page.get_by_role("button", name="Возобновить анонсы").click()
        page.wait_for_load_state()
        page.goto(demo_site + "/staff/?lang=ru")
        assert page.locator("p.paused").count() == 0
    finally:
        context.close()
