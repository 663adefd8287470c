"""The TOTP second factor and its recovery codes (SECURITY.md item 7).

Gestores, supervisors, the national office and administrators see identities or the whole
country, so a password alone does not sign them in: after it, a session stays *pending* until a
code from an authenticator app (RFC 6238, 30-second steps, 6 digits) or a single-use recovery
code is accepted. A code is accepted once: the step it belongs to is stored, and a code of that
step or an earlier one is refused, so a code seen over someone's shoulder is already spent. The
step and a recovery code are spent by one conditional UPDATE each, so of several requests
posting the same code at once exactly one is accepted (SECURITY.md item 32). Secrets are stored
encrypted with ``SALVE_TOTP_KEY`` (``salve.auth.totp_keys``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from salve.audit.operations import record
from salve.auth import totp_keys
from salve.auth.models import RecoveryCode, User
from salve.db import utcnow
from salve.extensions import db

#: How many recovery codes a set holds.
RECOVERY_CODE_COUNT = 10
#: Letters and digits that cannot be mistaken for one another when copied by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: Steps either side of now that are still accepted (clock drift of the phone).
VALID_WINDOW = 1


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def _hash_recovery(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def normalise_code(code: str) -> str:
    """Return a typed code without spaces, dashes and case, as it is compared."""
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())[:32]


def secret_of(user: User) -> str | None:
    """Return the user's base32 secret, decrypted (salve.auth.totp_keys); None if none."""
    return totp_keys.unseal(user.totp_secret) if user.totp_secret else None


def begin_enrolment(user: User) -> str:
    """Give ``user`` a new, unconfirmed secret (unless one is already waiting) and return it."""
    if user.totp_secret is None or user.totp_enabled_at is not None:
        user.totp_secret = totp_keys.seal(pyotp.random_base32())
        user.totp_enabled_at = None
        user.totp_last_step = None
    return secret_of(user)


def provisioning_uri(user: User) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    issuer = current_app.config.get("TOTP_ISSUER", "SALVE")
    return _totp(secret_of(user)).provisioning_uri(name=user.username, issuer_name=issuer)


def qr_svg(user: User) -> str:
    """Return the enrolment QR code as inline SVG markup (drawn here, nothing fetched)."""
    qr = segno.make(provisioning_uri(user), error="m")
    return qr.svg_inline(scale=4, border=2, dark="#111", light="#fff", omitsize=False)


def grouped_secret(secret: str) -> str:
    """Return the secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _accept_totp(user: User, code: str, now: datetime) -> bool:
    """Check a 6-digit code against the user's secret, refusing replays; record the step."""
    digits = normalise_code(code)
    if not user.totp_secret or len(digits) != 6 or not digits.isdigit():
        return False
    secret = secret_of(user)
    if not totp_keys.is_sealed(user.totp_secret):
        user.totp_secret = totp_keys.seal(secret)  # stored before encryption: encrypted now
    totp = _totp(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return _spend_step(user, step)
    return False


def _spend_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless another request already used it or a later one.

    One conditional UPDATE: of several requests posting the same code at once, the database
    lets exactly one change the row (the others wait for its commit, then match nothing).
    """
    spent = db.session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def confirm_enrolment(user: User, code: str, *, now: datetime | None = None) -> list[str] | None:
    """Confirm the waiting secret with a first code; return the new recovery codes, or None."""
    now = now or utcnow()
    if user.totp_secret is None or user.totp_enabled_at is not None:
        return None
    if not _accept_totp(user, code, now):
        return None
    user.totp_enabled_at = now
    codes = new_recovery_codes(user, now=now)
    record("second_factor.enrol", "user", user.id, user_id=user.id)
    return codes


def new_recovery_codes(user: User, *, now: datetime | None = None) -> list[str]:
    """Replace the user's recovery codes with a fresh set and return it (shown once)."""
    now = now or utcnow()
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(raw), created_at=now))
    return codes


def verify(user: User, code: str, *, now: datetime | None = None) -> str | None:
    """Check a code typed at sign-in: "totp", "recovery" (now spent) or None when refused."""
    now = now or utcnow()
    if not user.has_second_factor:
        return None
    if _accept_totp(user, code, now):
        return "totp"
    normalised = normalise_code(code)
    if len(normalised) != 10:
        return None
    # One conditional UPDATE spends the code: of several requests posting it at once, exactly
    # one changes the row (the others wait for its commit, then match nothing).
    spent = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_recovery(normalised),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount < 1:
        return None
    record("second_factor.recovery_code", "user", user.id, user_id=user.id)
    return "recovery"


def remaining_recovery_codes(user: User) -> int:
    """Return how many unspent recovery codes the user has."""
    return db.session.scalar(
        sa.select(sa.func.count()).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )


def reset(user: User) -> None:
    """Forget the user's authenticator and recovery codes (a lost phone); they enrol again."""
    from salve.auth.sessions import end_all_sessions

    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    end_all_sessions(user.id, "reset_2fa")
    record("second_factor.reset", "user", user.id)
