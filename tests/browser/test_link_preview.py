"""Link previews in a real browser: the exclusive's page names a picture that loads as a 1200×630 image."""

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, demo_site):
    # Absolute URLs in the tags come from PUBLIC_URL: here, the served demo.
    app.config["PUBLIC_URL"] = demo_site
    return demo_site


@pytest.mark.parametrize("locale, lang", [("en-GB", "en"), ("ru-RU", "ru")])
def test_the_exclusive_s_page_previews_with_a_picture_that_loads_at_1200_by_630(site, browser, locale, lang):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    try:
        page = context.new_page()
        page.goto(site + "/")
        page.locator(".highlight h3 a").first.click()
        page.wait_for_url(site + "/slots/*")

        def tag(key: str) -> str:
            attr = "name" if key.startswith("twitter:") else "property"
            return page.locator(f'meta[{attr}="{key}"]').get_attribute("content")

        image = tag("og:image")
        assert image.startswith(site + "/slots/") and f"lang={lang}" in image
        assert (tag("og:image:width"), tag("og:image:height")) == ("1200", "630")
        assert tag("twitter:card") == "summary_large_image" and tag("twitter:image") == image
        assert tag("og:image:alt")

        preview = context.new_page()
        response = preview.goto(image)
        assert response.status == 200 and response.headers["content-type"] == "image/png"
        size = preview.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
        assert size == [1200, 630]
    finally:
        context.close()
