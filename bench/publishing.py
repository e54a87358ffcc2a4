"""Publishing on PostgreSQL: lateness (send − due) and dispatch throughput of two schedulers.

    .venv/bin/python -m bench.publishing [--posts 10000] [--spread 50] [--schedulers 2]

Two `flask --app wsgi scheduler run` processes send to a Standard Webhooks receiver on loopback
(threaded, keep-alive, verifying every signature), which notes when each webhook-id first came.

- lateness: ``--posts`` planned posts falling due evenly over ``--spread`` seconds; for each,
  the receiver's first arrival minus the post's due time; p50, p99, max.
- throughput: ``--posts`` posts all due at once; posts per second from the first arrival to
  the last, and the count of webhook-ids that arrived more than once (should be 0).

Needs PostgreSQL at BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
Prints a Markdown table for bench/README.md.
"""

import base64
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook, WebhookVerificationError

from bench.core import drop_database, make_database, migrate

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Receiver:
    """A webhook consumer that verifies signatures and notes each id's first arrival."""

    def __init__(self):
        hook = Webhook(SECRET)
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.repeats = 0
        self.bad = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    hook.verify(body, {k.lower(): v for k, v in self.headers.items()})
                    status = 200
                except WebhookVerificationError:
                    status = 400
                with receiver.lock:
                    if status != 200:
                        receiver.bad += 1
                    elif self.headers["webhook-id"] in receiver.first:
                        receiver.repeats += 1
                    else:
                        receiver.first[self.headers["webhook-id"]] = arrived
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.first.clear()
            self.repeats = self.bad = 0

    def count(self) -> int:
        with self.lock:
            return len(self.first)


def setup(url: str, hook_url: str) -> tuple[int, int]:
    """A channel without a plan, a slot an hour ahead, the webhook target; their ids."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as c:
        channel = c.execute(
            text(
                "INSERT INTO channel (slug, name, names, timezone, broadcast_day_start, languages, promo_plan, "
                "is_exclusive_approval_required, created_at, updated_at) VALUES ('bench', 'Bench', '{}', 'UTC', "
                "'06:00', '[]', '[]', false, :now, :now) RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        programme = c.execute(
            text(
                "INSERT INTO programme (title, guests, is_exclusive, language, duration_minutes, created_at, "
                "updated_at) VALUES ('Bench show', '[]', false, 'en', 60, :now, :now) RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        slot = c.execute(
            text(
                "INSERT INTO slot (channel_id, programme_id, start_at, end_at, is_premiere, is_live, status, "
                "version, created_at, updated_at) VALUES (:ch, :pr, :start, :end, false, false, 'scheduled', 1, "
                ":now, :now) RETURNING id"
            ),
            {
                "ch": channel,
                "pr": programme,
                "start": now + timedelta(hours=1),
                "end": now + timedelta(hours=2),
                "now": now,
            },
        ).scalar_one()
        target = c.execute(
            text(
                "INSERT INTO target (name, kind, url, secret, is_approval_required, is_enabled, created_at, "
                "updated_at) VALUES ('bench-hook', 'webhook', :url, :secret, false, true, :now, :now) RETURNING id"
            ),
            {"url": hook_url, "secret": SECRET, "now": now},
        ).scalar_one()
    engine.dispose()
    return slot, target


def plan_posts(url: str, slot: int, target: int, dues: list[datetime], run: str) -> dict[str, datetime]:
    """Insert one planned post per due time; {idempotency key: due}."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    rows = [
        {
            "slot": slot,
            "target": target,
            "step": f"{run}-{i}",
            "key": f"bench-{run}-{i}",
            "due": due,
            "valid": now + timedelta(hours=1),
            "now": now,
        }
        for i, due in enumerate(dues)
    ]
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO post (slot_id, target_id, step, action, idempotency_key, lang, due_at, valid_until, "
                "status, attempts, created_at, updated_at) VALUES (:slot, :target, :step, 'publish', :key, 'en', "
                ":due, :valid, 'planned', 0, :now, :now)"
            ),
            rows,
        )
    engine.dispose()
    return {r["key"]: r["due"] for r in rows}


def start_schedulers(url: str, count: int, logs: Path) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHEDULE_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        "TARGETS_ALLOW_PRIVATE": "1",
    }
    procs = []
    for i in range(count):
        log = open(logs / f"scheduler-{i}.log", "wb")  # noqa: SIM115  (lives as long as the process)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_until(receiver: Receiver, want: int, seconds: float) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if receiver.count() >= want:
            return True
        time.sleep(0.05)
    return False


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@click.command()
@click.option("--posts", default=10_000, show_default=True)
@click.option("--spread", default=50, show_default=True, help="seconds over which the lateness run's posts fall due")
@click.option("--schedulers", "count", default=2, show_default=True)
@click.option("--keep", is_flag=True, help="keep the database")
def main(posts: int, spread: int, count: int, keep: bool) -> None:
    url = make_database()
    logs = Path(os.environ.get("BENCH_LOGS", "/tmp")) / f"bench-publishing-{secrets.token_hex(3)}"
    logs.mkdir(parents=True)
    receiver = Receiver()
    procs: list[subprocess.Popen] = []
    try:
        migrate(url)
        slot, target = setup(url, receiver.url)
        procs = start_schedulers(url, count, logs)
        time.sleep(4)  # let them start and tick

        # Lateness: posts falling due evenly over `spread` seconds, from 3 s from now.
        base = datetime.now(UTC) + timedelta(seconds=3)
        dues = plan_posts(
            url, slot, target, [base + timedelta(seconds=spread * i / posts) for i in range(posts)], "late"
        )
        done = wait_until(receiver, posts, spread + 60)
        late = [receiver.first[k] - d.timestamp() for k, d in dues.items() if k in receiver.first]
        lateness = {
            "arrived": len(late),
            "p50": _p(late, 50),
            "p99": _p(late, 99),
            "max": max(late),
            "early": sum(1 for x in late if x < 0),
            "repeats": receiver.repeats,
            "bad": receiver.bad,
            "done": done,
        }

        # Throughput: every post due at once.
        receiver.reset()
        plan_posts(url, slot, target, [datetime.now(UTC)] * posts, "burst")
        committed = time.time()  # from here on every post is due and visible to the schedulers
        done = wait_until(receiver, posts, 180)
        arrivals = sorted(receiver.first.values())
        elapsed = arrivals[-1] - committed
        burst = {
            "arrived": len(arrivals),
            "rate": len(arrivals) / elapsed,
            "elapsed": elapsed,
            "repeats": receiver.repeats,
            "bad": receiver.bad,
            "done": done,
        }
    finally:
        stop(procs)
        receiver.server.shutdown()
        if keep:
            click.echo(f"kept {url}", err=True)
        else:
            drop_database(url)

    click.echo(f"PostgreSQL, {count} `scheduler run` processes, webhook receiver on loopback, {os.cpu_count()} cores\n")
    click.echo("| measure | figure | goal |")
    click.echo("| --- | --- | --- |")
    click.echo(
        f"| lateness, {posts} posts due over {spread} s: p50 / p99 / max | "
        f"{lateness['p50'] * 1000:.0f} ms / {lateness['p99'] * 1000:.0f} ms / {lateness['max'] * 1000:.0f} ms "
        f"| p99 < 1 s |"
    )
    click.echo(
        f"| throughput, {posts} posts due at once | {burst['rate']:.0f} posts/s ({burst['elapsed']:.1f} s) | ≥ 500/s |"
    )
    click.echo(
        f"| arrived / repeated webhook-ids / bad signatures / sent early | "
        f"{lateness['arrived'] + burst['arrived']} of {2 * posts} / {lateness['repeats'] + burst['repeats']} / "
        f"{lateness['bad'] + burst['bad']} / {lateness['early']} | all / 0 / 0 / 0 |"
    )
    if not (lateness["done"] and burst["done"]):
        click.echo(f"\nnot every post arrived in time; scheduler logs in {logs}", err=True)


if __name__ == "__main__":
    main()
