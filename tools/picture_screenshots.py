"""Pictures for the README: the exclusive's page with an uploaded picture and its credit, and the
share card drawn for a showing without one (docs/slot-picture.png, docs/share-card-ru.png).

    .venv/bin/python tools/picture_screenshots.py [--at 2031-11-27T19:30+03:00] [--lang en]

Loads the demo into a fresh SQLite database as if on the afternoon of ``--at``, gives the exclusive
a picture (drawn here: the demo ships no photograph) through the same upload path as the staff
form, serves the app with waitress in this process with the clock frozen, and photographs the page
with Debian's chromium through Playwright (never a downloaded browser).
"""

import sys
import tempfile
import threading
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
MSK = ZoneInfo("Europe/Moscow")


def stand_in_photo() -> bytes:
    """A stand-in for the press photograph: a lectern before flags, as a JPEG."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1800, 1200))
    draw = ImageDraw.Draw(img)
    for y in range(1200):  # a dark blue hall
        shade = 30 + y * 40 // 1200
        draw.line((0, y, 1800, y), fill=(shade // 2, shade // 2 + 10, shade + 40))
    flags = [((255, 255, 255), (0, 57, 166), (213, 43, 30)), ((217, 0, 18), (0, 51, 160), (242, 168, 0))]
    for i, colors in enumerate(flags):
        x = 260 + i * 1000
        for j, color in enumerate(colors):  # two flags
            draw.rectangle((x, 140 + j * 110, x + 280, 250 + j * 110), fill=color)
        draw.line((x, 140, x, 900), fill=(200, 200, 200), width=8)
    draw.polygon([(700, 1200), (760, 640), (1040, 640), (1100, 1200)], fill=(120, 78, 40))  # the lectern
    draw.ellipse((840, 330, 960, 460), fill=(224, 180, 150))  # the speaker
    draw.rectangle((800, 460, 1000, 660), fill=(30, 30, 40))
    draw.line((900, 640, 900, 560), fill=(20, 20, 20), width=10)  # the microphone
    buf = BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@click.command()
@click.option("--at", "at_text", default="2031-11-27T19:30+03:00", show_default=True, help="ISO 8601 with offset")
@click.option("--lang", default="en", show_default=True)
@click.option("--out", default=str(ROOT / "docs"), show_default=True, type=click.Path(file_okay=False))
def main(at_text: str, lang: str, out: str) -> None:
    """Photograph the exclusive's page with its picture; save a showing's share card in Russian."""
    import waitress
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from schedule_service import clock, create_app, media, schedule
    from schedule_service.db import db
    from schedule_service.demo import load_demo
    from schedule_service.models import Programme, Slot

    at = datetime.fromisoformat(at_text)
    with tempfile.TemporaryDirectory() as tmp, clock.frozen(at):
        app = create_app(
            {
                "SCHEDULE_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.db",
                "PUBLIC_URL": "http://127.0.0.1:8000",
                "PICTURES_DIR": f"{tmp}/pictures",
            }
        )
        with app.app_context():
            upgrade()
            load_demo(db.session)
            db.session.commit()
            slot = db.session.scalar(select(Slot).join(Slot.programme).where(Programme.is_exclusive.is_(True)))
            exclusive = slot.id
            digest = media.ingest(stand_in_photo(), Path(tmp) / "pictures")
            schedule.update_programme(db.session, slot.programme, {"image_hash": digest}, "screenshots")
            db.session.commit()
            db.session.remove()
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
                page.goto(f"{base}/slots/{exclusive}?lang={lang}")
                page.screenshot(path=str(Path(out) / "slot-picture.png"), full_page=True)
                click.echo(f"{Path(out) / 'slot-picture.png'}: /slots/{exclusive}")
                # The card a showing without a picture previews with (drawn whether or not it has one).
                card = page.request.get(f"{base}/slots/{exclusive}/card.png?lang=ru")
                (Path(out) / "share-card-ru.png").write_bytes(card.body())
                click.echo(f"{Path(out) / 'share-card-ru.png'}: /slots/{exclusive}/card.png?lang=ru")
                browser.close()
        finally:
            server.close()
            thread.join(5)


if __name__ == "__main__":
    main()
