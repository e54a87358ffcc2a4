"""Viewer reads on PostgreSQL: the front page and the XMLTV feed, rendered (cold) and cached (warm),
and under wrk against gunicorn (2 workers) beside a bare Flask endpoint answering the same bytes.

    .venv/bin/python -m bench.pages [--channels 20] [--days 60] [--rounds 30]

Needs PostgreSQL at BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
and for the HTTP half Debian's wrk. Prints Markdown tables for bench/README.md.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import click

from bench.core import ROOT, drop_database, free_port, generate, make_database, migrate, wrk

PATHS = ("/", "/xmltv.xml")


def time_reads(url: str, rounds: int) -> dict[str, dict[str, float]]:
    """Median and worst milliseconds per path: rendered with an empty cache, then served from it."""
    sys.path.insert(0, str(ROOT))
    from schedule_service import create_app
    from schedule_service.db import db
    from schedule_service.web.caching import HitLayer, body_cache

    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    client = app.test_client()
    hits = app.wsgi_app  # no TRUSTED_PROXIES here, so no ProxyFix in front of it
    assert isinstance(hits, HitLayer)
    out = {}
    for path in PATHS:
        cold, warm, size = [], [], 0
        for _ in range(rounds):
            app.extensions.pop("public_cache", None)
            hits.forget()
            t = time.perf_counter()
            response = client.get(path)
            cold.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.data[:300]
            size = len(response.data)
            for _ in range(5):
                t = time.perf_counter()
                assert client.get(path).status_code == 200
                warm.append((time.perf_counter() - t) * 1000)
        assert len(body_cache(app)) >= 1
        out[path] = {
            "cold": statistics.median(cold),
            "cold_max": max(cold),
            "warm": statistics.median(warm),
            "warm_max": max(warm),
            "bytes": size,
        }
    with app.app_context():
        db.engine.dispose()
    return out


def http_ratio(url: str, path: str, rounds: int = 3, seconds: int = 5) -> tuple[float, float]:
    """Best requests/s of ``path`` and of the bare endpoint with its bytes, on one gunicorn (2 workers).

    The two are measured turn about, ``rounds`` times each, so a busy machine slows both alike.
    """
    import requests

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHEDULE_ENV": "development",
        "BENCH_BARE_PATH": path,
        "PYTHONPATH": str(ROOT),
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.bare_app:app"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code in (200, 503):
                    break
            except requests.RequestException:
                time.sleep(0.2)
        for _ in range(20):  # warm both workers' caches
            requests.get(base + path, timeout=30).raise_for_status()
            requests.get(base + "/bare", timeout=30).raise_for_status()
        app_rps, bare_rps = [], []
        for _ in range(rounds):
            app_rps.append(wrk(base + path, seconds))
            bare_rps.append(wrk(base + "/bare", seconds))
        return max(app_rps), max(bare_rps)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@click.command()
@click.option("--channels", default=20, show_default=True, help="channels on the front page and in the feed")
@click.option("--days", default=60, show_default=True, help="days of slots per channel")
@click.option("--rounds", default=30, show_default=True, help="cold renders per page")
@click.option("--keep", is_flag=True, help="keep the generated database")
def main(channels: int, days: int, rounds: int, keep: bool) -> None:
    """Generate a schedule, time the page and feed in-process, load-test them over HTTP."""
    url = make_database()
    try:
        migrate(url)
        t = time.perf_counter()
        n = generate(url, channels, days, date.today())
        click.echo(f"generated {n} slots on {channels} channels in {time.perf_counter() - t:.0f} s", err=True)
        reads = time_reads(url, rounds)
        click.echo(f"In-process (Flask test client), {channels} channels, {n} slots:\n")
        click.echo("| read | size | rendered (cache empty): median / max | cached: median / max |")
        click.echo("| --- | --- | --- | --- |")
        for path, r in reads.items():
            click.echo(
                f"| `GET {path}` | {r['bytes'] / 1024:.0f} KiB | {r['cold']:.1f} / {r['cold_max']:.1f} ms "
                f"| {r['warm']:.2f} / {r['warm_max']:.2f} ms |"
            )
        if not shutil.which("wrk"):
            click.echo("wrk is not installed (apt-get install wrk): HTTP half skipped", err=True)
            return
        click.echo(
            "\n| endpoint (gunicorn -w 2, wrk -t2 -c32, best of 3 × 5 s) | requests/s "
            "| bare Flask, same bytes | ratio |"
        )
        click.echo("| --- | --- | --- | --- |")
        for path in PATHS:
            app_rps, bare_rps = http_ratio(url, path)
            click.echo(f"| `GET {path}` | {app_rps:.0f} | {bare_rps:.0f} | {app_rps / bare_rps:.0%} |")
    finally:
        if keep:
            click.echo(f"kept {url}", err=True)
        else:
            drop_database(url)


if __name__ == "__main__":
    main()
