"""Alerts and cases at a given point of their lifecycle, built through the real verbs.

A sexual-violence report filed by docente_a raises immediate alerts for the two students and the
school, assigned to gestor_06; the victim's alert is the one these builders return.
"""

from __future__ import annotations

import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert
from salve.auth import roles as R
from salve.auth.models import User
from salve.cases import operations as cases
from salve.cases.models import Case
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.schools.models import Student
from tests.factories import make_user, report_payload

#: The rule of the victim's alert.
STUDENT_RULE = "hecho_grave_estudiante"


def user(username: str) -> User:
    """Return the account named ``username``."""
    return db.session.scalar(sa.select(User).where(User.username == username))


def file_sexual_violence(world, reporter: str = "docente_a", **overrides):
    """File a sexual-violence report (an immediate type) and return the incident."""
    if reporter != "docente_a":
        overrides.setdefault("school", world.school_c)
        overrides.setdefault(
            "parties",
            [
                {"role": "victima", "kind": "estudiante", "nie": world.students_c[0]},
                {"role": "agresor", "kind": "estudiante", "nie": world.students_c[1]},
            ],
        )
    payload = report_payload(world, types=["SEX_TOCAMIENTOS"], **overrides)
    incident, _created = incidents.file_incident(user(reporter), payload, current_catalog())
    return incident


def victim_alert(world, nie: str | None = None) -> Alert:
    """Return the newest immediate alert of the victim (students_a[0] unless ``nie``)."""
    student_id = db.session.scalar(
        sa.select(Student.id).where(Student.nie == (nie or world.students_a[0]))
    )
    return db.session.scalar(
        sa.select(Alert)
        .where(
            Alert.rule_id == STUDENT_RULE,
            Alert.entity_type == "student",
            Alert.entity_id == student_id,
        )
        .order_by(Alert.id.desc())  # the newest, when one was closed and raised again
        .limit(1)
    )


def raised_alert(world) -> Alert:
    """Raise the victim's alert (abierta, assigned to gestor_06) and return it."""
    file_sexual_violence(world)
    return victim_alert(world)


def acknowledged_alert(world) -> Alert:
    """Return the victim's alert, acknowledged by gestor_06."""
    alert = raised_alert(world)
    alerts.transition(user("gestor_06"), alert, "reconocida")
    return alert


def escalated_alert(world) -> Alert:
    """Return the victim's alert escalated to the national level (nobody acknowledged it)."""
    alert = raised_alert(world)
    alert.escalation = 2
    db.session.flush()
    return alert


def case_at(world, stage: str = "open") -> Case:
    """Return a case of the victim's alert, handled by gestor_06, at ``stage``.

    open; closable (three follow-ups: what tier III needs); requested (closure asked);
    closed (approved by supervisor_06).
    """
    gestor = user("gestor_06")
    case = cases.open_case(gestor, acknowledged_alert(world), current_catalog())
    if stage in ("closable", "requested", "closed"):
        for n in range(3):
            cases.add_follow_up(gestor, case, f"Seguimiento {n + 1}.")
    if stage in ("requested", "closed"):
        cases.request_closure(gestor, case, "Atención completa.")
    if stage == "closed":
        cases.approve_closure(user("supervisor_06"), case)
    db.session.flush()
    return case


def referral_of(world):
    """Return a referral to FGR of an open case (enviada)."""
    case = case_at(world)
    return cases.refer(user("gestor_06"), case, "FGR", current_catalog())


def foreign_alert(world) -> Alert:
    """Return an alert of department 05 (school_c), assigned to a gestor of 05."""
    if user("gestor_05") is None:
        make_user("gestor_05", R.GESTOR, department="05")
    file_sexual_violence(world, reporter="docente_c")
    return victim_alert(world, world.students_c[0])


def foreign_case(world) -> Case:
    """Return a case of department 05, handled by its gestor."""
    alert = foreign_alert(world)
    gestor = user("gestor_05")
    alerts.transition(gestor, alert, "reconocida")
    case = cases.open_case(gestor, alert, current_catalog())
    db.session.flush()
    return case
