"""The programme form in Chromium: the demo exclusive opened and saved untouched comes back as it was (SPEC §12)."""

import re

import pytest
from sqlalchemy import select

from schedule_service.models import Programme
from tests.browser.test_staff_flows import log_in, page, site  # noqa: F401 (fixtures)
from tests.staff_actions import cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser


def test_saving_the_exclusive_untouched_changes_nothing(site, page, session):  # noqa: F811
    exclusive = session.scalar(select(Programme.id).where(Programme.is_exclusive.is_(True)))
    session.rollback()  # no transaction left open: SQLite would keep the server from writing
    log_in(page, site)
    api = f"{site}/api/v1/programmes/{exclusive}"
    before = page.request.get(api).json()
    trail = page.request.get(f"{site}/api/v1/audit?limit=1000").json()
    assert before["guests"] and before["translations"]["ru"]["title"]

    page.goto(f"{site}/staff/programmes/{exclusive}")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(rf".*/staff/programmes/{exclusive}$"))
    assert page.locator(".flash").inner_text() == "Nothing changed."

    assert page.request.get(api).json() == before
    assert page.request.get(f"{site}/api/v1/audit?limit=1000").json() == trail
    # The page shows the guest, with the role, and the Russian translation, each in its own field.
    assert page.input_value("#guests-0-name") == "Serzh Sargsyan"
    assert page.input_value("#guests-0-role") == "President of Armenia"
    ru = page.locator("fieldset.translation", has=page.locator("input[id$='-lang'][value='ru']"))
    assert ru.locator("input[id$='-title']").input_value() == "Серж Саргсян: эксклюзивное интервью"
    assert ru.locator("textarea[id$='-quote']").input_value() == before["translations"]["ru"]["quote"]
    assert page.input_value("#summary") == before["summary"]
