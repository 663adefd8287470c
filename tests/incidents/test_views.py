"""The incident pages: filing through the form, what each reader sees, the principal's actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.forms import local_now_parts
from salve.incidents.models import Incident, IncidentDraft
from salve.schools.models import School, Student
from tests import factories
from tests.conftest import count


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _form(world, key: str = "clave-formulario-0001", **overrides) -> dict:
    """Return the report form as a browser posts it: two students of school_a."""
    day, minute = local_now_parts(utcnow() - timedelta(hours=2))
    data = {
        "idempotency_key": key,
        "party_rows": "4",
        "occurred_date": day,
        "occurred_time": minute,
        "location": "patio",
        "types": ["ACO_VERBAL", "PSI_AMENAZAS"],
        "relationship": "estudiante_estudiante",
        "parties-0-role": "victima",
        "parties-0-kind": "estudiante",
        "parties-0-nie": world.students_a[0],
        "parties-1-role": "agresor",
        "parties-1-kind": "estudiante",
        "parties-1-nie": world.students_a[1],
        "repetition": "2_3",
        "measures": ["separacion", "aviso_familia"],
        "narrative": "En el recreo le quitaron la refacción y lo amenazaron.",
        "action": "submit",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _file(client, world, **overrides) -> Incident:
    response = client.post("/incidentes/nuevo", data=_form(world, **overrides))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    incident_id = int(re.search(r"/incidentes/(\d+)$", response.location).group(1))
    return db.session.get(Incident, incident_id)


def _page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def test_the_form_offers_a_key_the_local_time_and_four_party_rows(client, login_as, world):
    login_as("docente_a")
    page = _page(client, "/incidentes/nuevo")
    assert re.search(r'name="idempotency_key" value="[\w-]{20,}"', page)
    assert f'value="{local_now_parts()[0]}"' in page
    assert 'name="parties-3-role"' in page and 'name="parties-4-role"' not in page
    assert "Nivel III" in page and "Acoso escolar" in page
    assert 'name="action" value="save_draft"' in page


def test_filing_through_the_form_stores_one_incident_with_two_students(client, login_as, world):
    login_as("docente_a")
    before = count(Incident)
    incident = _file(client, world)
    assert count(Incident) == before + 1
    assert sorted(incident.type_codes) == ["ACO_VERBAL", "PSI_AMENAZAS"]
    assert [(p.role, p.student.nie) for p in incident.parties] == [
        ("victima", world.students_a[0]),
        ("agresor", world.students_a[1]),
    ]
    assert incident.channel == "web" and incident.reporter.username == "docente_a"
    assert incident.measures == ["separacion", "aviso_familia"]
    page = _page(client, f"/incidentes/{incident.id}")
    assert f"Reporte registrado con el número {incident.id}" in page
    assert incident.parties[0].student.given_names in page
    assert "le quitaron la refacción" in page


def test_a_double_submit_lands_on_the_same_incident(client, login_as, world):
    login_as("docente_a")
    before = count(Incident)
    first = client.post("/incidentes/nuevo", data=_form(world, key="doble-clic-000001"))
    second = client.post("/incidentes/nuevo", data=_form(world, key="doble-clic-000001"))
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert count(Incident) == before + 1
    assert "no se guardó dos veces" in _page(client, second.location)


def test_errors_show_every_field_as_typed_and_store_nothing(client, login_as, world):
    login_as("docente_a")
    before = count(Incident)
    response = client.post(
        "/incidentes/nuevo",
        data=_form(world, types=[], **{"parties-1-nie": "99999999"}, measures_note="Se llamó."),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert count(Incident) == before
    assert "Revise los datos marcados" in page
    assert "Elija al menos un tipo de violencia." in page
    assert 'id="parties-1-nie-error"' in page and "No hay un estudiante con NIE 99999999" in page
    assert 'value="99999999"' in page
    assert f'value="{world.students_a[0]}"' in page
    assert "En el recreo le quitaron la refacción y lo amenazaron." in page
    assert "Se llamó." in page
    assert 'value="clave-formulario-0001"' in page  # the retry keeps the same key
    assert re.search(r'value="patio"\s+selected', page)
    assert 'value="separacion" checked' in page


def test_a_student_of_another_school_is_refused(client, login_as, world):
    login_as("docente_a")
    response = client.post(
        "/incidentes/nuevo", data=_form(world, **{"parties-1-nie": world.students_c[0]})
    )
    assert response.status_code == 422
    assert f"No hay un estudiante con NIE {world.students_c[0]} en esta escuela" in (
        response.get_data(as_text=True)
    )


def test_adding_a_party_row_keeps_everything_typed(client, login_as, world):
    login_as("docente_a")
    response = client.post("/incidentes/nuevo", data=_form(world, action="add_party"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="parties-4-role"' in page and 'name="parties-5-role"' not in page
    assert 'id="parties-4-role" name="parties-4-role" autofocus' in page
    assert "le quitaron la refacción" in page
    assert 'value="ACO_VERBAL" checked' in page


def test_markup_in_the_narrative_is_shown_escaped(client, login_as, world):
    login_as("docente_a")
    incident = _file(client, world, narrative='<script>alert("x")</script><b>negrita</b>')
    page = _page(client, f"/incidentes/{incident.id}")
    assert "<script>alert" not in page and "<b>negrita</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;negrita&lt;/b&gt;" in page


def test_another_schools_staff_gets_404_and_no_list_entry(client, login_as, world):
    login_as("docente_a")
    incident = _file(client, world)
    client.post("/salir")
    login_as("docente_b")
    page = _page(client, f"/incidentes/{incident.id}", 404)
    assert "refacción" not in page
    assert f"/incidentes/{incident.id}" not in _page(client, "/incidentes/")


def test_a_colleague_sees_a_summary_only_and_never_a_staff_aggressor_report(
    client, login_as, world
):
    school_a = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    factories.make_user("docente_a2", R.DOCENTE, school=school_a)
    login_as("docente_a")
    incident = _file(client, world)
    staff = _file(
        client,
        world,
        key="clave-personal-0001",
        types=["FIS_CASTIGO"],
        relationship="personal_estudiante",
        **{"parties-1-kind": "personal", "parties-1-nie": "", "parties-1-description": "Docente"},
    )
    assert staff.names_staff_aggressor
    client.post("/salir")

    login_as("docente_a2")
    page = _page(client, f"/incidentes/{incident.id}")
    assert "Usted ve un resumen" in page
    assert "Patio" in page and "Amenazas o intimidación" in page
    assert "refacción" not in page
    for party in incident.parties:
        assert party.student.nie not in page
        assert party.student.given_names not in page
    _page(client, f"/incidentes/{staff.id}", 404)
    listing = _page(client, "/incidentes/")
    assert f"/incidentes/{incident.id}" in listing
    assert f"/incidentes/{staff.id}" not in listing
    assert "reportado por usted" not in listing
    events = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "incident.view", AuditEvent.object_id == str(incident.id)
        )
    ).all()
    assert any(e.detail.get("level") == "summary" for e in events)


def test_the_reporter_sees_own_reports_marked_in_the_list(client, login_as, world):
    login_as("docente_a")
    incident = _file(client, world)
    listing = _page(client, "/incidentes/")
    assert f"/incidentes/{incident.id}" in listing and "reportado por usted" in listing
    assert f"/incidentes/{incident.id}" not in _page(client, "/incidentes/?estado=validado")
    assert f"/incidentes/{incident.id}" in _page(client, "/incidentes/?tipo=ACO_VERBAL")
    assert f"/incidentes/{incident.id}" not in _page(client, "/incidentes/?tipo=FIS_LEVE")
    today = local_now_parts()[0]
    assert f"/incidentes/{incident.id}" in _page(client, f"/incidentes/?desde={today}")


def test_the_principal_validates_amends_and_closes_as_unfounded(client, login_as, world):
    login_as("docente_a")
    incident = _file(client, world)
    client.post("/salir")
    login_as("director_a")
    home = _page(client, "/inicio")
    assert "Reportar un incidente" in home and "reporte espera su validación" in home

    page = _page(client, f"/incidentes/{incident.id}")
    assert "Validar reporte" in page and "Pasos del protocolo y plazos" in page
    assert client.post(f"/incidentes/{incident.id}/validar").status_code == 302
    assert db.session.get(Incident, incident.id).status == "validado"

    form = _page(client, f"/incidentes/{incident.id}/corregir")
    assert "En el recreo le quitaron" in form
    assert re.search(r'value="patio"\s+selected', form)
    missing_reason = client.post(
        f"/incidentes/{incident.id}/corregir", data=_form(world, location="aula", reason="")
    )
    assert missing_reason.status_code == 422
    assert "Explique el motivo de la corrección." in missing_reason.get_data(as_text=True)
    assert db.session.get(Incident, incident.id).location == "patio"

    amended = client.post(
        f"/incidentes/{incident.id}/corregir",
        data=_form(
            world,
            location="aula",
            narrative="En el aula le quitaron la refacción.",
            reason="La docente aclaró el lugar.",
        ),
    )
    assert amended.status_code == 302
    page = _page(client, f"/incidentes/{incident.id}")
    history = page.split('id="historial"')[1]
    assert "Corrección" in history and "La docente aclaró el lugar." in history
    assert "Patio" in history and "Aula" in history
    assert "En el recreo le quitaron la refacción y lo amenazaron." in history
    assert "En el aula le quitaron la refacción." in history
    assert "Validación" in history

    refused = client.post(f"/incidentes/{incident.id}/infundado", data={"reason": " "})
    assert refused.status_code == 422
    assert "Explique por qué el reporte es infundado." in refused.get_data(as_text=True)
    closed = client.post(
        f"/incidentes/{incident.id}/infundado", data={"reason": "Se verificó que no ocurrió."}
    )
    assert closed.status_code == 302
    incident = db.session.get(Incident, incident.id)
    assert incident.status == "infundado"
    assert incident.closed_reason == "Se verificó que no ocurrió."
    page = _page(client, f"/incidentes/{incident.id}")
    assert "Cerrado como infundado" in page and "Se verificó que no ocurrió." in page
    assert "Validar reporte" not in page and "/corregir" not in page


@pytest.mark.parametrize("action", ["validar", "infundado"])
def test_a_teacher_cannot_validate_or_close(client, login_as, world, action):
    login_as("docente_a")
    incident = _file(client, world)
    response = client.post(f"/incidentes/{incident.id}/{action}", data={"reason": "x"})
    assert response.status_code == 403
    assert db.session.get(Incident, incident.id).status == "reportado"
    assert "Validar reporte" not in _page(client, f"/incidentes/{incident.id}")


def test_drafts_are_saved_listed_reopened_and_gone_once_filed(client, login_as, world):
    login_as("docente_a")
    saved = client.post(
        "/incidentes/nuevo", data=_form(world, key="borrador-00000001", action="save_draft")
    )
    assert saved.status_code == 302
    assert saved.location.endswith("/incidentes/nuevo?borrador=borrador-00000001")
    assert count(IncidentDraft) == 1
    page = _page(client, saved.location)
    assert "Borrador guardado" in page
    assert "borrador=borrador-00000001" in _page(client, "/incidentes/borradores")
    assert "le quitaron la refacción" in page and f'value="{world.students_a[1]}"' in page
    assert 'value="borrador-00000001"' in page
    _file(client, world, key="borrador-00000001")
    assert count(IncidentDraft) == 0
    client.post("/salir")
    login_as("director_a")
    _page(client, "/incidentes/nuevo?borrador=borrador-00000001", 404)


def _csrf_token(app, client, *, age: int = 0, raw: str | None = None) -> str:
    """Return a CSRF token for the client's session (or for ``raw``), signed ``age`` s ago."""
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class SignedEarlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - age

    client.get("/incidentes/nuevo")  # gives the session its raw token
    with client.session_transaction() as session:
        raw = raw if raw is not None else session["csrf_token"]
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token", signer=SignedEarlier).dumps(raw)


def _post_with_csrf(app, client, data: dict):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        return client.post("/incidentes/nuevo", data=data)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def _draft(key: str) -> IncidentDraft | None:
    return db.session.scalar(sa.select(IncidentDraft).where(IncidentDraft.idempotency_key == key))


def test_an_expired_csrf_token_keeps_the_report_as_a_draft(app, client, login_as, world):
    login_as("docente_a")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        expired = _csrf_token(app, client, age=app.config.get("WTF_CSRF_TIME_LIMIT", 3600) + 60)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    response = _post_with_csrf(
        app, client, _form(world, key="caducado-00000001", csrf_token=expired)
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Su sesión de formulario caducó" in page
    assert "le quitaron la refacción" in page and 'value="caducado-00000001"' in page
    assert re.search(r'name="csrf_token" value="[^"]+"', page)
    draft = _draft("caducado-00000001")
    assert draft is not None and draft.data["narrative"].startswith("En el recreo")
    assert not db.session.scalar(
        sa.select(Incident).where(Incident.idempotency_key == "caducado-00000001")
    )


@pytest.mark.parametrize("token", ["missing", "empty", "forged", "other_session", "other_key"])
def test_a_post_without_a_live_token_of_this_session_saves_no_draft(
    app, client, login_as, world, token
):
    """A cross-site POST carries no token, or one it made up or took from another session."""
    login_as("docente_a")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        values = {
            "missing": None,
            "empty": "",
            "forged": "ImFiYyI.aGVsbG8.bm90LXNpZ25lZA",
            # Signed by this server, expired, but for another browser's session.
            "other_session": _csrf_token(app, client, age=7200, raw="0" * 40),
            # Expired and for this session, but signed with another key.
            "other_key": _csrf_token(app, client, age=7200).rsplit(".", 1)[0] + ".ZmFrZQ",
        }
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    key = f"forjado-{token}"[:24].ljust(16, "0")
    response = _post_with_csrf(app, client, _form(world, key=key, csrf_token=values[token]))
    assert response.status_code == 400
    assert "le quitaron la refacción" not in response.get_data(as_text=True)
    assert _draft(key) is None
    assert count(IncidentDraft) == 0
    assert not db.session.scalar(sa.select(Incident).where(Incident.idempotency_key == key))


def test_student_search_finds_by_name_within_the_school(client, login_as, world):
    login_as("docente_a")
    student = db.session.scalar(sa.select(Student).where(Student.nie == world.students_a[2]))
    page = _page(client, f"/incidentes/estudiantes?q={student.given_names}")
    assert world.students_a[2] in page
    assert world.students_c[0] not in page
    _page(client, f"/incidentes/estudiantes?escuela={world.school_c}", 404)
