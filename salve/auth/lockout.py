"""Lockout after repeated failures, counted in the database by atomic statements (items 6, 32).

Two counters per account, each a ``LoginThrottle`` row: wrong passwords, keyed by the sign-in
name (``"user:docente"``, known or not, so lockout reveals nothing), and wrong second-factor
codes, keyed by the account (``"code:42"``). A correct password does not touch the code counter:
only a full sign-in (password and code) clears both. Each counter locks its step for
``LOGIN_LOCK_DURATION`` (30 min) after ``LOGIN_MAX_FAILURES`` (6) failures.

An attempt is *reserved* before it is checked: one ``INSERT … ON CONFLICT DO UPDATE … WHERE
failure_count < 6 … RETURNING`` (SQLite ≥ 3.35 and PostgreSQL) counts it as a failure, or
refuses it without counting when the counter is full or locked. Only then is the password hashed
or the code compared; a success gives its reservation back (``release``). So however many
workers check guesses at once, no more than six are ever checked per lock, and no two requests
ever both insert the row. The reservation that fills the counter locks it at once; a success
lifts that lock again.

Reserving commits the request's session first and runs in a short transaction of its own, as
``salve.ratelimit.check`` does: call it before the request changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from salve.auth.models import LoginThrottle
from salve.db import set_write_intent, transactions_of_its_own, utcnow
from salve.extensions import db

_table = LoginThrottle.__table__


def password_key(username: str) -> str:
    """Return the key counting wrong passwords typed for the sign-in name ``username``."""
    return f"user:{username}"


def code_key(user_id: int) -> str:
    """Return the key counting wrong second-factor codes typed for account ``user_id``."""
    return f"code:{user_id}"


@dataclass(frozen=True)
class Attempt:
    """A reserved (or refused) attempt under one counter."""

    key: str
    #: Which failure this attempt counts as if it fails (1…6); None: refused, locked.
    number: int | None

    @property
    def is_allowed(self) -> bool:
        """Tell whether the password or code may be checked."""
        return self.number is not None

    @property
    def is_last(self) -> bool:
        """Tell whether failing this attempt leaves the counter locked."""
        return self.number is not None and self.number >= _max_failures()


def _max_failures() -> int:
    return current_app.config["LOGIN_MAX_FAILURES"]


def reserve(key: str, *, now: datetime | None = None) -> Attempt:
    """Count an attempt under ``key`` before it is checked, unless the key is locked.

    Commits the request's session first (see the module docstring).
    """
    now = now or utcnow()
    limit = _max_failures()
    lock_ends = now + current_app.config["LOGIN_LOCK_DURATION"]
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    existing = _table.c
    expired = existing.locked_until <= _at(now)
    statement = (
        dialect.insert(_table)
        .values(
            key=key,
            failure_count=1,
            first_failure_at=now,
            locked_until=lock_ends if limit <= 1 else None,
        )
        .on_conflict_do_update(
            index_elements=[existing.key],
            set_={
                # A lock that ran out starts the count again from this attempt.
                "failure_count": sa.case((expired, 1), else_=existing.failure_count + 1),
                "first_failure_at": sa.case((expired, _at(now)), else_=existing.first_failure_at),
                # The attempt that fills the counter locks it, before it is even checked.
                "locked_until": sa.case(
                    (sa.or_(expired, existing.failure_count + 1 < limit), sa.null()),
                    else_=_at(lock_ends),
                ),
            },
            where=sa.or_(
                expired, sa.and_(existing.locked_until.is_(None), existing.failure_count < limit)
            ),
        )
        .returning(existing.failure_count)
    )
    number = _in_own_transaction(lambda session: session.execute(statement).scalar())
    return Attempt(key, number)


def release(attempt: Attempt) -> None:
    """Give back a reserved attempt that succeeded: it was no failure (in the request's work)."""
    if not attempt.is_allowed:
        return
    existing = _table.c
    db.session.execute(
        sa.update(_table)
        .where(existing.key == attempt.key, existing.failure_count > 0)
        .values(
            failure_count=existing.failure_count - 1,
            # Only the attempt that filled the counter can find it full: its lock goes with it.
            locked_until=sa.case(
                (existing.failure_count >= _max_failures(), sa.null()),
                else_=existing.locked_until,
            ),
        )
    )


def is_locked(key: str, *, now: datetime | None = None) -> bool:
    """Tell whether attempts under ``key`` are refused now."""
    locked_until = db.session.scalar(sa.select(_table.c.locked_until).where(_table.c.key == key))
    return locked_until is not None and locked_until > (now or utcnow())


def has_locked(attempt: Attempt) -> bool:
    """Tell whether failing ``attempt`` left its counter locked.

    Asked of the database, not of the reservation: a success that came in meanwhile gives its
    reservation back and lifts the lock this attempt had taken.
    """
    return attempt.is_last and is_locked(attempt.key)


def clear(*keys: str) -> None:
    """Forget the failures counted under ``keys`` (after a full sign-in)."""
    db.session.execute(sa.delete(_table).where(_table.c.key.in_(keys)))


def _at(moment: datetime) -> sa.BindParameter:
    return sa.literal(moment, _table.c.first_failure_at.type)


def _in_own_transaction(work):
    """Run ``work(session)`` in a committed transaction of its own on the request's session."""
    with transactions_of_its_own(db.session()) as session:
        set_write_intent(True)  # SQLite: BEGIN IMMEDIATE, held for one statement
        result = work(session)
        session.commit()
        return result
