"""/api/v1/docs in a real browser: Swagger UI from the service's own files, under its strict CSP."""

import pytest

pytestmark = pytest.mark.browser


def test_the_api_reference_shows_every_resource_without_breaking_the_csp(demo_site, browser):
    context = browser.new_context()
    page = context.new_page()
    outside, refused = [], []
    page.on("request", lambda r: None if r.url.startswith(demo_site) else outside.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{demo_site}/api/v1/docs")
    page.wait_for_selector(".opblock-tag", timeout=15_000)
    tags = [t.strip() for t in page.locator(".opblock-tag").all_inner_texts()]
    assert any(t.startswith("channels") for t in tags) and any(t.startswith("slots") for t in tags)
    assert page.locator(".opblock").count() > 20
    assert page.locator(".info .title").first.inner_text().startswith("Schedule service")
    assert outside == [] and refused == []
    context.close()
