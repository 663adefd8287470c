"""Bearer tokens: create, revoke, list, and authenticate an API request with one.

The API authenticates only with ``Authorization: Bearer <token>``. It never reads the session
cookie: the API is exempt from CSRF, so accepting the cookie would let any web page that a
signed-in teacher visits post reports in their name.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import g, request
from flask_babel import gettext as _
from sqlalchemy import orm

from salve import ratelimit
from salve.api.models import ApiToken
from salve.audit.operations import record, record_now
from salve.auth.models import User
from salve.db import set_write_intent, utcnow, write_intended
from salve.extensions import db, login_manager

#: last_used_at is written at most this often, so reads do not all turn into writes.
TOUCH_INTERVAL = timedelta(seconds=60)
#: Longer "tokens" are not ours; refuse them without hashing megabytes.
MAX_TOKEN_LENGTH = 200


class TokenError(ValueError):
    """A token command cannot be carried out (unknown user, unknown token…)."""


def hash_token(token: str) -> str:
    """Return the SHA-256 (hex) under which ``token`` is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user_named(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise TokenError(f"No existe el usuario «{username}».")
    return user


def create_token(username: str, name: str = "") -> tuple[ApiToken, str]:
    """Create a token acting as ``username``; return (row, token). Only the hash is kept."""
    user = _user_named(username)
    if not user.is_enabled:
        raise TokenError(f"La cuenta «{user.username}» está desactivada.")
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=hash_token(token), name=name.strip()[:80], created_at=utcnow()
    )
    db.session.add(row)
    db.session.flush()
    record("api_token.create", "api_token", row.id, for_user=user.id, name=row.name)
    return row, token


def revoke_token(token_id: int) -> ApiToken:
    """Revoke token ``token_id``; revoking twice keeps the first date."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"No existe el token {token_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record("api_token.revoke", "api_token", row.id, for_user=row.user_id)
    return row


def tokens_of(username: str) -> list[ApiToken]:
    """Return the tokens of ``username``, oldest first."""
    user = _user_named(username)
    return list(
        db.session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        )
    )


@dataclass(frozen=True)
class Refusal:
    """Why a request was not authenticated."""

    message: str
    #: The ``error`` parameter of ``WWW-Authenticate`` (RFC 6750), "" when no token was sent.
    error: str = ""
    #: Seconds to wait when the address sent too many refused tokens (answer 429); else 0.
    retry_after: int = 0


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def authenticate() -> User | Refusal:
    """Return the user the request's bearer token acts as, or why it is refused.

    On success the user becomes ``current_user`` for the request (so the audit log attributes
    what the request does to them); the session cookie is never consulted.
    """
    # Until the token is checked the caller is anonymous, whatever cookie came along.
    g._login_user = login_manager.anonymous_user()
    token = _bearer_token()
    if token is None:
        return Refusal(_("Falta el token de acceso (cabecera Authorization: Bearer)."))
    row = None
    if token and len(token) <= MAX_TOKEN_LENGTH:
        row = db.session.scalar(
            sa.select(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .options(orm.joinedload(ApiToken.user).selectinload(User.role_assignments))
        )
    if row is None or row.revoked_at is not None or not row.user.is_enabled:
        return _refuse(row)
    user = row.user
    if row.last_used_at is None or utcnow() - row.last_used_at >= TOUCH_INTERVAL:
        _touch(row.id)
    g._login_user = user  # flask_login.current_user; see the module docstring
    return user


def _refuse(row: ApiToken | None) -> Refusal:
    """Refuse a token, counted per client address before anything is written.

    Past the ``api-refused`` limit the answer is 429 and nothing is written. Within it, only
    the first refusal of each window writes an audit row, carrying how many refusals the
    address had in the previous window: a flood of made-up tokens adds one row a minute per
    address, not one per request.
    """
    decision = ratelimit.check(
        f"api-refused:{ratelimit.client_address()}", *ratelimit.limit_for("api-refused")
    )
    if not decision.allowed:
        return Refusal(
            _(
                "Demasiadas solicitudes. Espere %(seconds)d segundos antes de volver a intentarlo.",
                seconds=decision.retry_after,
            ),
            retry_after=decision.retry_after,
        )
    if decision.hits == 1:
        record_now(
            "api.token_refused",
            "api_token",
            row.id if row is not None else "",
            outcome="refused",
            user_id=row.user_id if row is not None else None,
            reason="unknown" if row is None else ("revoked" if row.revoked_at else "disabled"),
            refused_in_previous_window=decision.previous_hits,
        )
    return Refusal(_("El token de acceso no es válido o fue revocado."), "invalid_token")


def _touch(token_id: int) -> None:
    """Record the token's use in a short transaction of its own, before the request's work."""
    intended = write_intended()
    db.session.commit()  # nothing pending yet: ends the read that found the token
    set_write_intent(True)
    db.session.execute(
        sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    set_write_intent(intended)
