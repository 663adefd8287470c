"""Verbs on accounts: sign in, sign out, change passwords, create and disable users."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from salve.audit.operations import record
from salve.auth import lockout
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.auth.passwords import (
    DUMMY_HASH,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from salve.auth.sessions import end_all_sessions
from salve.db import utcnow
from salve.extensions import db
from salve.geography.models import Department
from salve.schools.models import School


class AccountError(ValueError):
    """A request about an account that cannot be carried out; the message is for the user."""


@dataclass
class SignInResult:
    """The outcome of a sign-in attempt."""

    user: User | None
    is_locked: bool = False


def normalise_username(username: str) -> str:
    """Return the canonical form of a sign-in name."""
    return username.strip().lower()


def authenticate(username: str, password: str) -> SignInResult:
    """Check a sign-in attempt, counting failures per username whether or not it exists.

    The attempt is counted before the password is hashed (``salve.auth.lockout``), so
    concurrent guesses across workers never check more than the limit allows.
    """
    username = normalise_username(username)[:64]
    attempt = lockout.reserve(lockout.password_key(username))
    if not attempt.is_allowed:
        # Refuse before hashing: a locked account costs the server nothing to attack.
        record("login", outcome="refused", reason="locked")
        return SignInResult(None, is_locked=True)
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is not None and user.is_enabled:
        is_valid = verify_password(user.password_hash, password)
    else:
        verify_password(DUMMY_HASH, password)  # the same cost for unknown and disabled accounts
        is_valid = False
    if is_valid:
        if user.needs_second_factor:
            # Not signed in yet: earlier failures stay counted until the code is accepted too.
            lockout.release(attempt)
            if lockout.is_locked(lockout.code_key(user.id)):
                # Told only to whoever knows the password: the code step is locked.
                record("login", outcome="refused", reason="locked", user_id=user.id)
                return SignInResult(None, is_locked=True)
        else:
            clear_failures(user)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        record("login", "user", user.id, user_id=user.id)
        return SignInResult(user)
    record("login", outcome="failed", user_id=user.id if user else None)
    return SignInResult(None)


def reserve_code_attempt(user: User) -> lockout.Attempt:
    """Count a second-factor code of ``user`` before it is checked; refused when locked.

    Codes count apart from passwords, and a correct password does not forget them, so six
    wrong codes lock the second step even for someone who knows the password.
    """
    return lockout.reserve(lockout.code_key(user.id))


def reserve_password_attempt(user: User) -> lockout.Attempt:
    """Count a password typed again (re-authentication) before it is hashed."""
    return lockout.reserve(lockout.password_key(user.username))


def is_locked(user: User) -> bool:
    """Tell whether the user's password or second-factor step is locked after failures."""
    return lockout.is_locked(lockout.password_key(user.username)) or lockout.is_locked(
        lockout.code_key(user.id)
    )


def clear_failures(user: User) -> None:
    """Forget counted failures of passwords and codes after a full success."""
    lockout.clear(lockout.password_key(user.username), lockout.code_key(user.id))


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Replace ``user``'s password and end every session, this one included."""
    if not verify_password(user.password_hash, current_password):
        raise AccountError(_("La contraseña actual no es correcta."))
    problems = password_problems(new_password, username=user.username)
    if problems:
        raise AccountError(" ".join(problems))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_all_sessions(user.id, "password_change")
    record("password.change", "user", user.id)


def set_enabled(user: User, is_enabled: bool) -> None:
    """Enable or disable an account; disabling ends all its sessions."""
    user.is_enabled = is_enabled
    if not is_enabled:
        end_all_sessions(user.id, "disabled")
    record("user.enable" if is_enabled else "user.disable", "user", user.id)


def create_user(
    username: str,
    password: str,
    role: str,
    *,
    school_code: str | None = None,
    department_code: str | None = None,
    display_name: str = "",
    email: str = "",
    is_demo: bool = False,
    check_password: bool = True,
) -> User:
    """Create an account with one role over the scope that role needs."""
    username = normalise_username(username)
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        raise AccountError(
            _("El nombre de usuario solo puede tener letras, números, punto, guion y guion bajo.")
        )
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise AccountError(_("Ya existe un usuario «%(name)s».", name=username))
    if check_password:
        problems = password_problems(password, username=username)
        if problems:
            raise AccountError(" ".join(problems))
    assignment = build_assignment(role, school_code=school_code, department_code=department_code)
    user = User(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password),
        is_demo=is_demo,
        role_assignments=[assignment],
    )
    db.session.add(user)
    db.session.flush()
    record("user.create", "user", user.id, role=role)
    return user


def add_role(
    user: User, role: str, *, school_code: str | None = None, department_code: str | None = None
) -> RoleAssignment:
    """Grant ``user`` another role; their sessions end so the new scope applies at once."""
    assignment = build_assignment(role, school_code=school_code, department_code=department_code)
    for existing in user.role_assignments:
        if (existing.role, existing.school_id, existing.department_id) == (
            assignment.role,
            assignment.school.id if assignment.school else None,
            assignment.department.id if assignment.department else None,
        ):
            raise AccountError(_("El usuario ya tiene ese rol."))
    user.role_assignments.append(assignment)
    db.session.flush()
    end_all_sessions(user.id, "role_change")
    record("user.role_add", "user", user.id, role=role, assignment=assignment.id)
    return assignment


def remove_role(user: User, assignment_id: int, *, acting_user_id: int | None = None) -> None:
    """Take a role away from ``user``; their sessions end so the narrower scope applies."""
    assignment = next((a for a in user.role_assignments if a.id == assignment_id), None)
    if assignment is None:
        raise AccountError(_("Ese rol no pertenece a este usuario."))
    if user.id == acting_user_id and assignment.role == R.ADMIN:
        raise AccountError(_("No puede quitarse a sí mismo el rol de administración."))
    user.role_assignments.remove(assignment)
    db.session.flush()
    end_all_sessions(user.id, "role_change")
    record("user.role_remove", "user", user.id, role=assignment.role, assignment=assignment_id)


def build_assignment(
    role: str, *, school_code: str | None = None, department_code: str | None = None
) -> RoleAssignment:
    """Return a role assignment, checking that the scope fits the role."""
    if role not in R.ROLES:
        raise AccountError(_("Rol desconocido: %(role)s.", role=role))
    scope = R.ROLE_SCOPE[role]
    if scope == R.SCHOOL_SCOPE:
        if not school_code or department_code:
            raise AccountError(_("El rol %(role)s necesita una escuela (--school).", role=role))
        school = db.session.scalar(sa.select(School).where(School.code == school_code))
        if school is None:
            raise AccountError(_("No existe la escuela %(code)s.", code=school_code))
        return RoleAssignment(role=role, school=school)
    if scope == R.DEPARTMENT_SCOPE:
        if not department_code or school_code:
            raise AccountError(
                _("El rol %(role)s necesita un departamento (--department).", role=role)
            )
        department = db.session.scalar(
            sa.select(Department).where(
                sa.or_(
                    Department.code == department_code.zfill(2), Department.name == department_code
                )
            )
        )
        if department is None:
            raise AccountError(_("No existe el departamento %(code)s.", code=department_code))
        return RoleAssignment(role=role, department=department)
    if school_code or department_code:
        raise AccountError(
            _("El rol %(role)s es nacional: no lleva escuela ni departamento.", role=role)
        )
    return RoleAssignment(role=role)
