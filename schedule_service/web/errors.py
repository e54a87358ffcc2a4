"""Errors as RFC 9457 problem JSON for the API, readable pages for viewers."""

from http import HTTPStatus

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

PROBLEM = "application/problem+json"

#: The statuses' titles, in the request's language (HTTPStatus has English phrases only).
TITLES = {
    400: _l("Bad Request"),
    401: _l("Unauthorized"),
    403: _l("Forbidden"),
    404: _l("Not Found"),
    405: _l("Method Not Allowed"),
    406: _l("Not Acceptable"),
    409: _l("Conflict"),
    410: _l("Gone"),
    412: _l("Precondition Failed"),
    413: _l("Request Entity Too Large"),
    415: _l("Unsupported Media Type"),
    422: _l("Unprocessable Entity"),
    428: _l("Precondition Required"),
    429: _l("Too Many Requests"),
    500: _l("Internal Server Error"),
    502: _l("Bad Gateway"),
    503: _l("Service Unavailable"),
}
#: Our own words where Werkzeug's would be its generic text for the status.
DETAILS = {
    400: _l("The request is not valid."),
    401: _l("Log in, or send an API token as Authorization: Bearer TOKEN."),
    403: _l("Your role does not allow this."),
    404: _l("There is nothing at this address. Check it for typos, or start again from the schedule."),
    405: _l("This address does not take that method."),
    413: _l("The request is too large."),
    429: _l("Too many requests; wait a little and try again."),
    500: _l("Something went wrong on our side. Try again in a moment."),
    503: _l("The service is busy or down for a moment. Try again shortly."),
}


def title_of(status: int) -> str:
    """The status's title in the request's language."""
    title = TITLES.get(status)
    return str(title) if title is not None else HTTPStatus(status).phrase


class Problem(HTTPException):
    """An HTTP error with a detail and, for validation, per-field messages."""

    def __init__(self, status: int, detail: str, errors: dict | None = None, **extra):
        super().__init__(description=detail)
        self.code = status
        self.errors = errors
        self.extra = extra


def problem(status: int, detail: str, errors: dict | None = None, **extra) -> Problem:
    """Make an exception that renders as problem JSON; ``raise problem(...)``."""
    return Problem(status, detail, errors, **extra)


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM])
    if best is None:
        # No Accept preference: a feed's reader gets a problem it can parse; a path that matches
        # no route at all is a mistyped address, answered with a page like the viewer pages' own.
        return request.url_rule is not None
    return best != "text/html"


def problem_response(status: int, detail: str | None, errors: dict | None = None, **extra) -> Response:
    body = {"type": "about:blank", "title": title_of(status), "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = PROBLEM
    return resp


def flatten_messages(messages) -> dict[str, str]:
    """Turn webargs/marshmallow messages ({"json": {field: [msg]}}) into {field: message}."""
    out: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out[prefix or "_schema"] = " ".join(value)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                walk(f"{prefix}.{i}", sub)
        else:
            out[prefix or "_schema"] = str(value)

    for location, fields in (messages or {}).items():
        walk("" if location in ("json", "query", "querystring", "headers", "form") else location, fields)
    return out


def render_error(error: HTTPException) -> Response | tuple:
    status = error.code or 500
    errors = getattr(error, "errors", None)
    data = getattr(error, "data", None) or {}
    if errors is None and "messages" in data:
        errors = flatten_messages(data["messages"])
    detail = error.description
    if detail == type(error).description and status in DETAILS and not errors and "messages" not in data:
        detail = str(DETAILS[status])  # Werkzeug's generic words for the status: ours, translated
    if isinstance(error, CSRFError):
        detail = _("The form's CSRF token is missing or stale; reload the page and try again.")
    if errors and detail == type(error).description:  # werkzeug's words for the status: say what is wrong
        detail = _what_is_wrong(status, set(data.get("messages") or {}))
    extra = getattr(error, "extra", None) or {}
    if wants_json():
        resp = problem_response(status, detail, errors, **extra)
    else:
        resp = render_template("error.html", status=status, title=title_of(status), detail=detail), status
        return resp
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="schedule"'
    for key, value in (data.get("headers") or {}).items():
        resp.headers[key] = value
    return resp


def _what_is_wrong(status: int, locations: set[str]) -> str:
    """The detail for a validation error, by where webargs found it."""
    if status == 422:
        return _("The request has fields that are not valid.")
    if "json" in locations:  # webargs answers 400 only when the body cannot be parsed at all
        return _("The request body is not valid JSON.")
    if locations and locations <= {"query", "querystring"}:
        return _("The query is not valid.")
    return _("The request is not valid.")


def init_app(app: Flask) -> None:
    # Registered after flask-smorest's own handler, so this one answers every HTTP error
    # (unhandled exceptions arrive here as InternalServerError).
    app.register_error_handler(HTTPException, render_error)
