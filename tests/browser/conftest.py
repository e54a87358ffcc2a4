"""Browser fixtures: Debian's chromium through Playwright, and the demo served by waitress.

The server runs in the test's process so the clock can be frozen on the afternoon the demo was
loaded: the exclusive then airs "tonight right after midnight". Playwright never downloads a browser.
"""

import shutil
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from schedule_service import clock
from schedule_service.demo import load_demo
from tests.conftest import need

CHROMIUM = "/usr/bin/chromium"
#: Headless as root, and quiet: the machine's closed network refuses Chromium's own calls.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
MSK = ZoneInfo("Europe/Moscow")
LOADED = datetime(2031, 11, 27, 15, 0, tzinfo=MSK)


@pytest.fixture(scope="module")
def browser():
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def demo_site(app, session):
    """The demo, loaded on the afternoon before its night, served by waitress on a free port."""
    import waitress

    with clock.frozen(LOADED):
        load_demo(session)
        session.commit()
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="test")
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            # Closing the socket from this thread can wake the loop's select() on a closed
            # descriptor (EBADF); that is the stop we asked for, anything earlier is not.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    with clock.frozen(LOADED):
        thread.start()
        yield f"http://127.0.0.1:{server.effective_port}"
        stopping.set()
        server.close()
        thread.join(5)
        assert not thread.is_alive()
