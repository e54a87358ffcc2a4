"""The promo desk in Chromium, in Russian on a 390-px phone: bulk approval, a template, a Telegram-like preview."""

import pytest
from sqlalchemy import select

from schedule_service.models import Post, Programme, Slot, Target
from schedule_service.models.promo import HELD, PLANNED
from tests.staff_actions import PASSWORD, cheap_password_hashing  # noqa: F401

pytestmark = pytest.mark.browser

OWN = "{{ title }} — только на «{{ channel }}», {{ when }}! {{ link }}"


def test_an_editor_approves_two_held_posts_and_edits_a_template_on_a_phone_in_russian(
    app, demo_site, browser, session, make_user
):
    make_user("ed@example.test", "editor")
    exclusive = session.scalar(select(Slot).join(Slot.programme).where(Programme.is_exclusive.is_(True)))
    exclusive.programme.image_url = "https://mir.example/sargsyan.jpg"
    posts = session.scalars(
        select(Post).where(Post.slot_id == exclusive.id, Post.status == PLANNED).order_by(Post.due_at)
    ).all()
    assert len(posts) >= 3
    for post in posts:
        post.status = HELD
    tg_target = {"url": "https://api.telegram.example", "token": "1:x", "chat_id": "@mir", "lang": "ru"}
    session.add(Target(name="tg", kind="telegram", **tg_target))
    session.commit()
    held = [p.id for p in posts]
    day = exclusive.start_at.astimezone(exclusive.channel.zone).date()
    session.rollback()  # end the read, so the server may write (SQLite has one writer)

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU")
    page = context.new_page()
    try:
        desk = f"{demo_site}/staff/desk?date={day.fromordinal(day.toordinal() - 1).isoformat()}&days=2&lang=ru"
        page.goto(desk)
        page.fill("#email", "ed@example.test")
        page.fill("#password", PASSWORD)
        page.locator("form button[type=submit]").click()
        page.goto(desk)
        assert page.locator("h1").inner_text() == "Промо-стол"
        page.check(f"#approve-{held[0]}")
        page.check(f"#approve-{held[1]}")
        page.get_by_role("button", name="Одобрить отмеченные посты").click()
        assert "Одобрено 2 поста." in page.locator(".flash").inner_text()
        assert page.locator(f"#approve-{held[0]}").count() == 0  # approved: nothing left to tick
        assert page.locator(f"#approve-{held[2]}").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        page.locator(f"#desk-post-{held[2]} a").click()
        page.fill("#template", OWN)
        page.get_by_role("button", name="Сохранить").click()
        assert f"Шаблон поста {held[2]} сохранён." in page.locator(".flash").inner_text()
        telegram = page.locator("figure.net-telegram .tg-message")
        assert telegram.is_visible()
        assert "только на «Мир»" in telegram.locator(".tg-text").inner_text()
        assert telegram.locator("img.tg-photo").get_attribute("src") == "https://mir.example/sargsyan.jpg"
        assert "из 1024 символов" in page.locator("figure.net-telegram figcaption").inner_text()  # a caption
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
    session.expire_all()
    statuses = [session.get(Post, i).status for i in held[:3]]
    assert statuses == [PLANNED, PLANNED, HELD]
    assert session.get(Post, held[2]).own_template == OWN
