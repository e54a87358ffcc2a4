"""The HTTP side: JSON API, viewer pages, feeds and staff pages."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from schedule_service.auth import csrf
    from schedule_service.web import errors, health
    from schedule_service.web.api import BLUEPRINTS, api

    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in BLUEPRINTS:
        # Token callers need no CSRF token; session callers are checked in auth.require.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    app.register_blueprint(health.bp)
    for blueprint in _page_blueprints():
        app.register_blueprint(blueprint)
    errors.init_app(app)


def _page_blueprints() -> list:
    """The HTML and feed blueprints; each module exposes ``bp``."""
    import importlib

    found = []
    for name in ("public", "feeds", "staff"):
        try:
            module = importlib.import_module(f"schedule_service.web.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"schedule_service.web.{name}":
                raise
            continue
        found.append(module.bp)
    return found
