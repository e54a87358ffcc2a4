"""A picture through the staff form in Chromium: chosen, saved, kept by an untouched save, shown with its credit."""

import re

import pytest
from sqlalchemy import select

from schedule_service.models import Programme
from tests.browser.test_staff_flows import log_in, page, site  # noqa: F401 (fixtures)
from tests.pictures_support import metadata_of, opened, photo
from tests.staff_actions import cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser


def test_an_editor_uploads_the_exclusive_s_picture_and_viewers_see_it_with_its_credit(
    app,
    site,  # noqa: F811
    page,  # noqa: F811
    session,
    tmp_path,
):
    app.config["PICTURES_DIR"] = str(tmp_path / "pictures")
    exclusive = session.scalar(select(Programme.id).where(Programme.is_exclusive.is_(True)))
    session.rollback()  # no transaction left open: SQLite would keep the server from writing
    chosen = tmp_path / "sargsyan.jpg"
    chosen.write_bytes(photo("JPEG"))
    log_in(page, site)

    page.goto(f"{site}/staff/programmes/{exclusive}")
    page.set_input_files("#picture", str(chosen))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(rf".*/staff/programmes/{exclusive}$"))
    assert page.locator(".flash").inner_text().startswith("Saved")
    thumbnail = page.locator("figure.picture img")
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 160

    picture = page.request.get(f"{site}/api/v1/programmes/{exclusive}").json()["picture"]
    assert metadata_of(opened(page.request.get(picture["original"].replace("http://schedule.test", site)).body())) == {}

    # Saved again untouched (no file chosen): the picture stays, nothing changes.
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(rf".*/staff/programmes/{exclusive}$"))
    assert page.locator(".flash").inner_text() == "Nothing changed."
    assert page.request.get(f"{site}/api/v1/programmes/{exclusive}").json()["picture"] == picture

    page.goto(f"{site}/programmes/{exclusive}?lang=ru")
    shown = page.locator("figure.picture img")
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 640
    assert page.locator("figure.picture figcaption").inner_text() == "Фото: Press Service of the President of Russia"
    assert page.locator('meta[property="og:image"]').get_attribute("content") == picture["card"]["jpeg"]
