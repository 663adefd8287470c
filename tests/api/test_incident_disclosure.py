"""A report's page and its API answer show the same fields, role by role (one definition).

The audit of December 2026 (finding 2) found the API summary of a report carrying what the page
hides: the perceived motivations (pregnancy, sexual orientation, health), the relationship, how
often, the measures. Both now follow ``salve.incidents.disclosure``; the page marks each field it
shows with ``data-field``, and this test compares the two for each reader.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from salve.auth import roles as R
from salve.extensions import db
from salve.incidents.disclosure import RECORD_FIELDS, SUMMARY_FIELDS, fields_for
from salve.schools.models import School
from tests import factories
from tests.api.conftest import report, token_for
from tests.conftest import login
from tests.test_identity_parity import grant

FIELD = re.compile(r'data-field="([^"]+)"')
SENSITIVE = ("embarazo", "orientacion_sexual", "condicion_salud")


def _web_fields(client, username: str, incident_id: int) -> set[str]:
    assert login(client, username).status_code == 302
    page = client.get(f"/incidentes/{incident_id}")
    assert page.status_code == 200
    client.post("/salir")
    return {name for found in FIELD.findall(page.get_data(as_text=True)) for name in found.split()}


@pytest.fixture
def filed(app, world, client):
    """A report by docente_a naming two children, with the motivations the audit planted."""
    school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    factories.make_user("docente_a2", R.DOCENTE, school=school)
    db.session.commit()
    payload = report(world, motivations=list(SENSITIVE), repetition="6_mas", types=["ACO_VERBAL"])
    response = client.post(
        "/api/v1/incidents",
        json=payload,
        headers={"Authorization": f"Bearer {token_for('docente_a')}"},
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.parametrize(
    ("username", "access", "with_grant"),
    [
        ("docente_a", "full", False),  # the reporter
        ("director_a", "full", False),  # the principal
        ("docente_a2", "summary", False),  # another teacher of the school
        ("gestor_06", "summary", False),
        ("supervisor_06", "summary", False),
        ("gestor_06", "summary", True),  # a break-the-glass grant names the children
    ],
)
def test_the_page_and_the_api_show_the_same_fields(
    app, world, client, filed, username, access, with_grant
):
    if with_grant:
        school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
        grant(username, school, "Prueba del resumen de un reporte.")
    answer = client.get(
        f"/api/v1/incidents/{filed}", headers={"Authorization": f"Bearer {token_for(username)}"}
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["access"] == access
    assert set(body) - {"id", "access"} == set(fields_for(access))

    on_page = _web_fields(client, username, filed)
    in_api = {name for name in fields_for(access) if body[name] is not None}
    assert on_page == in_api - set(RECORD_FIELDS)

    if access == "summary":
        for code in SENSITIVE:
            assert code not in answer.get_data(as_text=True)
        assert (body["students"] is not None) == with_grant
    else:
        assert body["motivations"] == list(SENSITIVE)


def test_a_summary_says_nothing_of_who_or_why():
    """The definition itself: a summary never carries the people, the motives or the story."""
    for private in ("parties", "motivations", "relationship", "repetition", "measures",
                    "measures_note", "narrative", "reporter", "names_staff_aggressor"):  # fmt: skip
        assert private not in SUMMARY_FIELDS
