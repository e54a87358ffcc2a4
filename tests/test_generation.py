"""The schedule's generation moves once per committed change, and only at the commit (SPEC §9 caches)."""

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from schedule_service import schedule
from schedule_service.db import db
from schedule_service.models import generation
from schedule_service.models.generation import ROW, ScheduleGeneration


def new_channel(session, slug: str) -> None:
    schedule.create_channel(session, {"slug": slug, "name": slug.title(), "timezone": "Europe/Moscow"}, "test")


def test_savepoints_released_and_rolled_back_inside_one_transaction_move_it_once_at_commit(session):
    before, commits = generation.current(session), generation.local_commits()
    session.commit()

    with session.begin_nested():
        new_channel(session, "kept")
    try:
        with session.begin_nested():
            new_channel(session, "dropped")
            raise RuntimeError("this channel is refused")
    except RuntimeError:
        pass
    session.commit()

    # The change before the rolled-back savepoint still moved it, once.
    assert generation.current(session) == before + 1
    assert generation.local_commits() == commits + 1


def test_a_rolled_back_transaction_does_not_move_it(session):
    before = generation.current(session)
    session.commit()
    with session.begin_nested():
        new_channel(session, "gone")
    session.rollback()
    session.commit()

    assert generation.current(session) == before


def test_releasing_a_savepoint_leaves_the_row_unlocked_for_other_writers(pg_app):
    # An import releases a savepoint per channel and commits every half second: other writers'
    # commits must not wait for it in between.
    with Session(db.engine) as importer, Session(db.engine) as writer:
        with importer.begin_nested():
            new_channel(importer, "imported")
        writer.execute(text("SET lock_timeout = '200ms'"))
        try:
            locked = writer.execute(
                select(ScheduleGeneration.value).where(ScheduleGeneration.id == ROW).with_for_update(nowait=True)
            ).all()
        except OperationalError as e:  # pragma: no cover - what the old hook did
            raise AssertionError("the generation row was locked by a savepoint's release") from e
        writer.rollback()
        importer.commit()

    assert locked is not None
