"""``flask --app wsgi xmltv …``: XMLTV in and out of the service."""

import os
import sys

import click
from flask.cli import AppGroup

from schedule_service.db import db

xmltv_cli = AppGroup("xmltv", help="XMLTV guides: import and export.")


@xmltv_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--channel-map",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or CSV: XMLTV channel id → service channel slug (see README)",
)
@click.option("--dry-run", is_flag=True, help="check and count everything, save nothing")
@click.option("--skip-bad", is_flag=True, help="leave bad programmes out instead of their whole channel")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA zone of channels the import creates (their wall times without offset)",
)
def xmltv_import(file, channel_map: str | None, dry_run: bool, skip_bad: bool, timezone: str) -> None:
    """Import the XMLTV guide FILE ("-" for stdin); a channel with bad items is left out whole."""
    from schedule_service.broadcast_time import zone
    from schedule_service.interchange import import_memo
    from schedule_service.interchange import xmltv_import as xi
    from schedule_service.interchange.import_jobs import map_to_json

    try:
        zone(timezone)
        mapping = xi.load_channel_map(channel_map) if channel_map else None
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    name = getattr(file, "name", "-")
    size = _size(file)
    memo_key = mark = sha256 = None
    if not dry_run:
        # The same bytes with the same options as the last import, and nothing changed since: done.
        with click.progressbar(length=size, label="checking", file=sys.stderr) as bar:
            sha256 = import_memo.file_sha256(file, progress=bar.update)
        if sha256 is not None:
            memo_key = import_memo.key_of(
                sha256, channel_map=map_to_json(mapping), skip_bad=skip_bad, timezone=timezone, own_hosts=_own_hosts()
            )
            known = import_memo.recall(db.session, memo_key)
            if known is not None:
                _print_report(name, known)
                click.echo("the same file as the last import, and nothing changed since: nothing to do")
                return
            mark = import_memo.begin(db.session)
    options = {
        "channel_map": mapping,
        "skip_bad": skip_bad,
        "default_timezone": timezone,
        "own_hosts": _own_hosts(),
        # A channel (a dry run) or half a second (a real one) at a time: a long import must not
        # hold the write lock (SQLite) or the channels' row locks (PostgreSQL) for its whole run.
        "end_channel": db.session.rollback if dry_run else db.session.commit,
        "end_every": 0.0 if dry_run else xi.COMMIT_EVERY,
    }
    try:
        with xi.collector_paused():
            report = _read_and_apply(file, size, sha256, dry_run, options)
    except xi.GuideRefused as e:
        db.session.rollback()
        click.echo(f"{name}:{e.line or 0}: refused: {e.message}", err=True)
        raise SystemExit(1) from e
    except BaseException:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
        if memo_key is not None:
            import_memo.remember(db.session, memo_key, mark, report)
    _print_report(name, report)
    if not report.ok:
        raise SystemExit(1)


def _read_and_apply(file, size: int, sha256: str | None, dry_run: bool, options: dict):
    """Read FILE and apply it, with progress bars; the import's report."""
    from schedule_service.interchange import xmltv_import as xi

    # SQLite's one writer applies a big file while another process reads it on; PostgreSQL
    # applies it in two processes once it is read (xmltv_import.apply_stream, apply_guide).
    on_sqlite = db.session.get_bind().dialect.name != "postgresql"
    stream = xi.stream_guide(file, sha256) if on_sqlite and not dry_run else None
    if stream is not None:
        with stream, click.progressbar(length=stream.programmes, label="importing", file=sys.stderr) as done:
            report = xi.apply_stream(db.session, stream, progress=done.update, **options)
    else:
        with click.progressbar(length=size, label="reading", file=sys.stderr) as bar:
            guide = xi.read_guide_in_parts(file, progress=bar.update)
        with guide, click.progressbar(length=guide.programmes, label="importing", file=sys.stderr) as done:
            report = xi.apply_guide(
                db.session, guide, dry_run=dry_run, processes=xi.APPLY_PROCESSES, progress=done.update, **options
            )
    return report


def _own_hosts() -> tuple[str, ...]:
    """The host this service exports its channels under (PUBLIC_URL's), so its guides come home."""
    from urllib.parse import urlsplit

    from flask import current_app

    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname
    return (host,) if host else ()


def _size(file) -> int:
    try:
        return os.fstat(file.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return 0


def _print_report(name: str, report) -> None:
    """The summary on stdout; bad items and warnings on stderr as FILE:LINE: message."""
    for item in report.bad_items:
        verdict = "skipped" if report.skip_bad else "error"
        click.echo(f"{name}:{item.line or 0}: {verdict}: {item.channel or '-'}: {item.message}", err=True)
    for item in report.warnings:
        click.echo(f"{name}:{item.line or 0}: warning: {item.channel or '-'}: {item.message}", err=True)
    header = ("channel", "created", "updated", "unchanged", "cancelled", "skipped", "")
    rows = []
    for c in report.channels:
        note = "NOT APPLIED (bad items)" if not c.applied else ("new channel" if c.created_channel else "")
        rows.append((c.channel, c.created, c.updated, c.unchanged, c.cancelled, c.skipped, note))
    totals = report.totals()
    rows.append(("total", *(totals[k] for k in ("created", "updated", "unchanged", "cancelled", "skipped")), ""))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(v).ljust(w) if i in (0, 6) else str(v).rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    click.echo(
        f"{report.programmes} programmes read; {report.applied_channels} channels applied, "
        f"{report.rejected_channels} left out; programmes created {report.programmes_created}, "
        f"updated {report.programmes_updated}" + ("; dry run: nothing saved" if report.dry_run else "")
    )


@xmltv_cli.command("export")
@click.option("--channel", "slug", metavar="SLUG", help="one channel (default: every channel)")
@click.option("--days", type=click.IntRange(1, 31), default=7, show_default=True, help="broadcast days from today's")
def xmltv_export(slug: str | None, days: int) -> None:
    """Print the XMLTV of the coming broadcast days, as /xmltv.xml serves it."""
    from flask import current_app

    from schedule_service.clock import now
    from schedule_service.interchange.xmltv_export import document

    try:
        body = document(db.session, now(), days, current_app.config["PUBLIC_URL"], slug)
    except LookupError as e:
        raise click.UsageError(str(e)) from e
    click.echo(body, nl=False)
