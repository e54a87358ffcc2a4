"""Promo plans → post rows; re-planning when a slot moves; revoking when it is cancelled.

A plan is a list of steps, each ``{"name", "offset": "-PT10M"}`` (an exact ISO 8601 duration
from the slot's start, computed in UTC) or ``{"name", "day": -1, "at_local": "18:00"}`` (a wall
time in the audience's zone on a day counted from the slot's broadcast day), with ``targets``
(names) and an optional ``template``. A programme's plan replaces its channel's; a channel
without one follows :data:`DEFAULT_PLAN`. Every function here flushes and never commits.
"""

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import audit, bulk
from schedule_service.broadcast_time import NonexistentTime, broadcast_day, exact_duration, to_instant
from schedule_service.clock import now
from schedule_service.errors import Invalid
from schedule_service.models import Channel, Post, Programme, Slot, Target
from schedule_service.models.channel import ALL, NONE
from schedule_service.models.promo import (
    EXPIRED,
    FAILED,
    HELD,
    PLANNED,
    PUBLISH,
    REVOKED,
    PostStatus,
)
from schedule_service.models.slot import SCHEDULED
from schedule_service.promos import corrections
from schedule_service.promos.render import (
    BadTemplate,
    PromoNotTrue,
    TooLong,
    as_aired,
    audience_zone,
    post_lang,
    render_slot,
    target_edition,
    template_names,
)

log = logging.getLogger(__name__)

#: The service's plan for a channel that has none of its own.
DEFAULT_PLAN: list[dict[str, Any]] = [
    {"name": "day-before", "day": -1, "at_local": "12:00", "targets": ["web"]},
    {"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web"]},
    {"name": "ten-minutes", "offset": "-PT10M", "targets": ["web"]},
    {"name": "on-air", "offset": "PT0S", "targets": ["web"]},
]

#: How far ahead a slot's posts are made when ``PROMO_HORIZON`` is not configured (SPEC §8a).
DEFAULT_HORIZON = timedelta(days=14)

UNSENT, SENT = PostStatus.UNSENT, PostStatus.SENT

STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STEP_KEYS = {"name", "offset", "day", "at_local", "targets", "template"}
MAX_STEPS = 50
MAX_OFFSET = timedelta(days=60)
DAYS = range(-60, 2)


# Plans


def effective_plan(slot: "SlotFacts", channel: Channel) -> list[dict[str, Any]]:
    """The steps that apply to a slot: none unless it is promoted (SPEC §8a); then its programme's
    plan, else its channel's, else the default."""
    if slot.programme_plan is not None:
        return slot.programme_plan  # a programme with a plan of its own is promoted on every slot
    if not is_promoted(slot, channel):
        return []
    return channel.promo_plan if channel.promo_plan is not None else DEFAULT_PLAN


def is_promoted(slot: "SlotFacts", channel: Channel) -> bool:
    """Whether the channel's ``promote`` gives the slot posts (SPEC §8a)."""
    if slot.programme_plan is not None or channel.promote == ALL:
        return True
    if channel.promote == NONE:
        return False
    return slot.is_promoted or slot.is_premiere or slot.is_exclusive


def validate_plan(session: Session, steps: Any) -> list[dict[str, Any]]:
    """Return ``steps`` checked and normalised; raise ``schedule.Invalid`` with {"<i>.<field>": message}."""

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
    # Slots whose programme has a plan of its own come out the same: re-planning them is a no-op.
    replan_coming(session, select(Slot).where(Slot.channel_id == channel.id), steps)
    return steps


def set_programme_plan(session: Session, programme: Programme, steps: list | None, actor: str) -> list | None:
    """Set (or, with None, drop so its channels' apply) a programme's plan; re-plan its coming slots."""
    steps = None if steps is None else validate_plan(session, steps)
    before = programme.promo_plan
    programme.promo_plan = steps
    session.flush()
    if before != steps:
        audit.record(session, actor, "update", "programme", programme.id, {"promo_plan": [before, steps]})
    replan_coming(session, select(Slot).where(Slot.programme_id == programme.id), steps)
    return steps


def replan_coming(session: Session, query, steps: list[dict[str, Any]] | None = None) -> None:
    """Re-plan the slots of ``query`` that have yet to end; a blurb that cannot fit names its step.

    :param steps: the plan just set, so a step that does not fit is named by its index.
    """

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
    value = exact_duration(text, "-PT10M")
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


@dataclass(frozen=True, slots=True)
class SlotFacts:
    """What planning a slot's posts needs to know of it: read from an ORM slot, or given by an import."""

    id: int
    start_at: datetime
    end_at: datetime
    is_premiere: bool = False
    is_promoted: bool = False
    #: The programme's flag: an exclusive is a highlight, and may need approval.
    is_exclusive: bool = False
    #: The programme's own plan, which replaces its channel's; None when it has none.
    programme_plan: list[dict[str, Any]] | None = None
    status: str = SCHEDULED

    @classmethod
    def of(cls, slot: Slot) -> "SlotFacts":
        programme = slot.programme
        return cls(
            id=slot.id,
            start_at=slot.start_at,
            end_at=slot.end_at,
            is_premiere=slot.is_premiere,
            is_promoted=slot.is_promoted,
            is_exclusive=programme.is_exclusive,
            programme_plan=programme.promo_plan,
            status=slot.status,
        )


@dataclass(frozen=True, slots=True)
class Wanted:
    """One post a slot's plan asks for: a (step, target) with its moment, validity and wording."""

    step: str
    target: str
    due_at: datetime
    valid_until: datetime
    lang: str
    template: str | None
    #: A person must approve it before it goes out.
    held: bool
    #: Its idempotency key, unless an earlier post of the same slot, step and target took it.
    key: str


def wanted_posts(slot: SlotFacts, channel: Channel, targets: Mapping[str, Target], at: datetime) -> list[Wanted]:
    """The posts ``slot`` should have as of ``at``, by (step, target): the one planner.

    Pure: the single-slot path diffs the answer against the slot's rows, the bulk path inserts
    it. Steps whose moment has passed, or that would fall at or after their validity, are left
    out; so are targets deleted since the plan was set. The planning horizon is the callers'.
    """
    if slot.status != SCHEDULED:
        return []
    out = []
    for step in effective_plan(slot, channel):
        template = step.get("template")
        for name in step["targets"]:
            target = targets.get(name)
            if target is None:
                _warn_gone(step["name"], name)
                continue
            # A target bound to an edition follows the edition's air time, and its broadcast day.
            aired = as_aired(slot, channel, target)
            if step.get("offset") is not None:
                due = aired.start_at + _offset(step["offset"])
            else:
                shown = aired.channel if aired is not slot else channel
                day = broadcast_day(aired.start_at, shown.zone, shown.broadcast_day_start)
                due = _wall_instant(day + timedelta(days=step["day"]), step["at_local"], audience_zone(target, channel))
            # Before air the post says when; from air time on it says "on air now" until the end.
            valid_until = aired.start_at if due < aired.start_at else aired.end_at
            if due < at or due >= valid_until:
                continue  # its moment has passed: never send it
            held = target.is_approval_required or (slot.is_exclusive and channel.is_exclusive_approval_required)
            key = f"slot-{slot.id}-{step['name']}-{name}-publish"
            out.append(Wanted(step["name"], name, due, valid_until, post_lang(target, channel), template, held, key))
    out.sort(key=lambda w: (w.step, w.target))
    return out


def horizon() -> timedelta:
    """How far ahead a slot's posts are made (``PROMO_HORIZON``)."""
    if has_app_context():
        return current_app.config.get("PROMO_HORIZON", DEFAULT_HORIZON)
    return DEFAULT_HORIZON


def plan_later(wanted: list[Wanted], at: datetime, ahead: timedelta) -> datetime | None:
    """When the posts of ``wanted`` are to be made, if that is after ``at``; None: make them now."""
    if not wanted:
        return None
    first = min(w.due_at for w in wanted)
    return first - ahead if first - ahead > at else None


def step_moment(step: dict[str, Any], slot: Slot, target: Target) -> datetime:
    """The instant a step is due for ``target``.

    An ``at_local`` wall time that the clocks skip (DST gap) is taken as far past the gap's start
    as it was meant to be (02:30 → 03:30), as RFC 5545 does; one that happens twice is the first.
    """
    aired = as_aired(slot, slot.channel, target)
    if step.get("offset") is not None:
        return aired.start_at + parse_offset(step["offset"])
    shown = aired.channel
    day = broadcast_day(aired.start_at, shown.zone, shown.broadcast_day_start)
    return _wall_instant(day + timedelta(days=step["day"]), step["at_local"], audience_zone(target, slot.channel))


@lru_cache(maxsize=256)
def _offset(text: str) -> timedelta:
    return parse_offset(text)


@lru_cache(maxsize=4096)
def _wall_instant(day: date, at_local: str, tz: ZoneInfo) -> datetime:
    """The instant of wall time ``at_local`` on ``day`` in ``tz`` (see :func:`step_moment`)."""
    wall = datetime.combine(day, parse_at_local(at_local))
    try:
        return to_instant(wall, tz, fold=0)
    except NonexistentTime:
        # fold=0 in a gap reads the wall time with the offset from before the jump.
        return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


@lru_cache(maxsize=256)
def _warn_gone(step: str, target: str) -> None:
    # Plans are checked when set; a target deleted since is skipped, not fatal to a schedule write.
    log.warning("promo plan step %r names target %r, which no longer exists", step, target)


def _targets(session: Session) -> dict[str, Target]:
    return {t.name: t for t in session.scalars(select(Target))}


class DoesNotFit(ValueError):
    """A step's blurb cannot be made for a target: too long for it, or its template is missing."""

    def __init__(self, step: str, target: str, reason: Exception):
        super().__init__(f"step {step!r} for target {target!r}: {reason}")
        self.step, self.target = step, target


# One slot at a time: the diff against its rows


def plan_slot(session: Session, slot: Slot) -> list[Post]:
    """Plan the posts of a new (or restored) slot from its plan."""
    return _sync_or_invalid(session, slot)


def replan_slot(session: Session, slot: Slot, *, correct: bool = True) -> None:
    """Re-plan a slot that moved or changed: unsent posts follow, sent ones get corrections.

    :param correct: queue corrections for posts already out (its times or programme changed).
    """
    _sync_or_invalid(session, slot)
    if correct:
        # Posts already out get a correction of their own; one still being sent is followed up by
        # the outbox when its answer arrives, an unknown one when a person settles it.
        corrections.queue_corrections(session, slot)


def revoke_slot(session: Session, slot: Slot) -> None:
    """Revoke the unsent posts of a cancelled slot; queue withdrawals for sent ones."""
    slot.plan_at = None
    for post in _publish_posts(session, slot):
        if post.status in UNSENT:
            post.status = REVOKED
            post.retry_at = None
    session.flush()
    # Posts already out get a withdrawal of their own (followed up likewise as above).
    corrections.queue_withdrawals(session, slot)


def plan_due(session: Session, at: datetime | None = None, limit: int = 200) -> int:
    """Make the posts of slots that have entered the horizon; return how many slots were planned.

    The horizon sweep. Which slots wait is in the database (``plan_at``), so a sweep cut short by
    a dying process leaves the rest for the next; planning a slot twice makes nothing twice.
    Flushes, never commits.
    """
    at = at or now()
    query = (
        select(Slot).where(Slot.plan_at.is_not(None), Slot.plan_at <= at).order_by(Slot.plan_at, Slot.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Another scheduler sweeping at once takes other slots rather than waiting for these.
        query = query.with_for_update(of=Slot, skip_locked=True)
    slots = list(session.scalars(query).unique())
    for slot in slots:
        _sync_posts(session, slot, strict=False)
    return len(slots)


def coming_steps(session: Session, slot: Slot) -> list[dict[str, Any]]:
    """The steps still to come that the slot's plan gives it, each with its post once made."""
    at = now()
    targets = _targets(session)
    wanted = wanted_posts(SlotFacts.of(slot), slot.channel, targets, at)
    live = {}
    for post in session.scalars(
        select(Post).where(Post.slot_id == slot.id, Post.action == PUBLISH, Post.status.not_in((REVOKED, EXPIRED)))
    ):
        live[(post.step, post.target.name)] = post
    return [
        {
            "step": w.step,
            "target": w.target,
            "edition": targets[w.target].edition if target_edition(targets[w.target], slot.channel) else None,
            "due_at": w.due_at,
            "post_id": live[(w.step, w.target)].id if (w.step, w.target) in live else None,
            "status": live[(w.step, w.target)].status if (w.step, w.target) in live else None,
        }
        for w in sorted(wanted, key=lambda w: (w.due_at, w.step, w.target))
    ]


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

    try:
        return _sync_posts(session, slot)
    except DoesNotFit as e:
        raise Invalid({"promo_plan": str(e)}) from e


def _sync_posts(session: Session, slot: Slot, *, strict: bool = True) -> list[Post]:
    """Make the slot's unsent posts what the planner wants now; return the live ones.

    Beyond the horizon the slot keeps no unsent posts, only the moment to make them
    (``plan_at``). A blurb that cannot be made raises :class:`DoesNotFit`, or with ``strict``
    off (the sweep, long after the write was accepted) leaves that post out with a warning.
    """
    at = now()
    targets = _targets(session)
    wanted = wanted_posts(SlotFacts.of(slot), slot.channel, targets, at)
    slot.plan_at = plan_later(wanted, at, horizon())
    if slot.plan_at is not None:
        wanted = []
    by_key = {(w.step, w.target): w for w in wanted}
    existing: dict[tuple[str, str], list[Post]] = {}
    for post in _publish_posts(session, slot):
        existing.setdefault((post.step, post.target.name), []).append(post)
    live: list[Post] = []
    for key in sorted(set(by_key) | set(existing)):
        posts = existing.get(key, [])
        unsent = [p for p in posts if p.status in UNSENT]
        want = by_key.get(key)
        if want is None:
            # Dropped from the plan, no longer promoted, beyond the horizon, or its moment has passed.
            for post in unsent:
                post.status, post.retry_at = REVOKED, None
            continue
        if not unsent and any(p.status in SENT for p in posts):
            continue  # already out: a correction, not a second post
        target = targets[want.target]
        try:
            preview = render_slot(slot, target, want.lang, want.due_at, want.template)
        except (TooLong, BadTemplate, PromoNotTrue) as e:
            if strict:
                raise DoesNotFit(want.step, want.target, e) from e
            log.warning("slot %s: no post for step %r on %r: %s", slot.id, want.step, want.target, e)
            for post in unsent:
                post.status, post.retry_at = REVOKED, None
            continue
        if unsent:
            post, *extra = unsent
            for other in extra:
                other.status = REVOKED
            if post.status == FAILED:
                post.status, post.retry_at = PLANNED, None
        else:
            post = Post(
                slot=slot,
                target=target,
                step=want.step,
                action=PUBLISH,
                idempotency_key=_free_key(want.key, len(posts), lambda k: _key_taken(session, k)),
                status=PLANNED,
            )
            session.add(post)
        # Newly needing approval holds a post; a held one stays held until a person releases it.
        if post.status == PLANNED and want.held:
            post.status = HELD
        post.due_at, post.valid_until = want.due_at, want.valid_until
        post.lang, post.template = want.lang, want.template
        post.text = preview.text  # as it would read when due; re-rendered when sent
        live.append(post)
    session.flush()
    return live


def _key_taken(session: Session, key: str) -> bool:
    return session.scalar(select(Post.id).where(Post.idempotency_key == key)) is not None


def _free_key(base: str, earlier: int, taken: Callable[[str], bool]) -> str:
    """Stable per (slot, step, target); a later post for the same, after one was revoked or sent, counts up."""
    n = earlier + 1
    while True:
        key = base if n == 1 else f"{base}-{n}"
        # Hyphens in step and target names could make two pairs spell one key; skip to a free one.
        if not taken(key):
            return key
        n += 1


# Many new slots at once (an import): the planner's answer turned into rows


class SlotDoesNotFit(DoesNotFit):
    """A step's blurb cannot be made for one of the slots given to :func:`plan_new_slots`."""

    def __init__(self, index: int, step: str, target: str, reason: Exception):
        super().__init__(step, target, reason)
        self.index = index


@dataclass
class BulkPlan:
    """The planner's answer for many new slots: when each is to be planned, and the posts made now."""

    #: Per slot, in order: when the horizon sweep is to make its posts (None: made now, or none).
    plan_at: list[datetime | None]
    #: (index of the slot, the slot, a post to make now).
    posts: list[tuple[int, SlotFacts, Wanted]]
    #: The targets planned for, by name.
    targets: dict[str, Target] = field(default_factory=dict)


def plan_bulk(session: Session, channel: Channel, slots: Sequence[SlotFacts]) -> BulkPlan:
    """Plan new slots of ``channel`` as :func:`plan_slot` would one by one, without touching rows yet."""
    targets = _targets(session)
    at, ahead = now(), horizon()
    out = BulkPlan([], [], targets)
    for index, slot in enumerate(slots):
        wanted = wanted_posts(slot, channel, targets, at)
        later = plan_later(wanted, at, ahead)
        out.plan_at.append(later)
        if later is None:
            out.posts.extend((index, slot, w) for w in wanted)
    return out


def insert_planned(session: Session, channel: Channel, planned: BulkPlan) -> int:
    """Insert the posts of :func:`plan_bulk` for slots now in the database; return how many.

    The same rows, keys and holds as :func:`plan_slot`. What differs is when blurbs are
    rendered: the text is rendered when a post is sent (SPEC §8), so here only to refuse one
    that cannot be made. For a target with a length limit that is every post, as
    :func:`plan_slot` does; for a target without one only a missing or broken template can
    refuse it, so one post per (target, language, template) is tried, and the others get
    their text when sent.

    :raises SlotDoesNotFit: for the first slot (by its index) whose blurb cannot be made.
    """
    if not planned.posts:
        return 0
    targets = planned.targets
    ids = [slot.id for _, slot, _ in planned.posts]
    # Keys of the slots' posts already there: none for slots just made, unless an id came back.
    taken = set(session.scalars(select(Post.idempotency_key).where(Post.slot_id.between(min(ids), max(ids)))))
    tried: set[tuple[str, str, str | None]] = set()
    rows: list[dict[str, Any]] = []
    for index, slot, want in planned.posts:
        target = targets[want.target]
        text = None
        if target.limit is not None or (want.target, want.lang, want.template) not in tried:
            tried.add((want.target, want.lang, want.template))
            try:
                text = render_slot(session.get(Slot, slot.id), target, want.lang, want.due_at, want.template).text
            except (TooLong, BadTemplate, PromoNotTrue) as e:
                raise SlotDoesNotFit(index, want.step, want.target, e) from e
        key = _free_key(want.key, 0, taken.__contains__)
        taken.add(key)
        rows.append(
            {
                "slot_id": slot.id,
                "target_id": target.id,
                "step": want.step,
                "action": PUBLISH,
                "idempotency_key": key,
                "status": HELD if want.held else PLANNED,
                "due_at": want.due_at,
                "valid_until": want.valid_until,
                "lang": want.lang,
                "template": want.template,
                "text": text,
            }
        )
    return bulk.insert_rows(session, Post.__table__, rows)
