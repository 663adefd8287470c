"""The leader lease: the one row that says which scheduler may run jobs, and until when.

A scheduler takes the lease when it is free or expired and renews it while it lives; every other
scheduler finds it held and runs nothing. Taking and renewing is one conditional UPDATE, so two
schedulers racing for it cannot both win: on SQLite the write lock (BEGIN IMMEDIATE) serialises
them; on PostgreSQL the second UPDATE waits for the first to commit and then re-reads the row,
which no longer matches. The very first take is an INSERT … ON CONFLICT DO NOTHING: the loser
of that race inserts nothing.

Times come from the schedulers' clocks, which must agree to well within the lease (NTP does).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from salve.db import utcnow
from salve.extensions import db
from salve.jobs.models import SchedulerLease

#: The lease's row.
LEASE_NAME = "scheduler"
#: How long taking the lease waits for a row lock before giving up until the next beat
#: (PostgreSQL; SQLite waits for its write lock up to the busy timeout).
LOCK_TIMEOUT = "5s"

_table = SchedulerLease.__table__


def new_holder() -> str:
    """Name this process uniquely: ``host:pid:random``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_process(holder: str) -> tuple[str, int] | None:
    """Return the (host, pid) a holder name carries, or None when it carries none."""
    rest, _, token = holder.rpartition(":")
    host, _, pid = rest.rpartition(":")
    return (host, int(pid)) if host and pid.isdigit() and token else None


def _when(now: datetime) -> sa.BindParameter:
    return sa.literal(now, _table.c.expires_at.type)


def _insert_if_absent(session, name: str, holder: str, now: datetime, expires_at: datetime):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(_table)
        .values(name=name, holder=holder, acquired_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(_table.c.name)
    )


def take_lease(
    holder: str, seconds: float, *, now: datetime | None = None, name: str = LEASE_NAME
) -> bool:
    """Take or renew the lease for ``seconds``; tell whether ``holder`` holds it now. Commits."""
    session = db.session
    try:
        # Begin first (on SQLite this waits for the write lock), then read the clock, so a wait
        # never stamps the lease with a time already past.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        else:
            session.connection()
        now = now or utcnow()
        expires_at = now + timedelta(seconds=seconds)
        renewed = session.execute(
            sa.update(_table)
            .where(
                _table.c.name == name,
                sa.or_(_table.c.holder == holder, _table.c.expires_at < _when(now)),
            )
            .values(
                holder=holder,
                expires_at=expires_at,
                acquired_at=sa.case(
                    (_table.c.holder == holder, _table.c.acquired_at), else_=_when(now)
                ),
            )
        ).rowcount
        held = renewed == 1
        if not held:  # the first take ever: the loser of a race inserts nothing
            inserted = session.execute(_insert_if_absent(session, name, holder, now, expires_at))
            held = inserted.first() is not None
        session.commit()
    except Exception:
        session.rollback()
        raise
    return held


def holds_lease(holder: str, *, now: datetime | None = None, name: str = LEASE_NAME) -> bool:
    """Tell, within the caller's transaction, whether ``holder`` holds an unexpired lease."""
    now = now or utcnow()
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(_table)
            .where(
                _table.c.name == name, _table.c.holder == holder, _table.c.expires_at > _when(now)
            )
        )
        == 1
    )


def extend_lease(
    holder: str, seconds: float, *, now: datetime | None = None, name: str = LEASE_NAME
) -> bool:
    """Extend ``holder``'s lease within the caller's transaction; False when it is not theirs.

    The UPDATE locks the row until the caller commits, so a job that ends with it commits only
    while its scheduler still leads (a fencing check); nobody can take the lease in between.
    """
    now = now or utcnow()
    return (
        db.session.execute(
            sa.update(_table)
            .where(_table.c.name == name, _table.c.holder == holder)
            .values(expires_at=now + timedelta(seconds=seconds))
        ).rowcount
        == 1
    )


def release_lease(holder: str, *, name: str = LEASE_NAME) -> bool:
    """Let the lease expire now if ``holder`` holds it (a clean shutdown). Commits."""
    released = (
        db.session.execute(
            sa.update(_table)
            .where(_table.c.name == name, _table.c.holder == holder)
            .values(expires_at=utcnow())
        ).rowcount
        == 1
    )
    db.session.commit()
    return released


def current_lease(name: str = LEASE_NAME) -> SchedulerLease | None:
    """Return the lease row, whoever holds it and whether or not it expired."""
    return db.session.get(SchedulerLease, name)
