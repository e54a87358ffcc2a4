"""Languages and zones: Flask-Babel, with the viewer's choice from ?lang=/?tz=, a cookie, the browser.

The language comes from ``?lang=``, else (staff pages) the user's own setting, else the ``lang``
cookie, else Accept-Language, else English.
The zone comes from ``?tz=``, else the ``tz`` cookie; none means each channel's own zone.
Pages remember a choice made in the query in a cookie (:func:`remember`); ``?tz=`` with no value
goes back to the channels' zones. A cookie holding something unusable is ignored, while a bad
``?lang=`` or ``?tz=`` is the viewer's mistake and is reported (:func:`query_errors`).
"""

from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, request
from flask_babel import Babel, refresh
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from schedule_service.broadcast_time import zone

LANG_COOKIE = "lang"
TZ_COOKIE = "tz"
#: A choice is remembered for a year.
COOKIE_MAX_AGE = 365 * 24 * 3600

babel = Babel()


def languages() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"])


def chosen_lang() -> str:
    """The language: ?lang=, else a staff user's setting, else the cookie, else the browser's, else the default."""
    langs = languages()
    for candidate in (request.args.get("lang"), _staff_lang(), request.cookies.get(LANG_COOKIE)):
        if candidate in langs:
            return candidate
    header = request.headers.get("Accept-Language", "")
    return _browser_lang(header, langs) or current_app.config["BABEL_DEFAULT_LOCALE"]


def _staff_lang() -> str | None:
    """The logged-in staff user's own language, on staff pages; None lets the cookie and browser decide."""
    if request.blueprint != "staff":
        return None
    from flask_login import current_user  # the staff side's concern; loaded only on its pages

    return current_user.language if current_user.is_authenticated else None


@lru_cache(maxsize=256)
def _browser_lang(header: str, langs: tuple[str, ...]) -> str | None:
    # Browsers send a handful of distinct headers; parse each once, not on every request.
    return parse_accept_header(header, LanguageAccept).best_match(langs) if header else None


def chosen_tz() -> str | None:
    """The viewer's zone name: ?tz=, else the cookie; None means each channel's own zone."""
    # An empty ?tz= asks for the channels' zones, whatever the cookie says.
    candidate = request.args["tz"] if "tz" in request.args else request.cookies.get(TZ_COOKIE)
    return candidate if candidate and _is_zone(candidate) else None


def chosen_zone() -> ZoneInfo | None:
    name = chosen_tz()
    return zone(name) if name else None


def query_errors() -> dict[str, str]:
    """{field: message} for a ?lang= or ?tz= that cannot be honoured."""
    errors: dict[str, str] = {}
    if "lang" not in request.args and "tz" not in request.args:
        return errors
    lang = request.args.get("lang")
    if lang is not None and lang not in languages():
        errors["lang"] = f"{lang!r} is not a language of this site; choose one of {', '.join(languages())}"
    tz = request.args.get("tz")
    if tz and not _is_zone(tz):
        errors["tz"] = f"{tz!r} is not an IANA time zone (such as Europe/Moscow)"
    return errors


def remember(response: Response) -> Response:
    """Keep a language or zone chosen in the query in a cookie, so the next page uses it too."""
    if "lang" not in request.args and "tz" not in request.args:
        return response
    lang = request.args.get("lang")
    if lang in languages():
        response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    if "tz" in request.args:
        tz = request.args["tz"]
        if not tz:
            response.delete_cookie(TZ_COOKIE, samesite="Lax", httponly=True)
        elif _is_zone(tz):
            response.set_cookie(TZ_COOKIE, tz, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def init_app(app: Flask) -> None:
    # The `messages` domain holds the pages' UI strings; promo phrases have a domain of their own.
    babel.init_app(app, locale_selector=chosen_lang, timezone_selector=chosen_tz)
    # Flask-Babel keeps the choice on g, which lives as long as the app context; an app context
    # can outlast a request (tests, CLI), so choose afresh for every request.
    app.before_request(refresh)
