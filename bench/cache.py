"""One public read, side by side in one run: the app, deploy/'s nginx cache, nginx serving a file, and 304s.

    .venv/bin/python -m bench.cache [--seconds 5] [--rounds 3]

A fresh PostgreSQL database with the demo, gunicorn (2 workers) on it, and nginx with the
deploy site (deploy/nginx/schedule-service.conf, only ports and paths changed) in front. wrk
(-t2 -c32) measures the demo's day schedule:

(a) from the app directly; (b) through nginx's cache; (c) nginx serving the same bytes as a
static file; (d) conditional requests (If-None-Match with the current ETag) answered 304, from
the app and through nginx.

Needs PostgreSQL at BENCH_PG, and Debian's wrk and nginx. Prints a Markdown table for bench/README.md.
"""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import requests

from bench.core import ROOT, drop_database, free_port, make_database, migrate
from tools.local_nginx import main_config, site_config

PATH = "/api/v1/channels/mir/schedule"


def rate(url: str, seconds: int, headers: dict[str, str] | None = None) -> tuple[float, str]:
    """Requests/s of one wrk run, and wrk's note of answers other than 2xx/3xx, if any."""
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps, errors = 0.0, ""
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rps = float(line.split()[1])
        if "Non-2xx or 3xx responses" in line:
            errors = line.strip()
    return rps, errors


def wait_for(url: str) -> None:
    for _ in range(150):
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers at {url}")


@click.command()
@click.option("--seconds", default=5, show_default=True)
@click.option("--rounds", default=3, show_default=True)
def main(seconds: int, rounds: int) -> None:
    """Measure (a)–(d) and print them."""
    url = make_database()
    prefix = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    procs: list[subprocess.Popen] = []
    try:
        migrate(url)
        env = {**os.environ, "DATABASE_URL": url, "SCHEDULE_ENV": "development", "PYTHONPATH": str(ROOT)}
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        subprocess.run([*flask, "demo", "load"], cwd=ROOT, env=env, check=True, capture_output=True)
        upstream, port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{upstream}"]
                + ["--log-level", "warning", "wsgi:app"],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        )
        app = f"http://127.0.0.1:{upstream}"
        wait_for(app + "/healthz")
        body = requests.get(app + PATH, timeout=5)
        body.raise_for_status()
        etag = body.headers["ETag"]
        for sub in ("cache", "tmp", "static"):
            (prefix / sub).mkdir()
        (prefix / "static" / "day.json").write_bytes(body.content)
        (prefix / "site.conf").write_text(site_config(port, upstream, prefix))
        (prefix / "nginx.conf").write_text(main_config(prefix, workers="auto", connections=1024))
        user = {}
        if os.geteuid() == 0:  # nginx runs unprivileged
            nobody = pwd.getpwnam("nobody")
            for path in [prefix, *prefix.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs.append(
            subprocess.Popen(
                [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
                start_new_session=True,
                **user,
            )
        )
        proxy = f"http://127.0.0.1:{port}"
        wait_for(proxy + "/static/day.json")
        for _ in range(20):  # warm both workers and the cache
            requests.get(app + PATH, timeout=5).raise_for_status()
            requests.get(proxy + PATH, timeout=5).raise_for_status()
        assert requests.get(proxy + PATH, timeout=5).headers.get("X-Cache-Status") == "HIT"
        assert requests.get(proxy + "/static/day.json", timeout=5).content == body.content
        conditional = {"If-None-Match": etag}
        assert requests.get(app + PATH, headers=conditional, timeout=5).status_code == 304
        assert requests.get(proxy + PATH, headers=conditional, timeout=5).status_code == 304
        runs = [
            ("(a) app (gunicorn -w 2), 200", app + PATH, None),
            ("(b) through the nginx cache, 200", proxy + PATH, None),
            ("(c) nginx, the same bytes as a static file, 200", proxy + "/static/day.json", None),
            ("(d) app, If-None-Match → 304", app + PATH, conditional),
            ("(d) through the nginx cache, If-None-Match → 304", proxy + PATH, conditional),
        ]
        # Turn about, best of the rounds: the machine's other load falls on every row alike.
        best: dict[str, tuple[float, str]] = {label: (0.0, "") for label, _, _ in runs}
        for _ in range(rounds):
            for label, target, headers in runs:
                best[label] = max(best[label], rate(target, seconds, headers))
        rows = list(best.items())
        load = os.getloadavg()[0]
        click.echo(
            f"`GET {PATH}` (demo, {len(body.content) / 1024:.1f} KiB), wrk -t2 -c32, best of {rounds} × {seconds} s, "
            f"{os.cpu_count()} CPUs, load average {load:.1f}\n"
        )
        click.echo("| read | requests/s | of (c) |\n| --- | --- | --- |")
        static = rows[2][1][0]
        for label, (rps, errors) in rows:
            click.echo(f"| {label} | {rps:,.0f} | {rps / static:.0%} |" + (f" {errors}" if errors else ""))
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        shutil.rmtree(prefix, ignore_errors=True)
        drop_database(url)


if __name__ == "__main__":
    main()
