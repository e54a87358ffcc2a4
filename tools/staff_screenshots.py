"""Screenshots of the staff week grid and its fast-entry screens for the README, made by using them.

    .venv/bin/python tools/staff_screenshots.py [--at 2031-11-27T15:00+03:00] [--lang en]

Loads the demo into a fresh SQLite database at ``--at``, adds an editor, serves the app with
waitress in this process with the clock frozen there, and does an editor's job in Debian's
chromium through Playwright: the week on a desktop and on a phone, a pasted lineup, a copy that
clashes, a weekday repeat and the question before a cancel. Writes docs/staff-*.png.
"""

import os
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
#: The system locale Chromium is started in, for its date and time inputs.
LOCALES = {"en": "en_GB", "ru": "ru_RU"}
EMAIL, PASSWORD = "editor@example.test", "correct horse battery"
#: A day's lineup as an editor would paste it from the planning sheet (Russian titles, one new).
LINEUP = """\
05:00 Доброе утро, Содружество
09:00 Новости
10:00 Т/с «Граница»
12:00 Новости
13:00 Поле чудес
14:00 Х/ф «Летят журавли»
17:00 Наша кухня
18:00 Вечерние новости
19:00 Т/с «Смотритель маяка»
21:00 Вместе: итоги недели
22:00 Ток-шоу: Открытая дверь
00:30 Музыка ночи
"""


@click.command()
@click.option("--at", "at_text", default="2031-11-27T15:00+03:00", show_default=True, help="the moment, with offset")
@click.option("--lang", default="en", show_default=True)
@click.option("--out", default=str(ROOT / "docs"), show_default=True, type=click.Path(file_okay=False))
def main(at_text: str, lang: str, out: str) -> None:
    """Use the staff grid and fast entry in Chromium, photographing each screen."""
    import waitress
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright

    from schedule_service import clock, create_app
    from schedule_service.auth import create_user
    from schedule_service.db import db
    from schedule_service.demo import load_demo

    at = datetime.fromisoformat(at_text)
    if at.tzinfo is None:
        raise click.BadParameter("give the moment with its offset", param_hint="--at")
    day = at.date()
    friday = day.fromordinal(day.toordinal() + 1)
    # The demo fills the days around it: a lineup goes a fortnight on, where nothing is in the way.
    fortnight = day.fromordinal(day.toordinal() + 14)
    shots = Path(out)
    #: The demo's titles the tool clicks, as the grid shows them in the chosen language.
    titles = {"Evening News": "Вечерние новости", "Our Kitchen": "Наша кухня"} if lang == "ru" else {}
    titles = {en: titles.get(en, en) for en in ("Evening News", "Our Kitchen")}
    with tempfile.TemporaryDirectory() as tmp, clock.frozen(at):
        app = create_app(
            {"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.db", "WTF_CSRF_ENABLED": True}
        )
        with app.app_context():
            upgrade()
            load_demo(db.session)
            create_user(db.session, EMAIL, PASSWORD, "editor")
            db.session.commit()
            db.session.remove()
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"

        def named(name: str) -> Path:
            """staff-grid.png in English, staff-grid-ru.png in Russian: both stay in docs/."""
            return shots / (name if lang == "en" else name.replace(".png", f"-{lang}.png"))

        def shoot(page, name: str, full: bool = True) -> None:
            page.screenshot(path=str(named(name)), full_page=full)
            click.echo(named(name))

        try:
            with sync_playwright() as p:
                # Date inputs write dates as the browser's language does (28.11.2031, not 11/28/2031).
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

                # A day a fortnight on from a pasted lineup: the preview first, then applied.
                page.goto(f"{base}/staff/channels/mir/lineup?date={fortnight.isoformat()}")
                page.fill("#text", LINEUP)
                page.click("#preview")
                shoot(page, "staff-lineup.png")
                page.check("#create_missing")
                page.click("#apply")

                # The week, on a desktop.
                page.goto(f"{base}/staff/channels/mir?date={day.isoformat()}")
                shoot(page, "staff-grid.png")

                # Copying Thursday onto Friday: the clashes are listed and nothing is written.
                page.goto(f"{base}/staff/channels/mir/copy?from={day.isoformat()}&to={friday.isoformat()}&days=1")
                page.click("#preview")
                shoot(page, "staff-copy.png")

                # Repeating the evening news on weekdays.
                page.goto(f"{base}/staff/channels/mir?date={day.isoformat()}")
                page.locator(f"#day-{day.isoformat()} li.slot", has_text=titles["Evening News"]).locator(
                    "a[href$='/repeat']"
                ).click()
                page.fill("#until", day.fromordinal(day.toordinal() + 8).isoformat())
                page.check("input[value=weekday]")
                page.click("#preview")
                shoot(page, "staff-repeat.png")

                # Cancelling asks first.
                page.goto(f"{base}/staff/channels/mir?date={day.isoformat()}")
                page.locator(f"#day-{day.isoformat()} li.slot", has_text=titles["Our Kitchen"]).locator(
                    "a[href$='/cancel']"
                ).click()
                page.locator("main").screenshot(path=str(named("staff-cancel.png")))

                # The week on a phone, 390 px wide, at today's column.
                phone = browser.new_context(
                    viewport={"width": 390, "height": 844}, device_scale_factor=1, locale=lang, is_mobile=True
                )
                phone.add_cookies(context.cookies())
                mobile = phone.new_page()
                mobile.goto(f"{base}/staff/channels/mir?date={day.isoformat()}#day-{day.isoformat()}")
                shoot(mobile, "staff-grid-phone.png", full=False)
                wide = mobile.evaluate("document.documentElement.scrollWidth")
                if wide > 390:  # longer words (Russian) must wrap, not push the page sideways
                    raise click.ClickException(f"the phone page is {wide} px wide, not 390")
                browser.close()
        finally:
            server.close()
            thread.join(5)


if __name__ == "__main__":
    main()
