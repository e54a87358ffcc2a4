"""Screenshots of the staff pages in Russian for the README: docs/staff-grid-ru.png and its phone view.

    .venv/bin/python tools/staff_screenshots.py [--at 2031-11-27T15:00+03:00] [--lang ru]

Loads the demo into a fresh SQLite database as if on the afternoon of ``--at`` (default: today,
15:00 Moscow time), adds an admin whose staff pages speak ``--lang``, serves the app with waitress
in this process with the clock frozen there, logs in and photographs Mir's week at desktop width
and at 390 px (a phone) with Debian's chromium through Playwright (never a downloaded browser).
"""

import sys
import tempfile
import threading
from datetime import datetime, time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.screenshots import ARGS, CHROMIUM, MSK  # noqa: E402

EMAIL, PASSWORD = "editor@example.test", "a demo password"
#: (file, path, viewport width)
SHOTS = [
    ("staff-grid-{lang}.png", "/staff/channels/mir", 1366),
    ("staff-grid-{lang}-phone.png", "/staff/channels/mir", 390),
]


@click.command()
@click.option("--at", "at_text", default=None, help="the moment to show, ISO 8601 with offset")
@click.option("--lang", default="ru", show_default=True)
@click.option("--out", default=str(ROOT / "docs"), show_default=True, type=click.Path(file_okay=False))
def main(at_text: str | None, lang: str, out: str) -> None:
    """Photograph Mir's week on the staff pages, as an editor who reads them in ``lang`` sees it."""
    import waitress
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright

    from schedule_service import auth, clock, create_app
    from schedule_service.db import db
    from schedule_service.demo import load_demo

    at = datetime.fromisoformat(at_text) if at_text else datetime.combine(datetime.now(MSK).date(), time(15), MSK)
    if at.tzinfo is None:
        raise click.BadParameter("give the moment with its offset", param_hint="--at")
    with tempfile.TemporaryDirectory() as tmp, clock.frozen(at):
        app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.db"})
        with app.app_context():
            upgrade()
            load_demo(db.session)
            user = auth.create_user(db.session, EMAIL, PASSWORD, "editor")
            auth.update_user(db.session, user, "system", language=lang)
            db.session.commit()
            db.session.remove()
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                for name, path, width in SHOTS:
                    context = browser.new_context(viewport={"width": width, "height": 900}, locale=lang)
                    page = context.new_page()
                    page.goto(f"{base}/staff/login")
                    page.fill("#email", EMAIL)
                    page.fill("#password", PASSWORD)
                    page.locator("form button[type=submit]").last.click()
                    page.wait_for_url(f"{base}/staff/")
                    page.goto(base + path)
                    target = Path(out) / name.format(lang=lang)
                    page.screenshot(path=str(target), full_page=False)
                    click.echo(f"{target}: {path} at {width} px")
                    context.close()
                browser.close()
        finally:
            server.close()
            thread.join(5)


if __name__ == "__main__":
    main()
