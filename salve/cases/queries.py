"""Reads of cases, always within what the caller may see (``salve.auth.scope``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from salve.auth.scope import can_view_case, case_clause
from salve.cases.models import CERRADO, CIERRE_SOLICITADO, STATUSES, Case, CaseAlert, CaseStep
from salve.extensions import db
from salve.pagination import Page, paginate

#: The list's status filter: cases still being worked unless asked otherwise.
ACTIVE_FILTER = ""
ALL_FILTER = "todos"


def case_list(user, *, status: str = ACTIVE_FILTER, page: int = 1, per_page: int = 50) -> Page:
    """Return a page of the cases ``user`` may see: closure requests first, then newest."""
    query = (
        sa.select(Case)
        .where(case_clause(user))
        .options(orm.joinedload(Case.school), orm.joinedload(Case.handler))
    )
    if status in STATUSES:
        query = query.where(Case.status == status)
    elif status != ALL_FILTER:
        query = query.where(Case.status != CERRADO)
    query = query.order_by(
        sa.case((Case.status == CIERRE_SOLICITADO, 0), else_=1),
        Case.opened_at.desc(),
        Case.id.desc(),
    )
    return paginate(query, page, per_page)


def next_steps_due(case_ids: Iterable[int]) -> dict[int, datetime]:
    """Return, per case, when its earliest pending protocol step is due."""
    wanted = list(case_ids)
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(CaseStep.case_id, sa.func.min(CaseStep.due_at))
        .where(CaseStep.case_id.in_(wanted), CaseStep.done_at.is_(None))
        .group_by(CaseStep.case_id)
    ).all()
    return {case_id: due for case_id, due in rows}


def case_counts(user) -> dict[str, int]:
    """Return how many cases ``user`` may see are being worked, and how many await closure."""
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(
                sa.func.sum(sa.case((Case.status == CIERRE_SOLICITADO, 1), else_=0)), 0
            ),
        )
        .select_from(Case)
        .where(case_clause(user), Case.status != CERRADO)
    ).one()
    return {"active": int(row[0] or 0), "closure_requested": int(row[1] or 0)}


def find_case(user, case_id: int) -> Case | None:
    """Return the case if ``user`` may see it, else None."""
    case = db.session.scalar(
        sa.select(Case)
        .where(Case.id == case_id)
        .options(
            orm.joinedload(Case.school),
            orm.joinedload(Case.handler),
            orm.selectinload(Case.alerts).joinedload(CaseAlert.alert),
            orm.selectinload(Case.events),
            orm.selectinload(Case.follow_ups),
            orm.selectinload(Case.referrals),
            orm.selectinload(Case.steps),
        )
    )
    if case is None or not can_view_case(user, case):
        return None
    return case
