"""The audit trail: who changed what, when, from what to what. Rows are only ever added."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.models import AuditEntry, Programme, Slot

#: What imports make in bulk, each row naming the run that made or last changed it.
IMPORTED = {"slot": Slot, "programme": Programme}

#: Where the session keeps the import run under way (see :func:`import_run`).
_RUN = "audit_import_run"


def record(session: Session, actor: str, action: str, entity: str, entity_id: Any, changes: dict) -> AuditEntry:
    """Add one audit entry; ``changes`` is {field: [old, new]}."""
    entry = AuditEntry(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes={k: [plain(old), plain(new)] for k, (old, new) in changes.items()},
        import_id=session.info.get(_RUN),
    )
    session.add(entry)
    return entry


def record_many(session: Session, actor: str, action: str, entity: str, entries: Iterable[tuple[Any, dict]]) -> int:
    """Add one audit entry per (entity id, changes) at once, as :func:`record` would each; return how many.

    The changes' values must be plain already (JSON's types, instants as ISO 8601 text).
    """
    from schedule_service import bulk

    at = now()
    run = session.info.get(_RUN)
    rows = [
        {
            "at": at,
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "changes": changes,
            "import_id": run,
        }
        for entity_id, changes in entries
    ]
    return bulk.insert_rows(session, AuditEntry.__table__, rows)


def current_run(session: Session) -> int | None:
    """The id of the import run under way in ``session``, if any (see :func:`import_run`)."""
    return session.info.get(_RUN)


@contextmanager
def import_run(session: Session, run: AuditEntry) -> Iterator[AuditEntry]:
    """Tie what is recorded inside the block to ``run``, the import's entry for one channel.

    Rows the import makes in bulk get no entries of their own, only ``import_id`` (SPEC §8a:
    one entry per channel per run); the entries of single changes point to the run. The
    history of an entity shows the run that created or last changed it either way.
    """
    session.flush()  # ``run`` gets its id
    session.info[_RUN] = run.id
    try:
        yield run
    finally:
        session.info.pop(_RUN, None)


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The values of ``fields`` on ``obj``, to diff against later."""
    return {f: plain(getattr(obj, f)) for f in fields}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [old, new]} for the fields whose value changed."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


#: What a new entity's entry leaves out: a value that says nothing. (Built once: imports call this per row.)
_EMPTY = (None, [], {}, "")


def created(values: dict[str, Any]) -> dict[str, list]:
    return {k: [None, v] for k, v in values.items() if v not in _EMPTY}


def history(entity: str | None = None, entity_id: Any = None) -> Select:
    """The entries, newest first, optionally for one entity (with the import runs that changed it)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if entity and entity_id is not None:
        own = (AuditEntry.entity == entity) & (AuditEntry.entity_id == str(entity_id))
        runs = select(AuditEntry.import_id).where(own, AuditEntry.import_id.is_not(None))
        shown = own | AuditEntry.id.in_(runs)
        model = IMPORTED.get(entity)
        if model is not None and str(entity_id).isdigit() and int(entity_id) < 2**31:
            shown |= AuditEntry.id.in_(select(model.import_id).where(model.id == int(entity_id)))
        return query.where(shown)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == str(entity_id))
    return query


def plain(value: Any) -> Any:
    """``value`` as the trail stores it: JSON's types, instants as ISO 8601 text."""
    if isinstance(value, time):
        return value.strftime("%H:%M")  # as the API writes a broadcast day's start
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
