"""The change log behind the change feed (SPEC §10): one row per change to a channel, programme or slot.

**Capture.** Changes are recorded where the data is written, so a write path cannot forget
them: an ORM flush records every new, changed or deleted tracked object (its columns the API
shows, see :data:`TRACKED`), and :func:`bulk.insert_columns` records the rows an import inserts
with Core. The session keeps them, in the order they happened, until its outermost transaction
commits, and writes them then, in that transaction. A savepoint rolled back drops those recorded
inside it; a transaction rolled back leaves none.

**Commit order.** A row gets its place in the feed, ``seq`` (the cursor), at commit: the
session's ``before_commit`` takes a transaction-scoped advisory lock on PostgreSQL, reads the
largest ``seq`` committed so far and writes its own rows numbered after it (one COPY, or one
prepared INSERT on SQLite: no row is written twice); the commit releases the lock.
PostgreSQL makes a transaction visible before it releases its locks, so the next writer to get
the lock sees every ``seq`` handed out before, and any snapshot that sees a row sees every row
with a smaller ``seq``: ``seq`` order is commit order, and a reader asking for ``seq > cursor``
can never later find a row below its cursor. Ids from a sequence cannot do this (they are
assigned at insert, so a transaction held open commits a smaller id after a larger one was
read). (This needs READ COMMITTED,
PostgreSQL's default and the service's: the ``max(seq)`` after the lock must see a fresh snapshot.
Under REPEATABLE READ it could miss the previous holder's rows, and the unique index on ``seq``
would refuse the commit rather than let two changes share a place.)

The schedule's generation (models/generation.py) is bumped in the same hook just before, and its
one row's lock is held to commit too, so today it serialises these commits already; the
advisory lock keeps the guarantee here, where it is stated, whatever becomes of the generation.
Both are always taken in that order (generation first), so they cannot deadlock.

What it costs writers: the lock is held only from writing the rows to the end of COMMIT, so
transactions that change tracked rows commit one after another (no group commit among them);
their work before commit runs in parallel as before. Transactions that change nothing tracked
never take it. SQLite already lets one writer at a time in (``BEGIN IMMEDIATE``), so there the
numbering needs no lock.

**Limits.** An UPDATE or DELETE statement run on a tracked table without the ORM's unit of work
(``session.execute(update(Slot)…)``, raw SQL) is not seen: none exists today, and one added must
call :func:`record`. A transaction's rows are written when its outermost transaction commits
through the session (also with a savepoint still open: the session releases it first); a commit
that bypasses the session (its connection's own) writes none.

**Adding an entity kind** (editions): one entry in :data:`TRACKED` here and one in the feed's
``SHOWN`` (web/api/changes.py), which serialises ``data`` as the entity's own API does.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, event, func, inspect, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime

# Registers the generation's commit hook before ours: its row lock is taken before our advisory
# lock in every transaction, never the other way round (see _number_in_commit_order).
from schedule_service.models import generation  # noqa: F401
from schedule_service.models.channel import Channel
from schedule_service.models.edition import Edition
from schedule_service.models.programme import Programme, ProgrammeTranslation
from schedule_service.models.slot import CANCELLED, Slot

CREATE, UPDATE, CANCEL, DELETE = "create", "update", "cancel", "delete"
#: The transaction-scoped advisory lock that numbers change rows in commit order (PostgreSQL).
LOCK_KEY = 0x5C4E_D0C4_A6E5
#: Where the session keeps its transaction's changes until it commits: runs of (entity, ids, action).
_PENDING = "change_rows_pending"
#: Where it keeps, for each savepoint begun, how many runs came before it.
_MARKS = "change_rows_marks"
#: Columns no API shows on any entity.
_INTERNAL = ("created_at", "updated_at", "import_id", "import_key", "promo_plan")


class Change(Base):
    """One change to one entity; ``seq`` is set at commit, in commit order, and is the feed's cursor."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_seq", "seq", unique=True),)

    #: Assigned at insert (so not commit order); SQLite needs INTEGER for its row id.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: The place in the feed, in commit order (rows are written at commit, numbered).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    #: When the change was committed.
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))

    def __repr__(self) -> str:
        return f"<Change {self.seq} {self.action} {self.entity} {self.entity_id}>"


@dataclass(frozen=True)
class Tracked:
    """How a model's rows show in the feed."""

    entity: str
    #: Columns (and relationships) whose change the feed does not show: the API does not show them.
    hidden: tuple[str, ...] = ()
    #: For a part of another entity (a translation of a programme): the (entity, id) it changes.
    owner: Callable[[Any], tuple[str, int]] | None = None
    #: Columns whose change changes how this entity's dependants look (a channel's slug, zone,
    #: day start change each of its slots' API view): {column: (entity, query of their ids)}.
    dependants: dict[str, Callable[[Any], tuple[str, Any]]] = field(default_factory=dict)


def _slots_of(channel: Channel) -> tuple[str, Any]:
    return "slot", select(Slot.id).where(Slot.channel_id == channel.id)


#: The models the feed follows, in the order a transaction's changes are listed (what others
#: refer to first). A new kind: one entry here and one in the feed's SHOWN.
TRACKED: dict[type, Tracked] = {
    Channel: Tracked(
        "channel",
        hidden=("is_exclusive_approval_required",),
        dependants=dict.fromkeys(("slug", "timezone", "broadcast_day_start"), _slots_of),
    ),
    # An edition is a channel to its viewers (SPEC §9): its own entity, shown as its channel read.
    Edition: Tracked("edition", hidden=("position",)),
    Programme: Tracked("programme", hidden=("translations",)),
    ProgrammeTranslation: Tracked("programme", owner=lambda t: ("programme", t.programme_id)),
    Slot: Tracked("slot", hidden=("plan_at", "channel", "programme")),
}
_ORDER = {t.entity: i for i, t in enumerate(TRACKED.values())}
#: Tables whose Core bulk inserts are new entities (see :func:`note_inserted`).
_BY_TABLE = {model.__table__.name: t for model, t in TRACKED.items() if t.owner is None}


def record(session: Session, changes: Iterable[tuple[str, int, str]]) -> int:
    """Record changes (entity, id, action) in the session's transaction; return how many.

    For writes the ORM does not see (and for the embargo's lift, an ``update`` of the programme).
    They are written, numbered, when the outermost transaction commits.
    """
    runs = session.info.setdefault(_PENDING, [])
    count = 0
    for entity, entity_id, action in changes:
        runs.append((entity, [int(entity_id)], action))
        count += 1
    return count


def record_bulk(session: Session, entity: str, ids: list[int], action: str = CREATE) -> int:
    """Record one change per id, for the bulk paths of imports (written at commit in one go)."""
    if not ids:
        return 0
    session.info.setdefault(_PENDING, []).append((entity, list(ids), action))
    return len(ids)


def note_inserted(session: Session, table_name: str, columns: dict[str, list[Any]]) -> None:
    """Record the entities a Core bulk insert made (called by :func:`bulk.insert_columns`)."""
    tracked = _BY_TABLE.get(table_name)
    if tracked is not None:
        record_bulk(session, tracked.entity, columns["id"])


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    # A savepoint rolled back: what was recorded since it began goes with it. (A released one
    # keeps its mark until the transaction ends: its changes are its parent's now.)
    if previous_transaction.nested:
        mark = session.info.get(_MARKS, {}).pop(previous_transaction, None)
        if mark is not None:
            del session.info.get(_PENDING, [])[mark:]


#: Session key: change rows numbered by this session's commits (see :func:`numbered_by`).
_NUMBERED = "change_rows_numbered"


def _has_shown_change(obj: Any, tracked: Tracked) -> bool:
    state = inspect(obj)
    for attr in state.mapper.attrs:
        if attr.key in tracked.hidden or attr.key in _INTERNAL:
            continue
        if state.attrs[attr.key].history.has_changes():
            return True
    return False


def _changed(obj: Any, key: str) -> bool:
    return inspect(obj).attrs[key].history.has_changes()


@event.listens_for(Session, "after_flush")
def _record_flushed(session: Session, _context) -> None:
    # new/dirty/deleted and attribute history still hold the flush's changes here.
    found: dict[tuple[str, int], str] = {}
    dependants: list[tuple[str, Any]] = []
    for objs, action in ((session.new, CREATE), (session.deleted, DELETE)):
        for obj in objs:
            tracked = TRACKED.get(type(obj))
            if tracked is None:
                continue
            if tracked.owner is not None:  # a part made or dropped changes its owner
                found.setdefault(tracked.owner(obj), UPDATE)
            else:
                found[(tracked.entity, obj.id)] = action
    for obj in session.dirty:
        tracked = TRACKED.get(type(obj))
        if tracked is None or not _has_shown_change(obj, tracked):
            continue
        if tracked.owner is not None:
            found.setdefault(tracked.owner(obj), UPDATE)
            continue
        cancelled = isinstance(obj, Slot) and obj.status == CANCELLED and _changed(obj, "status")
        found.setdefault((tracked.entity, obj.id), CANCEL if cancelled else UPDATE)
        for column, query in tracked.dependants.items():
            if _changed(obj, column):
                dependants.append(query(obj))
                break
    for entity, query in dependants:
        for eid in session.connection().execute(query).scalars():
            found.setdefault((entity, eid), UPDATE)
    if found:
        ordered = sorted(found.items(), key=lambda item: (_ORDER[item[0][0]], item[0][1]))
        record(session, ((entity, eid, action) for (entity, eid), action in ordered))


@event.listens_for(Session, "before_commit")
def _number_in_commit_order(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's changes are written with the transaction's, at its commit
    session.flush()  # commit flushes only after this event; changes of the last flush count too
    runs = session.info.pop(_PENDING, None)
    session.info.pop(_MARKS, None)
    if not runs:
        return
    from schedule_service import bulk

    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    top = conn.execute(select(func.max(Change.seq))).scalar() or 0
    entities, ids, actions = [], [], []
    for entity, run_ids, action in runs:
        entities.extend([entity] * len(run_ids))
        ids.extend(run_ids)
        actions.extend([action] * len(run_ids))
    n = len(ids)
    columns = {
        "seq": list(range(top + 1, top + 1 + n)),
        "at": [now()] * n,
        "entity": entities,
        "entity_id": ids,
        "action": actions,
    }
    bulk.insert_columns(session, Change.__table__, columns)
    session.info[_NUMBERED] = session.info.get(_NUMBERED, 0) + n


def count_numbered(session: Session, count: int) -> None:
    """Count change rows another process numbered for this session's work (an import's helpers)."""
    session.info[_NUMBERED] = session.info.get(_NUMBERED, 0) + count


def numbered_by(session: Session) -> int:
    """How many change rows this session's commits have numbered so far (its own share of the feed)."""
    return session.info.get(_NUMBERED, 0)


def last_seq(session: Session) -> int:
    """The feed's last cursor as committed (0 before any change)."""
    return session.scalar(select(func.max(Change.seq))) or 0


def numbered_between(session: Session, after: int, upto: int) -> int:
    """How many changes were committed with a cursor in (``after``, ``upto``]."""
    return session.scalar(select(func.count()).select_from(Change).where(Change.seq > after, Change.seq <= upto))


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)
