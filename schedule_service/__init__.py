"""The schedule service: broadcast schedules, viewer pages and feeds, promo publishing."""

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config, database, i18n, auth, response cache, security, blueprints, CLI.

    Never starts a scheduler.
    """
    import config

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config.load((test_config or {}).get("SCHEDULE_ENV")))
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False  # Cyrillic titles stay readable in JSON
    _ensure_instance_dir(app)

    from schedule_service import auth, cli, db, i18n
    from schedule_service.web import caching, register_blueprints, security

    db.db.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    caching.init_app(app)  # before security: the cache sits inside ProxyFix
    security.init_app(app)  # cookies, login rate limits, security headers; before any blueprint's rules
    register_blueprints(app)
    cli.init_app(app)
    return app


def _ensure_instance_dir(app: Flask) -> None:
    """Make instance/ for the embedded SQLite file."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
