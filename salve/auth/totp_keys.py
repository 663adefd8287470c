"""TOTP secrets encrypted at rest, with keys kept outside the database (``SALVE_TOTP_KEY``).

A TOTP secret is worth as much as the second factor itself: whoever reads ``users.totp_secret``
(a backup, a stolen dump, a reporting role with read access) can make every code. So the column
holds a Fernet token (AES-128-CBC and HMAC-SHA256, from the ``cryptography`` package) of the
base32 secret, prefixed ``fernet:``, and the key lives in the environment, never in the database.

``SALVE_TOTP_KEY`` holds one or more Fernet keys separated by commas: the first encrypts, every
one decrypts. To rotate, put a new key first and keep the old ones after it, restart, run
``flask --app app salve totp rekey`` (every secret re-encrypted with the first key), then drop
the old keys. Without the variable, development and tests use a key derived from
``SECRET_KEY``; production refuses to start without it.

Secrets stored before encryption (plain base32) keep working: the migration that widened the
column encrypts them, and any left over are encrypted when next used and by ``rekey``.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, MultiFernet
from flask import Flask, current_app

from salve.config import ConfigurationError

#: What starts an encrypted value; a plain base32 secret can never start so.
PREFIX = "fernet:"
_EXTENSION = "salve.totp_keys"


def development_key(secret_key: str | bytes | None) -> str:
    """Return the key used without ``SALVE_TOTP_KEY``: derived from SECRET_KEY, never production.

    Put it after a new key in ``SALVE_TOTP_KEY`` to move a development database to a real key.
    """
    seed = secret_key.encode() if isinstance(secret_key, str) else (secret_key or b"")
    return base64.urlsafe_b64encode(hashlib.sha256(b"salve-totp-key\0" + seed).digest()).decode()


def parse_keys(value: str | None, secret_key: str | bytes | None) -> list[Fernet]:
    """Return the Fernet keys of ``SALVE_TOTP_KEY`` (first encrypts), or the development key."""
    if not value:
        # Development and tests only: production refuses to start without SALVE_TOTP_KEY.
        return [Fernet(development_key(secret_key))]
    keys = []
    for part in str(value).split(","):
        if not part.strip():
            continue
        try:
            keys.append(Fernet(part.strip()))
        except (ValueError, TypeError):
            raise ConfigurationError(
                "SALVE_TOTP_KEY must be Fernet keys (32 url-safe base64 bytes) separated by"
                " commas; make one with: python -c 'from cryptography.fernet import Fernet;"
                " print(Fernet.generate_key().decode())'"
            ) from None
    if not keys:
        raise ConfigurationError("SALVE_TOTP_KEY is set but holds no key")
    return keys


def init_app(app: Flask) -> None:
    """Check the configured keys and keep them; production refuses to start without them."""
    if app.config["ENV"] == "production" and not app.config.get("TOTP_KEY"):
        raise ConfigurationError(
            "SALVE_TOTP_KEY must be set in production: the key that encrypts the second factor's"
            " secrets, kept outside the database (see README, Production)"
        )
    app.extensions[_EXTENSION] = MultiFernet(
        parse_keys(app.config.get("TOTP_KEY"), app.config["SECRET_KEY"])
    )


def _box() -> MultiFernet:
    return current_app.extensions[_EXTENSION]


def is_sealed(stored: str | None) -> bool:
    """Tell whether a stored secret is encrypted (and not a plain one from before)."""
    return bool(stored) and stored.startswith(PREFIX)


def seal(secret: str) -> str:
    """Return ``secret`` encrypted with the first key, as stored in ``users.totp_secret``."""
    return PREFIX + _box().encrypt(secret.encode()).decode()


def unseal(stored: str) -> str:
    """Return the base32 secret behind a stored value (a plain one from before as it is).

    Raises ``cryptography.fernet.InvalidToken`` when no configured key opens it.
    """
    if not is_sealed(stored):
        return stored
    return _box().decrypt(stored.removeprefix(PREFIX).encode()).decode()


def rekey(stored: str) -> str:
    """Return a stored secret encrypted again with the first key (plain ones encrypted)."""
    if not is_sealed(stored):
        return seal(stored)
    return PREFIX + _box().rotate(stored.removeprefix(PREFIX).encode()).decode()
