"""Languages and zones: Flask-Babel with the viewer's choice from ?lang=/?tz=, then a cookie."""

from flask import Flask, g, request
from flask_babel import Babel

from schedule_service.broadcast_time import zone

LANG_COOKIE = "lang"
TZ_COOKIE = "tz"

babel = Babel()


def select_locale() -> str:
    return chosen_lang()


def select_timezone() -> str | None:
    return chosen_tz()


def chosen_lang() -> str:
    """The viewer's language: ?lang=, else the cookie, else the browser's, else English."""
    from flask import current_app

    langs = current_app.config["LANGUAGES"]
    for candidate in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in langs:
            return candidate
    return request.accept_languages.best_match(langs) or current_app.config["BABEL_DEFAULT_LOCALE"]


def chosen_tz() -> str | None:
    """The viewer's zone: ?tz=, else the cookie; None means each channel's own zone."""
    for candidate in (request.args.get("tz"), request.cookies.get(TZ_COOKIE)):
        if candidate:
            try:
                zone(candidate)
            except ValueError:
                continue
            return candidate
    return None


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)

    @app.before_request
    def _remember_choice() -> None:
        g.lang = None
        g.tz = None
