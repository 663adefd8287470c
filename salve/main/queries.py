"""What each role's home page shows, computed within the user's scope."""

from __future__ import annotations

import sqlalchemy as sa

from salve.auth.scope import school_clause, scope_for
from salve.extensions import db
from salve.geography.models import Department
from salve.schools.models import School, Student


def school_home(user) -> dict:
    """Return the school of a docente or director with its roll figures."""
    scope = scope_for(user)
    schools = db.session.scalars(
        sa.select(School).where(school_clause(scope)).order_by(School.name)
    ).all()
    counts = dict(
        db.session.execute(
            sa.select(Student.school_id, sa.func.count())
            .where(Student.school_id.in_([s.id for s in schools]), Student.is_active)
            .group_by(Student.school_id)
        ).all()
    )
    return {"schools": schools, "student_counts": counts}


def department_figures(clause) -> list[dict]:
    """Return schools and enrolment per department, for departments matching ``clause``."""
    rows = db.session.execute(
        sa.select(
            Department.code,
            Department.name,
            sa.func.count(School.id),
            sa.func.coalesce(sa.func.sum(School.enrolment_female + School.enrolment_male), 0),
        )
        .outerjoin(School, sa.and_(School.department_id == Department.id, School.is_active))
        .where(clause)
        .group_by(Department.id, Department.code, Department.name)
        .order_by(Department.code)
    ).all()
    return [
        {"code": code, "name": name, "schools": schools, "enrolment": int(enrolment)}
        for code, name, schools, enrolment in rows
    ]


def department_home(user) -> dict:
    """Return the figures of the departments a departmental role covers."""
    scope = scope_for(user)
    return {"departments": department_figures(Department.id.in_(scope.department_ids))}


def national_home(user) -> dict:
    """Return the figures of every department."""
    departments = department_figures(sa.true())
    return {
        "departments": departments,
        "total_schools": sum(d["schools"] for d in departments),
        "total_enrolment": sum(d["enrolment"] for d in departments),
    }
