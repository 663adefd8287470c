"""Declarative base, column types and database-level behaviour shared by every domain."""

from __future__ import annotations

import contextlib
import contextvars
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

#: Constraint names that are identical on SQLite and PostgreSQL, so migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back as an aware UTC datetime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every SALVE model."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class TimestampMixin:
    """``created_at`` and ``updated_at`` columns kept by the ORM."""

    #: When the row was first stored (UTC).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the row last changed (UTC).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- SQLite as a server database -------------------------------------------------------------
#
# pysqlite opens transactions lazily and only before writes, so a request that reads and then
# writes races other writers and fails with "database is locked". We take over BEGIN ourselves:
# transactions that will write start with BEGIN IMMEDIATE (they wait for the write lock up front,
# within busy_timeout); read-only ones start a plain deferred BEGIN so readers never queue.

_sqlite_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "salve_sqlite_write_intent", default=True
)


def set_write_intent(will_write: bool) -> contextvars.Token:
    """Declare whether the transactions begun from now on in this context will write."""
    return _sqlite_write_intent.set(will_write)


def write_intended() -> bool:
    """Tell whether transactions begun now start with ``BEGIN IMMEDIATE`` on SQLite."""
    return _sqlite_write_intent.get()


@contextlib.contextmanager
def transactions_of_its_own(session):
    """Commit the request's transaction so the block's begin as its own; restore after.

    For counters that must hold whatever the request does (rate limits, sign-in attempts): what
    the request loaded (current_user…) stays as it was read, with no reload after the block's
    commits, and the request's write intent comes back. A failure rolls the session back.
    """
    intended = write_intended()
    keeps_loaded = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = keeps_loaded
        set_write_intent(intended)


def configure_sqlite(engine: Engine) -> None:
    """Install WAL, busy timeout, foreign keys and explicit BEGIN on a SQLite engine."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intended() else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    """Tell whether ``engine`` is a SQLite database."""
    return engine.dialect.name == "sqlite"
