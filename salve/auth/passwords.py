"""Password hashing (argon2id) and the password policy of SECURITY.md item 5."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _

MIN_LENGTH = 8
MAX_LENGTH = 128

#: Local words that turn up in leaked Salvadoran and ministry passwords.
LOCAL_COMMON = frozenset(
    {
        "contraseña", "contrasena", "elsalvador", "salvador", "sansalvador", "mineducyt",
        "minedsv", "ministerio", "educacion", "escuela", "docente", "director", "maestro",
        "maestra", "profesor", "profesora", "estudiante", "colegio", "salve2026", "salve123",
        "cuscatlan", "cuscatlán", "pupusas", "bienvenido", "bienvenida", "teamo", "teamo123",
        "holahola", "qwertyuiop", "asdfghjkl", "123456789a", "password1", "12345678",
    }
)  # fmt: skip

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" parameters


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most frequent leaked passwords; loading it takes ~20 ms, once.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | LOCAL_COMMON


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether the hash was made with parameters other than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


#: A valid hash of a random string, verified for unknown users so both paths cost the same.
DUMMY_HASH = _hasher.hash("salve-timing-equaliser-2f1c9a")


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Return why ``password`` is refused, in the user's language (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("La contraseña debe tener al menos %(n)d caracteres.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("La contraseña no puede tener más de %(n)d caracteres.", n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in _common_passwords() or (username and username.lower() in lowered):
        problems.append(
            _("Esa contraseña es demasiado común o fácil de adivinar. Elija otra, por ejemplo una"
              " frase de varias palabras.")
        )  # fmt: skip
    return problems
