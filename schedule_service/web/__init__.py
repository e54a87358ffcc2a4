"""The HTTP side: JSON API, viewer pages, feeds and staff pages."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from schedule_service.auth import csrf
    from schedule_service.web import api_docs, errors, feeds, health, pictures, public, staff
    from schedule_service.web.api import BLUEPRINTS, api

    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in BLUEPRINTS:
        # Token callers need no CSRF token; session callers are checked in auth.require.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    for module in (health, public, feeds, pictures, staff, api_docs):
        app.register_blueprint(module.bp)
    errors.init_app(app)
