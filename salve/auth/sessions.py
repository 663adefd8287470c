"""Server-side sessions: the cookie names a session row; ending the row ends every copy.

SECURITY.md items 1-3. Flask's signed cookie carries only a random token (and the CSRF secret
and language); the account it stands for, its age and whether it has ended live in the database.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, request, session

from salve.auth.models import AuthSession, User
from salve.db import set_write_intent, utcnow
from salve.extensions import db

SESSION_KEY = "sid"
#: last_seen_at is written at most this often, so reads do not all turn into writes.
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> AuthSession:
    """Begin a fresh session for ``user``, discarding everything the pre-login cookie held."""
    language = session.get("lang")
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    auth_session = AuthSession(
        token_hash=_hash(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        ip_address=(request.remote_addr or "")[:45],
    )
    db.session.add(auth_session)
    session[SESSION_KEY] = token
    if language:
        session["lang"] = language
    session.permanent = False
    return auth_session


def current_session() -> AuthSession | None:
    """Return the live session the request's cookie names, or None.

    Timeouts and the last-seen time are written after the request's own transaction
    (``flush_session_bookkeeping``), so a read-only request stays read-only.
    """
    if "auth_session" in g:
        return g.auth_session
    g.auth_session = None
    token = session.get(SESSION_KEY)
    if not token:
        return None
    auth_session = db.session.scalar(
        sa.select(AuthSession).where(AuthSession.token_hash == _hash(token))
    )
    if auth_session is None or auth_session.ended_at is not None:
        return None
    now = utcnow()
    reason = expiry_reason(auth_session, now)
    if reason:
        g.session_bookkeeping = (auth_session.id, {"ended_at": now, "end_reason": reason})
        return None
    if now - auth_session.last_seen_at >= TOUCH_INTERVAL:
        g.session_bookkeeping = (auth_session.id, {"last_seen_at": now})
    g.auth_session = auth_session
    return auth_session


def flush_session_bookkeeping() -> None:
    """Write the pending timeout or last-seen update in a short transaction of its own."""
    pending = g.pop("session_bookkeeping", None)
    if pending is None:
        return
    session_id, values = pending
    set_write_intent(True)
    db.session.execute(
        sa.update(AuthSession).where(AuthSession.id == session_id).values(**values),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def expiry_reason(auth_session: AuthSession, now: datetime) -> str | None:
    """Return "idle" or "expired" when the session has timed out, else None."""
    config = current_app.config
    if now - auth_session.created_at >= config["SESSION_ABSOLUTE_TIMEOUT"]:
        return "expired"
    if auth_session.is_pending and now - auth_session.created_at >= config["SECOND_FACTOR_TIMEOUT"]:
        return "expired"
    if now - auth_session.last_seen_at >= config["SESSION_IDLE_TIMEOUT"]:
        return "idle"
    return None


def last_confirmed_at(auth_session: AuthSession) -> datetime:
    """Return when the user last proved who they are in this session (sign-in or re-check)."""
    signed_in = auth_session.second_factor_at or auth_session.created_at
    if auth_session.reauthenticated_at and auth_session.reauthenticated_at > signed_in:
        return auth_session.reauthenticated_at
    return signed_in


def end_session(auth_session: AuthSession, reason: str, *, at: datetime | None = None) -> None:
    """Mark ``auth_session`` ended; copies of its cookie are refused from now on."""
    auth_session.ended_at = at or utcnow()
    auth_session.end_reason = reason


def end_all_sessions(user_id: int, reason: str, *, keep: AuthSession | None = None) -> int:
    """End every live session of a user (except ``keep``) and return how many ended."""
    query = sa.update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep.id)
    result = db.session.execute(
        query.values(ended_at=utcnow(), end_reason=reason),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount
