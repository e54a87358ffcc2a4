"""Safe on the internet: staff login, rate limits, cookie settings and security headers."""

import contextlib
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import cache, wraps
from urllib.parse import urlsplit

from argon2.exceptions import VerificationError
from flask import Flask, Response, abort, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from schedule_service import auth, text_rules
from schedule_service.auth import check_password, hash_password, login_manager, user_by_email
from schedule_service.db import db
from schedule_service.models import User
from schedule_service.web.errors import problem

#: Login attempts that failed, per client address and per account (Flask-Limiter notation).
LOGIN_LIMIT_PER_ADDRESS = "10 per minute; 100 per hour"
LOGIN_LIMIT_PER_ACCOUNT = "20 per hour"

# No inline script anywhere; images may come from programmes' own https URLs.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

limiter = Limiter(key_func=get_remote_address)

#: The largest id a row can have (PostgreSQL's integer).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` within the database's integer range: a larger id cannot exist, so it is a 404
    rather than an out-of-range error from the database driver (and the OpenAPI document says so)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


@cache
def _dummy_hash() -> str:
    # A real hash to verify against when no such user exists, so a wrong email takes as long
    # as a wrong password and the login form does not tell which emails are staff.
    return auth.hasher.hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (in about the same time either way)."""
    user = user_by_email(db.session, email or "")
    if user is None:
        with contextlib.suppress(VerificationError):
            auth.hasher.verify(_dummy_hash(), password or "")
        return None
    if not check_password(user, password) or not user.is_active:
        return None
    if auth.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def login_failed() -> None:
    """Count this login attempt against the rate limits (only failures count)."""
    g.login_failed = True


def _count_failures(response: Response) -> bool:
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()


def limit_logins(view: Callable) -> Callable:
    """Rate-limit failed logins per client address and per account."""
    view = limiter.limit(LOGIN_LIMIT_PER_ACCOUNT, key_func=_account_key, methods=["POST"], deduct_when=_count_failures)(
        view
    )
    return limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"], deduct_when=_count_failures)(view)


def staff_page(role: str = "editor") -> Callable:
    """Let a staff page run for a logged-in user with at least ``role``; others go to the login page or get 403.

    CSRF on the form posts is checked for every request by Flask-WTF's CSRFProtect.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        #: Read by the security matrix test, which checks every write route has a gate.
        wrapper.required_role = role
        return wrapper

    return decorator


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``: no open redirects after login."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    """Bounded ids in URLs, cookie settings, the login rate limiter (Redis when REDIS_URL is set), security headers."""
    # Before any blueprint adds its rules: each rule binds its converters when it is added.
    app.url_map.converters["int"] = IdConverter
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # Flask defines PERMANENT_SESSION_LIFETIME itself (31 days), so a default here must be set,
    # not set by default: a staff session lasts SESSION_LIFETIME_HOURS (config, 12 by default).
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(app.config.get("SESSION_LIFETIME_HOURS", 12)))
    # Flask-Login's remember-me cookie, should anyone turn it on, follows the session cookie.
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE", False))
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    redis_url = app.config.get("REDIS_URL")
    # Limits are shared between workers and machines through Redis; one process keeps them in memory.
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    # A Redis outage must not lock staff out: fall back to per-process limits meanwhile.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", bool(redis_url))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    # Behind N reverse proxies (a load balancer terminating TLS), trust their X-Forwarded-* headers:
    # rate limits then count each client, not the proxy, and HTTPS is seen as HTTPS (HSTS, CSRF).
    # The response cache (web/caching.py, installed before this) stays inside ProxyFix, so its
    # answers are keyed by the client's scheme and host.
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    login_manager.login_message = _l("Log in to see staff pages.")
    login_manager.localize_callback = str  # the lazy message in the language of the request that flashes it
    login_manager.login_message_category = "info"
    # First of all before-request functions: nothing may see the previous request's user.
    app.before_request_funcs.setdefault(None, []).insert(0, _forget_previous_request)
    app.before_request(_limit_body)
    app.before_request(_bounded_json)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)


def _limit_body() -> None:
    """Refuse a body larger than its route allows (413), before anything reads it.

    ``MAX_CONTENT_LENGTH`` bounds every request; ``BODY_LIMITS`` gives paths (the XMLTV upload)
    and ``ENDPOINT_BODY_LIMITS`` routes (picture uploads) a limit of their own. A body sent
    without a length is cut off at the limit as it is read.
    """
    config = current_app.config
    setting = config.get("BODY_LIMITS", {}).get(request.path) or config.get("ENDPOINT_BODY_LIMITS", {}).get(
        request.endpoint or ""
    )
    limit = config.get(setting or "MAX_CONTENT_LENGTH")
    request.max_content_length = limit
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise problem(
            413, _("The request body is larger than this address takes (%(limit)s bytes at most).", limit=limit)
        )


def _bounded_json() -> None:
    """Refuse a JSON body nested deeper than any document of the API, before anything walks it.

    Parsing it here also turns what the JSON parser itself cannot take (nesting past Python's
    recursion limit, an integer of thousands of digits) into a 400 instead of a crash.
    """
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    if not body:
        return
    if request.content_length is None and request.max_content_length and len(body) >= request.max_content_length:
        # Sent without a length (chunked): reading stops at the limit rather than failing.
        raise problem(
            413,
            _(
                "The request body is larger than this address takes (%(limit)s bytes at most).",
                limit=request.max_content_length,
            ),
        )
    too_deep = _("The request body is not valid JSON: it nests deeper than %(depth)s levels.", depth=text_rules.DEPTH)
    try:
        document = json.loads(body)
    except RecursionError:
        raise problem(400, too_deep) from None
    except ValueError:  # includes a number of more digits than Python converts
        raise problem(400, _("The request body is not valid JSON.")) from None
    if text_rules.depth(document) > text_rules.DEPTH:
        raise problem(400, too_deep)


NUL = "\x00"
NUL_MESSAGE = "must not contain the NUL character (U+0000)"


def _refuse_nul() -> None:
    """Refuse text with a NUL character in it before anything reads it.

    No field of the service may hold one, and PostgreSQL cannot store one in text: left to the
    database, it would fail a write (or a lookup) with a 500 instead of saying what is wrong.
    """
    if NUL in request.path:
        raise problem(404, "There is no such page: the path holds a NUL character.")
    where = {name: NUL_MESSAGE for name, value in request.args.items(multi=True) if _holds_nul(name, value)}
    if where:
        raise problem(400, f"The query {NUL_MESSAGE}.", where)
    where = {name: NUL_MESSAGE for name, value in request.form.items(multi=True) if _holds_nul(name, value)}
    if request.is_json:
        where.update({path: NUL_MESSAGE for path in _nul_paths(request.get_json(silent=True))})
    if where:
        raise problem(422, f"The request {NUL_MESSAGE} in its text.", where)


def _holds_nul(*texts: str | None) -> bool:
    # A multipart part may come without a usable name (Werkzeug then gives None).
    return any(NUL in text for text in texts if text)


def _nul_paths(value, prefix: str = "") -> list[str]:
    """Where in a JSON document a string (or a key) holds a NUL, as dotted paths."""
    if isinstance(value, str):
        return [prefix or "_schema"] if NUL in value else []
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        return []
    found = []
    for key, sub in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        found += [path] if NUL in str(key) else _nul_paths(sub, path)
    return found


#: What Flask-Login, Flask-WTF (the signed CSRF token), auth.current_staff and the login
#: limiter keep on ``g`` for one request.
_PER_REQUEST = ("_login_user", "csrf_token", "csrf_valid", "staff", "via_token", "login_failed")


def _forget_previous_request() -> None:
    # ``g`` belongs to the app context, and an app context pushed around several requests (as
    # in tests, or a script driving the app) would otherwise carry one request's user into the next.
    for name in _PER_REQUEST:
        g.pop(name, None)


def current_actor_email() -> str:
    """The logged-in user's email, to name in the audit trail."""
    return current_user.email if current_user.is_authenticated else "system"
