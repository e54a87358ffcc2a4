"""Long bulk writes (imports): fewer SQLite checkpoints while they run, numbered rows without ids taken first."""

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from schedule_service import bulk, create_app
from schedule_service.db import (
    BULK_CACHE_KIB,
    BULK_WAL_BYTES,
    CACHE_KIB,
    PAGE_SIZE,
    WAL_AUTOCHECKPOINT,
    WAL_SIZE_LIMIT,
    bulk_wal_autocheckpoint,
    bulk_writes,
    db,
)
from schedule_service.models.change import Change


def pragma(session, name: str) -> int:
    value = session.execute(text(f"PRAGMA {name}")).scalar()
    session.rollback()
    return value


@pytest.fixture
def sqlite_app(sqlite_database):
    """SQLite alone: its WAL settings (these tests write nothing)."""
    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": sqlite_database})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_session(sqlite_app):
    return db.session


def test_inside_bulk_writes_a_transaction_checkpoints_less_often_with_a_bigger_cache_and_after_it_as_before(
    sqlite_session,
):
    assert pragma(sqlite_session, "wal_autocheckpoint") == WAL_AUTOCHECKPOINT
    assert pragma(sqlite_session, "cache_size") == -CACHE_KIB

    with bulk_writes():
        assert pragma(sqlite_session, "wal_autocheckpoint") == BULK_WAL_BYTES // PAGE_SIZE
        assert pragma(sqlite_session, "wal_autocheckpoint") == BULK_WAL_BYTES // PAGE_SIZE
        assert pragma(sqlite_session, "cache_size") == -BULK_CACHE_KIB

    # The pooled connection does not keep them: the next transaction on it is back to the defaults.
    assert pragma(sqlite_session, "wal_autocheckpoint") == WAL_AUTOCHECKPOINT
    assert pragma(sqlite_session, "cache_size") == -CACHE_KIB


def test_a_checkpointed_wal_is_cut_back_so_a_bulk_writes_wal_does_not_stay_on_disk(sqlite_session):
    assert pragma(sqlite_session, "journal_size_limit") == WAL_SIZE_LIMIT


def test_bulk_writes_are_per_thread_other_threads_checkpoint_as_usual(sqlite_session, sqlite_app):
    seen = {}

    def other_thread():
        with sqlite_app.app_context(), Session(db.engine) as other:
            seen["other"] = pragma(other, "wal_autocheckpoint")

    with bulk_writes():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        seen["own"] = pragma(sqlite_session, "wal_autocheckpoint")

    assert seen == {"other": WAL_AUTOCHECKPOINT, "own": BULK_WAL_BYTES // PAGE_SIZE}


def test_a_new_sqlite_file_has_16_kb_pages_and_an_older_one_keeps_its_own(sqlite_session, tmp_path):
    import sqlite3

    from sqlalchemy import create_engine

    assert pragma(sqlite_session, "page_size") == PAGE_SIZE == 16384  # the migrated test database
    older = tmp_path / "older.sqlite"
    with sqlite3.connect(older) as made_before:  # a file made with SQLite's 4 KB pages
        made_before.execute("PRAGMA page_size=4096")
        made_before.execute("PRAGMA journal_mode=WAL")
        made_before.execute("CREATE TABLE t (x)")
    engine = create_engine(f"sqlite:///{older}")
    try:
        with Session(engine) as other:
            assert pragma(other, "page_size") == 4096
            with bulk_writes():
                # Its WAL is checkpointed at the same length in bytes: 40 MB of 4 KB pages.
                assert pragma(other, "wal_autocheckpoint") == bulk_wal_autocheckpoint(4096) == 10240
    finally:
        engine.dispose()


def columns(entity_ids) -> dict[str, list]:
    from schedule_service.clock import now

    ids = list(entity_ids)
    n = len(ids)
    return {"entity": ["programme"] * n, "entity_id": ids, "action": ["create"] * n, "at": [now()] * n}


def test_instants_written_in_bulk_read_back_as_the_same_instants_whatever_their_zone(session, monkeypatch):
    """Bulk inserts remember the text of instants they wrote; the same instant given in another
    zone is the same text, and the memory is emptied when it grows past its bound."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    monkeypatch.setattr(bulk, "_INSTANT_TEXTS_MAX", 3)
    moscow = ZoneInfo("Europe/Moscow")
    base = datetime(2031, 3, 30, 0, 30, 15, 250, tzinfo=UTC)
    instants = [base, base.astimezone(moscow), base + timedelta(hours=1), *(base + timedelta(days=d) for d in range(5))]
    bulk.insert_columns(session, Change.__table__, {**columns(range(100, 100 + len(instants))), "at": instants})

    read = session.execute(select(Change.entity_id, Change.at).where(Change.entity_id >= 100)).all()
    assert sorted(read) == [(100 + i, at.astimezone(UTC)) for i, at in enumerate(instants)]
    bulk._sqlite_instants(instants)
    assert bulk._sqlite_instants([None, base]) == [None, "2031-03-30 00:30:15.000250"]
    assert list(bulk._INSTANT_TEXTS.values()) == ["2031-03-30 00:30:15.000250"]  # emptied past its bound first
