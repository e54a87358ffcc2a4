"""Publishing targets as an admin sets them up: validated, audited, secrets never echoed.

Operations validate, change objects, flush and return; the caller commits once.
"""

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schedule_service import audit, text_rules
from schedule_service.broadcast_time import zone
from schedule_service.models import Edition, Post, Slot, Target
from schedule_service.models.promo import PostStatus
from schedule_service.models.target import KINDS
from schedule_service.publishing.addresses import refusal
from schedule_service.schedule import Conflict, Invalid

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CHAT_ID = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,}|-?[0-9]{1,20})$")
#: A VK community's id: positive (its wall's owner_id is the negative).
COMMUNITY_ID = re.compile(r"^[1-9][0-9]{0,19}$")
#: Fields an admin sets; ``secret`` and ``token`` are written, never read back.
FIELDS = (
    "name",
    "kind",
    "url",
    "chat_id",
    "lang",
    "timezone",
    "max_length",
    "is_approval_required",
    "is_enabled",
    "edition",
)
CREDENTIALS = ("secret", "token")
#: The most a network takes, so a max_length above it cannot be set.
HARD_LIMITS = {"telegram": 4096, "vk": 16384}
BUILT_IN = "web"


def create_target(session: Session, values: dict[str, Any], actor: str) -> Target:
    """Add a target."""
    values = dict(values)
    _check(values, values)
    _check_edition(session, values)
    if session.scalar(select(Target).where(Target.name == values["name"])) is not None:
        raise Conflict(f"a target named {values['name']!r} already exists")
    target = Target(**values)
    session.add(target)
    session.flush()
    audit.record(session, actor, "create", "target", target.name, audit.created(_state(target)))
    return target


def update_target(session: Session, target: Target, values: dict[str, Any], actor: str) -> Target:
    """Change a target; its name and kind stay (plans and sent posts refer to them)."""
    values = dict(values)
    errors = {}
    for field in ("name", "kind"):
        if field in values and values[field] != getattr(target, field):
            errors[field] = (
                "a target's name cannot change: plans and posts refer to it; make a new target"
                if field == "name"
                else "a target's kind cannot change: its sent posts live on that network; make a new target"
            )
    if errors:
        raise Invalid(errors)
    merged = {f: getattr(target, f) for f in (*FIELDS, *CREDENTIALS)}
    merged.update(values)
    _check(values, merged)
    _check_edition(session, values)
    before = _state(target)
    credentials = {key: getattr(target, key) for key in CREDENTIALS}
    for key, value in values.items():
        setattr(target, key, value)
    session.flush()
    changes = audit.diff(before, _state(target))
    for key in CREDENTIALS:
        if key in values and values[key] != credentials[key]:
            new = ("(changed)" if credentials[key] else "(set)") if values[key] else None
            changes[key] = ["(set)" if credentials[key] else None, new]
    if changes:
        audit.record(session, actor, "update", "target", target.name, changes)
    if "edition" in changes:
        _replan_for(session, target)
    return target


def delete_target(session: Session, target: Target, actor: str) -> None:
    """Delete a target that has no posts; one with a publish log is disabled instead."""
    if target.name == BUILT_IN and target.kind == "web":
        raise Conflict("the built-in web target feeds the service's own promo feeds; disable it instead")
    posts = session.scalar(select(func.count(Post.id)).where(Post.target_id == target.id))
    if posts:
        raise Conflict(
            f"target {target.name!r} has {posts} post(s) in the publish log; disable it (enabled: false) instead"
        )
    audit.record(session, actor, "delete", "target", target.name, {"kind": [target.kind, None]})
    session.delete(target)
    session.flush()


def _state(target: Target) -> dict[str, Any]:
    """What the audit shows: the plain fields, and only whether a credential is set."""
    state = audit.snapshot(target, FIELDS)
    for key in CREDENTIALS:
        state[key] = "(set)" if getattr(target, key) else None
    return state


def _check(values: dict[str, Any], merged: dict[str, Any]) -> None:
    """Check the fields given, and that the target they make up can publish; raise Invalid."""
    errors: dict[str, str] = {}
    kind = merged.get("kind")
    if "name" in values and not NAME.match(values.get("name") or ""):
        errors["name"] = "1–64 lowercase letters, digits, - and _, starting with a letter or digit"
    if kind not in KINDS:
        errors["kind"] = f"one of {', '.join(KINDS)}"
    url = merged.get("url")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors["url"] = "an http(s) URL"
        elif kind == "web":
            errors["url"] = "the web target publishes to the service's own feeds; it has no url"
        elif "url" in values and not _allow_private() and (why := refusal(url)):
            errors["url"] = why
    elif kind in ("webhook", "mastodon"):
        errors["url"] = "required: " + ("where to POST the webhooks" if kind == "webhook" else "the Mastodon server")
    secret = merged.get("secret")
    if kind == "webhook":
        if not secret:
            errors["secret"] = "required: the Standard Webhooks signing secret (whsec_ and base64)"
        elif "secret" in values and not _valid_secret(secret):
            errors["secret"] = "a Standard Webhooks secret: whsec_ then base64 of 24 to 64 random bytes"
    elif secret and "secret" in values:
        errors["secret"] = f"a {kind} target has no signing secret"
    if kind in ("mastodon", "telegram", "vk") and not merged.get("token"):
        what = {
            "mastodon": "an access token with write:statuses",
            "telegram": "the bot token",
            "vk": "a community access token with the wall right",
        }[kind]
        errors["token"] = f"required: {what}"
    elif kind in ("web", "webhook") and merged.get("token") and "token" in values:
        errors["token"] = f"a {kind} target has no token"
    chat_id = merged.get("chat_id")
    if kind == "telegram" and not chat_id:
        errors["chat_id"] = "required: @channelname or a numeric chat id"
    elif chat_id is not None and kind == "telegram" and not CHAT_ID.match(str(chat_id)):
        errors["chat_id"] = "@channelname or a numeric chat id such as -1001234567890"
    elif kind == "vk" and not chat_id:
        errors["chat_id"] = "required: the VK community's id (a positive number)"
    elif chat_id is not None and kind == "vk" and not COMMUNITY_ID.match(str(chat_id)):
        errors["chat_id"] = "the VK community's id, a positive number such as 123456 (not the wall's -123456)"
    elif chat_id is not None and kind not in ("telegram", "vk"):
        errors["chat_id"] = "only a telegram or vk target has a chat_id"
    lang = merged.get("lang")
    if lang is not None and lang not in _languages():
        errors["lang"] = f"one of {', '.join(_languages())}"
    if merged.get("timezone") is not None:
        try:
            zone(merged["timezone"])
        except ValueError as e:
            errors["timezone"] = str(e)
    limit = merged.get("max_length")
    hard = HARD_LIMITS.get(kind)
    if limit is not None and (limit < 50 or (hard and limit > hard)):
        errors["max_length"] = f"from 50 to {hard}" if hard else "at least 50"
    elif limit is not None and limit > text_rules.MAX_INT:  # no network's own: as much as the column holds
        errors["max_length"] = f"at most {text_rules.MAX_INT}"
    if errors:
        raise Invalid(errors)


def _check_edition(session: Session, values: dict[str, Any]) -> None:
    """A target may name an existing edition (SPEC §9), or none."""
    slug = values.get("edition")
    if slug is not None and session.scalar(select(Edition.id).where(Edition.slug == slug)) is None:
        raise Invalid({"edition": f"there is no edition {slug!r}"})


def _replan_for(session: Session, target: Target) -> None:
    """Move the target's unsent posts to the air times of its new edition (or its channel's)."""
    from schedule_service.promos import plan

    waiting = select(Post.slot_id).where(Post.target_id == target.id, Post.status.in_(PostStatus.UNSENT))
    plan.replan_coming(session, select(Slot).where(Slot.id.in_(waiting)))


def _valid_secret(secret: str) -> bool:
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def _allow_private() -> bool:
    return bool(current_app.config.get("TARGETS_ALLOW_PRIVATE")) if has_app_context() else False


def _languages() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"]) if has_app_context() else ("en", "ru")
