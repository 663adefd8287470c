"""Accounts, their role assignments and their server-side sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.roles import ROLE_SCOPE, ROLES, SECOND_FACTOR_ROLES
from salve.db import TimestampMixin
from salve.extensions import db
from salve.geography.models import Department
from salve.schools.models import School


class User(UserMixin, TimestampMixin, db.Model):
    """A person who signs in to SALVE."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Sign-in name, lower case, unique.
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Name shown in the interface and in the audit log viewer.
    display_name: Mapped[str] = mapped_column(sa.String(120), default="")
    #: Address for notifications; may be empty.
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: argon2id hash of the password.
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    #: Interface language, "es_SV" or "en".
    language: Mapped[str] = mapped_column(sa.String(8), default="es_SV")
    #: False when an administrator disabled the account; every session ends with it.
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: True for the accounts created by ``salve demo``; production refuses to start with them.
    is_demo: Mapped[bool] = mapped_column(default=False)
    #: Last successful sign-in.
    last_login_at: Mapped[datetime | None] = mapped_column()
    #: Last password change; sessions begun before it are void.
    password_changed_at: Mapped[datetime | None] = mapped_column()
    #: TOTP secret, encrypted with SALVE_TOTP_KEY (salve.auth.totp_keys; plain base32 before
    #: that); set when enrolment begins, trusted once ``totp_enabled_at`` is set.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    #: When the user confirmed an authenticator app with a first code.
    totp_enabled_at: Mapped[datetime | None] = mapped_column()
    #: The 30-second step of the last accepted code: a code is accepted once (no replay).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    role_assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleAssignment.id"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login's name for "may sign in"
        return self.is_enabled

    @property
    def roles(self) -> set[str]:
        """Return the set of role codes assigned to the user."""
        return {assignment.role for assignment in self.role_assignments}

    @property
    def primary_role(self) -> str | None:
        """Return the role the home page and navigation are built for."""
        return self.role_assignments[0].role if self.role_assignments else None

    def has_role(self, *roles: str) -> bool:
        """Tell whether the user holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    @property
    def needs_second_factor(self) -> bool:
        """Tell whether signing in takes a TOTP code too (SECURITY.md item 7)."""
        return bool(self.roles & SECOND_FACTOR_ROLES)

    @property
    def has_second_factor(self) -> bool:
        """Tell whether an authenticator app is enrolled and confirmed."""
        return bool(self.totp_secret and self.totp_enabled_at)

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class RoleAssignment(db.Model):
    """A role granted to a user over a school, a department or the whole nation."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
        sa.CheckConstraint(
            "(role IN ('docente', 'director') AND school_id IS NOT NULL AND department_id IS NULL)"
            " OR (role IN ('gestor', 'supervisor', 'departamental')"
            " AND department_id IS NOT NULL AND school_id IS NULL)"
            " OR (role IN ('nacional', 'admin') AND school_id IS NULL AND department_id IS NULL)",
            name="scope_matches_role",
        ),
        sa.UniqueConstraint("user_id", "role", "school_id", "department_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The account holding the role.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: One of ``salve.auth.roles.ROLES``.
    role: Mapped[str] = mapped_column(sa.String(16))
    #: The school, for school roles.
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schools.id"), index=True)
    #: The department, for departmental roles.
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)

    user: Mapped[User] = relationship(back_populates="role_assignments")
    school: Mapped[School | None] = relationship()
    department: Mapped[Department | None] = relationship()

    @property
    def scope_kind(self) -> str:
        """Return "school", "department" or "nation"."""
        return ROLE_SCOPE[self.role]

    def __repr__(self) -> str:
        return f"<RoleAssignment {self.role} user={self.user_id}>"


class AuthSession(db.Model):
    """A signed-in session. The cookie carries only a random token whose hash is stored here."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the session token held in the cookie.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The signed-in account.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: When the user signed in.
    created_at: Mapped[datetime] = mapped_column()
    #: Last request seen (updated at most once a minute).
    last_seen_at: Mapped[datetime] = mapped_column()
    #: When the session ended (logout, password change, disabling, timeout).
    ended_at: Mapped[datetime | None] = mapped_column()
    #: Why it ended: "logout", "password_change", "disabled", "idle", "expired".
    end_reason: Mapped[str | None] = mapped_column(sa.String(20))
    #: Address the sign-in came from.
    ip_address: Mapped[str] = mapped_column(sa.String(45), default="")
    #: When the TOTP code (or a recovery code) was accepted; None while it is still owed.
    second_factor_at: Mapped[datetime | None] = mapped_column()
    #: When the user last confirmed their password (and code) for an export or a role change.
    reauthenticated_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()

    @property
    def is_pending(self) -> bool:
        """Tell whether the session still owes its second factor (and so signs nobody in)."""
        return self.second_factor_at is None and self.user.needs_second_factor

    def __repr__(self) -> str:
        return f"<AuthSession {self.id} user={self.user_id}>"


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app when it is lost."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The owner.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the normalised code; the code itself is shown once and never stored.
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    #: When the set it belongs to was made.
    created_at: Mapped[datetime] = mapped_column()
    #: When it was spent; a spent code is refused.
    used_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id}>"


class LoginThrottle(db.Model):
    """Failed sign-ins per username, known or not, so lockout reveals nothing and spans workers.

    Changed only by the atomic statements of ``salve.auth.lockout``.
    """

    __tablename__ = "login_throttles"

    #: What is counted: wrong passwords for a sign-in name ("user:docente") or wrong
    #: second-factor codes for an account ("code:42").
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    #: Failures since the last success or lock.
    failure_count: Mapped[int] = mapped_column(default=0)
    #: When the first of those failures happened.
    first_failure_at: Mapped[datetime] = mapped_column()
    #: Sign-in is refused without checking the password until then.
    locked_until: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<LoginThrottle {self.failure_count}>"
