"""The bugs the fuzz tests found, each pinned by the input that showed it (no randomness).

Each of these answered with a server error (500) before its fix; the generated tests may draw
the same input again only by chance.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.auth.models import User
from salve.breakglass.models import BreakGlassGrant
from salve.extensions import db
from tests.alerts import builders
from tests.api.conftest import token_for
from tests.fuzz.forms import user
from tests.fuzz.support import shows_form_error


def test_an_account_can_be_created_with_an_email_address(app, client, login_as, world):
    # WTForms' Email() needs a package SALVE does not install: every address was a 500.
    login_as("admin")
    form = {
        "username": "con_correo",
        "role": "docente",
        "school_code": world.school_a,
        "password": "una frase larga y segura 2026",
    }
    response = client.post("/admin/usuarios/nuevo", data={**form, "email": "ana@ejemplo.org"})
    assert response.status_code == 302
    created = db.session.scalar(sa.select(User).where(User.username == "con_correo"))
    assert created.email == "ana@ejemplo.org"
    response = client.post(
        "/admin/usuarios/nuevo", data={**form, "username": "otro", "email": "sin arroba"}
    )
    assert response.status_code == 200
    assert "Escriba un correo válido." in response.get_data(as_text=True)
    assert shows_form_error(response)


@pytest.mark.parametrize("assignee", ["²", "9" * 30, "٣"])
def test_reassigning_to_a_number_that_is_no_id_is_refused(app, client, login_as, world, assignee):
    # "²".isdigit() is True and int("²") fails; 30 digits overflow the id column.
    alert = builders.raised_alert(world)
    db.session.commit()
    login_as("supervisor_06")
    response = client.post(f"/alertas/{alert.id}/reasignar", data={"assignee": assignee})
    assert response.status_code == 422
    assert "Elija un gestor de casos activo" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).assignee_id == user("gestor_06").id


@pytest.mark.parametrize("page", ["²", "9" * 30])
def test_marking_notices_read_from_any_page_number(app, client, login_as, world, page):
    login_as("docente_a")
    response = client.post("/avisos/leer-todos", data={"pagina": page})
    assert response.status_code == 302
    assert response.location == "/avisos"


@pytest.mark.parametrize("record", ["alert:²", "student:99999999999"])
def test_breaking_the_glass_from_a_record_that_is_no_id(app, client, login_as, world, record):
    # The 11-digit id overflowed the grant's integer column on PostgreSQL.
    login_as("gestor_06")
    response = client.post(
        f"/vidrio/escuelas/{world.school_b}",
        data={
            "reason_category": "caso",
            "reason_text": "Seguimiento de la alerta A-000001 con la familia.",
            "registro": record,
        },
    )
    assert response.status_code == 302
    grant = db.session.scalar(sa.select(BreakGlassGrant).order_by(BreakGlassGrant.id.desc()))
    assert grant.record_id is None and grant.record_type == ""


@pytest.mark.parametrize("value", ["²", "1" * 5000])
def test_a_department_list_filtered_by_a_place_that_is_no_id(app, client, login_as, world, value):
    login_as("departamental_06")
    response = client.get(f"/reportes/departamentos/06/escuelas?municipio={value}")
    assert response.status_code == 200
    response = client.get(
        f"/api/v1/departments/06/schools/risk?municipality={value}",
        headers={"Authorization": f"Bearer {token_for('departamental_06')}"},
    )
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "municipality"


def test_the_audit_log_past_its_last_page(app, client, login_as, world):
    login_as("admin")
    response = client.get("/admin/auditoria?pagina=99999999999999999999")
    assert response.status_code == 200
