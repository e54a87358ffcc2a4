"""The change feed on PostgreSQL: polls per second with nothing new, and the time from commit to visibility.

    .venv/bin/python -m bench.changes [--changes 20000] [--seconds 5] [--commits 200] [--keep]

A fresh PostgreSQL database (BENCH_PG, as bench/core.py) with ``--changes`` changes in its log
(programmes and slots made in bulk, as an import does), then

- polls with nothing new, through the WSGI app: gunicorn with 2 sync workers, wrk ``-t2 -c32``,
  ``GET /api/v1/changes?since=LAST`` answered 200 (empty page) and, with ``If-None-Match``, 304;
  beside the bare endpoint of bench/bare_app.py for scale;
- commit to visibility: one poller asks gunicorn in a loop with its last cursor while a writer
  commits a change every few milliseconds; for each commit, the time from its COMMIT returning
  to the poller first holding it;
- what the log costs writers: a bulk insert (5,000 programmes and their slots in one
  transaction) and 200 single-slot transactions, with the log's hooks removed and with them.

Prints Markdown rows for bench/README.md.
"""

import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from bench.core import drop_database, free_port, make_database, migrate

ROOT = Path(__file__).resolve().parent.parent


def fill(url: str, changes: int) -> int:
    """Make ``changes`` changes (half programmes, half their slots) in bulk; the last cursor."""
    from sqlalchemy import func, select

    from schedule_service import create_app, schedule
    from schedule_service.db import db
    from schedule_service.models import Change

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        channel = schedule.create_channel(db.session, {"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow"}, "b")
        db.session.commit()
        per = 1000
        start = datetime(2031, 1, 1, tzinfo=UTC)
        for batch in range(changes // (2 * per)):
            titles = [{"title": f"Show {batch}-{i}"} for i in range(per)]
            ids = schedule.create_programmes(db.session, titles, "bench")
            progs = [db.session.get(schedule.Programme, pid) for pid in ids]
            at = start + timedelta(hours=batch * per)
            many = [
                (p, {"start": at + timedelta(hours=i), "end": at + timedelta(hours=i, minutes=50)})
                for i, p in enumerate(progs)
            ]
            schedule.create_slots(db.session, channel, many, "bench")
            db.session.commit()
        last = db.session.scalar(select(func.max(Change.seq)))
        db.engine.dispose()
        return last


def wrk(url: str, seconds: int, header: str | None = None) -> float:
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s"] + (["-H", header] if header else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def gunicorn(url: str, port: int, bare_path: str) -> subprocess.Popen:
    import requests

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHEDULE_ENV": "development",
        "BENCH_BARE_PATH": bare_path,
        "PYTHONPATH": str(ROOT),
    }
    gunicorn_bin = str(Path(sys.executable).parent / "gunicorn")
    cmd = [gunicorn_bin, "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.bare_app:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def visibility(url: str, base: str, commits: int) -> list[float]:
    """Seconds from each commit's return to a polling consumer first holding its change."""
    import requests
    from sqlalchemy import func, select

    from schedule_service import create_app, schedule
    from schedule_service.db import db
    from schedule_service.models import Change

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    seen_at: dict[int, float] = {}
    stop = threading.Event()
    with app.app_context():
        cursor = db.session.scalar(select(func.max(Change.seq)))
        db.session.commit()

    def poll(cursor: int) -> None:
        http = requests.Session()
        while not stop.is_set():
            page = http.get(f"{base}/api/v1/changes", params={"since": cursor}, timeout=5).json()
            now = time.perf_counter()
            for item in page["items"]:
                seen_at.setdefault(item["id"], now)
                cursor = item["cursor"]

    poller = threading.Thread(target=poll, args=(cursor,))
    poller.start()
    committed: dict[int, float] = {}
    with app.app_context():
        for n in range(commits):
            programme = schedule.create_programme(db.session, {"title": f"Visible {n}"}, "bench")
            db.session.commit()
            committed[programme.id] = time.perf_counter()
            time.sleep(random.uniform(0.002, 0.02))
        db.engine.dispose()
    deadline = time.time() + 10
    while len(seen_at) < len(committed) and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join(10)
    missing = set(committed) - set(seen_at)
    if missing:
        raise RuntimeError(f"the poller never saw {len(missing)} changes")
    return [seen_at[i] - committed[i] for i in committed]


def writer_cost(url: str, bulk: int, singles: int, rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Seconds without the change log and with it (best of ``rounds``, turn about): a bulk insert of
    ``bulk`` programmes and their slots in one transaction, and ``singles`` slots each committed alone."""
    from contextlib import contextmanager, nullcontext

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from schedule_service import create_app, schedule
    from schedule_service.db import db
    from schedule_service.models import change

    hooks = [("after_flush", change._record_flushed), ("before_commit", change._number_in_commit_order)]

    @contextmanager
    def unlogged():
        for name, fn in hooks:
            event.remove(Session, name, fn)
        saved, change.note_inserted = change.note_inserted, lambda *a: None
        try:
            yield
        finally:
            change.note_inserted = saved
            for name, fn in hooks:
                event.listen(Session, name, fn)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    best: dict[str, list[float]] = {}
    with app.app_context():
        session = db.session
        for n in range(rounds):
            for logged in (False, True):
                day = datetime(2035 + n, 1, 1, tzinfo=UTC) + timedelta(days=200 if logged else 0)
                slug = f"w{n}-{int(logged)}"
                channel = schedule.create_channel(session, {"slug": slug, "name": slug, "timezone": "UTC"}, "b")
                session.commit()
                with nullcontext() if logged else unlogged():
                    t = time.perf_counter()
                    ids = schedule.create_programmes(session, [{"title": f"B{i}"} for i in range(bulk)], "b")
                    progs = [session.get(schedule.Programme, pid) for pid in ids]
                    many = [
                        (p, {"start": day + timedelta(hours=i), "end": day + timedelta(hours=i, minutes=50)})
                        for i, p in enumerate(progs)
                    ]
                    schedule.create_slots(session, channel, many, "b")
                    session.commit()
                    best.setdefault(f"bulk {logged}", []).append(time.perf_counter() - t)
                    t = time.perf_counter()
                    for i in range(singles):
                        at = day - timedelta(days=30) + timedelta(hours=i)
                        values = {"start": at, "duration_minutes": 50}
                        schedule.create_slot(session, channel, progs[0], values, "b")
                        session.commit()
                    best.setdefault(f"single {logged}", []).append(time.perf_counter() - t)
        db.engine.dispose()
    return {kind: (min(best[f"{kind} False"]), min(best[f"{kind} True"])) for kind in ("bulk", "single")}


@click.command()
@click.option("--changes", default=20000, show_default=True)
@click.option("--seconds", default=5, show_default=True)
@click.option("--commits", default=200, show_default=True)
@click.option("--keep", is_flag=True, help="keep the generated database")
def main(changes: int, seconds: int, commits: int, keep: bool) -> None:
    import requests

    url = make_database()
    try:
        migrate(url)
        last = fill(url, changes)
        port = free_port()
        proc = gunicorn(url, port, f"/api/v1/changes?since={last}")
        try:
            base = f"http://127.0.0.1:{port}"
            path = f"{base}/api/v1/changes?since={last}"
            etag = requests.get(path, timeout=5).headers["ETag"]
            for _ in range(20):
                requests.get(path, timeout=5).raise_for_status()
            empty = wrk(path, seconds)
            not_modified = wrk(path, seconds, f"If-None-Match: {etag}")
            bare = wrk(f"{base}/bare", seconds)
            lags = sorted(visibility(url, base, commits))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        cost = writer_cost(url, bulk=5000, singles=200)
        load = os.getloadavg()[0]
        print(f"{last} changes in the log; load average {load:.1f}; {os.cpu_count()} CPUs")
        print("| poll with nothing new (gunicorn -w 2, wrk -t2 -c32) | requests/s |")
        print("| --- | --- |")
        print(f"| `GET /api/v1/changes?since=LAST` → 200, empty page | {empty:.0f} |")
        print(f"| the same with `If-None-Match` → 304 | {not_modified:.0f} |")
        print(f"| bare Flask endpoint, same bytes as the page | {bare:.0f} |")
        p95 = lags[int(len(lags) * 0.95) - 1]
        ms = [x * 1000 for x in (statistics.median(lags), p95, lags[-1])]
        print(
            f"\ncommit → visible to a polling consumer ({commits} commits): median {ms[0]:.1f} ms, "
            f"p95 {ms[1]:.1f} ms, max {ms[2]:.1f} ms"
        )
        (b0, b1), (s0, s1) = cost["bulk"], cost["single"]
        print("\n| writes (best of 3, turn about) | without the change log | with it |")
        print("| --- | --- | --- |")
        print(f"| 5,000 programmes + their slots in one transaction (bulk, as an import) | {b0:.2f} s | {b1:.2f} s |")
        print(f"| 200 slots, a transaction each (`create_slot`, as the API) | {s0:.2f} s | {s1:.2f} s |")
    finally:
        if not keep:
            drop_database(url)


if __name__ == "__main__":
    main()
