"""Core read paths on PostgreSQL: a broadcast day and now/next over 500 channels × 1 year of slots,
and cached schedule reads under wrk against gunicorn beside a bare endpoint with the same bytes.

    .venv/bin/python -m bench.core [--channels 500] [--days 365] [--keep]

Needs PostgreSQL at BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
and for the HTTP half Debian's wrk. Prints a Markdown table for bench/README.md.
"""

import gc
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
#: Slot lengths in minutes, cycled: 12 slots a day on average.
LENGTHS = [60, 120, 90, 150, 120, 60, 180, 90, 120, 150, 60, 240]
#: Programmes of its own on each channel, each with a Russian translation, so that now/next, as
#: on a real guide, shows a thousand different programmes, not the same few.
PER_CHANNEL = 2 * len(LENGTHS)


def make_database() -> str:
    base = make_url(PG)
    name = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULE_ENV": "development"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def generate(url: str, channels: int, days: int, start: date) -> int:
    """Fill the database with COPY: channels, one programme per channel and slot length, slots."""
    import psycopg

    conn_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC).isoformat()
    total = 0
    with psycopg.connect(conn_url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY channel (id, slug, name, names, timezone, broadcast_day_start, languages, "
            "is_exclusive_approval_required, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, channels + 1):
                copy.write_row(
                    (i, f"ch{i:04d}", f"Channel {i}", "{}", ZONES[i % len(ZONES)], "05:00", '["en"]', False, now, now)
                )
        with cur.copy(
            "COPY programme (id, title, summary, guests, is_exclusive, language, duration_minutes, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, channels * PER_CHANNEL + 1):
                minutes = LENGTHS[(i - 1) % PER_CHANNEL % len(LENGTHS)]
                copy.write_row(
                    (i, f"Programme {i}", f"What programme {i} is about.", "[]", False, "en", minutes, now, now)
                )
        with cur.copy("COPY programme_translation (programme_id, lang, title, summary) FROM STDIN") as copy:
            for i in range(1, channels * PER_CHANNEL + 1):
                copy.write_row((i, "ru", f"Передача {i}", f"О чём передача {i}."))
        t0 = datetime.combine(start, datetime.min.time(), UTC)
        end = t0 + timedelta(days=days)
        with (
            click.progressbar(range(1, channels + 1), label="slots", file=sys.stderr) as bar,
            cur.copy(
                "COPY slot (channel_id, programme_id, start_at, end_at, is_premiere, is_live, status, version, "
                "created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for ch in bar:
                at = t0 + timedelta(minutes=random.randrange(0, 60))
                k = ch
                while at < end:
                    j = k % PER_CHANNEL
                    stop = at + timedelta(minutes=LENGTHS[j % len(LENGTHS)])
                    programme = (ch - 1) * PER_CHANNEL + j + 1
                    copy.write_row((ch, programme, at, stop, False, False, "scheduled", 1, now, now))
                    at, k, total = stop, k + 1, total + 1
        for table in ("channel", "programme", "programme_translation"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        # As autovacuum leaves a table some time after a bulk load: statistics, and the
        # visibility map that lets now/next read its covering index alone.
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
        # And as a running server has long since written the load out: a checkpoint now, not
        # in the middle of the timings.
        cur.execute("CHECKPOINT")
    return total


def time_queries(url: str, channels: int, start: date, days: int, rounds: int = 200) -> dict[str, tuple[float, float]]:
    """Median and p95 milliseconds of a day's schedule (one channel) and now/next (every channel), in-process."""
    sys.path.insert(0, str(ROOT))
    from schedule_service import create_app, listings
    from schedule_service.db import db
    from schedule_service.models import Channel, generation

    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    day_ms: list[float] = []
    now_ms: dict[str, list[float]] = {"random": [], "walk": [], "kept": []}
    with app.app_context():
        # As wsgi.py does after start-up (here after the first queries, as a warm worker is).
        listings.now_next(db.session, datetime.now(UTC))
        db.session.rollback()
        gc.collect()
        gc.freeze()
        chans = db.session.query(Channel).all()
        # Loaded once, as a request has its channel: the rollbacks below must not expire them,
        # or each round would time reloading its channel too.
        db.session.expunge_all()
        for _ in range(rounds):
            ch = random.choice(chans)
            day = start + timedelta(days=random.randrange(1, days - 1))
            t = time.perf_counter()
            lo, hi = listings.day_range(ch, day)
            rows = db.session.scalars(listings.slots_between(ch.id, lo, hi)).all()
            day_ms.append((time.perf_counter() - t) * 1000)
            assert rows
            db.session.rollback()
        # now/next three ways: at random instants of the year with nothing kept between calls
        # (pages of the index and programmes cold: the worst case); then as / and /api/v1/now
        # ask it, a minute later each time, first with nothing kept (as every call right after
        # a schedule change is), then with the programme rows kept between calls while the
        # schedule's generation stays the same (web/caching.kept_programmes).
        year = datetime.combine(start, datetime.min.time(), UTC)
        walk = year + timedelta(days=random.randrange(1, days - 2))
        kept, gen = listings.KeptProgrammes(), generation.current(db.session)
        ways = {
            "random": lambda i: (year + timedelta(minutes=random.randrange(24 * 60, (days - 1) * 24 * 60)), None),
            "walk": lambda i: (walk + timedelta(minutes=i), None),
            "kept": lambda i: (walk + timedelta(minutes=i), kept),
        }
        for way, asked in ways.items():
            for i in range(rounds // 4):
                at, keeping = asked(i)
                t = time.perf_counter()
                rows = listings.now_next(db.session, at, keeping, gen)
                now_ms[way].append((time.perf_counter() - t) * 1000)
                assert len(rows) == channels
                db.session.rollback()
    return {
        "day": (statistics.median(day_ms), _p(day_ms, 95)),
        **{way: (statistics.median(ms), _p(ms, 95)) for way, ms in now_ms.items()},
    }


def _p(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100)[pct - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int = 10) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def http_ratio(url: str, path: str) -> tuple[float, float]:
    """Requests/s of ``path`` on gunicorn (2 workers) and of a bare endpoint with the same bytes."""
    import requests

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHEDULE_ENV": "development",
        "BENCH_BARE_PATH": path,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.bare_app:app",
        ],
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
            requests.get(base + path, timeout=5).raise_for_status()
            requests.get(base + "/bare", timeout=5).raise_for_status()
        return wrk(base + path), wrk(base + "/bare")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@click.command()
@click.option("--channels", default=500, show_default=True)
@click.option("--days", default=365, show_default=True)
@click.option("--keep", is_flag=True, help="keep the generated database")
def main(channels: int, days: int, keep: bool) -> None:
    """Generate the data set, time the queries, load-test the schedule read."""
    url = make_database()
    try:
        migrate(url)
        start = date.today()
        t = time.perf_counter()
        n = generate(url, channels, days, start)
        click.echo(f"generated {n} slots on {channels} channels in {time.perf_counter() - t:.0f} s", err=True)
        q = time_queries(url, channels, start, days)
        click.echo("| query | median | p95 | goal |")
        click.echo("| --- | --- | --- | --- |")
        rows = {
            "day": "one channel's broadcast day",
            "random": f"now/next, all {channels} channels, at random instants, nothing kept",
            "walk": f"now/next, all {channels} channels, a minute apart, nothing kept",
            "kept": f"now/next, all {channels} channels, a minute apart, programmes kept",
        }
        for way, label in rows.items():
            median, p95 = q[way]
            click.echo(f"| {label} | {median:.2f} ms | {p95:.2f} ms | {'< 5 ms' if way == 'day' else '< 20 ms'} |")
        if shutil.which("wrk"):
            day = (start + timedelta(days=3)).isoformat()
            path = f"/api/v1/channels/ch0001/schedule?date={day}"
            app_rps, bare_rps = http_ratio(url, path)
            click.echo("\n| endpoint (gunicorn -w 2, wrk -t2 -c32) | requests/s |\n| --- | --- |")
            click.echo(f"| `GET {path}` | {app_rps:.0f} |\n| bare Flask endpoint, same bytes | {bare_rps:.0f} |")
            click.echo(f"\nratio: {app_rps / bare_rps:.0%} (goal ≥ 90 %)")
        else:
            click.echo("wrk is not installed (apt-get install wrk): HTTP half skipped", err=True)
    finally:
        if keep:
            click.echo(f"kept {url}", err=True)
        else:
            drop_database(url)


if __name__ == "__main__":
    main()
