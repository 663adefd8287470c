"""Reads of incidents, always within what the caller may see (``salve.auth.scope``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from salve.auth.scope import incident_access, incident_clause
from salve.extensions import db
from salve.incidents.models import Incident, IncidentDraft, IncidentParty, IncidentType
from salve.pagination import Page, paginate
from salve.schools.models import School


def incident_list(
    user,
    *,
    school_code: str = "",
    status: str = "",
    type_code: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Return a page of the reports ``user`` may list, newest first."""
    query = (
        sa.select(Incident)
        .where(incident_clause(user))
        .options(orm.selectinload(Incident.types), orm.joinedload(Incident.school))
    )
    if school_code:
        query = query.where(
            Incident.school_id.in_(sa.select(School.id).where(School.code == school_code))
        )
    if status:
        query = query.where(Incident.status == status)
    if type_code:
        query = query.where(
            Incident.id.in_(
                sa.select(IncidentType.incident_id).where(IncidentType.type_code == type_code)
            )
        )
    if since:
        query = query.where(Incident.occurred_at >= since)
    if until:
        query = query.where(Incident.occurred_at < until)
    query = query.order_by(Incident.occurred_at.desc(), Incident.id.desc())
    return paginate(query, page, per_page)


def find_incident(user, incident_id: int) -> tuple[Incident | None, str | None]:
    """Return (incident, access level) if ``user`` may see it, else (None, None)."""
    incident = db.session.scalar(
        sa.select(Incident)
        .where(Incident.id == incident_id)
        .options(
            orm.selectinload(Incident.types),
            orm.selectinload(Incident.parties).joinedload(IncidentParty.student),
            orm.selectinload(Incident.amendments),
        )
    )
    if incident is None:
        return None, None
    access = incident_access(user, incident)
    return (incident, access) if access else (None, None)


def drafts_of(user) -> list[IncidentDraft]:
    """Return the user's drafts, newest first."""
    return list(
        db.session.scalars(
            sa.select(IncidentDraft)
            .where(IncidentDraft.user_id == user.id)
            .order_by(IncidentDraft.updated_at.desc())
        )
    )


def find_draft(user, key: str) -> IncidentDraft | None:
    """Return the user's draft with ``key``."""
    return db.session.scalar(
        sa.select(IncidentDraft).where(
            IncidentDraft.user_id == user.id, IncidentDraft.idempotency_key == key[:64]
        )
    )


def _counting_since(since: datetime) -> sa.ColumnElement[bool]:
    """Reports that a risk score may count: since ``since`` and not closed as unfounded."""
    return sa.and_(Incident.occurred_at >= since, Incident.status != "infundado")


def incidents_of_student(student_id: int, since: datetime) -> list[Incident]:
    """Return the counting reports since ``since`` naming a student as a party, newest first.

    Access is not decided here: callers show each report as ``incident_access`` allows.
    """
    named = sa.select(IncidentParty.incident_id).where(IncidentParty.student_id == student_id)
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.id.in_(named), _counting_since(since))
            .options(orm.selectinload(Incident.types), orm.selectinload(Incident.parties))
            .order_by(Incident.occurred_at.desc(), Incident.id.desc())
        )
    )


def incidents_of_school(school_id: int, since: datetime, limit: int) -> tuple[list[Incident], int]:
    """Return a school's newest ``limit`` counting reports since ``since``, and their total."""
    where = sa.and_(Incident.school_id == school_id, _counting_since(since))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(where))
    rows = db.session.scalars(
        sa.select(Incident)
        .where(where)
        .options(orm.selectinload(Incident.types))
        .order_by(Incident.occurred_at.desc(), Incident.id.desc())
        .limit(limit)
    )
    return list(rows), total or 0
