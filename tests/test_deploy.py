"""The documented deployment: deploy/'s nginx site in front of a real gunicorn, on both engines.

nginx (Debian's, from `make system-deps`) runs unprivileged in the foreground with a prefix of
its own, its config made from deploy/nginx/schedule-service.conf with only the ports and paths
changed, on free loopback ports.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from schedule_service import clock, schedule
from tests.conftest import need
from tools.local_nginx import main_config, site_config

ROOT = Path(__file__).resolve().parent.parent
#: Short, so a change shows through the cache within the test.
MAX_AGE = 3
#: nginx counts freshness in whole seconds from the second it stored a response: an entry is
#: stale at most this long after it was stored.
STALE_AFTER = MAX_AGE + 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_it_answers(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"{what} did not answer at {url}")


@pytest.fixture
def stack(app, database_url):
    """gunicorn (2 workers) on the test's database, nginx with the deploy site in front; nginx's base URL."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    need(nginx is not None, "nginx is not installed (make system-deps)")
    upstream, port = _free_port(), _free_port()
    prefix = Path(tempfile.mkdtemp(prefix="nginx-deploy-test-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SCHEDULE_ENV": "testing",
        "PUBLIC_MAX_AGE": str(MAX_AGE),
        "PUBLIC_URL": "http://schedule.test",
        # Where the site's /pictures/ location looks (its root is the prefix, as instance/ in production).
        "PICTURES_DIR": str(prefix / "pictures"),
    }
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{upstream}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    proxy = None
    try:
        for sub in ("cache", "tmp", "logs", "pictures"):
            (prefix / sub).mkdir()
        shutil.copytree(ROOT / "schedule_service" / "static", prefix / "static")
        (prefix / "static" / "from-disk.txt").write_text("served by nginx from disk\n")
        (prefix / "site.conf").write_text(site_config(port, upstream, prefix))
        (prefix / "nginx.conf").write_text(main_config(prefix))
        # Unprivileged: as root (CI), nginx runs as nobody, owning its prefix.
        user = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in [prefix, *prefix.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        proxy = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **user,
        )
        _wait_until_it_answers(f"http://127.0.0.1:{upstream}/healthz", gunicorn, "gunicorn")
        _wait_until_it_answers(f"http://127.0.0.1:{port}/static/site.css", proxy, "nginx")
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in (proxy, gunicorn):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                proc.stderr.close()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture
def listing(session, make_channel, make_slot):
    """A channel with one slot tomorrow; (the slot, the path of its schedule read)."""
    channel = make_channel("mir", promo_plan=[])
    start = clock.now().replace(microsecond=0, second=0) + timedelta(days=1)
    slot = make_slot(start, channel=channel, duration_minutes=60)
    begin, end = start - timedelta(days=1), start + timedelta(days=1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return slot, f"/api/v1/channels/mir/schedule?from={begin.strftime(fmt)}&to={end.strftime(fmt)}"


def starts(response: requests.Response) -> list[str]:
    return [s["start"] for s in response.json()["slots"]]


def test_a_repeated_public_read_is_answered_from_nginx_s_cache(stack, listing):
    _, path = listing
    first = requests.get(stack + path, timeout=5)
    second = requests.get(stack + path, timeout=5)
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Cache-Status"] == "MISS" and second.headers["X-Cache-Status"] == "HIT"
    assert second.content == first.content and second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"


def test_a_schedule_change_shows_through_the_cache_within_the_max_age(stack, listing, session):
    slot, path = listing
    before = requests.get(stack + path, timeout=5)
    filled = time.monotonic()
    moved = slot.start_at + timedelta(minutes=30)
    schedule.update_slot(session, slot, {"start": moved}, "test")
    session.commit()
    soon = requests.get(stack + path, timeout=5)
    if soon.headers["X-Cache-Status"] == "HIT":  # still inside the max-age: the cached bytes
        assert soon.content == before.content
    time.sleep(max(0.0, STALE_AFTER - (time.monotonic() - filled)))
    after = requests.get(stack + path, timeout=5)
    assert after.status_code == 200 and starts(after) != starts(before)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert requests.get(stack + path, timeout=5).headers["X-Cache-Status"] == "HIT"


def test_a_conditional_request_gets_304_through_nginx_and_a_stale_entry_is_revalidated(stack, listing):
    _, path = listing
    etag = requests.get(stack + path, timeout=5).headers["ETag"]
    filled = time.monotonic()
    cached = requests.get(stack + path, headers={"If-None-Match": etag}, timeout=5)
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["X-Cache-Status"] == "HIT"
    time.sleep(max(0.0, STALE_AFTER - (time.monotonic() - filled)))
    # Stale now: nginx asks the app with the ETag, the app says 304, nginx keeps its bytes.
    again = requests.get(stack + path, headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304 and again.headers["X-Cache-Status"] == "REVALIDATED"
    full = requests.get(stack + path, timeout=5)
    assert full.status_code == 200 and full.headers["ETag"] == etag and full.headers["X-Cache-Status"] == "HIT"


def test_staff_pages_and_requests_with_a_session_or_token_are_never_cached(stack, listing, admin):
    _, path = listing
    for _ in range(2):
        staff = requests.get(stack + "/staff/login", timeout=5)
        assert staff.status_code == 200 and staff.headers["X-Cache-Status"] != "HIT"
    for _ in range(2):
        targets = requests.get(stack + "/api/v1/targets", headers=admin, timeout=5)
        assert targets.status_code == 200 and targets.headers["X-Cache-Status"] == "BYPASS"
    # Someone's own request for a public read goes to the app, and what it gets is not kept.
    session_cookie = {"Cookie": "lang=en; session=eyJ1c2VyIjoxfQ.staff"}
    assert requests.get(stack + path, headers=session_cookie, timeout=5).headers["X-Cache-Status"] == "BYPASS"
    assert requests.get(stack + path, headers=admin, timeout=5).headers["X-Cache-Status"] == "BYPASS"
    assert requests.get(stack + path, timeout=5).headers["X-Cache-Status"] == "MISS"
    assert requests.get(stack + path, headers=session_cookie, timeout=5).headers["X-Cache-Status"] == "BYPASS"


def test_static_files_are_served_by_nginx_from_disk(stack):
    resp = requests.get(stack + "/static/from-disk.txt", timeout=5)
    assert resp.status_code == 200 and resp.text == "served by nginx from disk\n"
    assert "X-Cache-Status" not in resp.headers and "max-age=604800" in resp.headers["Cache-Control"]


def test_pictures_are_served_by_nginx_from_disk_and_a_missing_size_by_the_app(stack, session, editor, make_programme):
    from io import BytesIO

    from PIL import Image

    programme = make_programme()
    buf = BytesIO()
    Image.new("RGB", (800, 500), "teal").save(buf, "JPEG")
    put = requests.put(
        f"{stack}/api/v1/programmes/{programme.id}/picture",
        data=buf.getvalue(),
        headers={**editor, "Content-Type": "image/jpeg"},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    card = put.json()["picture"]["card"]["webp"].removeprefix("http://schedule.test")
    resp = requests.get(stack + card, timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/webp"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Cache-Status" not in resp.headers  # from disk, not through the app and its cache
    assert Image.open(BytesIO(resp.content)).size == (1200, 630)
    # What is not on disk goes to the app (which makes a size that went missing, or says there is none).
    unknown = requests.get(f"{stack}/pictures/{'0' * 64}/card.jpg", timeout=5)
    assert unknown.status_code == 404 and unknown.headers.get("Cache-Control") != resp.headers["Cache-Control"]
