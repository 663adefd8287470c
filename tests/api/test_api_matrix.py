"""Every API route x every role: allowed or refused. A route missing here fails the test.

The API's own matrix (the web pages' is tests/test_route_matrix.py): a bearer token per role,
JSON errors. Allowed means a 2xx; refused means 403 or 404 with no data; without a token every
route but the OpenAPI document answers 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.alerts.operations import escalate_overdue
from salve.auth import roles as R
from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.operations import file_incident
from salve.schools.models import Student
from tests.api.conftest import report
from tests.conftest import ROLE_ACCOUNTS, World

EVERYONE = frozenset(R.ROLES)
PUBLIC = "public"
SCHOOL_STAFF = frozenset({R.DOCENTE, R.DIRECTOR})
CASE_HANDLERS = frozenset({R.GESTOR, R.SUPERVISOR})
#: Who sees risk scores: never teachers nor the system administrator (tests/api/test_risk.py).
SCHOOL_RISK = frozenset({R.DIRECTOR, R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL, R.NACIONAL})
STUDENT_RISK = frozenset({R.DIRECTOR}) | CASE_HANDLERS
#: Who sees alerts: the assigned gestor, the department's supervisors, and national analysts
#: the escalated ones, in summary (tests/api/test_alerts.py).
ALERT_READERS = CASE_HANDLERS | {R.NACIONAL}
#: Who sees a department's schools ranked by risk: its office, its supervisors, national analysts.
REGIONAL = frozenset({R.DEPARTAMENTAL, R.SUPERVISOR, R.NACIONAL})


@dataclass(frozen=True)
class Call:
    """How to call a route and who may."""

    method: str
    url: Callable[[World], str]
    allowed: frozenset[str] | str
    body: Callable[[World], dict] | None = None


def _incident_id(world: World, reporter: str = "docente_a") -> int:
    """File a report at the reporter's school and return its id."""
    user = db.session.scalar(sa.select(User).where(User.username == reporter))
    overrides = {}
    if reporter == "docente_c":
        overrides = {
            "school": world.school_c,
            "parties": [{"role": "victima", "kind": "estudiante", "nie": world.students_c[0]}],
        }
    incident, _created = file_incident(user, report(world, **overrides), current_catalog())
    db.session.commit()
    return incident.id


def _alert_id(world: World, reporter: str = "docente_a") -> int:
    """Report sexual violence, escalate its alerts to the national level, return the victim's.

    docente_a's alert (06) is assigned to gestor_06; docente_c's (05) to nobody: 05 has no gestor.
    """
    user = db.session.scalar(sa.select(User).where(User.username == reporter))
    school, students = (
        (world.school_c, world.students_c)
        if reporter == "docente_c"
        else (world.school_a, world.students_a)
    )
    parties = [
        {"role": "victima", "kind": "estudiante", "nie": students[0]},
        {"role": "agresor", "kind": "estudiante", "nie": students[1]},
    ]
    payload = report(world, school=school, parties=parties, types=["SEX_TOCAMIENTOS"])
    file_incident(user, payload, current_catalog())
    victim_id = db.session.scalar(sa.select(Student.id).where(Student.nie == students[0]))
    alert = db.session.scalar(
        sa.select(Alert).where(Alert.entity_type == "student", Alert.entity_id == victim_id)
    )
    escalate_overdue(now=alert.opened_at + timedelta(days=3))  # past two deadlines: national
    db.session.commit()
    return alert.id


#: endpoint → how to call it and which roles get a 2xx.
MATRIX: dict[str, Call] = {
    "api.openapi": Call("GET", lambda w: "/api/v1/openapi.json", PUBLIC),
    "api.open.incidents": Call("GET", lambda w: "/api/v1/open/incidents?by=department", PUBLIC),
    "api.catalog": Call("GET", lambda w: "/api/v1/catalog", EVERYONE),
    # Everyone may list schools; each sees those in scope (tests/api/test_reads.py).
    "api.schools": Call("GET", lambda w: "/api/v1/schools", EVERYONE),
    "api.school_students": Call(
        # The school's own staff only, as the web roll: case handlers find a child by NIE.
        "GET",
        lambda w: f"/api/v1/schools/{w.school_a}/students",
        SCHOOL_STAFF,
    ),
    "api.create_incident": Call("POST", lambda w: "/api/v1/incidents", SCHOOL_STAFF, report),
    # Everyone may ask; the list holds only what each may see (tests/api/test_incidents.py).
    "api.list_incidents": Call("GET", lambda w: "/api/v1/incidents", EVERYONE),
    # docente_a files it: full for them and the principal, summary for the case handlers.
    "api.get_incident": Call(
        "GET", lambda w: f"/api/v1/incidents/{_incident_id(w)}", SCHOOL_STAFF | CASE_HANDLERS
    ),
    # The principal of school_a (06), the 06 offices and national analysts.
    "api.school_risk": Call("GET", lambda w: f"/api/v1/schools/{w.school_a}/risk", SCHOOL_RISK),
    # The principal of the student's school and the 06 case handlers; never by region or nation.
    "api.student_risk": Call(
        "GET", lambda w: f"/api/v1/students/{w.students_a[0]}/risk", STUDENT_RISK
    ),
    # Each sees their own alerts in the list; everyone else is refused before any lookup.
    "api.list_alerts": Call("GET", lambda w: "/api/v1/alerts", ALERT_READERS),
    # gestor_06 is assigned, supervisor_06 supervises 06, nacional sees it escalated (summary).
    "api.get_alert": Call("GET", lambda w: f"/api/v1/alerts/{_alert_id(w)}", ALERT_READERS),
    # Only those who act on it: national analysts see it but may not move it (403).
    "api.transition_alert": Call(
        "POST",
        lambda w: f"/api/v1/alerts/{_alert_id(w)}/transitions",
        CASE_HANDLERS,
        lambda w: {"to": "reconocida"},
    ),
    # The 06 office and supervisor, and national analysts; refused by role before any lookup.
    "api.department_schools_risk": Call(
        "GET", lambda w: "/api/v1/departments/06/schools/risk", REGIONAL
    ),
    # The audit log: system administrators only (tests/api/test_audit_api.py).
    "api.audit_events": Call("GET", lambda w: "/api/v1/audit", frozenset({R.ADMIN})),
}

#: endpoint → a URL naming another department's record; no confined role gets data back.
FOREIGN: dict[str, Callable[[World], str]] = {
    "api.school_students": lambda w: f"/api/v1/schools/{w.school_c}/students",
    "api.get_incident": lambda w: f"/api/v1/incidents/{_incident_id(w, 'docente_c')}",
    "api.school_risk": lambda w: f"/api/v1/schools/{w.school_c}/risk",
    "api.student_risk": lambda w: f"/api/v1/students/{w.students_c[0]}/risk",
    "api.get_alert": lambda w: f"/api/v1/alerts/{_alert_id(w, 'docente_c')}",
    "api.department_schools_risk": lambda w: "/api/v1/departments/05/schools/risk",
}
CONFINED_ROLES = (R.DOCENTE, R.DIRECTOR, R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL)


def test_every_api_route_is_in_the_matrix(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")}
    missing = endpoints - MATRIX.keys()
    assert not missing, f"API routes missing from the access matrix: {sorted(missing)}"
    stale = MATRIX.keys() - endpoints
    assert not stale, f"matrix names API routes that no longer exist: {sorted(stale)}"


def _call(api, call: Call, world: World):
    body = call.body(world) if call.body else None
    return api.request(call.method, call.url(world), json=body)


@pytest.mark.parametrize("role", R.ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_api_access_by_role(api, world, role, endpoint):
    call = MATRIX[endpoint]
    api.as_user(ROLE_ACCOUNTS[role])
    response = _call(api, call, world)
    if call.allowed == PUBLIC or role in call.allowed:
        assert 200 <= response.status_code < 300, (response.status_code, response.json)
    else:
        assert response.status_code in (403, 404), (response.status_code, response.json)
        assert set(response.json) == {"errors"}


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_api_access_without_a_token(api, world, endpoint):
    call = MATRIX[endpoint]
    response = _call(api, call, world)
    if call.allowed == PUBLIC:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("role", CONFINED_ROLES)
@pytest.mark.parametrize("endpoint", sorted(FOREIGN))
def test_another_departments_records_are_refused(api, world, role, endpoint):
    api.as_user(ROLE_ACCOUNTS[role])
    response = api.get(FOREIGN[endpoint](world))
    assert response.status_code in (403, 404)
    assert set(response.json) == {"errors"}
    assert world.students_c[0].encode() not in response.data
