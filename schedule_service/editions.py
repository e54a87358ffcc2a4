"""Regional editions (SPEC §9): a channel's time-shifted feeds, validated and written with their channel.

An edition keeps no slots: the read side (:mod:`schedule_service.listings`) moves the channel's
slots by the edition's ``shift`` when it is read, and the planner times an edition target's posts
the same way. Functions here flush and never commit.
"""

import re
from datetime import timedelta
from typing import Any

import isodate
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schedule_service import text_rules
from schedule_service.broadcast_time import exact_duration, zone
from schedule_service.errors import Invalid
from schedule_service.models import Channel, Edition, Target

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FIELDS = ("slug", "name", "names", "timezone", "shift")
#: Time-shifted feeds air within a day or two of their channel; beyond that it is a typo.
MAX_SHIFT = timedelta(hours=48)
MAX_EDITIONS = 50


def parse_shift(text: Any) -> timedelta:
    """Parse an exact ISO 8601 duration ("-PT4H"); whole minutes, at most :data:`MAX_SHIFT` either way."""
    value = exact_duration(text, "-PT4H")
    if value % timedelta(minutes=1):
        raise ValueError("a shift is a whole number of minutes")
    if abs(value) > MAX_SHIFT:
        raise ValueError(f"at most {MAX_SHIFT.days * 24} hours either way")
    return value


def format_shift(value: timedelta) -> str:
    """An ISO 8601 duration: "-PT4H", "PT1H30M", "PT0S"."""
    if not value:
        return "PT0S"
    return isodate.duration_isoformat(value)


def serialise(edition: Edition) -> dict[str, Any]:
    """An edition as the API shows it (and as the change feed and the staff form take it)."""
    return {
        "slug": edition.slug,
        "name": edition.name,
        "names": dict(edition.names or {}),
        "timezone": edition.timezone,
        "shift": format_shift(edition.shift),
    }


def serialise_all(channel: Channel) -> list[dict[str, Any]]:
    return [serialise(e) for e in channel.editions]


def set_editions(session: Session, channel: Channel, given: Any, new_slug: str | None = None) -> dict[str, list]:
    """Make ``channel``'s editions those ``given`` (a list of dicts); return {"editions": [old, new]} if changed.

    Editions are matched by slug, so one that stays keeps its row (and the targets bound to it).
    Raises :class:`Invalid` with ``editions.<i>.<field>`` keys.

    :param new_slug: the channel's slug as it is about to be, which no edition may take.
    """
    before = serialise_all(channel)
    clean = _validate(session, channel, given, new_slug or channel.slug)
    if clean == before:
        return {}
    by_slug = {e.slug: e for e in channel.editions}
    kept = []
    for position, values in enumerate(clean):
        edition = by_slug.pop(values["slug"], None)
        if edition is None:
            edition = Edition(slug=values["slug"])
        edition.name, edition.names, edition.timezone = values["name"], values["names"], values["timezone"]
        edition.shift_seconds = int(parse_shift(values["shift"]).total_seconds())
        edition.position = position
        kept.append(edition)
    channel.editions = kept
    for dropped in by_slug.values():
        session.delete(dropped)  # said, not left to the orphan cascade: the change feed sees what is deleted
    if by_slug:  # a target bound to a removed edition speaks for its channel again
        session.execute(update(Target).where(Target.edition.in_(list(by_slug))).values(edition=None))
    session.flush()
    return {"editions": [before, serialise_all(channel)]}


def _validate(session: Session, channel: Channel, given: Any, channel_slug: str) -> list[dict[str, Any]]:
    if not isinstance(given, list):
        raise Invalid({"editions": "a list of editions"})
    if len(given) > MAX_EDITIONS:
        raise Invalid({"editions": f"at most {MAX_EDITIONS} editions"})
    errors: dict[str, str] = {}
    out = []
    seen: set[str] = set()
    for i, item in enumerate(given):
        if not isinstance(item, dict):
            errors[f"editions.{i}"] = "an edition is an object"
            continue
        err: dict[str, str] = {}
        for key in sorted(set(item) - set(FIELDS)):
            err[key] = "Unknown field."
        slug = item.get("slug")
        if not isinstance(slug, str) or not SLUG.match(slug):
            err["slug"] = "lowercase letters, digits and -"
        elif slug in seen or slug == channel_slug:
            err["slug"] = f"{slug!r} is named twice"
        elif _slug_taken(session, slug, channel):
            err["slug"] = f"{slug!r} is taken by another channel or edition"
        if isinstance(slug, str):
            seen.add(slug)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            err["name"] = "a name of 1–200 characters"
        else:
            why = text_rules.refusal(name)
            if why:
                err["name"] = why
        names = item.get("names") or {}
        if not isinstance(names, dict) or not all(
            isinstance(k, str) and 2 <= len(k) <= 16 and isinstance(v, str) and 1 <= len(v) <= 200
            for k, v in names.items()
        ):
            err["names"] = "{language: name}, each name 1–200 characters"
        timezone = item.get("timezone")
        try:
            zone(timezone)
        except (TypeError, ValueError) as e:
            err["timezone"] = str(e)
        shift = item.get("shift")
        try:
            shift = format_shift(parse_shift(shift))
        except ValueError as e:
            err["shift"] = str(e)
        errors.update({f"editions.{i}.{k}": v for k, v in err.items()})
        names = dict(names) if isinstance(names, dict) else {}
        out.append({"slug": slug, "name": name, "names": names, "timezone": timezone, "shift": shift})
    if errors:
        raise Invalid(errors)
    return out


def _slug_taken(session: Session, slug: str, channel: Channel) -> bool:
    if session.scalar(select(Channel.id).where(Channel.slug == slug)) is not None:
        return True
    owner = session.scalar(select(Edition.channel_id).where(Edition.slug == slug))
    return owner is not None and owner != channel.id


def slug_taken_by_edition(session: Session, slug: str) -> bool:
    """Whether an edition already answers to ``slug`` (a channel may not take it)."""
    return session.scalar(select(Edition.id).where(Edition.slug == slug)) is not None
