"""The command line, all under ``flask --app wsgi``: db, demo, users, tokens, serve, scheduler, xmltv."""

import signal
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import Migrate

from schedule_service.db import db

migrate = Migrate()

demo_cli = AppGroup("demo", help="The demo schedule of SPEC §3.")
users_cli = AppGroup("users", help="Staff users.")
tokens_cli = AppGroup("tokens", help="API tokens.")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo; does nothing when it is there."""
    from schedule_service.demo import load_demo

    loaded = load_demo(db.session)
    db.session.commit()
    click.echo("demo loaded" if loaded else "demo already there; nothing changed")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "editor"]), required=True)
def users_create(email: str, role: str) -> None:
    """Add a staff user; the password is the first line of stdin (asked twice, hidden, on a terminal)."""
    from schedule_service.auth import create_user

    try:
        user = create_user(db.session, email, _password_from_stdin(), role)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    db.session.commit()
    click.echo(f"created {user.role} {user.email}")


def _password_from_stdin() -> str:
    """A person at a terminal types it twice, unseen; a script pipes it in as one line."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("give the password as the first line of stdin")
    return password


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="api", show_default=True, help="a label to tell tokens apart")
def tokens_create(email: str, name: str) -> None:
    """Print a new API token for EMAIL, once; only its hash is stored."""
    from schedule_service.auth import create_token, user_by_email

    user = user_by_email(db.session, email)
    if user is None:
        raise click.UsageError(f"there is no user {email}")
    _, raw = create_token(db.session, user, name)
    db.session.commit()
    click.echo(raw)


@click.command("serve")
@click.option("--host", default=None, help="default HOST or 127.0.0.1")
@click.option("--port", type=int, default=None, help="default PORT or 8000")
@click.option("--threads", type=int, default=8, show_default=True)
@click.option("--no-scheduler", is_flag=True, help="serve the web only")
def serve(host: str | None, port: int | None, threads: int, no_scheduler: bool) -> None:
    """Serve web and scheduler in one process with waitress (the embedded default)."""
    import waitress

    app = current_app._get_current_object()
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    runner = None
    if not no_scheduler:
        from schedule_service.scheduler import start_background

        runner = start_background(app)
    click.echo(f"serving on http://{host}:{port}" + ("" if runner else " (no scheduler)"))
    # waitress leaves SIGTERM to its default (die at once); turn it into an orderly exit so the
    # scheduler finishes its calls under way and releases the rest instead of waiting out leases.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="schedule-service")
    finally:
        if runner is not None:
            runner.shutdown()


def init_app(app: Flask) -> None:
    import schedule_service.models  # noqa: F401  (every table on the metadata, for Alembic)

    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    for command in (demo_cli, users_cli, tokens_cli, serve):
        app.cli.add_command(command)
    _add_optional_commands(app)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _add_optional_commands(app: Flask) -> None:
    from schedule_service import scheduler
    from schedule_service.interchange.cli import xmltv_cli

    app.cli.add_command(scheduler.scheduler_cli)
    app.cli.add_command(xmltv_cli)
