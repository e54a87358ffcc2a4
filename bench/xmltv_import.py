"""XMLTV import of a large generated guide on SQLite and PostgreSQL, beside `xmllint --noout`.

    .venv/bin/python -m bench.xmltv_import [--programmes 100000] [--small 25000] [--per-channel 400]
                                           [--skip-postgresql] [--only-read]

Writes a guide of ``--programmes`` programmes (``--per-channel`` to a channel, two weeks from
tomorrow, a fifth of the channels with titles in Russian and English, every tenth programme a
premiere: 250 channels × 400 programmes by default, issue 13's shape), then times, each in a child
process whose peak memory (ru_maxrss) is read with ``os.wait4``:

- ``xmllint --noout FILE`` (Debian's libxml2-utils), the median of five runs: the floor for
  parsing the same bytes;
- reading alone: ``read_guide`` (iterparse + spooling) in one process, then
  ``read_guide_in_parts`` (two halves at once, as the import reads a file on two cores);
- ``flask --app wsgi xmltv import FILE`` on a fresh SQLite file and a fresh PostgreSQL database
  (migrated first), three times each, the median (on SQLite the file is read by another
  process as it is applied; on PostgreSQL read in two halves, then applied by two processes),
  then the same command again (the same bytes: known at once from the last
  import's memo), then the same programmes in other bytes (a comment added: read and compared);
- the same two reads and the SQLite import for a guide of ``--small`` programmes, so peak
  memory can be compared at two file sizes.

``--only-read`` stops after the first three rows of each size (no database needed).
Needs PostgreSQL at BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
Prints a Markdown table for bench/README.md.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import click

from bench.core import drop_database, make_database, migrate

ROOT = Path(__file__).resolve().parent.parent
#: Programme lengths in minutes, cycled.
LENGTHS = [30, 45, 60, 90, 25, 50, 120, 35, 55, 20]
WORDS = [
    "news",
    "weather",
    "sport",
    "film",
    "series",
    "documentary",
    "interview",
    "concert",
    "travel",
    "science",
    "history",
    "nature",
    "кино",
    "новости",
    "спорт",
    "сериал",
    "документальный",
    "интервью",
    "концерт",
    "путешествие",
    "наука",
    "история",
    "природа",
]


def write_guide(path: Path, programmes: int, per_channel: int) -> int:
    """Write a guide of ``programmes`` programmes; return the number of channels."""
    channels = max(1, -(-programmes // per_channel))
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE tv SYSTEM "xmltv.dtd">\n')
        f.write('<tv generator-info-name="bench.xmltv_import">\n')
        for c in range(channels):
            f.write(f'  <channel id="bench{c}.tv">\n    <display-name lang="en">Bench {c}</display-name>\n')
            f.write(f'    <icon src="https://example.test/{c}.png"/>\n  </channel>\n')
        for c in range(channels):
            at = start
            bilingual = c % 5 == 0
            for i in range(min(per_channel, programmes - written)):
                minutes = LENGTHS[(c + i) % len(LENGTHS)]
                stop = at + timedelta(minutes=minutes)
                series = (c * 7 + i) % 40
                words = " ".join(WORDS[(c + i + k) % len(WORDS)] for k in range(24))
                f.write(
                    f'  <programme start="{at:%Y%m%d%H%M%S} +0000" stop="{stop:%Y%m%d%H%M%S} +0000" '
                    f'channel="bench{c}.tv">\n'
                    f'    <title lang="en">{escape(f"Series {series}")}</title>\n'
                )
                if bilingual:
                    f.write(f'    <title lang="ru">Сериал {series}</title>\n')
                f.write(f'    <sub-title lang="en">Episode {i}</sub-title>\n')
                f.write(f'    <desc lang="en">{escape(words)}.</desc>\n')
                f.write(f'    <category lang="en">{WORDS[series % 10]}</category>\n')
                f.write(f'    <episode-num system="xmltv_ns">{series % 5}.{i}.</episode-num>\n')
                f.write(f"    <icon src={quoteattr(f'https://example.test/p/{c}/{i}.jpg')}/>\n")
                f.write("    <video><present>yes</present><quality>HDTV</quality></video>\n")
                f.write("    <premiere/>\n  </programme>\n" if i % 10 == 0 else "  </programme>\n")
                at = stop
                written += 1
        f.write("</tv>\n")
    return channels


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak resident MB of the child, its output's last line)."""
    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = (out.read().decode(errors="replace").strip().splitlines() or [""])[-1]
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {tail}")
    return wall, usage.ru_maxrss / 1024, tail


#: The child of the "reading alone" row: parse and spool, then drop the spool. It imports the
#: reader alone, not this module (click, SQLAlchemy) nor the app: a second of start-up that
#: is no part of reading.
READ_ALONE = """import sys
from schedule_service.interchange.xmltv_read import read_guide
with read_guide(sys.argv[1]) as guide:
    print(guide.programmes, file=sys.stderr)
"""
#: The same, as the import reads a file: in two halves at once when the machine has two cores.
READ_IN_PARTS = """import sys
from schedule_service.interchange.xmltv_parts import read_guide_in_parts
with read_guide_in_parts(sys.argv[1]) as guide:
    print(guide.programmes, file=sys.stderr)
"""
#: ``xmllint`` is timed this many times and the median taken: its time swings most from run to run.
LINT_RUNS = 5
#: A first import is timed this many times, each on a fresh database, and the median taken: the
#: machine's speed drifts by ±5 % from one run to the next.
IMPORT_RUNS = 3


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        drop_database(url)


def median_of(runs: int, cmd: list[str]) -> tuple[float, float, str]:
    """``timed`` ``runs`` times: the median wall time, the largest peak memory, the last output."""
    results = sorted(timed(cmd) for _ in range(runs))
    wall = results[len(results) // 2][0]
    return wall, max(r[1] for r in results), results[-1][2]


def importer(url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULE_ENV": "development"}
    migrate(url)
    return env


@click.command()
@click.option("--programmes", default=100_000, show_default=True)
@click.option("--small", default=25_000, show_default=True, help="the second size, for peak memory")
@click.option("--per-channel", default=400, show_default=True, help="about two weeks of programmes")
@click.option("--skip-postgresql", is_flag=True)
@click.option("--only-read", is_flag=True, help="time xmllint and reading alone, no imports (minutes, not an hour)")
def main(programmes: int, small: int, per_channel: int, skip_postgresql: bool, only_read: bool) -> None:
    if shutil.which("xmllint") is None:
        raise SystemExit("xmllint is missing: apt-get install libxml2-utils")
    work = Path(tempfile.mkdtemp(prefix="bench-xmltv-"))
    rows = []
    try:
        for size in (programmes, small):
            guide = work / f"guide-{size}.xml"
            channels = write_guide(guide, size, per_channel)
            mb = guide.stat().st_size / 1e6
            click.echo(f"{guide.name}: {size} programmes, {channels} channels, {mb:.0f} MB", err=True)
            label = f"{size:,} programmes ({mb:.0f} MB)"
            lint = median_of(LINT_RUNS, ["xmllint", "--noout", str(guide)])
            rows.append((label, f"xmllint --noout (median of {LINT_RUNS})", *lint[:2], 1.0))
            read = timed([sys.executable, "-c", READ_ALONE, str(guide)])
            rows.append((label, "read_guide (iterparse + spool, one process)", *read[:2], read[0] / lint[0]))
            halves = timed([sys.executable, "-c", READ_IN_PARTS, str(guide)])
            rows.append((label, "read_guide_in_parts (two halves at once)", *halves[:2], halves[0] / lint[0]))
            if only_read:
                guide.unlink()
                continue
            flask = [sys.executable, "-m", "flask", "--app", "wsgi", "xmltv", "import", str(guide)]
            engines = ["SQLite"] + (["PostgreSQL"] if size == programmes and not skip_postgresql else [])
            for engine in engines:
                # A first import on a fresh database, IMPORT_RUNS times: the median. The last
                # run's database is then imported into again.
                firsts, url = [], None
                try:
                    for run in range(IMPORT_RUNS):
                        if url is not None:
                            _drop(url)
                        fresh = f"sqlite:///{work / f'db-{size}-{run}.sqlite'}"
                        url = make_database() if engine == "PostgreSQL" else fresh
                        env = importer(url)
                        firsts.append(timed(flask, env))
                    first = sorted(firsts)[len(firsts) // 2]
                    click.echo(f"{engine}: {first[2]}", err=True)
                    runs = ", ".join(f"{wall:.1f}" for wall, _, _ in firsts)
                    run_label = f"import on {engine} (median of {IMPORT_RUNS}: {runs} s)"
                    rows.append((label, run_label, first[0], max(r[1] for r in firsts), first[0] / lint[0]))
                    again = timed(flask, env)
                    rows.append((label, f"import again on {engine} (same file)", *again[:2], again[0] / lint[0]))
                    # The same programmes in other bytes (a guide generated again): read and compared.
                    regenerated = work / f"regenerated-{size}.xml"
                    shutil.copyfile(guide, regenerated)
                    with open(regenerated, "a", encoding="utf-8") as f:
                        f.write("<!-- generated again -->\n")
                    same = timed([*flask[:-1], str(regenerated)], env)
                    regenerated.unlink()
                    other = f"import again on {engine} (same programmes, other bytes)"
                    rows.append((label, other, *same[:2], same[0] / lint[0]))
                finally:
                    if url is not None:
                        _drop(url)
            guide.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    click.echo("| guide | run | wall | peak RSS | × xmllint |")
    click.echo("| --- | --- | --- | --- | --- |")
    for label, run, wall, rss, ratio in rows:
        click.echo(f"| {label} | {run} | {wall:.1f} s | {rss:.0f} MB | {ratio:.1f} |")


if __name__ == "__main__":
    main()
