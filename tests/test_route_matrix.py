"""Every route x every role: who may reach what. A route missing here fails the build."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from salve.auth import roles as R
from salve.auth.models import User
from salve.extensions import db
from tests.alerts import builders
from tests.conftest import ROLE_ACCOUNTS, World

EVERYONE = frozenset(R.ROLES)
PUBLIC = "public"


@dataclass(frozen=True)
class Route:
    """How to call a route and who may."""

    method: str
    url: Callable[[World], str]
    allowed: frozenset[str] | str
    data: Callable[[World], dict] | None = None


def _user_id(username: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == username))


def _assignment_id(username: str) -> int:
    from salve.auth.models import RoleAssignment

    return db.session.scalar(
        sa.select(RoleAssignment.id).where(RoleAssignment.user_id == _user_id(username))
    )


def _incident_id(world: World, reporter: str = "docente_a") -> int:
    """File a fresh report (at the reporter's school) and return its id."""
    from salve.catalog.queries import current_catalog
    from salve.incidents.operations import file_incident

    school, students = (
        (world.school_a, world.students_a) if reporter == "docente_a" else
        (world.school_c, world.students_c)
    )  # fmt: skip
    user = db.session.scalar(sa.select(User).where(User.username == reporter))
    payload = {
        "school": school, "occurred_at": "2026-01-15T09:30", "location": "patio",
        "types": ["FIS_LEVE"], "relationship": "estudiante_estudiante",
        "parties": [{"role": "victima", "kind": "estudiante", "nie": students[0]}],
        "repetition": "primera_vez", "narrative": "Relato de prueba.",
        "idempotency_key": secrets.token_urlsafe(16),
    }  # fmt: skip
    incident, _created = file_incident(user, payload, current_catalog())
    return incident.id


def _own_notice_id(world: World) -> int:
    """Add a notice for whoever signed in last (the caller) and return its id."""
    from salve.auth.models import AuthSession
    from salve.notifications.models import InboxMessage

    user_id = db.session.scalar(
        sa.select(AuthSession.user_id).order_by(AuthSession.id.desc()).limit(1)
    ) or _user_id("docente_a")  # fmt: skip
    notice = InboxMessage(
        key=f"matrix:{secrets.token_hex(8)}", user_id=user_id, kind="alert_raised",
        payload={"alert_id": 1, "level": "alto"}, link="/inicio",
    )  # fmt: skip
    db.session.add(notice)
    db.session.flush()
    return notice.id


def _own_grant_id(world: World) -> int:
    """Add a break-the-glass grant on school_a for whoever signed in last; return its id."""
    from datetime import timedelta

    from salve.auth.models import AuthSession
    from salve.breakglass.models import BreakGlassGrant
    from salve.db import utcnow
    from salve.schools.models import School

    user_id = db.session.scalar(
        sa.select(AuthSession.user_id).order_by(AuthSession.id.desc()).limit(1)
    ) or _user_id("docente_a")  # fmt: skip
    school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    grant = BreakGlassGrant(
        user_id=user_id, school_id=school.id, department_id=school.department_id,
        reason_category="caso", reason_text="Prueba de la matriz de acceso.",
        granted_at=utcnow(), expires_at=utcnow() + timedelta(hours=4),
    )  # fmt: skip
    db.session.add(grant)
    db.session.flush()
    return grant.id


SCHOOL_STAFF = frozenset({R.DOCENTE, R.DIRECTOR})
INCIDENT_READERS = frozenset({R.DOCENTE, R.DIRECTOR, R.GESTOR, R.SUPERVISOR})
PRINCIPAL = frozenset({R.DIRECTOR})
#: Risk scores: never teachers or the system administrator; students' only for the principal and
#: the department's case handlers.
SCHOOL_RISK = frozenset({R.DIRECTOR, R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL, R.NACIONAL})
STUDENT_RISK = frozenset({R.DIRECTOR, R.GESTOR, R.SUPERVISOR})
ALERT_READERS = frozenset({R.GESTOR, R.SUPERVISOR, R.NACIONAL})
CASE_WORKERS = frozenset({R.GESTOR, R.SUPERVISOR})
SUPERVISOR = frozenset({R.SUPERVISOR})
REGIONAL = frozenset({R.DEPARTAMENTAL, R.SUPERVISOR, R.NACIONAL})
BREAK_GLASS = frozenset({R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL, R.NACIONAL})


#: endpoint → how to call it and which roles may. Anonymous callers of non-public routes are
#: sent to the sign-in page.
MATRIX: dict[str, Route] = {
    "static": Route("GET", lambda w: "/static/css/salve.css", PUBLIC),
    "main.index": Route("GET", lambda w: "/", PUBLIC),
    "main.health": Route("GET", lambda w: "/salud", PUBLIC),
    "opendata.index": Route("GET", lambda w: "/datos-abiertos/", PUBLIC),
    "main.set_language": Route("POST", lambda w: "/idioma", PUBLIC, lambda w: {"lang": "en"}),
    "auth.login": Route("GET", lambda w: "/ingresar", PUBLIC),
    "auth.logout": Route("POST", lambda w: "/salir", PUBLIC),
    "main.home": Route("GET", lambda w: "/inicio", EVERYONE),
    "auth.change_password": Route("GET", lambda w: "/cuenta/contrasena", EVERYONE),
    "schools.index": Route("GET", lambda w: "/escuelas/", EVERYONE),
    "schools.show": Route("GET", lambda w: f"/escuelas/{w.school_a}", EVERYONE),
    "schools.students": Route(
        "GET", lambda w: f"/escuelas/{w.school_a}/estudiantes", frozenset({R.DOCENTE, R.DIRECTOR})
    ),
    "admin.users": Route("GET", lambda w: "/admin/usuarios", frozenset({R.ADMIN})),
    "admin.new_user": Route("GET", lambda w: "/admin/usuarios/nuevo", frozenset({R.ADMIN})),
    "admin.set_user_enabled": Route(
        "POST",
        lambda w: f"/admin/usuarios/{_user_id('docente_b')}/estado",
        frozenset({R.ADMIN}),
        lambda w: {"enabled": "1"},
    ),
    "admin.audit": Route("GET", lambda w: "/admin/auditoria", frozenset({R.ADMIN})),
    "admin.user_detail": Route(
        "GET", lambda w: f"/admin/usuarios/{_user_id('docente_b')}", frozenset({R.ADMIN})
    ),
    "admin.add_role": Route(
        "POST",
        lambda w: f"/admin/usuarios/{_user_id('docente_b')}/roles",
        frozenset({R.ADMIN}),
        lambda w: {"role": R.DIRECTOR, "school_code": w.school_b, "department_code": ""},
    ),
    "admin.remove_role": Route(
        "POST",
        lambda w: (
            f"/admin/usuarios/{_user_id('docente_b')}/roles/{_assignment_id('docente_b')}/quitar"
        ),
        frozenset({R.ADMIN}),
    ),
    "admin.reset_second_factor": Route(
        "POST",
        lambda w: f"/admin/usuarios/{_user_id('gestor_06')}/segundo-factor/restablecer",
        frozenset({R.ADMIN}),
    ),
    # The second step of signing in: a signed-in user is sent home, anyone else to sign in.
    "auth.second_factor": Route("GET", lambda w: "/ingresar/codigo", PUBLIC),
    "auth.enrol": Route("GET", lambda w: "/cuenta/segundo-factor", PUBLIC),
    "auth.reauthenticate": Route("GET", lambda w: "/reautenticar", EVERYONE),
    "auth.new_recovery_codes": Route("POST", lambda w: "/cuenta/codigos-de-recuperacion", EVERYONE),
    "incidents.new": Route("GET", lambda w: "/incidentes/nuevo", SCHOOL_STAFF),
    "incidents.drafts": Route("GET", lambda w: "/incidentes/borradores", SCHOOL_STAFF),
    "incidents.students": Route("GET", lambda w: "/incidentes/estudiantes?q=a", SCHOOL_STAFF),
    "incidents.index": Route("GET", lambda w: "/incidentes/", INCIDENT_READERS),
    # docente_a filed it; gestor and supervisor of department 06 see it in summary.
    "incidents.show": Route("GET", lambda w: f"/incidentes/{_incident_id(w)}", INCIDENT_READERS),
    "incidents.amend": Route("GET", lambda w: f"/incidentes/{_incident_id(w)}/corregir", PRINCIPAL),
    "incidents.validate": Route(
        "POST", lambda w: f"/incidentes/{_incident_id(w)}/validar", PRINCIPAL
    ),
    "incidents.close": Route(
        "POST",
        lambda w: f"/incidentes/{_incident_id(w)}/infundado",
        PRINCIPAL,
        lambda w: {"reason": "Prueba de acceso."},
    ),
    # A report naming staff: the department's supervisors decide on closing it as unfounded.
    "incidents.decide_closure": Route(
        "POST",
        lambda w: f"/incidentes/{_incident_id(w)}/infundado/decision",
        SUPERVISOR,
        lambda w: {"decision": "devolver", "reason": "Prueba de acceso."},
    ),
    "risk.school": Route("GET", lambda w: f"/riesgo/escuelas/{w.school_a}", SCHOOL_RISK),
    "risk.student": Route("GET", lambda w: f"/riesgo/estudiantes/{w.students_a[0]}", STUDENT_RISK),
    # Alerts: the assigned handler and the department's supervisors; national analysts read the
    # alerts escalated to them, in summary. Cases: the handler and the supervisors.
    "alerts.index": Route("GET", lambda w: "/alertas/", ALERT_READERS),
    "alerts.show": Route(
        "GET", lambda w: f"/alertas/{builders.escalated_alert(w).id}", ALERT_READERS
    ),
    "alerts.transition": Route(
        "POST",
        lambda w: f"/alertas/{builders.raised_alert(w).id}/transicion",
        CASE_WORKERS,
        lambda w: {"to": "reconocida"},
    ),
    "alerts.open_case": Route(
        "POST", lambda w: f"/alertas/{builders.acknowledged_alert(w).id}/caso", CASE_WORKERS
    ),
    "alerts.reassign": Route(
        "POST",
        lambda w: f"/alertas/{builders.raised_alert(w).id}/reasignar",
        SUPERVISOR,
        lambda w: {"assignee": str(_user_id("gestor_06"))},
    ),
    "cases.index": Route("GET", lambda w: "/casos/", CASE_WORKERS),
    "cases.show": Route("GET", lambda w: f"/casos/{builders.case_at(w).id}", CASE_WORKERS),
    "cases.add_follow_up": Route(
        "POST",
        lambda w: f"/casos/{builders.case_at(w).id}/seguimientos",
        CASE_WORKERS,
        lambda w: {"note": "Llamada a la familia."},
    ),
    "cases.refer": Route(
        "POST",
        lambda w: f"/casos/{builders.case_at(w).id}/referencias",
        CASE_WORKERS,
        lambda w: {"institution": "FGR"},
    ),
    "cases.update_referral": Route(
        "POST",
        lambda w: (lambda r: f"/casos/{r.case_id}/referencias/{r.id}")(builders.referral_of(w)),
        CASE_WORKERS,
        lambda w: {"to": "aceptada"},
    ),
    "cases.complete_step": Route(
        "POST",
        lambda w: (lambda c: f"/casos/{c.id}/pasos/{c.steps[0].id}")(builders.case_at(w)),
        CASE_WORKERS,
    ),
    "cases.request_closure": Route(
        "POST",
        lambda w: f"/casos/{builders.case_at(w, 'closable').id}/cierre",
        CASE_WORKERS,
        lambda w: {"summary": "Atención completa."},
    ),
    "cases.approve_closure": Route(
        "POST", lambda w: f"/casos/{builders.case_at(w, 'requested').id}/cierre/aprobar", SUPERVISOR
    ),
    "cases.refuse_closure": Route(
        "POST",
        lambda w: f"/casos/{builders.case_at(w, 'requested').id}/cierre/devolver",
        SUPERVISOR,
        lambda w: {"reason": "Falta hablar con la familia."},
    ),
    "cases.reopen": Route(
        "POST",
        lambda w: f"/casos/{builders.case_at(w, 'closed').id}/reabrir",
        CASE_WORKERS,
        lambda w: {"reason": "La agresión se repitió."},
    ),
    # Everyone signed in has an inbox; another user's notice is a 404 (tests/notifications).
    "notifications.index": Route("GET", lambda w: "/avisos", EVERYONE),
    "notifications.mark_read": Route(
        "POST", lambda w: f"/avisos/{_own_notice_id(w)}/leido", EVERYONE
    ),
    "notifications.read_all": Route("POST", lambda w: "/avisos/leer-todos", EVERYONE),
    # Break the glass: the ministry's roles outside the school (never its staff, never admin) ask
    # for names with a reason and end their own grant; supervisors and nacional read the grants.
    "breakglass.request_access": Route(
        "GET", lambda w: f"/vidrio/escuelas/{w.school_a}", BREAK_GLASS
    ),
    "breakglass.end": Route("POST", lambda w: f"/vidrio/{_own_grant_id(w)}/terminar", BREAK_GLASS),
    "breakglass.index": Route("GET", lambda w: "/vidrio/", frozenset({R.SUPERVISOR, R.NACIONAL})),
    # A school's analytics: its department's office and supervisors, and national analysts.
    "reports.school_analytics": Route(
        "GET", lambda w: f"/reportes/escuelas/{w.school_a}/analisis", REGIONAL
    ),
    "reports.school_analytics_export": Route(
        "GET",
        lambda w: f"/reportes/escuelas/{w.school_a}/analisis/exportar?tabla=lugares&formato=csv",
        REGIONAL,
    ),
    # National view and rule quality: national analysts only (aggregates of every department).
    "reports.national": Route("GET", lambda w: "/reportes/nacional", frozenset({R.NACIONAL})),
    "reports.rule_quality": Route("GET", lambda w: "/reportes/reglas", frozenset({R.NACIONAL})),
    # Department risk lists: the 06 office and supervisor, and national analysts (any).
    "reports.department_picker": Route("GET", lambda w: "/reportes/escuelas", REGIONAL),
    "reports.department_list": Route(
        "GET", lambda w: "/reportes/departamentos/06/escuelas", REGIONAL
    ),
}

#: endpoint → a URL naming another department's record, for the roles confined to department 06
#: or to school_a. None of them may get data back.
FOREIGN: dict[str, Callable[[World], str]] = {
    "schools.show": lambda w: f"/escuelas/{w.school_c}",
    "schools.students": lambda w: f"/escuelas/{w.school_c}/estudiantes",
    "incidents.students": lambda w: f"/incidentes/estudiantes?escuela={w.school_c}",
    "incidents.show": lambda w: f"/incidentes/{_incident_id(w, 'docente_c')}",
    "incidents.amend": lambda w: f"/incidentes/{_incident_id(w, 'docente_c')}/corregir",
    "risk.school": lambda w: f"/riesgo/escuelas/{w.school_c}",
    "risk.student": lambda w: f"/riesgo/estudiantes/{w.students_c[0]}",
    "alerts.show": lambda w: f"/alertas/{builders.foreign_alert(w).id}",
    "cases.show": lambda w: f"/casos/{builders.foreign_case(w).id}",
    "reports.school_analytics": lambda w: f"/reportes/escuelas/{w.school_c}/analisis",
    "reports.school_analytics_export": (
        lambda w: f"/reportes/escuelas/{w.school_c}/analisis/exportar?tabla=lugares&formato=csv"
    ),
    "reports.department_list": lambda w: "/reportes/departamentos/05/escuelas",
    "breakglass.request_access": lambda w: f"/vidrio/escuelas/{w.school_c}",
}
CONFINED_ROLES = (R.DOCENTE, R.DIRECTOR, R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL)


def test_every_route_is_in_the_matrix(app):
    # The JSON API has its own matrix (tests/api/test_api_matrix.py): bearer tokens, JSON errors.
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if not rule.endpoint.startswith("api.")
    }
    missing = endpoints - MATRIX.keys()
    assert not missing, f"routes missing from the access matrix: {sorted(missing)}"
    stale = MATRIX.keys() - endpoints
    assert not stale, f"matrix names routes that no longer exist: {sorted(stale)}"


def _call(client, route: Route, world: World):
    data = route.data(world) if route.data else None
    return client.open(route.url(world), method=route.method, data=data)


@pytest.mark.parametrize("role", R.ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_route_access_by_role(client, login_as, world, role, endpoint):
    route = MATRIX[endpoint]
    login_as(ROLE_ACCOUNTS[role])
    response = _call(client, route, world)
    if route.allowed == PUBLIC or role in route.allowed:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert "/ingresar" not in response.location or endpoint == "auth.logout"
    else:
        assert response.status_code in (403, 404)


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_route_access_anonymous(client, world, endpoint):
    route = MATRIX[endpoint]
    response = _call(client, route, world)
    if route.allowed == PUBLIC:
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 302
        assert response.location.startswith("/ingresar")


@pytest.mark.parametrize("role", CONFINED_ROLES)
@pytest.mark.parametrize("endpoint", sorted(FOREIGN))
def test_another_departments_records_are_refused(client, login_as, world, role, endpoint):
    login_as(ROLE_ACCOUNTS[role])
    response = client.get(FOREIGN[endpoint](world))
    assert response.status_code in (403, 404)
    assert b"Gamma" not in response.data  # school_c's name never leaks
    assert b"Relato de prueba" not in response.data


@pytest.mark.parametrize("role", CONFINED_ROLES)
@pytest.mark.parametrize("action", ["validar", "infundado"])
def test_another_schools_report_cannot_be_validated_or_closed(
    client, login_as, world, role, action
):
    login_as(ROLE_ACCOUNTS[role])
    url = f"/incidentes/{_incident_id(world, 'docente_c')}/{action}"
    response = client.post(url, data={"reason": "Intento."})
    assert response.status_code in (403, 404)
