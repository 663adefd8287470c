"""The case pages: steps, follow-ups, referrals and closure, worked through the web."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.cases.models import Case
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import Student
from tests.alerts import builders
from tests.factories import make_user
from tests.test_pages import parse


def _page(response) -> str:
    return response.get_data(as_text=True)


def _case_from_the_alert_page(client, world) -> Case:
    """Acknowledge the victim's alert and open its case through the web, as gestor_06."""
    alert = builders.raised_alert(world)
    db.session.commit()
    assert (
        client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida"}).status_code == 302
    )
    response = client.post(f"/alertas/{alert.id}/caso")
    assert response.status_code == 302
    case_id = int(re.search(r"/casos/(\d+)$", response.location).group(1))
    return db.session.get(Case, case_id)


def test_the_case_page_shows_the_child_the_alert_and_the_protocol(login_as, world):
    client = login_as("gestor_06")
    case = _case_from_the_alert_page(client, world)
    alert = case.alerts[0].alert
    student = db.session.scalar(sa.select(Student).where(Student.nie == world.students_a[0]))
    page = _page(client.get(f"/casos/{case.id}"))
    assert f"Caso C-{case.id:06d}" in page
    assert f"{student.given_names} {student.family_names}" in page
    assert f"NIE {student.nie}" in page
    assert f'href="/alertas/{alert.id}"' in page
    assert "Nivel III" in page
    assert "Pasos del protocolo" in page
    assert "Poner a salvo a la niña, niño o adolescente" in page
    assert "Plazo:" in page
    assert "Fiscalía General de la República (FGR)" in page  # mandatory report, and the select
    assert "Caso abierto para la alerta A-" in page
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "case.view", AuditEvent.object_id == str(case.id)
        )
    )
    markup = parse(page)
    assert markup.inline_scripts == 0 and markup.inline_styles == [] and markup.handlers == []
    for input_id in markup.inputs:
        assert input_id in markup.labels_for, f"input {input_id} has no label"


def test_overdue_steps_are_marked_and_a_step_is_marked_done(login_as, world):
    client = login_as("gestor_06")
    case = _case_from_the_alert_page(client, world)
    first = case.steps[0]
    first.due_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    page = _page(client.get(f"/casos/{case.id}"))
    step_html = page.split(f'/pasos/{first.id}"')[0].rsplit('<li class="case-step', 1)[1]
    assert "case-step-late" in step_html and "vencido" in step_html
    response = client.post(
        f"/casos/{case.id}/pasos/{first.id}", data={"note": "Se acompañó a la estudiante."}
    )
    assert response.status_code == 302
    db.session.refresh(first)
    assert first.done_at is not None
    page = _page(client.get(f"/casos/{case.id}"))
    assert "Paso marcado como hecho." in page
    assert "Se acompañó a la estudiante." in page
    assert client.post(f"/casos/{case.id}/pasos/{first.id}").status_code == 409


def test_follow_ups_referral_and_closure_approved_by_the_supervisor(client, login_as, world):
    login_as("gestor_06")
    case = _case_from_the_alert_page(client, world)
    alert = case.alerts[0].alert
    url = f"/casos/{case.id}"

    # What closing needs is said up front.
    page = _page(client.get(url))
    assert "Para cerrar el caso falta:" in page
    assert "necesita al menos 3 seguimientos; tiene 0." in page

    response = client.post(f"{url}/seguimientos", data={"note": ""})
    assert response.status_code == 422
    assert "Escriba una nota." in _page(response)
    assert client.post(f"{url}/seguimientos", data={"note": "Visita 1."}).status_code == 302

    response = client.post(
        f"{url}/referencias",
        data={"institution": "FGR", "note": "Aviso por oficio.", "reference": ""},
    )
    assert response.status_code == 302
    page = _page(client.get(url))
    assert "Caso referido a Fiscalía General de la República (FGR)." in page
    assert "Enviada" in page
    assert "Faltan respuestas de: FGR." in page
    assert "tiene 1." in page
    response = client.post(f"{url}/referencias", data={"institution": "FGR"})
    assert response.status_code == 409
    assert "Ya hay una referencia en curso a esa institución." in _page(response)

    # Asking too early is refused, keeping the summary as typed.
    response = client.post(f"{url}/cierre", data={"summary": "Resumen <b>previo</b>."})
    assert response.status_code == 422
    page = _page(response)
    assert "necesita al menos 3 seguimientos" in page
    assert "Resumen &lt;b&gt;previo&lt;/b&gt;.</textarea>" in page

    referral = case.referrals[0]
    response = client.post(
        f"{url}/referencias/{referral.id}", data={"to": "aceptada", "reference": "FGR-2026-7"}
    )
    assert response.status_code == 302
    page = _page(client.get(url))
    assert "Aceptada" in page and "FGR-2026-7" in page
    assert (
        client.post(f"{url}/referencias/{referral.id}", data={"to": "concluida"}).status_code == 302
    )
    for n in (2, 3):
        client.post(f"{url}/seguimientos", data={"note": f"Visita {n}."})
    page = _page(client.get(url))
    assert "El caso reúne lo que el protocolo pide para cerrarse." in page
    response = client.post(f"{url}/cierre", data={"summary": "Protección, FGR y 3 visitas."})
    assert response.status_code == 302
    page = _page(client.get(url))
    assert "Cierre solicitado. La supervisión del departamento lo revisará." in page
    assert "Espera la aprobación de la supervisión del departamento." in page
    assert client.post(f"{url}/cierre/aprobar").status_code == 403
    client.post("/salir")

    login_as("supervisor_06")
    page = _page(client.get(url))
    assert "Aprobar cierre" in page and "Protección, FGR y 3 visitas." in page
    response = client.post(f"{url}/cierre/aprobar")
    assert response.status_code == 302
    db.session.refresh(case)
    db.session.refresh(alert)
    assert case.status == "cerrado"
    assert alert.status == "resuelta"
    page = _page(client.get(url))
    assert "Cierre aprobado." in page
    assert "aprobó supervisor_06" in page
    alert_page = _page(client.get(f"/alertas/{alert.id}"))
    assert '<span class="badge alert-status alert-status-resuelta">resuelta</span>' in alert_page


def test_a_refused_referral_needs_a_reason_kept_as_typed(login_as, world):
    client = login_as("gestor_06")
    case = _case_from_the_alert_page(client, world)
    url = f"/casos/{case.id}"
    client.post(f"{url}/referencias", data={"institution": "CONAPINA"})
    referral = case.referrals[0]
    response = client.post(f"{url}/referencias/{referral.id}", data={"to": "rechazada"})
    assert response.status_code == 422
    page = _page(response)
    assert "Explique el motivo." in page
    assert f'id="referencia-{referral.id}-rechazada-reason-error"' in page
    response = client.post(
        f"{url}/referencias/{referral.id}",
        data={"to": "rechazada", "reason": "No es de su competencia."},
    )
    assert response.status_code == 302
    page = _page(client.get(url))
    assert "Rechazada" in page and "No es de su competencia." in page
    response = client.post(f"{url}/referencias", data={"institution": "NO_EXISTE"})
    assert response.status_code == 422
    assert "Elija una institución del catálogo." in _page(response)


def test_the_supervisor_sends_a_closure_back_and_a_closed_case_reopens(client, login_as, world):
    case = builders.case_at(world, "requested")
    db.session.commit()
    url = f"/casos/{case.id}"
    login_as("supervisor_06")
    response = client.post(f"{url}/cierre/devolver", data={"reason": ""})
    assert response.status_code == 422
    assert "Explique qué falta para cerrar el caso." in _page(response)
    response = client.post(
        f"{url}/cierre/devolver", data={"reason": "Falta hablar con la familia."}
    )
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status == "abierto"
    page = _page(client.get(url))
    assert "Devolvió el caso sin cerrarlo." in page
    assert "Falta hablar con la familia." in page
    client.post("/salir")

    login_as("gestor_06")
    client.post(f"{url}/cierre", data={"summary": "Ya se habló con la familia."})
    client.post("/salir")
    login_as("supervisor_06")
    client.post(f"{url}/cierre/aprobar")
    client.post("/salir")
    login_as("gestor_06")
    response = client.post(f"{url}/reabrir", data={"reason": ""})
    assert response.status_code == 422
    response = client.post(f"{url}/reabrir", data={"reason": "La agresión se repitió."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status == "abierto"
    assert case.alerts[0].alert.status == "en_atencion"
    assert "Reabrió el caso." in _page(client.get(url))


def test_the_case_list_and_its_status_filter(login_as, world):
    client = login_as("gestor_06")
    case = builders.case_at(world, "requested")
    db.session.commit()
    ref = f"C-{case.id:06d}"
    assert ref in _page(client.get("/casos/"))
    assert ref in _page(client.get("/casos/?estado=cierre_solicitado"))
    assert ref not in _page(client.get("/casos/?estado=cerrado"))
    assert ref in _page(client.get("/casos/?estado=todos"))
    page = _page(client.get("/casos/"))
    assert "Cierre solicitado" in page
    assert f"NIE {world.students_a[0]}" in page


def test_cases_are_refused_to_other_roles_and_departments(client, login_as, world):
    make_user("supervisor_05", R.SUPERVISOR, department="05")
    case = builders.case_at(world)
    db.session.commit()
    url = f"/casos/{case.id}"
    for username in ("docente_a", "director_a", "departamental_06", "nacional", "admin"):
        login_as(username)
        assert client.get("/casos/").status_code == 403
        assert client.get(url).status_code == 403
        client.post("/salir")
    login_as("supervisor_05")
    response = client.get(url)
    assert response.status_code == 404
    assert world.students_a[0] not in _page(response)
    assert client.post(f"{url}/seguimientos", data={"note": "Intento."}).status_code == 404
    assert client.post(f"{url}/cierre/aprobar").status_code == 404
    assert f"C-{case.id:06d}" not in _page(client.get("/casos/"))
    db.session.refresh(case)
    assert case.follow_ups == []


def test_a_step_or_referral_of_another_case_is_refused(login_as, world):
    client = login_as("gestor_06")
    case = builders.case_at(world)
    foreign = builders.foreign_case(world)
    db.session.commit()
    step = foreign.steps[0]
    response = client.post(f"/casos/{case.id}/pasos/{step.id}", data={"note": "x"})
    assert response.status_code == 404
    db.session.refresh(step)
    assert step.done_at is None


def test_a_closed_case_whose_alert_was_raised_again_is_not_reopened(login_as, world):
    client = login_as("gestor_06")
    case = builders.case_at(world, "closed")
    builders.file_sexual_violence(world)  # the same child again: a new alert
    new = builders.victim_alert(world)
    assert new.status == "abierta"
    db.session.commit()
    response = client.post(f"/casos/{case.id}/reabrir", data={"reason": "Se repitió."})
    assert response.status_code == 409
    page = _page(response)
    assert f"La situación ya tiene una alerta nueva, A-{new.id:06d}" in page
    assert "Se repitió.</textarea>" in page
    db.session.refresh(case)
    assert case.status == "cerrado"
