"""Screenshots of the viewer pages for the README: docs/front.png, docs/channel.png, docs/slot.png.

    .venv/bin/python tools/screenshots.py [--at 2031-11-27T19:30+03:00] [--lang en]

Loads the demo into a fresh SQLite database as if on the afternoon of ``--at`` (default: today,
19:30 Moscow time), serves the app with waitress in this process with the clock frozen there, and
photographs the pages with Debian's chromium through Playwright (never a downloaded browser).
"""

import sys
import tempfile
import threading
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
MSK = ZoneInfo("Europe/Moscow")


@click.command()
@click.option("--at", "at_text", default=None, help="the moment to show, ISO 8601 with offset")
@click.option("--lang", default="en", show_default=True)
@click.option("--out", default=str(ROOT / "docs"), show_default=True, type=click.Path(file_okay=False))
def main(at_text: str | None, lang: str, out: str) -> None:
    """Photograph the front page, Mir's week and the exclusive's page."""
    import waitress
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from schedule_service import clock, create_app
    from schedule_service.db import db
    from schedule_service.demo import load_demo
    from schedule_service.models import Programme, Slot

    at = datetime.fromisoformat(at_text) if at_text else datetime.combine(datetime.now(MSK).date(), time(19, 30), MSK)
    if at.tzinfo is None:
        raise click.BadParameter("give the moment with its offset", param_hint="--at")
    with tempfile.TemporaryDirectory() as tmp, clock.frozen(at):
        app = create_app(
            {
                "SCHEDULE_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.db",
                "PUBLIC_URL": "http://127.0.0.1:8000",
            }
        )
        with app.app_context():
            upgrade()
            load_demo(db.session)
            db.session.commit()
            exclusive = db.session.scalar(select(Slot.id).join(Slot.programme).where(Programme.is_exclusive.is_(True)))
            db.session.remove()
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        shots = {"front.png": "/", "channel.png": "/channels/mir", "slot.png": f"/slots/{exclusive}"}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
                for name, path in shots.items():
                    page.goto(f"{base}{path}?lang={lang}")
                    page.screenshot(path=str(Path(out) / name), full_page=True)
                    click.echo(f"{Path(out) / name}: {path}")
                browser.close()
        finally:
            server.close()
            thread.join(5)


if __name__ == "__main__":
    main()
