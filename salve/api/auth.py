"""Bearer tokens: create, revoke, list, and authenticate an API request with one.

A token lives 90 days unless created for fewer or more (up to a year), and has a scope: ``read``
(the default) answers only GET; ``read-write`` may also file reports and move alerts.

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
from salve.api.models import DEFAULT_LIFETIME, SCOPES, ApiToken
from salve.audit.operations import record, record_now
from salve.auth.models import User
from salve.db import set_write_intent, utcnow, write_intended
from salve.extensions import db, login_manager

#: last_used_at is written at most this often, so reads do not all turn into writes.
TOUCH_INTERVAL = timedelta(seconds=60)
#: Longer "tokens" are not ours; refuse them without hashing megabytes.
MAX_TOKEN_LENGTH = 200
#: The longest life a token may be given, in days: a token is a password that never changes.
MAX_LIFETIME_DAYS = 365
#: Methods a ``read`` token may use; any other changes something.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def create_token(
    username: str, name: str = "", *, scope: str = "read", days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token acting as ``username``; return (row, token). Only the hash is kept.

    It lives ``days`` days (90 by default) and may only read unless ``scope`` is read-write.
    """
    user = _user_named(username)
    if not user.is_enabled:
        raise TokenError(f"La cuenta «{user.username}» está desactivada.")
    if scope not in SCOPES:
        raise TokenError(f"El alcance debe ser «read» o «read-write», no «{scope}».")
    lifetime = DEFAULT_LIFETIME if days is None else timedelta(days=days)
    if not timedelta(days=1) <= lifetime <= timedelta(days=MAX_LIFETIME_DAYS):
        raise TokenError(f"La duración debe ser de 1 a {MAX_LIFETIME_DAYS} días, no {days}.")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        name=name.strip()[:80],
        created_at=now,
        expires_at=now + lifetime,
        scope=scope,
    )
    db.session.add(row)
    db.session.flush()
    record(
        "api_token.create",
        "api_token",
        row.id,
        for_user=user.id,
        name=row.name,
        scope=scope,
        days=lifetime.days,
    )
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


def list_tokens(username: str | None = None) -> list[ApiToken]:
    """Return every token, or ``username``'s, oldest first, with their accounts."""
    query = sa.select(ApiToken).options(orm.joinedload(ApiToken.user)).order_by(ApiToken.id)
    if username is not None:
        query = query.where(ApiToken.user_id == _user_named(username).id)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Refusal:
    """Why a request was not authenticated."""

    message: str
    #: The ``error`` parameter of ``WWW-Authenticate`` (RFC 6750), "" when no token was sent.
    error: str = ""
    #: 401 (no usable token) or 403 (a live token whose scope does not cover the request).
    status: int = 401
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
    refusal = _beyond_lifetime_or_scope(row)
    if refusal is not None:
        return refusal
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


def _beyond_lifetime_or_scope(row: ApiToken) -> Refusal | None:
    """Refuse (and audit) an expired token, or a read token on a request that writes."""
    if row.expires_at <= utcnow():
        reason = "expired"
        message = _("El token de acceso caducó; pida uno nuevo a un administrador.")
        refusal = Refusal(message, "invalid_token")
    elif not row.may_write and request.method not in READ_METHODS:
        reason = "read_only"
        message = _(
            "Este token es de solo lectura: no puede registrar ni cambiar nada. "
            "Pida a un administrador un token de lectura y escritura."
        )
        refusal = Refusal(message, "insufficient_scope", status=403)
    else:
        return None
    record_now(
        "api.token_refused",
        "api_token",
        row.id,
        outcome="refused",
        user_id=row.user_id,
        reason=reason,
    )
    return refusal


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
