"""Break the glass: grant a reasoned, time-limited look at a school's students; end it early.

A grant is given at once (emergencies cannot wait) and told to the supervision at once: the
department's supervisors, or the national level when a supervisor asks (or the department has
none). The audit log gets the grant, its reason's category and its end, never the typed reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _

from salve.alerts.operations import department_users, national_users
from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.scope import may_break_glass
from salve.breakglass import queries
from salve.breakglass.models import (
    MAX_REASON,
    MIN_REASON,
    REASONS,
    RECORD_TYPES,
    BreakGlassGrant,
)
from salve.db import utcnow
from salve.extensions import db
from salve.notifications.operations import notify
from salve.schools.models import School

#: How long a grant lasts when the configuration says nothing (SALVE_BREAK_GLASS_DURATION).
DEFAULT_DURATION = timedelta(hours=4)
#: Where the supervision reads the grants (the notices link there).
LIST_PATH = "/vidrio/"


class BreakGlassError(Exception):
    """A request to break the glass that cannot be granted, with a message for the user."""

    def __init__(self, message: str, status: int = 422, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def duration() -> timedelta:
    """Return how long a grant lasts (``BREAK_GLASS_DURATION``: a timedelta or seconds)."""
    value = current_app.config.get("BREAK_GLASS_DURATION", DEFAULT_DURATION)
    if isinstance(value, int | float):
        value = timedelta(seconds=value)
    return value


def grant_link(grant_id: int) -> str:
    """Return the supervision's list, at the grant (a path; mail makes it absolute)."""
    return f"{LIST_PATH}#permiso-{grant_id}"


def _checked_reason(category: str, text: str) -> str:
    if category not in REASONS:
        raise BreakGlassError(_("Elija el motivo de la lista."), field="reason_category")
    text = " ".join(text.split())
    if len(text) < MIN_REASON:
        raise BreakGlassError(
            _(
                "Explique el motivo con al menos %(count)d caracteres: para qué necesita los "
                "nombres.",
                count=MIN_REASON,
            ),
            field="reason_text",
        )
    if len(text) > MAX_REASON:
        raise BreakGlassError(
            _("El motivo admite hasta %(count)d caracteres.", count=MAX_REASON),
            field="reason_text",
        )
    return text


def overseers(user, school: School) -> list:
    """Return who is told of ``user``'s grant on ``school``.

    The school's department supervisors; the national level when a supervisor asks, or when the
    department has no supervisor.
    """
    if not user.has_role(R.SUPERVISOR):
        supervisors = department_users(school.department_id, R.SUPERVISOR)
        if any(u.id != user.id for u in supervisors):
            return supervisors
    return national_users()


def grant_access(
    user,
    school: School,
    category: str,
    reason: str,
    *,
    record_type: str = "",
    record_id: int | None = None,
    now: datetime | None = None,
) -> BreakGlassGrant:
    """Let ``user`` see ``school``'s students by name for a while; audit it, tell the supervision.

    A live grant of the same person on the same school is returned as it is: asking again does
    not stretch it.
    """
    if not may_break_glass(user, school):
        raise BreakGlassError(_("Su rol no permite pedir acceso a identidades."), 403)
    text = _checked_reason(category, reason)
    now = now or utcnow()
    existing = queries.live_grant(user.id, school.id, now)
    if existing is not None:
        return existing
    if record_type not in RECORD_TYPES or not record_type or record_id is None:
        record_type, record_id = "", None
    elif queries.record_school_id(record_type, record_id) != school.id:
        record_type, record_id = "", None  # a record of another school says nothing here
    grant = BreakGlassGrant(
        user_id=user.id,
        school_id=school.id,
        department_id=school.department_id,
        reason_category=category,
        reason_text=text,
        record_type=record_type,
        record_id=record_id,
        granted_at=now,
        expires_at=now + duration(),
    )
    db.session.add(grant)
    db.session.flush()
    record(
        "breakglass.grant",
        "school",
        school.code,
        user_id=user.id,
        grant=grant.id,
        reason=category,
        minutes=int(duration().total_seconds() // 60),
        record_type=record_type,
        record_id=record_id,
    )
    notify(
        overseers(user, school),
        "break_glass",
        f"breakglass:{grant.id}",
        {"school_code": school.code, "due_at": grant.expires_at.isoformat()},
        grant_link(grant.id),
        actor_id=user.id,
    )
    return grant


def end_grant(user, grant: BreakGlassGrant, now: datetime | None = None) -> bool:
    """End ``user``'s own grant now; return False when it had already ended."""
    if grant.user_id != user.id:
        raise BreakGlassError(_("Solo quien pidió el acceso puede terminarlo."), 403)
    now = now or utcnow()
    if not grant.is_live(now):
        return False
    grant.ended_at = now
    db.session.flush()
    record("breakglass.end", "school", grant.school.code, user_id=user.id, grant=grant.id)
    return True
