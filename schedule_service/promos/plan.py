"""Promo plans → post rows; re-planning when a slot moves; revoking when it is cancelled.

A plan is a list of steps, each ``{"name", "offset": "-PT10M"}`` (an exact ISO 8601 duration
from the slot's start, computed in UTC) or ``{"name", "day": -1, "at_local": "18:00"}`` (a wall
time in the audience's zone on a day counted from the slot's broadcast day), with ``targets``
(names) and an optional ``template``. A programme's plan replaces its channel's; a channel
without one follows :data:`DEFAULT_PLAN`. Every function here flushes and never commits.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import isodate
from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import audit, bulk
from schedule_service.broadcast_time import NonexistentTime, broadcast_day, to_instant
from schedule_service.clock import now
from schedule_service.models import Channel, Post, Programme, Slot, Target
from schedule_service.models.promo import (
    CORRECTED,
    FAILED,
    HELD,
    PLANNED,
    PUBLISH,
    PUBLISHED,
    PUBLISHING,
    REVOKED,
    UNKNOWN,
)
from schedule_service.models.slot import SCHEDULED
from schedule_service.promos.render import (
    BadTemplate,
    PromoNotTrue,
    TooLong,
    audience_zone,
    post_lang,
    render_slot,
    template_names,
)
from schedule_service.publishing import corrections

log = logging.getLogger(__name__)

#: The service's plan for a channel that has none of its own.
DEFAULT_PLAN: list[dict[str, Any]] = [
    {"name": "day-before", "day": -1, "at_local": "12:00", "targets": ["web"]},
    {"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web"]},
    {"name": "ten-minutes", "offset": "-PT10M", "targets": ["web"]},
    {"name": "on-air", "offset": "PT0S", "targets": ["web"]},
]

#: Posts not yet sent: moving the slot moves them, cancelling it revokes them.
UNSENT = (PLANNED, HELD, FAILED)
#: Posts that are (or may be) out there: a move or a cancellation corrects or withdraws them.
SENT = (PUBLISHING, PUBLISHED, UNKNOWN, CORRECTED)

STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STEP_KEYS = {"name", "offset", "day", "at_local", "targets", "template"}
MAX_STEPS = 50
MAX_OFFSET = timedelta(days=60)
DAYS = range(-60, 2)


# Plans


def effective_plan(slot: Slot) -> list[dict[str, Any]]:
    """The steps that apply to ``slot``: its programme's plan, else its channel's, else the default."""
    if slot.programme.promo_plan is not None:
        return slot.programme.promo_plan
    if slot.channel.promo_plan is not None:
        return slot.channel.promo_plan
    return DEFAULT_PLAN


def validate_plan(session: Session, steps: Any) -> list[dict[str, Any]]:
    """Return ``steps`` checked and normalised; raise ``schedule.Invalid`` with {"<i>.<field>": message}."""
    from schedule_service.schedule import Invalid

    if not isinstance(steps, list):
        raise Invalid({"_schema": "a plan is a list of steps"})
    if len(steps) > MAX_STEPS:
        raise Invalid({"_schema": f"a plan has at most {MAX_STEPS} steps"})
    known_targets = set(session.scalars(select(Target.name)))
    templates = template_names()
    errors: dict[str, str] = {}
    out = []
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            errors[str(i)] = "a step is an object"
            continue
        err = {}
        for key in sorted(set(step) - STEP_KEYS):
            err[key] = "Unknown field."
        name = step.get("name")
        if not isinstance(name, str) or not STEP_NAME.match(name):
            err["name"] = "a name of 1–64 letters, digits, '.', '-' or '_'"
        elif name in seen:
            err["name"] = f"another step is already called {name!r}"
        else:
            seen.add(name)
        clean: dict[str, Any] = {"name": name}
        has_offset = step.get("offset") is not None
        has_day = step.get("day") is not None or step.get("at_local") is not None
        if has_offset == has_day:
            err["offset"] = 'give offset (e.g. "-PT10M") or day and at_local, not both'
        elif has_offset:
            try:
                parse_offset(step["offset"])
                clean["offset"] = step["offset"]
            except ValueError as e:
                err["offset"] = str(e)
        else:
            day = step.get("day")
            if isinstance(day, bool) or not isinstance(day, int) or day not in DAYS:
                err["day"] = f"a whole number of days from {DAYS.start} to {DAYS.stop - 1} (0 = the broadcast day)"
            try:
                clean["at_local"] = parse_at_local(step.get("at_local")).strftime("%H:%M")
            except ValueError as e:
                err["at_local"] = str(e)
            clean["day"] = day
        targets = step.get("targets")
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            err["targets"] = "a non-empty list of target names"
        else:
            missing = [t for t in targets if t not in known_targets]
            if missing:
                err["targets"] = f"no target named {', '.join(map(repr, missing))}"
            elif len(set(targets)) != len(targets):
                err["targets"] = "a target is named twice"
            clean["targets"] = list(targets)
        template = step.get("template")
        if template is not None:
            if not isinstance(template, str) or template not in templates:
                err["template"] = f"no blurb template {template!r}; there are: {', '.join(sorted(templates))}"
            clean["template"] = template
        errors.update({f"{i}.{k}": v for k, v in err.items()})
        out.append(clean)
    if errors:
        raise Invalid(errors)
    return out


def set_channel_plan(session: Session, channel: Channel, steps: list | None, actor: str) -> list | None:
    """Set (or, with None, reset to the default) a channel's plan; re-plan its coming slots."""
    steps = None if steps is None else validate_plan(session, steps)
    before = channel.promo_plan
    channel.promo_plan = steps
    session.flush()
    if before != steps:
        audit.record(session, actor, "update", "channel", channel.slug, {"promo_plan": [before, steps]})
    coming = select(Slot).join(Programme).where(Slot.channel_id == channel.id, Programme.promo_plan.is_(None))
    _replan_coming(session, coming, steps)
    return steps


def set_programme_plan(session: Session, programme: Programme, steps: list | None, actor: str) -> list | None:
    """Set (or, with None, drop so its channels' apply) a programme's plan; re-plan its coming slots."""
    steps = None if steps is None else validate_plan(session, steps)
    before = programme.promo_plan
    programme.promo_plan = steps
    session.flush()
    if before != steps:
        audit.record(session, actor, "update", "programme", programme.id, {"promo_plan": [before, steps]})
    _replan_coming(session, select(Slot).where(Slot.programme_id == programme.id), steps)
    return steps


def _replan_coming(session: Session, query, steps: list[dict[str, Any]] | None) -> None:
    """Re-plan the slots of ``query`` that have yet to end; a blurb that cannot fit names its step."""
    from schedule_service.schedule import Invalid

    slots = session.scalars(query.where(Slot.status == SCHEDULED, Slot.end_at > now()).order_by(Slot.start_at))
    for slot in slots.unique():
        try:
            _sync_posts(session, slot)
        except DoesNotFit as e:
            index = next((i for i, s in enumerate(steps or []) if s["name"] == e.step), None)
            key = f"{index}.targets" if index is not None else "_schema"
            raise Invalid({key: f"slot {slot.id} ({slot.start_at:%Y-%m-%d %H:%M}Z): {e}"}) from e


def parse_offset(text: Any) -> timedelta:
    """Parse an exact ISO 8601 duration ("-PT10M", "P1D" = 24 hours); years and months are refused."""
    if not isinstance(text, str):
        raise ValueError('an ISO 8601 duration such as "-PT10M"')
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as e:
        raise ValueError(f'{text!r} is not an ISO 8601 duration such as "-PT10M"') from e
    if not isinstance(value, timedelta):
        raise ValueError("years and months are not exact; use days, hours, minutes or seconds")
    if abs(value) > MAX_OFFSET:
        raise ValueError(f"at most {MAX_OFFSET.days} days from air time")
    return value


def parse_at_local(text: Any) -> time:
    """Parse a wall time "HH:MM"."""
    try:
        return datetime.strptime(text, "%H:%M").time()
    except (TypeError, ValueError) as e:
        raise ValueError('a wall time as "HH:MM"') from e


# Posts


@dataclass(frozen=True)
class Planned:
    """What one (step, target) of a slot's plan asks for."""

    step: str
    target: Target
    due_at: datetime
    valid_until: datetime
    template: str | None


def step_moment(step: dict[str, Any], slot: Slot, target: Target) -> datetime:
    """The instant a step is due for ``target``.

    An ``at_local`` wall time that the clocks skip (DST gap) is taken as far past the gap's start
    as it was meant to be (02:30 → 03:30), as RFC 5545 does; one that happens twice is the first.
    """
    if step.get("offset") is not None:
        return slot.start_at + parse_offset(step["offset"])
    channel = slot.channel
    return _wall_moment(step, broadcast_day(slot.start_at, channel.zone, channel.broadcast_day_start), channel, target)


def _wall_moment(step: dict[str, Any], day: date, channel: Channel, target: Target) -> datetime:
    """The instant of an ``at_local`` step for a slot of broadcast day ``day``."""
    day = day + timedelta(days=step["day"])
    tz = audience_zone(target, channel)
    wall = datetime.combine(day, parse_at_local(step["at_local"]))
    try:
        return to_instant(wall, tz, fold=0)
    except NonexistentTime:
        # fold=0 in a gap reads the wall time with the offset from before the jump.
        return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def planned_posts(session: Session, slot: Slot) -> dict[tuple[str, str], Planned]:
    """Every (step, target name) of the slot's plan with its due time and validity."""
    targets = {t.name: t for t in session.scalars(select(Target))}
    out = {}
    for step in effective_plan(slot):
        for name in step["targets"]:
            target = targets.get(name)
            if target is None:
                # Plans are checked when set; a target deleted since is skipped, not fatal to a schedule write.
                log.warning("promo plan step %r names target %r, which no longer exists", step["name"], name)
                continue
            due = step_moment(step, slot, target)
            # Before air the post says when; from air time on it says "on air now" until the end.
            valid_until = slot.start_at if due < slot.start_at else slot.end_at
            out[(step["name"], name)] = Planned(step["name"], target, due, valid_until, step.get("template"))
    return out


class DoesNotFit(ValueError):
    """A step's blurb cannot be made for a target: too long for it, or its template is missing."""

    def __init__(self, step: str, target: str, reason: Exception):
        super().__init__(f"step {step!r} for target {target!r}: {reason}")
        self.step, self.target = step, target


def plan_slot(session: Session, slot: Slot) -> list[Post]:
    """Plan the posts of a new (or restored) slot from its plan."""
    return _sync_or_invalid(session, slot)


def replan_slot(session: Session, slot: Slot) -> None:
    """Move the unsent posts of a slot that moved; queue corrections for sent ones."""
    _sync_or_invalid(session, slot)
    # Posts already out get a correction of their own; one still being sent is followed up by
    # the outbox when its answer arrives, an unknown one when a person settles it.
    corrections.queue_corrections(session, slot)


def revoke_slot(session: Session, slot: Slot) -> None:
    """Revoke the unsent posts of a cancelled slot; queue withdrawals for sent ones."""
    for post in _publish_posts(session, slot):
        if post.status in UNSENT:
            post.status = REVOKED
            post.retry_at = None
    session.flush()
    # Posts already out get a withdrawal of their own (followed up likewise as above).
    corrections.queue_withdrawals(session, slot)


def needs_approval(slot: Slot, target: Target) -> bool:
    """Whether a person must approve the post before it goes out."""
    return target.is_approval_required or (slot.programme.is_exclusive and slot.channel.is_exclusive_approval_required)


def _publish_posts(session: Session, slot: Slot) -> list[Post]:
    """The slot's publishing posts, locked against a scheduler claiming them meanwhile.

    On PostgreSQL a claim commits between our read and our write otherwise, and we would
    overwrite ``publishing`` with a re-plan; SQLite's BEGIN IMMEDIATE already excludes it.
    """
    query = select(Post).where(Post.slot_id == slot.id, Post.action == PUBLISH).order_by(Post.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Post)
    return list(session.scalars(query).unique())


def _sync_or_invalid(session: Session, slot: Slot) -> list[Post]:
    from schedule_service.schedule import Invalid

    try:
        return _sync_posts(session, slot)
    except DoesNotFit as e:
        raise Invalid({"promo_plan": str(e)}) from e


def _sync_posts(session: Session, slot: Slot) -> list[Post]:
    """Make the slot's unsent posts match its plan and its times; return the live ones."""
    if slot.status != SCHEDULED:
        return []
    at = now()
    wanted = planned_posts(session, slot)
    existing: dict[tuple[str, str], list[Post]] = {}
    for post in _publish_posts(session, slot):
        existing.setdefault((post.step, post.target.name), []).append(post)
    live: list[Post] = []
    for key in sorted(set(wanted) | set(existing)):
        posts = existing.get(key, [])
        unsent = [p for p in posts if p.status in UNSENT]
        want = wanted.get(key)
        if want is None or want.due_at < at or want.due_at >= want.valid_until:
            # Dropped from the plan, or its moment has passed: never send it.
            for post in unsent:
                post.status, post.retry_at = REVOKED, None
            continue
        if not unsent and any(p.status in SENT for p in posts):
            continue  # already out: a correction, not a second post
        lang = post_lang(want.target, slot.channel)
        try:
            preview = render_slot(slot, want.target, lang, want.due_at, want.template)
        except (TooLong, BadTemplate, PromoNotTrue) as e:
            raise DoesNotFit(want.step, want.target.name, e) from e
        if unsent:
            post, *extra = unsent
            for other in extra:
                other.status = REVOKED
            if post.status == FAILED:
                post.status, post.retry_at = PLANNED, None
        else:
            post = Post(
                slot=slot,
                target=want.target,
                step=want.step,
                action=PUBLISH,
                idempotency_key=_key(session, slot, want, len(posts)),
                status=PLANNED,
            )
            session.add(post)
        # Newly needing approval holds a post; a held one stays held until a person releases it.
        if post.status == PLANNED and needs_approval(slot, want.target):
            post.status = HELD
        post.due_at, post.valid_until = want.due_at, want.valid_until
        post.lang, post.template = lang, want.template
        post.text = preview.text  # as it would read when due; re-rendered when sent
        live.append(post)
    session.flush()
    return live


def _key(session: Session, slot: Slot, want: Planned, earlier: int) -> str:
    """Stable per (slot, step, target); a later post for the same, after one was revoked or sent, counts up."""
    base = f"slot-{slot.id}-{want.step}-{want.target.name}-publish"
    n = earlier + 1
    while True:
        key = base if n == 1 else f"{base}-{n}"
        # Hyphens in step and target names could make two pairs spell one key; skip to a free one.
        if session.scalar(select(Post.id).where(Post.idempotency_key == key)) is None:
            return key
        n += 1


# Many new slots at once (an import)


@dataclass(frozen=True, slots=True)
class NewSlot:
    """A slot just inserted in bulk, as far as planning needs it.

    ``programme`` is anything with ``promo_plan`` and ``is_exclusive``: a loaded programme, or a
    plain record of one inserted in bulk too.
    """

    id: int
    start_at: datetime
    end_at: datetime
    programme: Any


class SlotDoesNotFit(DoesNotFit):
    """A step's blurb cannot be made for one of the slots given to :func:`plan_new_slots`."""

    def __init__(self, index: int, step: str, target: str, reason: Exception):
        super().__init__(step, target, reason)
        self.index = index


def plan_new_slots(session: Session, channel: Channel, slots: list[NewSlot]) -> int:
    """Plan the posts of new slots on ``channel`` in one INSERT, as :func:`plan_slot` would one by one.

    The same rows, idempotency keys, holds and skipped past steps. What differs is when blurbs
    are rendered: the text is rendered when a post is sent (SPEC §8), so here only to refuse
    one that cannot be made. For a target with a length limit that is every post, as
    :func:`plan_slot` does; for a target without one only a missing or broken template can
    refuse it, so one post per (target, language, template) is tried, and the others get their
    text when sent. Returns the number of posts planned.

    :raises SlotDoesNotFit: for the first slot (by its index in ``slots``) whose blurb cannot be made.
    """
    if not slots:
        return 0
    targets = {t.name: t for t in session.scalars(select(Target))}
    # What is asked per post, read once: attributes of loaded objects cost a call each.
    limited = {name: t.limit is not None for name, t in targets.items()}
    approval = {name: t.is_approval_required for name, t in targets.items()}
    target_ids = {name: t.id for name, t in targets.items()}
    exclusive_held = channel.is_exclusive_approval_required
    channel_plan = channel.promo_plan
    at = now()
    tz, day_start = channel.zone, channel.broadcast_day_start
    ids = [s.id for s in slots]
    # Keys of the slots' posts already there: none for slots just made, unless an id came back.
    taken = set(session.scalars(select(Post.idempotency_key).where(Post.slot_id.between(min(ids), max(ids)))))
    offsets: dict[str, timedelta] = {}
    walls: dict[tuple, datetime] = {}
    langs: dict[str, str] = {}
    tried: set[tuple[str, str, str | None]] = set()
    gone: set[tuple[str, str]] = set()
    rows: list[dict[str, Any]] = []
    for index, slot in enumerate(slots):
        programme = slot.programme
        steps = programme.promo_plan if programme.promo_plan is not None else channel_plan
        start_at, end_at = slot.start_at, slot.end_at
        exclusive = programme.is_exclusive and exclusive_held
        day = None
        wanted: dict[tuple[str, str], tuple[dict, Target, datetime, datetime]] = {}
        for step in DEFAULT_PLAN if steps is None else steps:
            for name in step["targets"]:
                target = targets.get(name)
                if target is None:
                    if (step["name"], name) not in gone:
                        gone.add((step["name"], name))
                        log.warning("promo plan step %r names target %r, which no longer exists", step["name"], name)
                    continue
                if step.get("offset") is not None:
                    if step["offset"] not in offsets:
                        offsets[step["offset"]] = parse_offset(step["offset"])
                    due = start_at + offsets[step["offset"]]
                else:
                    if day is None:
                        day = broadcast_day(start_at, tz, day_start)
                    wall = (day, step["day"], step["at_local"], target.timezone)
                    if wall not in walls:
                        walls[wall] = _wall_moment(step, day, channel, target)
                    due = walls[wall]
                valid_until = start_at if due < start_at else end_at
                wanted[(step["name"], name)] = (step, target, due, valid_until)
        for key in sorted(wanted):
            step, target, due, valid_until = wanted[key]
            if due < at or due >= valid_until:
                continue  # its moment has passed: never send it
            step_name, name = key
            if name not in langs:
                langs[name] = post_lang(target, channel)
            lang, template = langs[name], step.get("template")
            text = None
            if limited[name] or (name, lang, template) not in tried:
                tried.add((name, lang, template))
                try:
                    text = render_slot(session.get(Slot, slot.id), target, lang, due, template).text
                except (TooLong, BadTemplate, PromoNotTrue) as e:
                    raise SlotDoesNotFit(index, step_name, name, e) from e
            base = f"slot-{slot.id}-{step_name}-{name}-publish"
            idempotency_key, n = base, 1
            while idempotency_key in taken:  # as _key: two (step, target) pairs may spell one key
                n += 1
                idempotency_key = f"{base}-{n}"
            taken.add(idempotency_key)
            rows.append(
                {
                    "slot_id": slot.id,
                    "target_id": target_ids[name],
                    "step": step_name,
                    "action": PUBLISH,
                    "idempotency_key": idempotency_key,
                    "status": HELD if approval[name] or exclusive else PLANNED,
                    "due_at": due,
                    "valid_until": valid_until,
                    "lang": lang,
                    "template": template,
                    "text": text,
                }
            )
    return bulk.insert_rows(session, Post.__table__, rows)
