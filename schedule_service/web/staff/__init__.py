"""The staff workspace under /staff/: schedule, programmes, promos, approvals, publish log, users."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

bp = Blueprint("staff", __name__, url_prefix="/staff")


def at_local(instant: datetime | None, zone: ZoneInfo | str | None = None, with_date: bool = True) -> str:
    """An instant on a wall clock, with the zone's abbreviation: "2031-11-22 00:05 MSK"."""
    if instant is None:
        return "—"
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    wall = instant.astimezone(tz) if tz is not None else instant
    return wall.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")


def change_text(value) -> str:
    """One side of an audit change, readable."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


#: The menu: (endpoint, label, role); pages that are not there yet are left out.
NAV = (
    ("staff.home", _l("Schedule"), "editor"),
    ("staff.programmes", _l("Programmes"), "editor"),
    ("staff.imports", _l("XMLTV import"), "editor"),
    ("staff.plans", _l("Promo plans"), "editor"),
    ("staff.desk_calendar", _l("Promo desk"), "editor"),
    ("staff.approvals", _l("Approvals"), "editor"),
    ("staff.publish_log", _l("Publish log"), "editor"),
    ("staff.audit", _l("Audit"), "editor"),
    ("staff.targets", _l("Targets"), "admin"),
    ("staff.users", _l("Users"), "admin"),
    ("staff.tokens", _l("API tokens"), "editor"),
)

#: The API's words that staff pages show (statuses, actions, roles, kinds of entity), in the page's language.
WORDS = {
    "planned": _l("planned"),
    "publishing": _l("publishing"),
    "published": _l("published"),
    "held": _l("held"),
    "failed": _l("failed"),
    "unknown": _l("unknown"),
    "expired": _l("expired"),
    "revoked": _l("revoked"),
    "corrected": _l("corrected"),
    "withdrawn": _l("withdrawn"),
    "publish": _l("publish"),
    "correct": _l("correct"),
    "withdraw": _l("withdraw"),
    "create": _l("create"),
    "update": _l("update"),
    "delete": _l("delete"),
    "cancel": _l("cancel"),
    "restore": _l("restore"),
    "approve": _l("approve"),
    "hold": _l("hold"),
    "retry": _l("retry"),
    "template": _l("template"),
    "editor": _l("editor"),
    "admin": _l("admin"),
    "channel": _l("channel"),
    "programme": _l("programme"),
    "slot": _l("slot"),
    "post": _l("post"),
    "target": _l("target"),
    "user": _l("user"),
    "token": _l("token"),
    "plan": _l("plan"),
    "import": _l("import"),
    "sent": _l("sent"),
    "error": _l("error"),
}


def word(value: str | None) -> str:
    """One of the API's words as the page's language says it; any other value as it is."""
    if value is None:
        return ""
    translated = WORDS.get(value)
    return str(translated) if translated is not None else value


def nav_items() -> list[tuple[str, str]]:
    """The menu entries the logged-in user may open."""
    from flask import current_app
    from flask_login import current_user

    if not current_user.is_authenticated:
        return []
    return [
        (endpoint, label)
        for endpoint, label, role in NAV
        if endpoint in current_app.view_functions and current_user.has_role(role)
    ]


@bp.context_processor
def _helpers() -> dict:
    return {"at_local": at_local, "change_text": change_text, "nav_items": nav_items, "word": word}


@bp.after_request
def _private(response: Response) -> Response:
    # Staff pages show unpublished plans and people's names: never kept by a shared cache.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


# The pages register themselves on ``bp``.
from schedule_service.web.staff import (  # noqa: E402, F401
    account,
    desk,
    fast_entry,
    grid,
    imports,
    kill_switch,
    programmes,
    promos,
    publishing,
    trail,
)
