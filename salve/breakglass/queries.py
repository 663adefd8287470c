"""Reads of break-the-glass grants: the one that is live now, and the supervision's list."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from salve.breakglass.models import BreakGlassGrant
from salve.db import utcnow
from salve.extensions import db
from salve.pagination import Page, paginate

#: How far back the supervision's list goes.
RECENT_DAYS = 30


def live_grant(user_id: int, school_id: int, now: datetime | None = None) -> BreakGlassGrant | None:
    """Return ``user_id``'s grant on ``school_id`` that is live at ``now``, or None."""
    now = now or utcnow()
    return db.session.scalar(
        sa.select(BreakGlassGrant)
        .where(
            BreakGlassGrant.user_id == user_id,
            BreakGlassGrant.school_id == school_id,
            BreakGlassGrant.expires_at > now,
            BreakGlassGrant.ended_at.is_(None),
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    )


def recent_grants(
    department_ids: frozenset[int] | None,
    *,
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> Page:
    """Return a page of the grants of the last ``RECENT_DAYS`` days, newest first.

    ``department_ids`` None means every department (the national level).
    """
    now = now or utcnow()
    query = (
        sa.select(BreakGlassGrant)
        .where(BreakGlassGrant.granted_at >= now - timedelta(days=RECENT_DAYS))
        .options(orm.joinedload(BreakGlassGrant.user), orm.joinedload(BreakGlassGrant.school))
        .order_by(BreakGlassGrant.granted_at.desc(), BreakGlassGrant.id.desc())
    )
    if department_ids is not None:
        query = query.where(BreakGlassGrant.department_id.in_(department_ids))
    return paginate(query, page, per_page)


def record_school_id(record_type: str, record_id: int) -> int | None:
    """Return the school of the student, alert or incident a grant was asked from, or None."""
    from salve.alerts.models import Alert
    from salve.incidents.models import Incident
    from salve.schools.models import Student

    model = {"student": Student, "alert": Alert, "incident": Incident}.get(record_type)
    if model is None:
        return None
    return db.session.scalar(sa.select(model.school_id).where(model.id == record_id))
