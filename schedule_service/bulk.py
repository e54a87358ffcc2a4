"""Many new rows in one go, fast on both engines: the bulk writes of an XMLTV import.

SQLAlchemy's executemany processes each parameter of each row in Python and, on PostgreSQL,
sends a statement per row or one huge statement the driver must parse; a first import of a big
guide inserts millions of rows. Here the ids are taken first (from the sequence on PostgreSQL;
past the largest on SQLite, whose writing transaction holds the database's one write lock),
then PostgreSQL gets ``COPY`` and SQLite one prepared INSERT that the driver runs per row.
Nothing here touches the session's objects; the caller marks what changed.
"""

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table, Time, text
from sqlalchemy.orm import Session

from schedule_service.db import UtcDateTime


def take_ids(session: Session, table: Table, n: int) -> list[int]:
    """Reserve ``n`` new ids of ``table``, in ascending order."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        query = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
        return sorted(conn.execute(query, {"t": table.name, "n": n}).scalars())
    # SQLite gives a new row the largest id plus one anyway; only one transaction writes at a time.
    top = conn.exec_driver_sql(f'SELECT max(id) FROM "{table.name}"').scalar() or 0
    return list(range(top + 1, top + 1 + n))


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table``; columns left out get their defaults."""
    if not rows:
        return 0
    return insert_columns(session, table, {name: [row[name] for row in rows] for name in rows[0]})


def insert_columns(session: Session, table: Table, given: dict[str, list[Any]]) -> int:
    """Insert rows given column by column, ``{column name: its values}`` (all as many), into ``table``.

    What the writes are made of anyway: building a dict per row only to take it apart again
    costs more than the INSERT's own Python. Columns left out get their defaults.

    New channels, programmes and slots are recorded in the change feed's log here, so no bulk
    path can forget them (models/change.py).
    """
    count = len(next(iter(given.values()), []))
    if not count:
        return 0
    from schedule_service.models import change

    change.note_inserted(session, table.name, given)
    conn = session.connection()
    plan = _plan(table, tuple(given), conn.dialect)
    # Defaults are taken per call: some are callables (the instant a row is made).
    defaults = [d.arg(None) if d.is_callable else d.arg for d in plan.defaults]
    if plan.copy is not None:  # PostgreSQL
        values = []
        for value, is_json in zip(given.values(), plan.is_json[: len(given)], strict=True):
            if is_json:
                value = [None if v is None else json.dumps(v) for v in value]
            values.append(value)
        values.extend([v] * count for v in defaults)
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(plan.copy) as copy:
            copy.set_types(plan.pg_types)  # no guessing a dumper per value
            for row in zip(*values, strict=True):
                copy.write_row(row)
        cursor.close()
        return count
    values = []
    columns = (*given.values(), *([v] * count for v in defaults))
    for value, process, is_json in zip(columns, plan.processors, plan.is_json, strict=True):
        if process is _sqlite_instant:
            value = _sqlite_instants(value)
        elif process is not None:
            if is_json:
                value = [None if v is None else process(v) for v in value]
            else:
                # Most rows repeat a few values: process each one once.
                done = {v: process(v) for v in set(value) if v is not None}
                value = [None if v is None else done[v] for v in value]
        values.append(value)
    conn.exec_driver_sql(plan.insert, list(zip(*values, strict=True)))
    return count


@dataclass(frozen=True)
class _Plan:
    """How rows with the given columns go into a table on one engine: worked out once, not per call."""

    #: The given columns, then those left to their (Python) defaults.
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    is_json: tuple[bool, ...]
    #: SQLite: the INSERT and each column's bind processor.
    insert: str
    processors: tuple[Any, ...]
    #: PostgreSQL: the COPY and each column's type.
    copy: str | None
    pg_types: tuple[str, ...]


@functools.lru_cache(maxsize=64)
def _plan(table: Table, given: tuple[str, ...], dialect) -> _Plan:
    defaulted = [c for c in table.columns if c.name not in given and c.default is not None and not c.primary_key]
    columns = [table.c[name] for name in given] + defaulted
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    postgresql = dialect.name == "postgresql"
    return _Plan(
        names=tuple(c.name for c in columns),
        defaults=tuple(c.default for c in defaulted),
        is_json=tuple(isinstance(c.type, JSON) for c in columns),
        insert=f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" for _ in columns)})',
        processors=()
        if postgresql
        else tuple(
            _sqlite_instant if isinstance(c.type, UtcDateTime) else c.type.dialect_impl(dialect).bind_processor(dialect)
            for c in columns
        ),
        copy=f'COPY "{table.name}" ({quoted}) FROM STDIN' if postgresql else None,
        pg_types=tuple(_pg_type(c) for c in columns) if postgresql else (),
    )


#: SQLite's text of instants written lately: the channels of a guide share their hours and
#: half hours, and posts their due times, so most are written many times over.
_INSTANT_TEXTS: dict[datetime, str] = {}
_INSTANT_TEXTS_MAX = 100_000


def _sqlite_instants(values: list[datetime | None]) -> list[str | None]:
    texts = _INSTANT_TEXTS
    if len(texts) > _INSTANT_TEXTS_MAX:
        texts.clear()
    out: list[str | None] = []
    for value in values:
        text = texts.get(value)  # an instant's hash and equality are its UTC's, whatever its zone
        if text is None and value is not None:
            text = texts[value] = _sqlite_instant(value)
        out.append(text)
    return out


def _sqlite_instant(value: datetime) -> str:
    """An instant as UtcDateTime stores it on SQLite (naive UTC text), in one step rather than three."""
    if value.tzinfo is UTC:  # nearly always: one call, not three
        return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} would be ambiguous; give it a zone")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_type(column) -> str:
    """The type whose dumper writes the column's values as COPY text (JSON arrives as text)."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Time):
        return "time"
    return "text"
