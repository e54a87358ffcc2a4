"""The schedule's generation: one counter that grows with every committed change viewers can see.

Public reads key their caches and ETags on it, so a warm read costs one tiny query. It is bumped
by session events, not by each write path: any ORM write to a channel, programme, translation,
slot or promo feed item marks the session, and the commit bumps the counter in the same
transaction. The bump runs at commit, after every other lock the transaction takes, so writers on
different channels never wait on each other in a cycle.
"""

from datetime import datetime

from sqlalchemy import BigInteger, event, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime
from schedule_service.models.channel import Channel
from schedule_service.models.edition import Edition
from schedule_service.models.programme import Programme, ProgrammeTranslation
from schedule_service.models.promo import FeedItem
from schedule_service.models.slot import Slot

#: What the public pages and feeds show; a change to any of these changes the generation.
TRACKED = (Channel, Edition, Programme, ProgrammeTranslation, Slot, FeedItem)
_FLAG = "schedule_changed"
_BUMPED = "schedule_generation_bumped"
ROW = 1
#: Commits in this process that bumped the generation; readers that keep the generation for a
#: moment drop it when this moves, so this process sees its own writes at once.
_local_commits = 0


class ScheduleGeneration(Base):
    __tablename__ = "schedule_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Grows by one with every committed transaction that changed what viewers see.
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def __repr__(self) -> str:
        return f"<ScheduleGeneration {self.value}>"


def current(session: Session) -> int:
    """Return the generation as committed (0 before the first change)."""
    return session.scalar(select(ScheduleGeneration.value).where(ScheduleGeneration.id == ROW)) or 0


def local_commits() -> int:
    """How many commits in this process have bumped the generation so far."""
    return _local_commits


def mark_changed(session: Session) -> None:
    """Make the session's next commit bump the generation (for writes the events cannot see)."""
    session.info[_FLAG] = True


def bump(session: Session) -> None:
    """Increment the generation inside the session's transaction."""
    step = (
        update(ScheduleGeneration)
        .where(ScheduleGeneration.id == ROW)
        .values(value=ScheduleGeneration.value + 1, changed_at=now())
        .execution_options(synchronize_session=False)
    )
    if session.execute(step).rowcount:
        return
    # The row is missing (a database emptied by hand): make it, tolerating a concurrent maker,
    # then bump, so this transaction's changes still get a value of their own.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the service runs on SQLite and PostgreSQL only
        dialect_insert = insert
    make = dialect_insert(ScheduleGeneration).values(id=ROW, value=0)
    if hasattr(make, "on_conflict_do_nothing"):
        make = make.on_conflict_do_nothing()
    session.execute(make)
    session.execute(step)


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _context) -> None:
    # new/dirty/deleted still hold the pre-flush state here.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, TRACKED):
            session.info[_FLAG] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and any(m.class_ in TRACKED for m in state.all_mappers):
        state.session.info[_FLAG] = True


@event.listens_for(Session, "before_commit")
def _bump_on_commit(session: Session) -> None:
    # Releasing a savepoint fires this too, but is no commit: the flag waits for the transaction's
    # own, so the row is locked only from there to the end of COMMIT (an import releases a
    # savepoint per channel, and would otherwise hold the row from its first channel on).
    if session.in_nested_transaction():
        return
    # Commit flushes only after this event; flush now so changes made since the last flush count.
    session.flush()
    if session.info.pop(_FLAG, False):
        bump(session)
        session.info[_BUMPED] = True


@event.listens_for(Session, "after_commit")
def _count_local_commit(session: Session) -> None:
    global _local_commits
    if session.info.pop(_BUMPED, False):
        _local_commits += 1


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction) -> None:
    # A savepoint rolled back keeps the flag: what the transaction changed before it still counts.
    if previous_transaction.parent is None:
        session.info.pop(_FLAG, None)
        session.info.pop(_BUMPED, None)
