"""Who may see what: the one place where scope and role decide access.

Every view and query that returns schools, students or records filters through this module.
A user's scope is the union of their role assignments: a set of schools, a set of departments,
or the whole nation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user, login_required

from salve.audit.operations import record_now
from salve.auth import roles as R
from salve.schools.models import School, Student


@dataclass(frozen=True)
class Scope:
    """What a user's role assignments reach."""

    roles: frozenset[str]
    school_ids: frozenset[int]
    department_ids: frozenset[int]
    is_national: bool

    @property
    def is_empty(self) -> bool:
        """Tell whether the user reaches nothing at all."""
        return not (self.is_national or self.school_ids or self.department_ids)


#: Roles whose holders may see the identities of students of the schools in their scope.
#: Case handlers get identities through their assigned cases, not through scope.
IDENTITY_ROLES = frozenset({R.DOCENTE, R.DIRECTOR})


def scope_for(user) -> Scope:
    """Return the scope of ``user`` (an empty scope for anonymous users)."""
    if not getattr(user, "is_authenticated", False):
        return Scope(frozenset(), frozenset(), frozenset(), False)
    assignments = user.role_assignments
    return Scope(
        roles=frozenset(a.role for a in assignments),
        school_ids=frozenset(a.school_id for a in assignments if a.school_id is not None),
        department_ids=frozenset(
            a.department_id for a in assignments if a.department_id is not None
        ),
        is_national=any(R.ROLE_SCOPE[a.role] == R.NATION_SCOPE for a in assignments),
    )


def school_clause(scope: Scope) -> sa.ColumnElement[bool]:
    """Return a WHERE clause on ``School`` limited to the schools ``scope`` reaches."""
    if scope.is_national:
        return sa.true()
    clauses = []
    if scope.school_ids:
        clauses.append(School.id.in_(scope.school_ids))
    if scope.department_ids:
        clauses.append(School.department_id.in_(scope.department_ids))
    return sa.or_(*clauses) if clauses else sa.false()


def visible_schools(user) -> sa.Select:
    """Return a query of the schools ``user`` may see at school level."""
    return sa.select(School).where(school_clause(scope_for(user)))


def can_view_school(user, school: School) -> bool:
    """Tell whether ``user`` may see ``school``'s page and school-level figures."""
    scope = scope_for(user)
    return (
        scope.is_national
        or school.id in scope.school_ids
        or school.department_id in scope.department_ids
    )


def identity_school_ids(user) -> frozenset[int]:
    """Return the schools whose students ``user`` may see by name."""
    scope = scope_for(user)
    if not scope.roles & IDENTITY_ROLES:
        return frozenset()
    return frozenset(
        a.school_id for a in user.role_assignments if a.role in IDENTITY_ROLES and a.school_id
    )


def can_view_student_identities(user, school: School) -> bool:
    """Tell whether ``user`` may see the names of ``school``'s students."""
    return school.id in identity_school_ids(user)


def can_list_students(user, school: School) -> bool:
    """Tell whether ``user`` may list ``school``'s roll by name, on the web or through the API.

    The school's own staff (docente, director) only, the same on both: a case handler finds a
    child by NIE on the risk page or its API, which names the child only to whoever handles it.
    """
    return getattr(user, "is_authenticated", False) and can_view_student_identities(user, school)


#: Roles that see risk scores: never teachers (a score is a prompt for review, and a label on a
#: child in the staff room is harm), never the system administrator.
RISK_ROLES = frozenset({R.DIRECTOR, R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL, R.NACIONAL})
#: Roles that see a student's risk score somewhere (``can_view_student_risk`` says where).
STUDENT_RISK_ROLES = frozenset({R.DIRECTOR, R.GESTOR, R.SUPERVISOR})


def can_view_school_risk(user, school: School) -> bool:
    """Tell whether ``user`` may see ``school``'s risk score: its principal and the ministry."""
    if not getattr(user, "is_authenticated", False):
        return False
    return any(
        a.role in RISK_ROLES
        and (
            R.ROLE_SCOPE[a.role] == R.NATION_SCOPE
            or a.school_id == school.id
            or a.department_id == school.department_id
        )
        for a in user.role_assignments
    )


def can_view_student_risk(user, school: School) -> bool:
    """Tell whether ``user`` may see the risk score of a student of ``school``.

    The school's principal, and the case handlers (gestor, supervisor) of its department. Regional
    and national analysts see schools, not children. Names still follow
    ``can_view_student_identities``: a case handler sees the NIE, not the name.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    return any(
        (a.role == R.DIRECTOR and a.school_id == school.id)
        or (a.role in (R.GESTOR, R.SUPERVISOR) and a.department_id == school.department_id)
        for a in user.role_assignments
    )


def visible_students(user) -> sa.Select:
    """Return a query of the students ``user`` may see by name."""
    school_ids = identity_school_ids(user)
    if not school_ids:
        return sa.select(Student).where(sa.false())
    return sa.select(Student).where(Student.school_id.in_(school_ids))


def roles_required(*allowed: str) -> Callable:
    """Restrict a view to signed-in users holding one of ``allowed`` roles (else 403)."""
    unknown = set(allowed) - set(R.ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*allowed):
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(allowed)
        return login_required(wrapped)

    return decorator


def require(condition: bool) -> None:
    """Refuse the request with 404 unless ``condition`` holds (do not confirm what exists).

    The refusal is audited: a 404 here may be someone probing another school's records.
    """
    if not condition:
        record_now(
            "access.refused", "path", request.path[:64], outcome="refused", method=request.method
        )
        abort(404)


# --- Incidents --------------------------------------------------------------------------------
#
# A principal sees every report of the school in full. A teacher sees the school's reports in
# summary and their own in full; reports naming a staff member as aggressor are hidden from
# other teachers, protecting both the child and the accused. Ministry case handlers see their
# department's reports in summary; identities reach them through assigned cases.

FULL = "full"
SUMMARY = "summary"


def _school_ids_for(user, *roles: str) -> frozenset[int]:
    return frozenset(a.school_id for a in user.role_assignments if a.role in roles and a.school_id)


def _department_ids_for(user, *roles: str) -> frozenset[int]:
    return frozenset(
        a.department_id for a in user.role_assignments if a.role in roles and a.department_id
    )


def incident_clause(user) -> sa.ColumnElement[bool]:
    """Return a WHERE clause on ``Incident`` limited to the reports ``user`` may list."""
    from salve.incidents.models import Incident

    if not getattr(user, "is_authenticated", False):
        return sa.false()
    clauses = []
    principal_schools = _school_ids_for(user, R.DIRECTOR)
    if principal_schools:
        clauses.append(Incident.school_id.in_(principal_schools))
    teacher_schools = _school_ids_for(user, R.DOCENTE) - principal_schools
    if teacher_schools:
        clauses.append(
            sa.and_(
                Incident.school_id.in_(teacher_schools),
                sa.or_(Incident.reporter_id == user.id, sa.not_(Incident.names_staff_aggressor)),
            )
        )
    departments = _department_ids_for(user, R.GESTOR, R.SUPERVISOR)
    if departments:
        clauses.append(
            Incident.school_id.in_(
                sa.select(School.id).where(School.department_id.in_(departments))
            )
        )
    return sa.or_(*clauses) if clauses else sa.false()


def incident_access(user, incident) -> str | None:
    """Return how much of ``incident`` ``user`` may see: FULL, SUMMARY or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    if incident.school_id in _school_ids_for(user, R.DIRECTOR):
        return FULL
    if incident.school_id in _school_ids_for(user, R.DOCENTE):
        if incident.reporter_id == user.id:
            return FULL
        return None if incident.names_staff_aggressor else SUMMARY
    if incident.school.department_id in _department_ids_for(user, R.GESTOR, R.SUPERVISOR):
        return SUMMARY
    return None


# --- Alerts and cases -------------------------------------------------------------------------
#
# A case handler (gestor) sees the alerts and cases assigned to them, with identities; the
# department's supervisors see all of the department's; national analysts see, in summary, the
# alerts escalated to the national level. Nobody else sees alerts.


def alert_clause(user) -> sa.ColumnElement[bool]:
    """Return a WHERE clause on ``Alert`` limited to the alerts ``user`` may list."""
    from salve.alerts.models import Alert

    if not getattr(user, "is_authenticated", False):
        return sa.false()
    clauses = []
    if user.has_role(R.GESTOR):
        clauses.append(Alert.assignee_id == user.id)
    departments = _department_ids_for(user, R.SUPERVISOR)
    if departments:
        clauses.append(Alert.department_id.in_(departments))
    if user.has_role(R.NACIONAL):
        clauses.append(Alert.escalation >= 2)
    return sa.or_(*clauses) if clauses else sa.false()


def alert_access(user, alert) -> str | None:
    """Return how much of ``alert`` ``user`` may see: FULL (with identities), SUMMARY or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    if alert.assignee_id == user.id and user.has_role(R.GESTOR):
        return FULL
    if alert.department_id in _department_ids_for(user, R.SUPERVISOR):
        return FULL
    if user.has_role(R.NACIONAL) and alert.escalation >= 2:
        return SUMMARY
    return None


def case_clause(user) -> sa.ColumnElement[bool]:
    """Return a WHERE clause on ``Case`` limited to the cases ``user`` may list."""
    from salve.cases.models import Case

    if not getattr(user, "is_authenticated", False):
        return sa.false()
    clauses = []
    if user.has_role(R.GESTOR):
        clauses.append(Case.handler_id == user.id)
    departments = _department_ids_for(user, R.SUPERVISOR)
    if departments:
        clauses.append(Case.department_id.in_(departments))
    return sa.or_(*clauses) if clauses else sa.false()


def can_view_case(user, case) -> bool:
    """The case's handler and the department's supervisors see a case, with identities."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (case.handler_id == user.id and user.has_role(R.GESTOR)) or (
        case.department_id in _department_ids_for(user, R.SUPERVISOR)
    )


# --- Regional and national views ----------------------------------------------------------------

#: Roles that see a department's school-level figures (never a student's name).
REGIONAL_ROLES = frozenset({R.DEPARTAMENTAL, R.SUPERVISOR, R.NACIONAL})


def regional_department_ids(user) -> frozenset[int] | None:
    """The departments whose school lists ``user`` may see; None means every department."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    if user.has_role(R.NACIONAL):
        return None
    return _department_ids_for(user, R.DEPARTAMENTAL, R.SUPERVISOR)


def can_view_department(user, department_id: int) -> bool:
    """Tell whether ``user`` may see ``department_id``'s ranked list and school analytics."""
    departments = regional_department_ids(user)
    return departments is None or department_id in departments


# --- Break the glass ----------------------------------------------------------------------------
#
# Someone outside a record's scope who must see a child's name asks for it with a stated reason
# (salve.breakglass): a grant on one school, for a few hours, audited and reported to the
# supervision. Never school staff (they have their own school), never the system administrator.
# A grant only shows names on pages the user may already open; it never opens a record, and the
# JSON API keeps the strict scope (``can_list_students`` ignores grants).

#: Roles that may break the glass, at the schools of their department (the nation for nacional).
BREAK_GLASS_ROLES = frozenset({R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL, R.NACIONAL})


def may_break_glass(user, school: School) -> bool:
    """Tell whether ``user`` may ask to see ``school``'s students by name with a reason."""
    if not getattr(user, "is_authenticated", False) or user.has_role(R.ADMIN):
        return False
    return any(
        a.role in BREAK_GLASS_ROLES
        and (R.ROLE_SCOPE[a.role] == R.NATION_SCOPE or a.department_id == school.department_id)
        for a in user.role_assignments
    )


def active_grant(user, school: School):
    """Return ``user``'s live break-the-glass grant on ``school``, or None.

    A grant outlives no change of role: without the right to ask, a grant shows nothing.
    """
    if not may_break_glass(user, school):
        return None
    from salve.breakglass.queries import live_grant

    return live_grant(user.id, school.id)


@dataclass(frozen=True)
class Identities:
    """Whether a page shows the names of a school's students to a user, and on what ground."""

    is_shown: bool
    #: The live break-the-glass grant that shows them (a ``BreakGlassGrant``); None when scope
    #: or relationship does.
    grant: object | None = None
    #: Whether the page offers to break the glass (names hidden, and the user may ask).
    may_ask: bool = False

    @property
    def audit(self) -> dict:
        """Return what a view's audit event adds: the grant it needed, if any."""
        return {"break_glass": self.grant.id} if self.grant is not None else {}


def student_identities(user, school: School, *, in_scope: bool | None = None) -> Identities:
    """Decide whether a page shows ``school``'s students by name to ``user``.

    ``in_scope`` says whether the page shows them anyway (its own rule: the assigned handler of
    an alert, a report in full); by default, the school's own staff. Otherwise a live grant does.
    """
    if in_scope is None:
        in_scope = can_view_student_identities(user, school)
    if in_scope:
        return Identities(True)
    grant = active_grant(user, school)
    if grant is not None:
        return Identities(True, grant=grant)
    return Identities(False, may_ask=may_break_glass(user, school))


# --- A child's identity, the same on every page and in the API ----------------------------------
#
# Who sees a child's name: the school's own staff; whoever handles an alert or a case about the
# child (its assigned case handler, the department's supervisors); anyone else only through a
# live break-the-glass grant, on a page or an API answer they may already open. The web pages
# and the JSON API both ask the functions below, so a name never reaches one channel and not the
# other (tests/test_identity_parity.py walks both).


def handled_student_ids(user, student_ids) -> frozenset[int]:
    """Return those of ``student_ids`` about whom ``user`` handles an alert or a case.

    The alert's assigned case handler (a gestor) or the case's handler, and the supervisors of
    the department the alert or case belongs to; open or closed, as the alert's page shows it.
    """
    from salve.alerts.models import Alert
    from salve.cases.models import Case
    from salve.extensions import db

    wanted = frozenset(student_ids)
    if not wanted or not getattr(user, "is_authenticated", False):
        return frozenset()
    is_gestor = user.has_role(R.GESTOR)
    departments = _department_ids_for(user, R.SUPERVISOR)
    if not is_gestor and not departments:
        return frozenset()

    def mine(model, person):
        clauses = [person == user.id] if is_gestor else []
        if departments:
            clauses.append(model.department_id.in_(departments))
        return sa.or_(*clauses)

    found = set()
    for model, person in ((Alert, Alert.assignee_id), (Case, Case.handler_id)):
        found.update(
            db.session.scalars(
                sa.select(model.entity_id).where(
                    model.entity_type == "student",
                    model.entity_id.in_(wanted - found),
                    mine(model, person),
                )
            )
        )
        if found == wanted:
            break
    return frozenset(found)


def child_identities(user, student) -> Identities:
    """Decide whether an answer about one child (its risk page or API) names ``student``."""
    school = student.school
    in_scope = can_view_student_identities(user, school) or bool(
        handled_student_ids(user, [student.id])
    )
    return student_identities(user, school, in_scope=in_scope)


def incident_identities(user, incident, access: str | None) -> Identities:
    """Decide whether a report's students are named: in full, or in a summary under a grant."""
    if access == FULL or not any(p.student_id for p in incident.parties):
        return Identities(access == FULL)
    return student_identities(user, incident.school, in_scope=False)


def alert_identities(user, alert, access: str | None) -> Identities:
    """Decide whether an alert's page names its student: in full, or in summary under a grant."""
    if alert.entity_type != "student":
        return Identities(access == FULL)
    return student_identities(user, alert.school, in_scope=access == FULL)


def listed_alert_names_student(alert, access: str | None) -> bool:
    """Tell whether a list of alerts (inbox, API list) names an alert's student: in full only.

    Lists never apply grants: a grant is asked for one school, and shows on that school's pages.
    """
    return alert.entity_type == "student" and access == FULL
