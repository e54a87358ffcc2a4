"""The staff workspace under /staff/: schedule, programmes, promos, approvals, publish log, users."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response

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
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


#: The menu: (endpoint, label, role); pages that are not there yet are left out.
NAV = (
    ("staff.home", "Schedule", "editor"),
    ("staff.programmes", "Programmes", "editor"),
    ("staff.imports", "XMLTV import", "editor"),
    ("staff.plans", "Promo plans", "editor"),
    ("staff.approvals", "Approvals", "editor"),
    ("staff.publish_log", "Publish log", "editor"),
    ("staff.audit", "Audit", "editor"),
    ("staff.targets", "Targets", "admin"),
    ("staff.users", "Users", "admin"),
    ("staff.tokens", "API tokens", "editor"),
)


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
    return {"at_local": at_local, "change_text": change_text, "nav_items": nav_items}


@bp.after_request
def _private(response: Response) -> Response:
    # Staff pages show unpublished plans and people's names: never kept by a shared cache.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


# The pages register themselves on ``bp``.
from schedule_service.web.staff import (  # noqa: E402, F401
    account,
    fast_entry,
    grid,
    imports,
    programmes,
    promos,
    publishing,
    trail,
)
