"""Reads of schools and students, always within the caller's scope."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from salve.auth.scope import visible_schools, visible_students
from salve.extensions import db
from salve.geography.models import Department, Municipality
from salve.pagination import Page, paginate
from salve.schools.models import School, Student


def school_list(
    user, *, search: str = "", department_code: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """Return the schools ``user`` may see, filtered by name/code and department."""
    query = visible_schools(user).options(
        orm.joinedload(School.district), orm.joinedload(School.department)
    )
    if search:
        pattern = f"%{search.strip()[:80]}%"
        query = query.where(sa.or_(School.name.ilike(pattern), School.code.like(pattern)))
    if department_code:
        query = query.where(
            School.department_id.in_(
                sa.select(Department.id).where(Department.code == department_code)
            )
        )
    query = query.order_by(School.name, School.code)
    return paginate(query, page, per_page)


def find_visible_school(user, code: str) -> School | None:
    """Return the school with ``code`` if ``user`` may see it."""
    return db.session.scalar(visible_schools(user).where(School.code == code))


def school_location(school: School) -> tuple[str, str, str]:
    """Return (department, municipality, district) names of ``school``."""
    district = school.district
    municipality: Municipality = district.municipality
    return municipality.department.name, municipality.name, district.name


def student_roll(
    user, school: School, *, search: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """Return a page of ``school``'s active students that ``user`` may see by name."""
    query = visible_students(user).where(Student.school_id == school.id, Student.is_active)
    if search:
        pattern = f"%{search.strip()[:80]}%"
        query = query.where(
            sa.or_(
                Student.nie.like(pattern),
                Student.given_names.ilike(pattern),
                Student.family_names.ilike(pattern),
            )
        )
    query = query.order_by(
        Student.grade, Student.section, Student.family_names, Student.given_names
    )
    return paginate(query, page, per_page)


def roll_summary(school: School) -> list[tuple[str, str, int]]:
    """Return (sex, grade, count) rows of the active roll: figures without names."""
    return db.session.execute(
        sa.select(Student.grade, Student.sex, sa.func.count())
        .where(Student.school_id == school.id, Student.is_active)
        .group_by(Student.grade, Student.sex)
        .order_by(Student.grade, Student.sex)
    ).all()
