"""Rate limits counted in the database, so every worker and every node sees the same counts.

SECURITY.md items 6 ("rate-limit before hashing") and 26 (limits shared across workers, never in
process memory). A limit is a name with a number of requests per period, from
``app.config["RATE_LIMITS"]`` (``salve.config.DEFAULT_RATE_LIMITS``), counted per *key*: the
name and whom it counts, e.g. ``"sign-in:203.0.113.7"`` or ``"second-factor:42"``.

Counting is a sliding window approximated from two fixed ones: the requests of the current
window plus those of the previous window weighted by how much of it still lies within the last
``per`` seconds. There is no burst of twice the limit at a window's edge, and two rows per key
are all it keeps. Rows whose windows no longer matter are pruned whenever a key opens a window.

Each decision runs in short transactions of its own on the request's database session: a read,
which refuses without writing anything when the key is already at its limit (a flood costs
reads only), then one atomic upsert (``INSERT … ON CONFLICT DO UPDATE … WHERE`` on SQLite and
PostgreSQL) that counts the request only while it is still under the limit, so two workers
racing for the last request cannot both get it. On SQLite the upsert begins with ``BEGIN
IMMEDIATE`` and holds the write lock for that one statement, whether the request is a GET or a
POST. Refused requests are not counted: a client that keeps trying gets through at the limit's
pace, no faster.

Use from a view or hook::

    from salve import ratelimit

    # Returns True when the request may go ahead (and counts it); False: refuse it.
    if not ratelimit.hit(f"second-factor:{user.id}", *ratelimit.limit_for("second-factor")):
        ...  # say "too many attempts; wait" and stop

    @bp.route("/ingresar", methods=["GET", "POST"])
    @ratelimit.rate_limited("sign-in", methods={"POST"})  # per client address by default
    def login(): ...

Call ``hit``/``check`` before the request changes anything: they commit the request's session
to run their own transactions, so whatever it had pending would be committed with them, and a
request that fails afterwards (and rolls back) keeps its count.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Response, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from salve.db import set_write_intent, transactions_of_its_own, utcnow
from salve.extensions import db

#: Longer keys are cut: an address, a token's hash prefix or an id fits well within.
MAX_KEY_LENGTH = 120
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = 1_000_000


class RateLimitCounter(db.Model):
    """Requests counted for one key in one fixed window of time."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = (sa.CheckConstraint("hits >= 0", name="hits_not_negative"),)

    #: What is counted: the limit's name and whom it counts, e.g. "sign-in:203.0.113.7".
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH), primary_key=True)
    #: Start of the window (UTC), a whole number of the limit's periods since 1970.
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    #: Requests allowed in the window.
    hits: Mapped[int] = mapped_column(default=0)
    #: When the row stops counting (the end of the next window); pruned after that.
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<RateLimitCounter {self.hits}>"


_table = RateLimitCounter.__table__


@dataclass(frozen=True)
class Decision:
    """Whether a request may go ahead and, if not, how long until one would."""

    allowed: bool
    #: Whole seconds until a request would be allowed, if no other came meanwhile; 0 if allowed.
    retry_after: int = 0
    #: When allowed: the requests counted in the current fixed window, this one included (1: it
    #: opened the window), and those the previous window counted.
    hits: int = 0
    previous_hits: int = 0


def limit_for(name: str) -> tuple[int, int]:
    """Return the configured (requests, seconds) of the limit ``name``."""
    return current_app.config["RATE_LIMITS"][name]


def hit(key: str, limit: int, per: int, *, now: datetime | None = None) -> bool:
    """Count a request for ``key`` and tell whether it is within ``limit`` per ``per`` seconds.

    False means refuse the request (it was not counted). Commits the request's session first;
    see the module docstring.
    """
    return check(key, limit, per, now=now).allowed


def check(key: str, limit: int, per: int, *, now: datetime | None = None) -> Decision:
    """Count a request for ``key`` if ``limit`` per ``per`` seconds allows it; say when not."""
    if limit < 1 or per < 1:
        raise ValueError("a rate limit needs at least one request and one second")
    key = key[:MAX_KEY_LENGTH]
    with transactions_of_its_own(db.session()) as session:
        return _count(session, key, limit, per, now or utcnow())


def _count(session, key: str, limit: int, per: int, now: datetime) -> Decision:
    period = per * _SECOND
    moment = (now - _EPOCH) // _MICROSECOND
    elapsed = moment % period
    start = _EPOCH + timedelta(microseconds=moment - elapsed)
    previous_start = start - timedelta(seconds=per)

    set_write_intent(False)  # SQLite: a deferred BEGIN; refusing takes no write lock
    counts = dict(
        session.execute(
            sa.select(_table.c.window_start, _table.c.hits).where(
                _table.c.key == key, _table.c.window_start.in_([start, previous_start])
            )
        ).all()
    )
    session.commit()
    current, previous = counts.get(start, 0), counts.get(previous_start, 0)
    # The previous window's requests still within the last ``per`` seconds, rounded up.
    carried = -(-previous * (period - elapsed) // period)
    room = limit - carried  # what the current window may hold
    if current >= room:
        return Decision(False, _retry_after(limit, period, elapsed, current, previous))

    set_write_intent(True)  # SQLite: BEGIN IMMEDIATE, held for one statement
    counted = session.execute(_upsert(session, key, start, per, room)).scalar()
    if counted == 1:  # this key opened a window: sweep the windows nobody needs any more
        session.execute(sa.delete(_table).where(_table.c.expires_at < _at(now)))
    session.commit()
    if counted is None:  # another worker took the last request first
        return Decision(False, _retry_after(limit, period, elapsed, room, previous))
    return Decision(True, hits=counted, previous_hits=previous)


def _at(moment: datetime) -> sa.BindParameter:
    return sa.literal(moment, _table.c.expires_at.type)


def _upsert(session, key: str, start: datetime, per: int, room: int):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_table).values(
        key=key, window_start=start, hits=1, expires_at=start + timedelta(seconds=2 * per)
    )
    return statement.on_conflict_do_update(
        index_elements=[_table.c.key, _table.c.window_start],
        set_={"hits": _table.c.hits + 1},
        where=_table.c.hits < room,
    ).returning(_table.c.hits)


def _retry_after(limit: int, period: int, elapsed: int, current: int, previous: int) -> int:
    """Seconds until one more request fits, if none comes meanwhile (all in microseconds)."""
    room = limit - current - 1  # what the previous window's weight must fall to
    if room >= 0 and previous > 0:
        # Later in this window: previous * (period - e) / period <= room.
        needed = period - room * period // previous
        if needed < period:
            return max(1, math.ceil((needed - elapsed) / _SECOND))
    # The next window: this one's requests weigh current * (period - e) / period <= limit - 1.
    needed = period - (limit - 1) * period // current if current else 0
    wait = period - elapsed + min(max(needed, 0), period)
    return max(1, math.ceil(wait / _SECOND))


# --- Requests ---------------------------------------------------------------------------------


def client_address() -> str:
    """Return the client's address (behind ``PROXY_COUNT`` trusted proxies, the forwarded one)."""
    return (request.remote_addr or "unknown")[:45]


def enforce(
    name: str, subject: str, limit: int | None = None, per: int | None = None
) -> Response | None:
    """Count a request against limit ``name`` for ``subject``; return the 429 answer if refused.

    ``limit`` and ``per`` default to the configured ones; for ``before_request`` hooks.
    """
    if limit is None or per is None:
        limit, per = limit_for(name)
    decision = check(f"{name}:{subject}", limit, per)
    return None if decision.allowed else too_many_requests(decision.retry_after)


def rate_limited(
    name: str,
    limit: int | None = None,
    per: int | None = None,
    *,
    key: Callable[[], str] = client_address,
    methods: Collection[str] | None = None,
) -> Callable:
    """Refuse a view with 429 past limit ``name``, counted per ``key()`` (the client address).

    ``methods``: count only these (e.g. ``{"POST"}``: showing a form costs nothing).
    """

    def decorator(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if methods is None or request.method in methods:
                refusal = enforce(name, key(), limit, per)
                if refusal is not None:
                    return refusal
            return view(*args, **kwargs)

        return limited

    return decorator


def too_many_requests(retry_after: int) -> Response:
    """Return the 429 answer: JSON errors under /api/, else a plain page; with Retry-After."""
    headers = {"Retry-After": str(retry_after)}
    if request.path.startswith("/api/"):
        from salve.api.errors import error_response

        message = _(
            "Demasiadas solicitudes. Espere %(seconds)d segundos antes de volver a intentarlo.",
            seconds=retry_after,
        )
        return error_response(429, [(None, message)], headers)
    minutes = math.ceil(retry_after / 60)
    html = render_template("errors/too_many_requests.html", seconds=retry_after, minutes=minutes)
    return current_app.make_response((html, 429, headers))
