"""Write many rows at once: insert new rows and update existing ones by key, in one transaction.

PostgreSQL gets the rows through ``COPY`` into a temporary table and merges them with one
``INSERT … ON CONFLICT … DO UPDATE``; SQLite gets chunked ``executemany`` of the same upsert.
Either way the work joins ``db.session``'s transaction: the caller (a CLI command, a job)
commits once, and a test's rolled-back transaction undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from salve.db import utcnow
from salve.extensions import db

#: Rows per ``executemany`` batch on SQLite and per ``COPY`` write on PostgreSQL.
CHUNK_ROWS = 50_000
#: Columns stamped by ``bulk_upsert`` when the table has them and the frame does not.
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"


@dataclass(frozen=True)
class UpsertCounts:
    """How many rows of a bulk upsert were new, changed, or already as given."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def bulk_upsert(
    table: sa.Table,
    frame: pd.DataFrame,
    key_columns: list[str],
    update_columns: list[str],
) -> UpsertCounts:
    """Insert the rows of ``frame`` into ``table``, updating rows whose key already exists.

    ``frame`` holds every column a new row needs; ``update_columns`` are those overwritten on
    an existing row. An existing row is only rewritten (and its ``updated_at`` only moves) when
    one of ``update_columns`` differs, so a re-import of the same file changes nothing.
    """
    unknown = set(frame.columns) - set(table.c.keys())
    unknown |= set(key_columns) - set(frame.columns)
    unknown |= set(update_columns) - set(frame.columns)
    if unknown:
        # Every name below goes into SQL text, so each must be one of the table's own columns.
        raise ValueError(f"{table.name}: unknown or missing columns {sorted(unknown)}")
    if frame.empty:
        return UpsertCounts()
    # Stamped by the database statement, not carried row by row through COPY or executemany.
    now = utcnow()
    stamps = {
        name: now for name in (CREATED_AT, UPDATED_AT) if name in table.c and name not in frame
    }
    touched = list(update_columns)
    if UPDATED_AT in table.c and UPDATED_AT not in touched:
        touched.append(UPDATED_AT)
    connection = db.session.connection()
    upsert = _upsert_postgresql if connection.dialect.name == "postgresql" else _upsert_sqlite
    return upsert(connection, table, frame, stamps, key_columns, update_columns, touched)


def _set_clause(update_columns: list[str], touched: list[str], target: str) -> tuple[str, ...]:
    assignments = ", ".join(f"{name} = excluded.{name}" for name in touched)
    # One column compares as a value, several as a row value; both databases accept either.
    left = ", ".join(f"{target}.{name}" for name in update_columns)
    right = ", ".join(f"excluded.{name}" for name in update_columns)
    return assignments, f"({left})", f"({right})"


def _conflict_sql(
    table: sa.Table, key_columns, update_columns, touched, distinct_operator: str
) -> str:
    keys = ", ".join(key_columns)
    if not update_columns:
        return f"ON CONFLICT ({keys}) DO NOTHING"
    assignments, left, right = _set_clause(update_columns, touched, table.name)
    return (
        f"ON CONFLICT ({keys}) DO UPDATE SET {assignments} WHERE {left} {distinct_operator} {right}"
    )


# --- PostgreSQL ------------------------------------------------------------------------------


def _upsert_postgresql(connection, table, frame, stamps, key_columns, update_columns, touched):
    names = ", ".join(frame.columns)
    keys = ", ".join(key_columns)
    all_names = ", ".join([*frame.columns, *stamps])
    selected = ", ".join([*frame.columns, *(["%s"] * len(stamps))])
    temporary = f"_bulk_{table.name}"
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temporary}")
        # Column types only: no constraints, no defaults, nothing to slow the COPY down.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temporary} AS SELECT {names} FROM {table.name} WITH NO DATA"  # noqa: S608 -- names checked against the table
        )
        with cursor.copy(f"COPY {temporary} ({names}) FROM STDIN (FORMAT csv, NULL '\\N')") as copy:
            for start in range(0, len(frame), CHUNK_ROWS):
                chunk = _postgresql_values(frame.iloc[start : start + CHUNK_ROWS])
                copy.write(chunk.to_csv(index=False, header=False, na_rep="\\N"))
        conflict = _conflict_sql(table, key_columns, update_columns, touched, "IS DISTINCT FROM")
        cursor.execute(
            f"WITH written AS (INSERT INTO {table.name} ({all_names}) SELECT {selected} "  # noqa: S608 -- names checked against the table
            f"FROM {temporary} ORDER BY {keys} {conflict} RETURNING (xmax = 0) AS is_new) "
            "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) "
            "FROM written",
            list(stamps.values()),
        )
        inserted, updated = cursor.fetchone()
        cursor.execute(f"DROP TABLE {temporary}")
    return UpsertCounts(inserted, updated, len(frame) - inserted - updated)


def _postgresql_values(chunk: pd.DataFrame) -> pd.DataFrame:
    converted = {}
    for name in chunk.columns:
        column = chunk[name]
        if column.dtype == object and len(column) and isinstance(column.iloc[0], datetime):
            converted[name] = column.map(datetime.isoformat)
    return chunk.assign(**converted) if converted else chunk


# --- SQLite ----------------------------------------------------------------------------------


def _upsert_sqlite(connection, table, frame, stamps, key_columns, update_columns, touched):
    columns = [*frame.columns, *stamps]
    placeholders = ", ".join("?" for _ in columns)
    conflict = _conflict_sql(table, key_columns, update_columns, touched, "IS NOT")
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders}) {conflict}"  # noqa: S608 -- names checked against the table
    )
    count_rows = f"SELECT count(*) FROM {table.name}"  # noqa: S608 -- a model's table name
    before = connection.exec_driver_sql(count_rows).scalar_one()
    cursor = connection.connection.driver_connection.cursor()
    written = 0
    try:
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            cursor.executemany(statement, _sqlite_rows(chunk, stamps))
            # executemany's rowcount adds up the rows each statement inserted or really changed.
            written += cursor.rowcount
    finally:
        cursor.close()
    inserted = connection.exec_driver_sql(count_rows).scalar_one() - before
    return UpsertCounts(inserted, written - inserted, len(frame) - written)


def _sqlite_rows(chunk: pd.DataFrame, stamps: dict[str, datetime]):
    """Return the rows of ``chunk`` as tuples of values sqlite3 binds without adapters."""
    columns = [_sqlite_column(chunk[name]) for name in chunk.columns]
    columns += [[_sqlite_datetime(value)] * len(chunk) for value in stamps.values()]
    return zip(*columns, strict=True)


def _sqlite_column(column: pd.Series) -> list:
    # Stored the way SQLAlchemy stores them on SQLite, so the ORM reads them back unchanged.
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert(UTC).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        column = column.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype("int64")
    values = column.astype(object).where(column.notna(), None).tolist()
    if values and isinstance(values[0], datetime):
        return [_sqlite_datetime(value) for value in values]
    if values and isinstance(values[0], date):
        return [value.isoformat() if value is not None else None for value in values]
    return values


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
