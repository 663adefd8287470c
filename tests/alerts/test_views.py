"""The alert inbox and page: who sees what, why an alert exists, and acting on it by the web."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.cases.models import Case
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import Student
from tests.alerts import builders
from tests.conftest import count
from tests.factories import make_user
from tests.test_pages import parse


def _page(response) -> str:
    return response.get_data(as_text=True)


def _refs(page: str) -> list[str]:
    """Return the alert references of an inbox page, in order."""
    return re.findall(r'<span class="alert-ref">(A-\d{6})</span>', page)


def _ref(alert: Alert) -> str:
    return f"A-{alert.id:06d}"


def _student(nie: str) -> Student:
    return db.session.scalar(sa.select(Student).where(Student.nie == nie))


def _three_alerts(world) -> tuple[Alert, Alert, Alert]:
    """Raise the victim's, the aggressor's and the school's alerts (one report); commit them."""
    builders.file_sexual_violence(world)
    victim = builders.victim_alert(world)
    aggressor = builders.victim_alert(world, world.students_a[1])
    school = db.session.scalar(sa.select(Alert).where(Alert.entity_type == "school"))
    db.session.commit()
    return victim, aggressor, school


# --- The inbox ---------------------------------------------------------------------------------


def test_the_inbox_shows_the_assigned_alert_with_identity_to_its_handler(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    page = _page(client.get("/alertas/"))
    student = _student(world.students_a[0])
    assert _ref(alert) in page
    assert "Hecho grave (alerta inmediata)" in page
    assert f"Estudiante NIE {student.nie}" in page
    assert f"{student.given_names} {student.family_names}" in page
    assert world.school_a in page and "Centro Escolar Prueba Alfa" in page
    assert "Asignada a gestor_06" in page
    assert "Plazo para reconocer" in page
    assert 'href="/alertas/' in page
    audited = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "alert.list"))
    assert audited is not None


def test_overdue_alerts_come_first_then_by_level(login_as, world):
    client = login_as("gestor_06")
    victim, aggressor, school = _three_alerts(world)
    aggressor.due_at = utcnow() - timedelta(hours=1)  # nobody acknowledged it in time
    school.level = "alto"
    db.session.commit()
    page = _page(client.get("/alertas/"))
    assert _refs(page) == [_ref(aggressor), _ref(victim), _ref(school)]
    overdue_card = page.split(_ref(aggressor))[1].split("</li>")[0]
    assert "vencida" in overdue_card
    assert "vencida" not in page.split(_ref(victim))[1].split("</li>")[0]


def test_the_inbox_filters_by_level_rule_school_and_status(login_as, world):
    client = login_as("gestor_06")
    victim, aggressor, school = _three_alerts(world)
    school.level = "alto"
    db.session.commit()
    assert _refs(_page(client.get("/alertas/?nivel=alto"))) == [_ref(school)]
    by_rule = _refs(_page(client.get("/alertas/?regla=hecho_grave_estudiante")))
    assert sorted(by_rule) == sorted([_ref(victim), _ref(aggressor)])
    assert _refs(_page(client.get(f"/alertas/?escuela={world.school_b}"))) == []
    assert len(_refs(_page(client.get(f"/alertas/?escuela={world.school_a}")))) == 3
    client.post(f"/alertas/{school.id}/transicion", data={"to": "descartada",
                "reason": "duplicada"})  # fmt: skip
    assert _ref(school) not in _refs(_page(client.get("/alertas/")))
    assert _refs(_page(client.get("/alertas/?estado=descartada"))) == [_ref(school)]
    assert _ref(school) in _refs(_page(client.get("/alertas/?estado=todas")))
    kept = _page(client.get("/alertas/?nivel=alto&regla=hecho_grave_centro&estado=todas"))
    assert '<option value="alto" selected>' in kept
    assert '<option value="hecho_grave_centro" selected>' in kept
    assert "Quitar filtros" in kept


def test_nobody_else_reads_the_inbox(client, login_as, world):
    builders.raised_alert(world)
    db.session.commit()
    for username in ("docente_a", "director_a", "departamental_06", "admin"):
        login_as(username)
        assert client.get("/alertas/").status_code == 403
        client.post("/salir")


# --- One alert ---------------------------------------------------------------------------------


def test_the_alert_page_explains_the_rule_and_shows_the_timeline(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    incident_id = alert.evidence[0].incident_id
    db.session.commit()
    response = client.get(f"/alertas/{alert.id}")
    assert response.status_code == 200
    page = _page(response)
    assert "Por qué se generó" in page
    assert "Hecho grave (alerta inmediata)" in page
    assert "Participó en 1 hechos de alerta inmediata en los últimos 30 días" in page
    assert "Tocamientos o actos de connotación sexual" in page
    assert f'href="/incidentes/{incident_id}"' in page  # the handler may open it (in summary)
    assert "Alerta generada, nivel crítico." in page
    assert "Asignada a gestor_06." in page
    assert "Reconocer la alerta" in page
    assert "Abrir un caso" not in page  # only once acknowledged
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "alert.view", AuditEvent.object_id == str(alert.id)
        )
    )
    markup = parse(page)
    assert markup.inline_scripts == 0 and markup.inline_styles == [] and markup.handlers == []
    for input_id in markup.inputs:
        assert input_id in markup.labels_for, f"input {input_id} has no label"


def test_acknowledge_then_dismiss_with_a_reason(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    response = client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida"})
    assert response.status_code == 302
    assert response.location == f"/alertas/{alert.id}"
    page = _page(client.get(response.location))
    assert "Alerta reconocida." in page
    assert "Abrir un caso" in page and "Dejar en seguimiento" in page
    response = client.post(
        f"/alertas/{alert.id}/transicion",
        data={"to": "descartada", "reason": "falso_positivo", "note": "Revisado <b>con</b> ella."},
    )
    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.status == "descartada"
    assert alert.dismiss_reason == "falso_positivo"
    page = _page(client.get(f"/alertas/{alert.id}"))
    assert "Alerta descartada." in page
    assert "Motivo: Falso positivo" in page
    assert "Revisado &lt;b&gt;con&lt;/b&gt; ella." in page
    assert "Pasó de «reconocida» a «descartada»." in page
    assert "Reabrir la alerta" in page


def test_a_refused_transition_says_why_in_spanish_and_keeps_the_note(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    response = client.post(
        f"/alertas/{alert.id}/transicion",
        data={"to": "descartada", "reason": "", "note": "Lo que <i>escribí</i>."},
    )
    assert response.status_code == 422
    page = _page(response)
    assert "Indique el motivo para descartar la alerta." in page
    assert 'id="descartada-reason-error"' in page
    assert "Lo que &lt;i&gt;escribí&lt;/i&gt;.</textarea>" in page
    assert '<details class="action-details" open>' in page
    db.session.refresh(alert)
    assert alert.status == "abierta"

    response = client.post(
        f"/alertas/{alert.id}/transicion", data={"to": "resuelta", "note": "Se habló."}
    )
    assert response.status_code == 409
    assert "Una alerta «abierta» no puede pasar a «resuelta»." in _page(response)


def test_a_review_date_must_be_in_the_future_and_is_kept_when_refused(login_as, world):
    client = login_as("gestor_06")
    alert = builders.acknowledged_alert(world)
    db.session.commit()
    response = client.post(
        f"/alertas/{alert.id}/transicion",
        data={"to": "en_seguimiento", "review_at": "2020-01-31", "note": "Vigilar."},
    )
    assert response.status_code == 422
    page = _page(response)
    assert "Indique una fecha futura para revisar la alerta." in page
    assert 'value="2020-01-31"' in page
    later = (utcnow() + timedelta(days=7)).date().isoformat()
    response = client.post(
        f"/alertas/{alert.id}/transicion", data={"to": "en_seguimiento", "review_at": later}
    )
    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.status == "en_seguimiento"
    assert "Alerta en seguimiento; revísela el" in _page(client.get(response.location))


def test_the_supervisor_reassigns_and_the_handler_cannot(client, login_as, world):
    other = make_user("gestor_06b", R.GESTOR, department="06", display_name="Otra Gestora")
    alert = builders.raised_alert(world)
    db.session.commit()
    login_as("gestor_06")
    page = _page(client.get(f"/alertas/{alert.id}"))
    assert "Reasignar la alerta" not in page
    response = client.post(f"/alertas/{alert.id}/reasignar", data={"assignee": str(other.id)})
    assert response.status_code == 403
    client.post("/salir")

    login_as("supervisor_06")
    page = _page(client.get(f"/alertas/{alert.id}"))
    assert "Reasignar la alerta" in page and "Otra Gestora" in page
    response = client.post(f"/alertas/{alert.id}/reasignar", data={"assignee": ""})
    assert response.status_code == 422
    assert "Elija un gestor de casos activo" in _page(response)
    response = client.post(
        f"/alertas/{alert.id}/reasignar", data={"assignee": str(other.id), "note": "Carga."}
    )
    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.assignee_id == other.id
    assert "Alerta asignada a Otra Gestora." in _page(client.get(response.location))
    client.post("/salir")

    login_as("gestor_06")  # no longer hers
    assert client.get(f"/alertas/{alert.id}").status_code == 404


def test_school_staff_and_regional_offices_are_refused(client, login_as, world):
    alert = builders.raised_alert(world)
    db.session.commit()
    for username in ("docente_a", "departamental_06"):
        login_as(username)
        assert client.get(f"/alertas/{alert.id}").status_code == 403
        response = client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida"})
        assert response.status_code == 403
        client.post("/salir")
    db.session.refresh(alert)
    assert alert.status == "abierta"


def test_another_departments_supervisor_gets_404(client, login_as, world):
    make_user("supervisor_05", R.SUPERVISOR, department="05")
    alert = builders.raised_alert(world)
    db.session.commit()
    login_as("supervisor_05")
    response = client.get(f"/alertas/{alert.id}")
    assert response.status_code == 404
    assert world.students_a[0] not in _page(response)
    assert (
        client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida"}).status_code == 404
    )
    assert client.post(f"/alertas/{alert.id}/caso").status_code == 404
    assert _ref(alert) not in _page(client.get("/alertas/"))
    db.session.refresh(alert)
    assert alert.status == "abierta"


def test_national_analysts_see_escalated_alerts_in_summary_only(client, login_as, world):
    alert = builders.raised_alert(world)
    db.session.commit()
    login_as("nacional")
    assert client.get(f"/alertas/{alert.id}").status_code == 404
    assert _ref(alert) not in _page(client.get("/alertas/"))
    alert.escalation = 2
    db.session.commit()
    student = _student(world.students_a[0])
    inbox = _page(client.get("/alertas/"))
    assert _ref(alert) in inbox
    page = _page(client.get(f"/alertas/{alert.id}"))
    assert "Usted ve un resumen" in page
    assert student.given_names not in page and student.nie not in page
    assert student.given_names not in inbox and student.nie not in inbox
    assert "Reconocer la alerta" not in page
    assert "Escaló" not in page or "Nivel nacional" in page
    response = client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida"})
    assert response.status_code == 403


def test_an_unacknowledged_alert_gets_no_case_and_nothing_is_left_behind(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    response = client.post(f"/alertas/{alert.id}/caso")
    assert response.status_code == 409
    assert "Reconozca la alerta antes de abrir un caso." in _page(response)
    assert count(Case) == 0


def test_opening_a_case_from_the_alert_goes_to_the_case(login_as, world):
    client = login_as("gestor_06")
    alert = builders.acknowledged_alert(world)
    db.session.commit()
    response = client.post(f"/alertas/{alert.id}/caso")
    assert response.status_code == 302
    case = db.session.scalar(sa.select(Case))
    assert response.location == f"/casos/{case.id}"
    page = _page(client.get(response.location))
    assert f"Caso C-{case.id:06d} abierto." in page
    db.session.refresh(alert)
    assert alert.status == "en_atencion"
    page = _page(client.get(f"/alertas/{alert.id}"))
    assert f'href="/casos/{case.id}"' in page
    assert "Resolver la alerta" not in page  # its case resolves it
    # A second click goes to the same case, not a second one.
    assert client.post(f"/alertas/{alert.id}/caso").location == f"/casos/{case.id}"
    assert count(Case) == 1


def test_reopening_a_dismissed_alert_needs_a_note(login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    client.post(f"/alertas/{alert.id}/transicion", data={"to": "descartada",
                "reason": "error_datos"})  # fmt: skip
    response = client.post(f"/alertas/{alert.id}/transicion", data={"to": "abierta"})
    assert response.status_code == 422
    assert "Explique por qué se reabre la alerta." in _page(response)
    response = client.post(
        f"/alertas/{alert.id}/transicion", data={"to": "abierta", "note": "Nueva información."}
    )
    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.status == "abierta"


def test_an_expired_form_keeps_what_was_typed(app, login_as, world):
    client = login_as("gestor_06")
    alert = builders.raised_alert(world)
    db.session.commit()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post(
            f"/alertas/{alert.id}/transicion",
            data={"to": "descartada", "reason": "duplicada", "note": "Escrito antes de caducar."},
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    page = _page(response)
    assert "Su sesión de formulario caducó" in page
    assert "Escrito antes de caducar.</textarea>" in page
    assert '<option value="duplicada" selected>' in page
    assert re.search(r'name="csrf_token" value="[^"]+"', page)
    db.session.refresh(alert)
    assert alert.status == "abierta"


# --- Navigation and home pages ------------------------------------------------------------------


def test_handlers_find_alerts_and_cases_in_the_menu_and_on_their_home(client, login_as, world):
    alert = builders.raised_alert(world)
    alert.due_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    for username, has_cases in (("gestor_06", True), ("supervisor_06", True), ("nacional", False)):
        login_as(username)
        page = _page(client.get("/inicio"))
        assert 'href="/alertas/"' in page
        assert ('href="/casos/"' in page) is has_cases
        # One overdue alert for the department's handler and supervisor; none escalated yet.
        assert ("alerts-overdue figure-late" in page) is has_cases
        client.post("/salir")
    login_as("docente_a")
    page = _page(client.get("/inicio"))
    assert 'href="/alertas/"' not in page and 'href="/casos/"' not in page


def test_a_dismissed_alert_raised_again_is_not_reopened_beside_the_new_one(login_as, world):
    client = login_as("gestor_06")
    old = builders.raised_alert(world)
    db.session.commit()
    client.post(f"/alertas/{old.id}/transicion", data={"to": "descartada",
                "reason": "falso_positivo"})  # fmt: skip
    builders.file_sexual_violence(world)  # a new report: immediate alerts never cool down
    new = builders.victim_alert(world)
    assert new.id != old.id and new.status == "abierta"
    db.session.commit()
    response = client.post(
        f"/alertas/{old.id}/transicion", data={"to": "abierta", "note": "Nueva información."}
    )
    assert response.status_code == 409
    assert f"Ya hay una alerta abierta por la misma regla: {_ref(new)}." in _page(response)
    assert "Nueva información.</textarea>" in _page(response)
    db.session.refresh(old)
    assert old.status == "descartada"
