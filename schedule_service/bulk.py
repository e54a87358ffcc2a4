"""Many new rows in one go, fast on both engines: the bulk writes of an XMLTV import.

SQLAlchemy's executemany processes each parameter of each row in Python and, on PostgreSQL,
sends a statement per row or one huge statement the driver must parse; a first import of a big
guide inserts millions of rows. Here the ids are taken first (from the sequence on PostgreSQL;
past the largest on SQLite, whose writing transaction holds the database's one write lock),
then PostgreSQL gets ``COPY`` and SQLite one prepared INSERT that the driver runs per row.
Nothing here touches the session's objects; the caller marks what changed.
"""

import json
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


def insert_numbered(session: Session, table: Table, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert ``rows`` without ids, numbered by the database as it writes them; return a span
    (lowest, highest) of ids that holds all of them.

    For rows nobody refers to by id (the change log's): on PostgreSQL this spares taking each id
    from the sequence first, one round of ``nextval`` per row. Ids from a sequence only grow, so
    every one given after the sequence's last value was read lies above it; other transactions'
    rows may fall inside the span, ours never outside it. SQLite's one writer numbers them in a row.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sequence = "pg_get_serial_sequence(:t, 'id')"
        last = text(f"SELECT coalesce(pg_sequence_last_value({sequence}::regclass), 0)")
        lo = conn.execute(last, {"t": table.name}).scalar() + 1
        insert_rows(session, table, rows)
        return lo, conn.execute(text(f"SELECT currval({sequence})"), {"t": table.name}).scalar()
    lo = conn.exec_driver_sql(f'SELECT max(id) FROM "{table.name}"').scalar() or 0
    insert_rows(session, table, rows)
    return lo + 1, lo + len(rows)


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table``; columns left out get their defaults.

    New channels, programmes and slots are recorded in the change feed's log here, so no bulk
    path can forget them (models/change.py).
    """
    if not rows:
        return 0
    from schedule_service.models import change

    change.note_inserted(session, table.name, rows)
    conn = session.connection()
    names = list(rows[0])
    defaults = {}
    for column in table.columns:
        if column.name not in names and column.default is not None and not column.primary_key:
            arg = column.default.arg
            defaults[column.name] = arg(None) if column.default.is_callable else arg
    columns = [table.c[name] for name in (*names, *defaults)]
    fixed = tuple(defaults.values())
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    if conn.dialect.name == "postgresql":
        json_at = [i for i, c in enumerate(columns[: len(names)]) if isinstance(c.type, JSON)]
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            copy.set_types([_pg_type(c) for c in columns])  # no guessing a dumper per value
            for row in rows:
                values = [row[name] for name in names]
                for i in json_at:
                    if values[i] is not None:
                        values[i] = json.dumps(values[i])
                copy.write_row((*values, *fixed))
        cursor.close()
        return len(rows)
    dialect = conn.dialect
    processors = [
        _sqlite_instant if isinstance(c.type, UtcDateTime) else c.type.dialect_impl(dialect).bind_processor(dialect)
        for c in columns
    ]
    fixed = tuple(p(v) if p else v for p, v in zip(processors[len(names) :], fixed, strict=True))
    values = []
    for name, process in zip(names, processors, strict=False):
        column = [row[name] for row in rows]
        if process is not None:
            if isinstance(table.c[name].type, JSON):
                column = [None if v is None else process(v) for v in column]
            else:
                # Most rows repeat a few instants: process each value once.
                done = {v: process(v) for v in set(column) if v is not None}
                column = [None if v is None else done[v] for v in column]
        values.append(column)
    plain = [(*row, *fixed) for row in zip(*values, strict=True)]
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', plain)
    return len(rows)


def _sqlite_instant(value: datetime) -> str:
    """An instant as UtcDateTime stores it on SQLite (naive UTC text), in one step rather than three."""
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
