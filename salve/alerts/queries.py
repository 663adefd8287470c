"""Reads of alerts, always within what the caller may see (``salve.auth.scope``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from salve.alerts.models import ABIERTA, OPEN, STATUSES, Alert, AlertEvidence
from salve.auth.scope import alert_access, alert_clause
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident
from salve.pagination import Page, paginate
from salve.schools.models import School, Student

#: The inbox's status filter: open alerts unless asked otherwise.
OPEN_FILTER = ""
ALL_FILTER = "todas"
#: Most severe first.
LEVEL_ORDER = {"critico": 0, "alto": 1, "medio": 2}


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """Alerts nobody acknowledged within the deadline (what escalation acts on)."""
    return sa.and_(Alert.status == ABIERTA, Alert.due_at < now)


def is_overdue(alert: Alert, now: datetime) -> bool:
    """Tell whether ``alert`` waits for acknowledgement past its deadline."""
    return alert.status == ABIERTA and alert.due_at < now


def inbox(
    user,
    *,
    level: str = "",
    status: str = OPEN_FILTER,
    school_code: str = "",
    rule_id: str = "",
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> Page:
    """Return a page of the alerts ``user`` may see: overdue first, then by level and age."""
    now = now or utcnow()
    query = (
        sa.select(Alert)
        .where(alert_clause(user))
        .options(orm.joinedload(Alert.school), orm.joinedload(Alert.assignee))
    )
    if level:
        query = query.where(Alert.level == level)
    if status in STATUSES:
        query = query.where(Alert.status == status)
    elif status != ALL_FILTER:
        query = query.where(Alert.status.in_(OPEN))
    if school_code:
        query = query.where(
            Alert.school_id.in_(sa.select(School.id).where(School.code == school_code))
        )
    if rule_id:
        query = query.where(Alert.rule_id == rule_id)
    query = query.order_by(
        sa.case((overdue_clause(now), 0), else_=1),
        sa.case(LEVEL_ORDER, value=Alert.level, else_=len(LEVEL_ORDER)),
        Alert.opened_at,
        Alert.id,
    )
    return paginate(query, page, per_page)


def alert_counts(user, now: datetime | None = None) -> dict[str, int]:
    """Return how many open alerts ``user`` may see, and how many of them are overdue."""
    now = now or utcnow()
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((overdue_clause(now), 1), else_=0)), 0),
        )
        .select_from(Alert)
        .where(alert_clause(user), Alert.status.in_(OPEN))
    ).one()
    return {"open": int(row[0] or 0), "overdue": int(row[1] or 0)}


def find_alert(user, alert_id: int) -> tuple[Alert | None, str | None]:
    """Return (alert, access level) if ``user`` may see it, else (None, None)."""
    alert = db.session.scalar(
        sa.select(Alert)
        .where(Alert.id == alert_id)
        .options(
            orm.joinedload(Alert.school),
            orm.joinedload(Alert.assignee),
            orm.selectinload(Alert.events),
            orm.selectinload(Alert.evidence),
        )
    )
    if alert is None:
        return None, None
    access = alert_access(user, alert)
    return (alert, access) if access else (None, None)


def students_by_id(ids: Iterable[int]) -> dict[int, Student]:
    """Return the students with ``ids``, by id (one query for a whole page)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = db.session.scalars(sa.select(Student).where(Student.id.in_(wanted)))
    return {student.id: student for student in rows}


def evidence_incidents(alert: Alert) -> list[Incident]:
    """Return the incidents behind ``alert``, newest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .join(AlertEvidence, AlertEvidence.incident_id == Incident.id)
            .where(AlertEvidence.alert_id == alert.id)
            .options(orm.selectinload(Incident.types), orm.joinedload(Incident.school))
            .order_by(Incident.occurred_at.desc(), Incident.id.desc())
        )
    )


def case_of(alert: Alert):
    """Return the case that attends ``alert``, if any."""
    from salve.cases.models import Case, CaseAlert

    return db.session.scalar(
        sa.select(Case)
        .join(CaseAlert, CaseAlert.case_id == Case.id)
        .where(CaseAlert.alert_id == alert.id)
    )
