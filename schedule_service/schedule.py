"""The write side of the schedule: channels, programmes and slots, validated, never overlapping.

Operations validate, change objects, flush and return; the caller commits once.
"""

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from schedule_service import audit, bulk, editions
from schedule_service.broadcast_time import SUPPORTED, WallTimeError, parse_day_start, supported, to_instant, zone
from schedule_service.errors import Conflict, Invalid, ScheduleError, SlotRefused, StaleVersion
from schedule_service.models import Channel, Programme, ProgrammeTranslation, Slot, generation
from schedule_service.models.channel import PROMOTE
from schedule_service.models.programme import TRANSLATED
from schedule_service.models.slot import CANCELLED, SCHEDULED
from schedule_service.promos import plan

__all__ = ["Conflict", "Invalid", "ScheduleError", "SlotRefused", "StaleVersion"]  # re-exported for callers


CHANNEL_FIELDS = (
    "slug",
    "name",
    "names",
    "timezone",
    "broadcast_day_start",
    "xmltv_id",
    "languages",
    "promote",
    "embargo_title",
)
PROGRAMME_FIELDS = (
    "title",
    "subtitle",
    "summary",
    "category",
    "guests",
    "presenter",
    "is_exclusive",
    "quote",
    "image_url",
    "image_alt",
    "image_credit",
    "image_hash",
    "duration_minutes",
    "language",
    "episode_num",
)
#: Programme fields the audit trail follows besides PROGRAMME_FIELDS (imports never write them).
AUDITED_PROGRAMME_FIELDS = (*PROGRAMME_FIELDS, "embargo_until")
SLOT_FIELDS = ("channel_id", "programme_id", "start_at", "end_at", "is_premiere", "is_live", "is_promoted", "status")
#: Slot fields that decide whether it is promoted: a change re-plans its posts (SPEC §8a).
PROMOTION_FLAGS = ("is_premiere", "is_promoted")


# Channels


def create_channel(session: Session, values: dict[str, Any], actor: str) -> Channel:
    values = _channel_values(values)
    given_editions = values.pop("editions", None)
    _unique_channel(session, values)
    channel = Channel(**values)
    session.add(channel)
    session.flush()
    changes = audit.created(audit.snapshot(channel, CHANNEL_FIELDS))
    if given_editions:
        changes |= editions.set_editions(session, channel, given_editions)
    audit.record(session, actor, "create", "channel", channel.slug, changes)
    return channel


def update_channel(session: Session, channel: Channel, values: dict[str, Any], actor: str) -> Channel:
    values = _channel_values(values)
    given_editions = values.pop("editions", None)
    _unique_channel(session, values, channel)
    before = audit.snapshot(channel, CHANNEL_FIELDS)
    edition_changes = {}
    if given_editions is not None:
        edition_changes = editions.set_editions(session, channel, given_editions, values.get("slug"))
    for key, value in values.items():
        setattr(channel, key, value)
    session.flush()
    changes = audit.diff(before, audit.snapshot(channel, CHANNEL_FIELDS)) | edition_changes
    if changes:
        audit.record(session, actor, "update", "channel", channel.slug, changes)
    if "promote" in changes or edition_changes:
        plan.replan_coming(session, select(Slot).where(Slot.channel_id == channel.id))
    return channel


def _channel_values(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    errors = {}
    if "timezone" in values:
        try:
            zone(values["timezone"])
        except ValueError as e:
            errors["timezone"] = str(e)
    if "promote" in values and values["promote"] not in PROMOTE:
        errors["promote"] = f"one of {', '.join(PROMOTE)}"
    if isinstance(values.get("broadcast_day_start"), str):
        try:
            values["broadcast_day_start"] = parse_day_start(values["broadcast_day_start"])
        except ValueError as e:
            errors["broadcast_day_start"] = str(e)
    if errors:
        raise Invalid(errors)
    return values


def _unique_channel(session: Session, values: dict[str, Any], channel: Channel | None = None) -> None:
    wanted = {field: values[field] for field in ("slug", "xmltv_id") if values.get(field) is not None}
    if wanted:  # one query for both (an import makes hundreds of channels)
        others = session.execute(
            select(Channel.id, Channel.slug, Channel.xmltv_id).where(
                or_(*(getattr(Channel, field) == value for field, value in wanted.items()))
            )
        ).all()
        for field, value in wanted.items():
            if any(getattr(o, field) == value and (channel is None or o.id != channel.id) for o in others):
                raise Conflict(f"a channel with {field} {value!r} already exists")
    if values.get("slug") and editions.slug_taken_by_edition(session, values["slug"]):
        raise Conflict(f"an edition with slug {values['slug']!r} already exists")


# Programmes


def create_programme(session: Session, values: dict[str, Any], actor: str) -> Programme:
    values = dict(values)
    translations = values.pop("translations", None) or {}
    programme = Programme(**values)
    _set_translations(programme, translations)
    session.add(programme)
    session.flush()
    audit.record(session, actor, "create", "programme", programme.id, audit.created(_programme_state(programme)))
    return programme


def create_programmes(session: Session, many: Sequence[dict[str, Any]], actor: str) -> list[int]:
    """Add many programmes in a few INSERTs, each as :func:`create_programme` would; return their ids in order.

    For imports: no ORM objects are made, so nothing in the session changes; ``values`` may
    hold ``import_key`` besides the API's fields. Inside an import run each row names the run
    instead of getting an audit entry of its own (SPEC §8a).
    """
    if not many:
        return []
    session.flush()  # what is pending goes first, as it would one by one
    run = audit.current_run(session)
    n = len(many)
    ids = bulk.take_ids(session, Programme.__table__, n)
    columns: dict[str, list[Any]] = {"id": ids}
    for f in PROGRAMME_FIELDS:
        columns[f] = [values.get(f) for values in many]
    # The defaults a flushed Programme would have.
    columns["is_exclusive"] = [bool(v) for v in columns["is_exclusive"]]
    columns["guests"] = [v if v is not None else [] for v in columns["guests"]]
    columns["language"] = [v or "en" for v in columns["language"]]
    columns["import_key"] = [values.get("import_key") for values in many]
    columns["import_id"] = [run] * n
    bulk.insert_columns(session, Programme.__table__, columns)
    translations = [values.get("translations") or {} for values in many]
    extra = [
        {"programme_id": pid, "lang": lang, **{k: fields.get(k) or None for k in TRANSLATED}}
        for pid, texts in zip(ids, translations, strict=True)
        for lang, fields in texts.items()
    ]
    bulk.insert_rows(session, ProgrammeTranslation.__table__, extra)
    if run is None:
        entries = []
        for i, (pid, texts) in enumerate(zip(ids, translations, strict=True)):
            state = {f: columns[f][i] for f in PROGRAMME_FIELDS}  # plain already: no instants among them
            state["translations"] = {
                lang: {k: fields.get(k) for k in TRANSLATED if fields.get(k)} for lang, fields in sorted(texts.items())
            }
            entries.append((pid, audit.created(state)))
        audit.record_many(session, actor, "create", "programme", entries)
    generation.mark_changed(session)
    return ids


def update_programme(session: Session, programme: Programme, values: dict[str, Any], actor: str) -> Programme:
    values = dict(values)
    before = _programme_state(programme)
    if "translations" in values:
        _set_translations(programme, values.pop("translations") or {})
    for key, value in values.items():
        setattr(programme, key, value)
    session.flush()
    changes = audit.diff(before, _programme_state(programme))
    if changes:
        audit.record(session, actor, "update", "programme", programme.id, changes)
        programme.import_id = audit.current_run(session) or programme.import_id
    if "is_exclusive" in changes:
        # An exclusive is a highlight, and may need approval: its coming slots' posts follow.
        plan.replan_coming(session, select(Slot).where(Slot.programme_id == programme.id))
    return programme


def delete_programme(session: Session, programme: Programme, actor: str) -> None:
    """Delete a programme that no slot uses; one that is scheduled is refused."""
    used = session.scalars(select(Slot).where(Slot.programme_id == programme.id).limit(20)).all()
    if used:
        raise Conflict(f"programme {programme.id} has slots; cancel or delete them first", used)
    audit.record(session, actor, "delete", "programme", programme.id, {"title": [programme.title, None]})
    session.delete(programme)
    session.flush()


def _set_translations(programme: Programme, translations: dict[str, dict[str, Any]]) -> None:
    """Make the programme's translations those given; a language left out is dropped.

    Within a language a field left out keeps what is stored, so a client (or form) that does not
    know a field (guests, category, alt text) never erases it; an empty one falls back to the
    programme's own.
    """
    for lang in list(programme.translations):
        if lang not in translations:
            del programme.translations[lang]
    for lang, fields in translations.items():
        row = programme.translations.get(lang)
        if row is None:
            row = programme.translations[lang] = ProgrammeTranslation(lang=lang)
        for key in TRANSLATED:
            if key in fields:
                setattr(row, key, fields[key] or None)


def _programme_state(programme: Programme) -> dict[str, Any]:
    state = audit.snapshot(programme, AUDITED_PROGRAMME_FIELDS)
    state["translations"] = {
        lang: {k: getattr(t, k) for k in TRANSLATED if getattr(t, k)}
        for lang, t in sorted(programme.translations.items())
    }
    return state


# Slots


def resolve_start(channel: Channel, values: dict[str, Any]) -> datetime | None:
    """The slot's start instant from ``start`` (aware) or ``start_local`` (+ ``fold``)."""
    if values.get("start") is not None and values.get("start_local") is not None:
        raise Invalid({"start": "give start or start_local, not both"})
    for key in ("start", "start_local"):
        if values.get(key) is not None and not supported(values[key]):
            raise Invalid({key: SUPPORTED})
    if values.get("start") is not None:
        return values["start"].astimezone(UTC)
    if values.get("start_local") is not None:
        wall = values["start_local"]
        if wall.tzinfo is not None:
            raise Invalid({"start_local": "a wall time has no offset; use start for an instant"})
        try:
            return to_instant(wall, channel.zone, values.get("fold"))
        except WallTimeError as e:
            raise Invalid({"start_local": str(e)}) from e
    return None


def resolve_end(start: datetime, programme: Programme, values: dict[str, Any]) -> datetime:
    """The slot's end from ``end``, else ``duration_minutes``, else the programme's duration."""
    if values.get("end") is not None and values.get("duration_minutes") is not None:
        raise Invalid({"end": "give end or duration_minutes, not both"})
    if values.get("end") is not None:
        if not supported(values["end"]):
            raise Invalid({"end": SUPPORTED})
        end = values["end"].astimezone(UTC)
    else:
        minutes = values.get("duration_minutes") or programme.duration_minutes
        if not minutes:
            raise Invalid({"end": "give end or duration_minutes (the programme has no duration)"})
        end = start + timedelta(minutes=minutes)
    if end <= start:
        raise Invalid({"end": "the slot must end after it starts"})
    if not supported(end):
        raise Invalid({"end": SUPPORTED})
    return end


def create_slot(session: Session, channel: Channel, programme: Programme, values: dict[str, Any], actor: str) -> Slot:
    """Add a slot; plan its promos in the same transaction."""
    start = resolve_start(channel, values)
    if start is None:
        raise Invalid({"start": "give start (with offset) or start_local (the channel's wall time)"})
    end = resolve_end(start, programme, values)
    _lock_channel(session, channel)
    _refuse_overlap(session, channel, start, end)
    slot = Slot(
        channel=channel,
        programme=programme,
        start_at=start,
        end_at=end,
        is_premiere=bool(values.get("is_premiere", False)),
        is_live=bool(values.get("is_live", False)),
        is_promoted=bool(values.get("is_promoted", False)),
        status=SCHEDULED,
    )
    session.add(slot)
    session.flush()
    audit.record(session, actor, "create", "slot", slot.id, _created_slot(slot))
    plan.plan_slot(session, slot)
    return slot


def create_slots(
    session: Session, channel: Channel, many: Sequence[tuple[Any, dict[str, Any]]], actor: str
) -> list[int]:
    """Add many slots to one channel in a few INSERTs, each as :func:`create_slot` would; return their ids.

    For imports: ``many`` is (programme, {"start", "end", "is_premiere", "is_promoted"}) with
    aware instants, where a programme is anything with ``id``, ``promo_plan`` and
    ``is_exclusive``. The channel is locked once; no ORM objects are made, so nothing in the
    session changes. Inside an import run each row names the run instead of getting an audit
    entry of its own (SPEC §8a).

    :raises SlotRefused: naming the first slot refused (overlapping, or a blurb of its plan that
        cannot be made); the caller's savepoint takes back the others.
    """
    if not many:
        return []
    news = []
    for index, (programme, values) in enumerate(many):
        start, end = values.get("start"), values.get("end")
        if start is None or end is None:
            raise SlotRefused(index, Invalid({"start": "give start and end, each with an offset"}))
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            raise SlotRefused(index, Invalid({"end": "the slot must end after it starts"}))
        news.append((index, programme, start, end, bool(values.get("is_premiere", False))))
    session.flush()
    _lock_channel(session, channel)
    _refuse_overlaps(session, channel, news)
    ids = bulk.take_ids(session, Slot.__table__, len(news))
    run = audit.current_run(session)
    facts = [
        plan.SlotFacts(
            id=sid,
            start_at=start,
            end_at=end,
            is_premiere=premiere,
            is_promoted=bool(many[index][1].get("is_promoted", False)),
            is_exclusive=bool(programme.is_exclusive),
            programme_plan=programme.promo_plan,
        )
        for sid, (index, programme, start, end, premiere) in zip(ids, news, strict=True)
    ]
    planned = plan.plan_bulk(session, channel, facts)
    n = len(facts)
    columns = {
        "id": ids,
        "channel_id": [channel.id] * n,
        "programme_id": [programme.id for _, programme, *_rest in news],
        "start_at": [f.start_at for f in facts],
        "end_at": [f.end_at for f in facts],
        "is_premiere": [f.is_premiere for f in facts],
        "is_live": [False] * n,
        "is_promoted": [f.is_promoted for f in facts],
        "status": [SCHEDULED] * n,
        "version": [1] * n,
        "plan_at": planned.plan_at,
        "import_id": [run] * n,
    }
    bulk.insert_columns(session, Slot.__table__, columns)
    if run is None:  # an import run is the one entry for its rows (SPEC §8a)
        rows = ({name: values[i] for name, values in columns.items()} for i in range(n))
        audit.record_many(session, actor, "create", "slot", ((row["id"], _created_slot(row)) for row in rows))
    generation.mark_changed(session)
    try:
        plan.insert_planned(session, channel, planned)
    except plan.SlotDoesNotFit as e:
        raise SlotRefused(e.index, Invalid({"promo_plan": str(e)})) from e
    return ids


def _created_slot(values: Any) -> dict[str, list]:
    """The audit changes of a new slot, from the slot or from its row (a dict)."""
    get = values.get if isinstance(values, dict) else lambda f: getattr(values, f)
    return audit.created({f: audit.plain(get(f)) for f in SLOT_FIELDS})


def _refuse_overlaps(session: Session, channel: Channel, news: list[tuple]) -> None:
    """Refuse the first of the new slots that overlaps another one or a scheduled slot, as create_slot would."""
    lo = min(start for _, _, start, _, _ in news)
    hi = max(end for _, _, _, end, _ in news)
    spans = sorted(
        session.execute(
            select(Slot.start_at, Slot.end_at).where(
                Slot.channel_id == channel.id, Slot.status == SCHEDULED, Slot.start_at < hi, Slot.end_at > lo
            )
        ).all()
    )
    starts = [s for s, _ in spans]
    refused = [
        index
        for index, _, start, end, _ in news
        if (j := bisect.bisect_left(starts, end) - 1) >= 0 and spans[j][1] > start
    ]
    # Of two new slots that overlap, the one given later is refused, as one by one.
    ordered = sorted(news, key=lambda n: n[2])
    refused += [max(a[0], b[0]) for a, b in pairwise(ordered) if b[2] < a[3]]
    if refused:
        index, _, start, end, _ = news[min(refused)]
        try:
            _refuse_overlap(session, channel, start, end)
        except Conflict as e:
            raise SlotRefused(index, e) from e
        raise SlotRefused(index, Conflict(f"the slot overlaps another new slot on {channel.slug}"))


def update_slot(
    session: Session,
    slot: Slot,
    values: dict[str, Any],
    actor: str,
    expected_version: int | None = None,
    programme: Programme | None = None,
) -> Slot:
    """Change a slot (move, retime, re-programme, cancel or restore); re-plan its promos."""
    _lock_channel(session, slot.channel)
    session.refresh(slot)
    if expected_version is not None and expected_version != slot.version:
        raise StaleVersion(slot)
    before = audit.snapshot(slot, SLOT_FIELDS)
    was_cancelled = slot.is_cancelled
    old_start, old_end = slot.start_at, slot.end_at
    if programme is not None:
        slot.programme = programme
    start = resolve_start(slot.channel, values) or slot.start_at
    if any(values.get(k) is not None for k in ("end", "duration_minutes")):
        end = resolve_end(start, slot.programme, values)
    else:
        end = start + (slot.end_at - slot.start_at)
    status = values.get("status") or slot.status
    if status == SCHEDULED:
        _refuse_overlap(session, slot.channel, start, end, slot)
    slot.start_at, slot.end_at, slot.status = start, end, status
    for key in ("is_premiere", "is_live", "is_promoted"):
        if values.get(key) is not None:
            setattr(slot, key, values[key])
    changes = audit.diff(before, audit.snapshot(slot, SLOT_FIELDS))
    if not changes:
        return slot
    slot.version += 1
    slot.import_id = audit.current_run(session) or slot.import_id
    session.flush()
    action = "cancel" if status == CANCELLED and not was_cancelled else "update"
    audit.record(session, actor, action, "slot", slot.id, changes)
    if status == CANCELLED:
        if not was_cancelled:
            plan.revoke_slot(session, slot)
    elif was_cancelled:
        plan.plan_slot(session, slot)
    elif (slot.start_at, slot.end_at) != (old_start, old_end) or "programme_id" in changes:
        plan.replan_slot(session, slot)
    elif any(flag in changes for flag in PROMOTION_FLAGS):
        # Promoted or not: posts are planned, or unsent ones revoked; what is out stays true.
        plan.replan_slot(session, slot, correct=False)
    return slot


def cancel_slot(session: Session, slot: Slot, actor: str, expected_version: int | None = None) -> Slot:
    """Cancel a slot: the row stays with ``status: cancelled``; its promos are revoked or withdrawn."""
    return update_slot(session, slot, {"status": CANCELLED}, actor, expected_version)


def overlapping(session: Session, channel: Channel, start: datetime, end: datetime, exclude: Slot | None = None):
    """The scheduled slots on ``channel`` that share any instant with [start, end)."""
    query = select(Slot).where(
        Slot.channel_id == channel.id,
        Slot.status == SCHEDULED,
        Slot.start_at < end,
        Slot.end_at > start,
    )
    if exclude is not None and exclude.id is not None:
        query = query.where(Slot.id != exclude.id)
    return session.scalars(query.order_by(Slot.start_at)).all()


def _refuse_overlap(session: Session, channel: Channel, start: datetime, end: datetime, exclude: Slot | None = None):
    clash = overlapping(session, channel, start, end, exclude)
    if clash:
        names = ", ".join(f"{s.id} ({s.programme.title}, {_local_and_utc(s, channel)})" for s in clash)
        raise Conflict(f"the slot overlaps slot(s) {names} on {channel.slug}", clash)


def _local_and_utc(slot: Slot, channel: Channel) -> str:
    """A slot's time span on the channel's wall clock and in UTC: "2031-11-22 00:05–01:05 MSK, 21:05–22:05Z"."""
    start, end = slot.start_at.astimezone(channel.zone), slot.end_at.astimezone(channel.zone)
    local = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {start:%Z}"
    utc_start, utc_end = slot.start_at.astimezone(UTC), slot.end_at.astimezone(UTC)
    return f"{local} = {utc_start:%Y-%m-%d %H:%M}–{utc_end:%H:%M} UTC"


def _lock_channel(session: Session, channel: Channel) -> None:
    """Serialise writes to one channel's slots, so two writers cannot both pass the overlap check.

    PostgreSQL locks the channel row; SQLite's BEGIN IMMEDIATE already allows one writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Channel.id).where(Channel.id == channel.id).with_for_update())
