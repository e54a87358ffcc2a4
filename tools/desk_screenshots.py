"""Screenshots of the promo desk for the README, made by using it.

    .venv/bin/python tools/desk_screenshots.py [--at 2031-11-27T15:00+03:00] [--lang en]

Loads the demo into a fresh SQLite database at ``--at``, holds the exclusive's posts for
approval, adds a Telegram and a Mastodon target (never called: the desk only previews), serves
the app with waitress in this process with the clock frozen there, and does an editor's job in
Debian's chromium through Playwright: the calendar, one post with a template of its own and its
previews, and the calendar on a phone. Writes docs/staff-desk*.png (with -ru for Russian).
"""

import os
import sys
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
LOCALES = {"en": "en_GB", "ru": "ru_RU"}
EMAIL, PASSWORD = "editor@example.test", "correct horse battery"
TEMPLATES = {
    "en": "{{ title }} — only on {{ channel }}, {{ when }}.\n{% if quote %}“{{ quote }}”\n{% endif %}{{ link }}",
    "ru": "{{ title }} — только на «{{ channel }}», {{ when }}.\n{% if quote %}«{{ quote }}»\n{% endif %}{{ link }}",
}


@click.command()
@click.option("--at", "at_text", default="2031-11-27T15:00+03:00", show_default=True, help="the moment, with offset")
@click.option("--lang", default="en", show_default=True)
@click.option("--out", default=str(ROOT / "docs"), show_default=True, type=click.Path(file_okay=False))
def main(at_text: str, lang: str, out: str) -> None:
    """Use the promo desk in Chromium, photographing each screen."""
    import waitress
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from schedule_service import clock, create_app
    from schedule_service.auth import create_user
    from schedule_service.db import db
    from schedule_service.demo import load_demo
    from schedule_service.models import Post, Programme, Slot, Target
    from schedule_service.models.promo import PLANNED
    from schedule_service.publishing import decisions

    at = datetime.fromisoformat(at_text)
    if at.tzinfo is None:
        raise click.BadParameter("give the moment with its offset", param_hint="--at")
    shots = Path(out)
    with tempfile.TemporaryDirectory() as tmp, clock.frozen(at):
        app = create_app(
            {"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.db", "WTF_CSRF_ENABLED": True}
        )
        with app.app_context():
            upgrade()
            load_demo(db.session)
            create_user(db.session, EMAIL, PASSWORD, "editor")
            db.session.add(Target(name="telegram", kind="telegram", url="https://api.telegram.org", token="1:x",
                                  chat_id="@mir", lang=lang))  # fmt: skip
            db.session.add(Target(name="mastodon", kind="mastodon", url="https://mastodon.social", token="t" * 30,
                                  lang=lang))  # fmt: skip
            slot = db.session.scalar(select(Slot).join(Slot.programme).where(Programme.is_exclusive.is_(True)))
            posts = db.session.scalars(
                select(Post).where(Post.slot_id == slot.id, Post.status == PLANNED).order_by(Post.due_at)
            ).all()
            for post in posts:
                decisions.hold_post(db.session, post, EMAIL)
            db.session.commit()
            first_day = (posts[0].due_at.astimezone(slot.channel.zone) - timedelta(days=1)).date().isoformat()
            post_id = posts[0].id
            db.session.remove()
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"

        def named(name: str) -> Path:
            return shots / (name if lang == "en" else name.replace(".png", f"-{lang}.png"))

        def shoot(page, name: str, full: bool = True) -> None:
            page.screenshot(path=str(named(name)), full_page=full)
            click.echo(named(name))

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=[*ARGS, f"--lang={lang}"],
                    env={**os.environ, "LANG": f"{LOCALES.get(lang, 'en_GB')}.UTF-8", "LANGUAGE": lang},
                )
                context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=lang)
                page = context.new_page()
                page.goto(f"{base}/staff/login?lang={lang}")
                page.fill("#email", EMAIL)
                page.fill("#password", PASSWORD)
                page.locator("form button[type=submit]").last.click()
                page.wait_for_url(f"{base}/staff/")
                desk = f"{base}/staff/desk?date={first_day}&days=3&lang={lang}"

                # The calendar, the exclusive's posts held, two of them ticked for approval.
                page.goto(desk)
                for box in page.locator("input[name=ids]").all()[:2]:
                    box.check()
                shoot(page, "staff-desk.png")

                # One post: a template of its own, previewed on each target.
                page.goto(f"{base}/staff/desk/posts/{post_id}?lang={lang}")
                page.fill("#template", TEMPLATES.get(lang, TEMPLATES["en"]))
                page.locator("button[value=preview]").click()
                shoot(page, "staff-desk-post.png")

                phone = browser.new_context(
                    viewport={"width": 390, "height": 844}, device_scale_factor=1, locale=lang, is_mobile=True
                )
                phone.add_cookies(context.cookies())
                mobile = phone.new_page()
                mobile.goto(desk)
                shoot(mobile, "staff-desk-phone.png", full=False)
                wide = mobile.evaluate("document.documentElement.scrollWidth")
                if wide > 390:
                    raise click.ClickException(f"the phone page is {wide} px wide, not 390")
                browser.close()
        finally:
            server.close()
            thread.join(5)


if __name__ == "__main__":
    main()
