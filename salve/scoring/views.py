"""Risk pages: a school's and a student's score, explained, with the incidents and the history."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import orm

from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.scope import (
    RISK_ROLES,
    can_view_school_risk,
    can_view_student_risk,
    child_identities,
    require,
    roles_required,
)
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import current_language
from salve.incidents import queries as incident_queries
from salve.schools.models import School, Student
from salve.scoring import presenting
from salve.scoring.queries import current_risk, risk_history, rules_in_force
from salve.scoring.rules import RulesError, RuleSet
from salve.web import writes_on_read

bp = Blueprint("risk", __name__, url_prefix="/riesgo")

#: Roles that may ever see a student's score; which students, ``can_view_student_risk`` decides.
STUDENT_RISK_ROLES = (R.DIRECTOR, R.GESTOR, R.SUPERVISOR)


@bp.app_template_global()
def may_see_school_risk(school: School) -> bool:
    """Tell whether the signed-in user may open ``school``'s risk page."""
    return can_view_school_risk(current_user, school)


@bp.app_template_global()
def may_see_student_risk(school: School) -> bool:
    """Tell whether the signed-in user may open the risk page of a student of ``school``."""
    return can_view_student_risk(current_user, school)


def _rules() -> RuleSet | None:
    """Return the rules in force, or None when the file cannot be read (scores still show)."""
    try:
        return rules_in_force()
    except RulesError:
        return None


def _history(entity_type: str, entity_id: int, rules: RuleSet | None):
    history = risk_history(entity_type, entity_id)
    chart = presenting.history_chart(history, rules.levels if rules else {}, utcnow())
    return list(reversed(history)), chart


@bp.route("/escuelas/<code>")
@roles_required(*sorted(RISK_ROLES))
def school(code: str):
    """Show a school's risk score explained, its recent incidents and its history."""
    school = db.session.scalar(sa.select(School).where(School.code == code[:20]))
    require(school is not None and can_view_school_risk(current_user, school))
    rules = _rules()
    days = presenting.evidence_days(rules, "school")
    incidents, total = incident_queries.incidents_of_school(
        school.id, utcnow() - timedelta(days=days), presenting.SCHOOL_INCIDENT_LIMIT
    )
    history, chart = _history("school", school.id, rules)
    return render_template(
        "scoring/school.html",
        school=school,
        risk=current_risk("school", school.id, current_language()),
        days=days,
        incidents=presenting.incident_rows(current_user, incidents),
        incident_total=total,
        history=history,
        chart=chart,
        presenting=presenting,
    )


@bp.route("/estudiantes/<nie>")
@roles_required(*STUDENT_RISK_ROLES)
@writes_on_read
def student(nie: str):
    """Show a student's risk score explained, the incidents behind it and its history; audited."""
    student = db.session.scalar(
        sa.select(Student).where(Student.nie == nie[:20]).options(orm.joinedload(Student.school))
    )
    require(student is not None and can_view_student_risk(current_user, student.school))
    rules = _rules()
    days = presenting.evidence_days(rules, "student")
    incidents = incident_queries.incidents_of_student(student.id, utcnow() - timedelta(days=days))
    risk = current_risk("student", student.id, current_language())
    identities = child_identities(current_user, student)
    history, chart = _history("student", student.id, rules)
    record(
        "student_risk.view",
        "student",
        student.id,
        level=risk.level,
        channel="web",
        **identities.audit,
        **({"students": [student.id]} if identities.is_shown else {}),
    )
    return render_template(
        "scoring/student.html",
        student=student,
        school=student.school,
        show_names=identities.is_shown,
        identities=identities,
        risk=risk,
        days=days,
        incidents=presenting.incident_rows(current_user, incidents, student_id=student.id),
        history=history,
        chart=chart,
        presenting=presenting,
    )
