"""Break the glass in the browser's terms: the link where a name is withheld, the reason, the
name and the banner under a live grant, its end, and the supervision's notice and list."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.auth.models import User
from salve.breakglass import queries
from salve.breakglass.models import BreakGlassGrant
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.schools.models import School, Student
from tests.alerts import builders
from tests.conftest import count
from tests.factories import make_student, make_user

REASON = "Alerta A-000042: la familia pide apoyo y la escuela no contesta."
ASK = "Ver identidad (romper el vidrio)"
ASK_LINK = re.compile(r'<a href="(/vidrio/escuelas/[^"]+)">Ver identidad \(romper el vidrio\)</a>')


def _page(client, url: str, status: int = 200) -> str:
    g.pop("_flask_babel", None)  # the test's app context outlives requests; the locale must not
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def _student(nie: str) -> Student:
    return db.session.scalar(sa.select(Student).where(Student.nie == nie))


def _school(code: str) -> School:
    return db.session.scalar(sa.select(School).where(School.code == code))


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _name(student: Student) -> str:
    return f"{student.given_names} {student.family_names}"


def _ask(client, school_code: str, *, next_url: str = "/inicio", status: int = 302, **data):
    """Post the request form for the school of ``school_code`` and return the response."""
    g.pop("_flask_babel", None)
    fields = {"reason_category": "caso", "reason_text": REASON, "next": next_url, **data}
    response = client.post(f"/vidrio/escuelas/{school_code}", data=fields)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response


def _grants() -> list[BreakGlassGrant]:
    return list(db.session.scalars(sa.select(BreakGlassGrant).order_by(BreakGlassGrant.id)))


def _banner(grant: BreakGlassGrant) -> str:
    until = grant.expires_at.astimezone(LOCAL_TZ).strftime("%H:%M")
    return f"Acceso excepcional hasta {until} — motivo registrado"


def _views(action: str, object_id) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
        )
    )


# --- The student's risk page ------------------------------------------------------------------


def test_a_case_handler_breaks_the_glass_and_then_sees_the_name(client, login_as, world):
    student = _student(world.students_a[0])
    url = f"/riesgo/estudiantes/{student.nie}"
    login_as("gestor_06")
    page = _page(client, url)
    assert student.nie in page and _name(student) not in page
    form_url = html.unescape(ASK_LINK.search(page).group(1))
    assert form_url.startswith(f"/vidrio/escuelas/{world.school_a}?")

    form = _page(client, form_url)
    assert "Centro Escolar Prueba Alfa" in form
    assert "Atender una alerta o un caso" in form
    assert f'name="next" type="hidden" value="{url}"' in form
    assert f'value="student:{student.id}"' in form

    refused = _ask(client, world.school_a, next_url=url, reason_text="Lo necesito.", status=422)
    text = refused.get_data(as_text=True)
    assert "Escriba entre 20 y 1000 caracteres." in text
    assert "Lo necesito.</textarea>" in text
    assert _grants() == []

    response = _ask(client, world.school_a, next_url=url, registro=f"student:{student.id}")
    assert response.location == url
    [grant] = _grants()
    assert (grant.record_type, grant.record_id) == ("student", student.id)
    page = _page(client, url)
    assert _name(student) in page
    assert _banner(grant) in page
    assert "Terminar el acceso ahora" in page
    assert ASK not in page

    views = _views("student_risk.view", student.id)
    assert "break_glass" not in views[0].detail
    assert views[-1].detail["break_glass"] == grant.id
    assert student.given_names not in str(views[-1].detail)


def test_the_name_shows_only_for_the_granted_school(client, login_as, world):
    other = make_student(_school(world.school_b))
    db.session.commit()
    login_as("gestor_06")
    _ask(client, world.school_a)
    page = _page(client, f"/riesgo/estudiantes/{other.nie}")
    assert other.nie in page and _name(other) not in page
    assert ASK in page and "Acceso excepcional hasta" not in page
    assert "break_glass" not in _views("student_risk.view", other.id)[-1].detail


def test_the_name_hides_again_when_the_period_ends(client, login_as, world, monkeypatch):
    student = _student(world.students_a[0])
    url = f"/riesgo/estudiantes/{student.nie}"
    login_as("gestor_06")
    _ask(client, world.school_a, next_url=url)
    assert _name(student) in _page(client, url)

    later = utcnow() + timedelta(hours=4, minutes=1)
    monkeypatch.setattr(queries, "utcnow", lambda: later)
    page = _page(client, url)
    assert _name(student) not in page
    assert "Acceso excepcional hasta" not in page and ASK in page
    assert "break_glass" not in _views("student_risk.view", student.id)[-1].detail


def test_the_holder_ends_the_access_early_from_the_banner(client, login_as, world):
    student = _student(world.students_a[0])
    url = f"/riesgo/estudiantes/{student.nie}"
    login_as("gestor_06")
    _ask(client, world.school_a, next_url=url)
    [grant] = _grants()
    page = _page(client, url)
    assert f'action="/vidrio/{grant.id}/terminar"' in page

    response = client.post(f"/vidrio/{grant.id}/terminar", data={"next": url})
    assert response.status_code == 302 and response.location == url
    page = _page(client, url)
    assert "Acceso excepcional terminado." in page
    assert _name(student) not in page and ASK in page
    db.session.refresh(grant)
    assert grant.ended_at is not None


def test_nobody_else_can_end_a_grant(client, login_as, world):
    login_as("gestor_06")
    _ask(client, world.school_a)
    [grant] = _grants()
    client.post("/salir")
    login_as("supervisor_06")
    assert client.post(f"/vidrio/{grant.id}/terminar").status_code == 404
    db.session.refresh(grant)
    assert grant.ended_at is None


# --- Who may ask, and for what ------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin", "docente_a", "director_a"])
def test_administrators_and_school_staff_are_refused(client, login_as, world, username):
    login_as(username)
    assert client.get(f"/vidrio/escuelas/{world.school_a}").status_code == 403
    _ask(client, world.school_a, status=403)
    assert _grants() == []


def test_another_school_id_posted_cannot_widen_the_grant(client, login_as, world):
    foreign = _student(world.students_c[0])
    login_as("gestor_06")
    # Another school's code in the body, and a record of it: the grant stays on the URL's school.
    _ask(client, world.school_a, school=world.school_c, code=world.school_c,
         registro=f"student:{foreign.id}")  # fmt: skip
    [grant] = _grants()
    assert grant.school_id == _school(world.school_a).id
    assert (grant.record_type, grant.record_id) == ("", None)
    # Another department's school in the URL: not found, nothing granted, nothing shown.
    response = _ask(client, world.school_c, status=404)
    assert b"Gamma" not in response.data
    assert client.get(f"/vidrio/escuelas/{world.school_c}").status_code == 404
    assert len(_grants()) == 1
    refused = _views("access.refused", f"/vidrio/escuelas/{world.school_c}")
    assert refused


def test_the_way_back_is_a_page_of_salve_only(client, login_as, world):
    login_as("gestor_06")
    response = _ask(client, world.school_a, next_url="https://otro.example.test/robar")
    assert response.location == "/inicio"
    [grant] = _grants()
    assert (
        client.post(f"/vidrio/{grant.id}/terminar", data={"next": "//otro.example.test"}).location
        == "/inicio"
    )


def test_asking_again_while_the_access_runs_goes_straight_back(client, login_as, world):
    login_as("gestor_06")
    _ask(client, world.school_a)
    g.pop("_flask_babel", None)
    response = client.get(f"/vidrio/escuelas/{world.school_a}?next=/alertas/")
    assert response.status_code == 302 and response.location == "/alertas/"
    assert "Ya tiene acceso excepcional" in _page(client, "/alertas/")
    assert len(_grants()) == 1


def test_an_expired_form_keeps_what_was_typed(app, client, login_as, world):
    login_as("gestor_06")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post(
            f"/vidrio/escuelas/{world.school_a}",
            data={"reason_category": "emergencia", "reason_text": REASON, "next": "/alertas/"},
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Su sesión de formulario caducó" in page
    assert f"{REASON}</textarea>" in page
    assert '<option selected value="emergencia">' in page
    assert _grants() == []


# --- The alert page and the report page ---------------------------------------------------------


def test_a_national_analyst_breaks_the_glass_on_an_escalated_alert(client, login_as, world):
    alert = builders.escalated_alert(world)
    db.session.commit()
    student = _student(world.students_a[0])
    url = f"/alertas/{alert.id}"
    login_as("nacional")
    page = _page(client, url)
    assert "Usted ve un resumen" in page
    assert student.nie not in page and _name(student) not in page  # not even in the link
    form_url = html.unescape(ASK_LINK.search(page).group(1))
    assert f"registro=alert:{alert.id}" in form_url.replace("%3A", ":")

    _ask(client, world.school_a, next_url=url, registro=f"alert:{alert.id}")
    [grant] = _grants()
    page = _page(client, url)
    assert _name(student) in page and f"NIE {student.nie}" in page
    assert _banner(grant) in page
    assert "Reconocer la alerta" not in page  # names, not the right to act
    assert _views("alert.view", alert.id)[-1].detail["break_glass"] == grant.id


def test_a_supervisor_sees_the_students_of_a_report_in_summary_only_under_a_grant(
    client, login_as, world
):
    incident = builders.file_sexual_violence(world)
    db.session.commit()
    url = f"/incidentes/{incident.id}"
    students = [party.student for party in incident.parties if party.student]
    login_as("supervisor_06")
    page = _page(client, url)
    assert "Usted ve un resumen" in page and ASK in page
    assert all(_name(s) not in page and s.nie not in page for s in students)

    _ask(client, world.school_a, next_url=url, registro=f"incident:{incident.id}")
    [grant] = _grants()
    page = _page(client, url)
    assert _banner(grant) in page
    assert all(_name(s) in page and f"NIE {s.nie}" in page for s in students)
    assert incident.narrative not in page  # identities, not the narrative
    assert _views("incident.view", incident.id)[-1].detail["break_glass"] == grant.id


def test_school_staff_never_get_the_link_on_a_summary(client, login_as, world):
    incident = builders.file_sexual_violence(world)
    db.session.commit()
    school_a = _school(world.school_a)
    make_user("docente_a2", R.DOCENTE, school=school_a)
    db.session.commit()
    login_as("docente_a2")
    page = _page(client, f"/incidentes/{incident.id}")
    assert "Usted ve un resumen" in page and ASK not in page


# --- The supervision ----------------------------------------------------------------------------


def test_the_supervisor_gets_the_notice_and_reads_the_grant_in_the_list(client, login_as, world):
    login_as("gestor_06")
    _ask(client, world.school_a)
    [grant] = _grants()
    client.post("/salir")

    login_as("supervisor_06")
    notices = _page(client, "/avisos")
    assert f"Acceso excepcional a identidades: centro {world.school_a}" in notices
    listing = _page(client, "/vidrio/")
    assert f'id="permiso-{grant.id}"' in listing
    assert "gestor_06" in listing or (_user("gestor_06").display_name or "?") in listing
    assert "Atender una alerta o un caso" in listing and REASON in listing
    assert "vigente" in listing and "Centro Escolar Prueba Alfa" in listing
    assert _views("breakglass.list", "")[-1].user_id == _user("supervisor_06").id


def test_the_list_keeps_to_the_supervisors_department(client, login_as, world):
    make_user("gestor_05", R.GESTOR, department="05")
    make_user("supervisor_05", R.SUPERVISOR, department="05")
    db.session.commit()
    login_as("gestor_05")
    _ask(client, world.school_c)
    client.post("/salir")
    login_as("supervisor_06")
    assert "Gamma" not in _page(client, "/vidrio/")
    client.post("/salir")
    login_as("supervisor_05")
    assert "Centro Escolar Prueba Gamma" in _page(client, "/vidrio/")
    client.post("/salir")
    login_as("nacional")
    assert "Centro Escolar Prueba Gamma" in _page(client, "/vidrio/")
    client.post("/salir")
    login_as("gestor_06")
    assert client.get("/vidrio/").status_code == 403
    assert count(BreakGlassGrant) == 1
