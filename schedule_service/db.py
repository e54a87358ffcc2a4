"""The database: one SQLAlchemy extension per app, a Base with a naming convention, UTC instants."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Integer, MetaData, any_, bindparam, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """An aware instant: naive UTC on SQLite, ``timestamptz`` on PostgreSQL, aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} would be ambiguous; give it a zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


@event.listens_for(Engine, "do_connect")
def _postgresql_in_utc(dialect, _record, _args, params):
    """PostgreSQL sessions in UTC: instants arrive already in UTC, with no zone arithmetic per value."""
    if dialect.name == "postgresql":
        params["options"] = f"{params.get('options', '')} -c TimeZone=UTC".strip()


#: How long a SQLite writer waits for another to commit.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: SQLite's own default: a commit that leaves the WAL this many pages long copies it into the database.
WAL_AUTOCHECKPOINT = 1000
#: The WAL's length (bytes) past which a commit inside :func:`bulk_writes` checkpoints: ten
#: times fewer checkpoints than by default with 4 KB pages (see :func:`bulk_wal_autocheckpoint`).
BULK_WAL_BYTES = 40 * 1024 * 1024
#: What a checkpointed WAL file is cut back to (bytes), so a bulk write's WAL does not stay on disk.
WAL_SIZE_LIMIT = 8 * 1024 * 1024
#: SQLite's page cache of a connection (KiB, given negative as SQLite wants): its own default, and
#: inside :func:`bulk_writes`, where an import's random index pages (programme keys) would
#: otherwise go back and forth to the OS page cache.
CACHE_KIB, BULK_CACHE_KIB = 2000, 64 * 1024


#: The page size of a new SQLite file (an existing one keeps its own). Against SQLite's 4 KB, a
#: first import of a big guide is ~3 % faster and its commits write fewer, fuller pages; a
#: read of a few rows by an index stays one page a level, of fewer levels.
PAGE_SIZE = 16 * 1024


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL (synced at checkpoints), a busy timeout and foreign keys: several threads and processes share SQLite."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # Let BEGIN be issued by SQLAlchemy's begin event below, not by pysqlite's guesswork.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL: a new file's first write fixes it
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts and loses nothing when a process dies; only a power cut
    # may take back the last commits. FULL would sync on every commit (an import commits per channel).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Begin SQLite transactions ourselves: IMMEDIATE for anything that may write.

    A deferred transaction that read and then writes fails at once with SQLITE_BUSY when
    another writer committed in between; IMMEDIATE makes writers queue on the busy timeout.
    Reads (GET/HEAD requests) stay deferred so viewers never wait for each other.
    """
    if conn.dialect.name != "sqlite":
        return
    _align_bulk_settings(conn)
    if has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_BULK_WRITES: ContextVar[bool] = ContextVar("bulk_writes", default=False)


@contextmanager
def bulk_writes() -> Iterator[None]:
    """Many commits in a row (an import's): on SQLite, ten times fewer checkpoints and a bigger cache.

    Each checkpoint syncs the WAL and copies it into the database; an import of 250 channels,
    committing often, checkpointed at nearly every commit, copying the same index pages again
    and again (a tenth of its time). Its random index pages also outgrow SQLite's default
    2 MB page cache, so it gets :data:`BULK_CACHE_KIB`. Set per connection as each transaction
    begins, so a pooled connection never keeps them; the WAL file is cut back to
    :data:`WAL_SIZE_LIMIT` afterwards.
    """
    token = _BULK_WRITES.set(True)
    try:
        yield
    finally:
        _BULK_WRITES.reset(token)


def bulk_wal_autocheckpoint(page_size: int) -> int:
    """The WAL pages of :data:`BULK_WAL_BYTES` with pages of ``page_size`` bytes."""
    return max(WAL_AUTOCHECKPOINT, BULK_WAL_BYTES // page_size)


def _align_bulk_settings(conn) -> None:
    bulk = _BULK_WRITES.get()
    if conn.info.get("bulk_writes", False) != bulk:
        if "page_size" not in conn.info:
            conn.info["page_size"] = conn.exec_driver_sql("PRAGMA page_size").scalar()
        pages = bulk_wal_autocheckpoint(conn.info["page_size"]) if bulk else WAL_AUTOCHECKPOINT
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={pages}")
        # Made smaller again, SQLite frees the pages past the new size.
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB if bulk else CACHE_KIB}")
        conn.info["bulk_writes"] = bulk


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def one_of(column, name: str, dialect: str):
    """``column`` is one of the values bound as ``name``: one array parameter on PostgreSQL (one
    plan whatever their number), an expanding list elsewhere. The array's items have the column's type."""
    if dialect == "postgresql":
        item = Integer() if isinstance(column.type, Integer) else column.type
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item)))
    return column.in_(bindparam(name, expanding=True))
