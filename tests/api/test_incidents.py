"""Filing, reading and listing reports through the API; every bad input refused, nothing stored."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.auth import roles as R
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.disclosure import SUMMARY_FIELDS
from salve.incidents.models import Incident
from salve.schools.models import School
from tests import factories
from tests.api.conftest import audit_actions, report, stored, token_for, when


def _file(api, world, username="docente_a", **overrides):
    response = api.as_user(username).post("/api/v1/incidents", json=report(world, **overrides))
    assert response.status_code == 201, response.json
    return response.json


def test_filing_answers_201_and_the_same_key_again_the_same_incident(api, world):
    before = stored()
    payload = report(world)
    api.as_user("docente_a")
    first = api.post("/api/v1/incidents", json=payload)
    assert first.status_code == 201, first.json
    body = first.json
    assert first.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert body["access"] == "full" and body["channel"] == "api" and body["status"] == "reportado"
    assert [p["nie"] for p in body["parties"]] == world.students_a[:2]
    assert [t["code"] for t in body["types"]] == ["ACO_VERBAL"]
    assert body["catalog_version"] == current_catalog().version
    assert stored() == (before[0] + 1, before[1] + 2)

    again = api.post("/api/v1/incidents", json={**payload, "narrative": "Otro texto."})
    assert again.status_code == 200
    assert again.json == body
    assert again.headers["Location"] == first.headers["Location"]
    assert stored() == (before[0] + 1, before[1] + 2)
    incident = db.session.get(Incident, body["id"])
    assert incident.channel == "api" and incident.reporter.username == "docente_a"
    assert audit_actions("incident.file")[-1].user_id == incident.reporter_id


def test_another_accounts_key_is_a_409(api, world):
    payload = report(world)
    api.as_user("docente_a").post("/api/v1/incidents", json=payload)
    response = api.as_user("director_a").post("/api/v1/incidents", json=payload)
    assert response.status_code == 409
    assert response.json["errors"][0]["field"] == "idempotency_key"


def test_markup_is_stored_and_returned_as_typed(api, world):
    narrative = '<script>alert("x")</script> & <b>negrita</b>'
    body = _file(api, world, narrative=narrative)
    assert body["narrative"] == narrative
    assert db.session.get(Incident, body["id"]).narrative == narrative
    assert api.get(f"/api/v1/incidents/{body['id']}").json["narrative"] == narrative


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"occurred_at": when(timedelta(days=2))}, "occurred_at", "futuro"),
        ({"occurred_at": "2019-01-01T09:30"}, "occurred_at", "tres años"),
        ({"occurred_at": "ayer por la tarde"}, "occurred_at", "no válidas"),
        ({"occurred_at": 20260101}, "occurred_at", "no válidas"),
        ({"location": "luna"}, "location", "Código desconocido"),
        ({"types": ["NO_EXISTE"]}, "types[0]", "Código desconocido"),
        ({"types": ["BULLYING"]}, "types[0]", "ya no se usa; use «ACO_VERBAL»"),
        ({"types": []}, "types", "al menos un tipo"),
        ({"types": "ACO_VERBAL"}, "types", "lista de códigos"),
        ({"types": [1, 2]}, "types", "lista de códigos"),
        ({"parties": {"role": "victima"}}, "parties", "lista de personas"),
        ({"parties": ["victima"]}, "parties[0]", "objeto"),
        (
            {"parties": [{"kind": "estudiante", "nie": "PLACEHOLDER_A"}]},
            "parties[0].role",
            "víctima, agresor(a) o testigo",
        ),
        (
            {"parties": [{"role": "victima", "kind": "estudiante", "nie": "PLACEHOLDER_C"}]},
            "parties[0].nie",
            "en esta escuela",
        ),
        ({"narrative": "x" * 200_000}, "narrative", "demasiado largo"),
        ({"narrative": ["texto"]}, "narrative", "Debe ser un texto"),
        ({"narrative": ""}, "narrative", "obligatorio"),
        ({"status": "validado"}, "status", "no se puede enviar"),
        ({"reporter": "director_a"}, "reporter", "no se puede enviar"),
        ({"reporter_id": 1}, "reporter_id", "no se puede enviar"),
        ({"channel": "web"}, "channel", "no se puede enviar"),
        ({"school": "PLACEHOLDER_B"}, "school", "No puede reportar para esa escuela"),
        ({"school": "PLACEHOLDER_OTHER_DEPT"}, "school", "No puede reportar para esa escuela"),
        ({"school": 12345}, "school", "Indique la escuela"),
        ({"idempotency_key": "corta"}, "idempotency_key", "clave"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(api, world, overrides, field, words):
    placeholders = {
        "PLACEHOLDER_A": world.students_a[0],
        "PLACEHOLDER_C": world.students_c[0],  # a student of another school
        "PLACEHOLDER_B": world.school_b,  # another school of the same department
        "PLACEHOLDER_OTHER_DEPT": world.school_c,
    }
    raw = json.dumps(overrides)
    for placeholder, value in placeholders.items():
        raw = raw.replace(placeholder, value)
    before = stored()
    response = api.as_user("docente_a").post(
        "/api/v1/incidents", json=report(world, **json.loads(raw))
    )
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json["errors"]}
    assert field in errors, errors
    assert words in errors[field]
    assert stored() == before


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"data": b'{"school": "1', "content_type": "application/json"}, "JSON válido"),
        ({"data": b"\xff\xfe{", "content_type": "application/json"}, "JSON válido"),
        ({"data": b"[" * 100_000, "content_type": "application/json"}, "JSON válido"),
        ({"json": ["no", "es", "un", "objeto"]}, "objeto JSON"),
        ({"json": "texto"}, "objeto JSON"),
        ({"data": b"null", "content_type": "application/json"}, "objeto JSON"),
        ({"data": b"", "content_type": "application/json"}, "JSON válido"),
        ({"data": {"school": "x"}}, "Content-Type: application/json"),
        ({"data": b"{}", "content_type": "text/plain"}, "Content-Type: application/json"),
    ],
)
def test_malformed_bodies_are_a_400(api, world, kwargs, words):
    before = stored()
    response = api.as_user("docente_a").post("/api/v1/incidents", **kwargs)
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] is None
    assert words in response.json["errors"][0]["message"]
    assert stored() == before


def test_a_body_over_the_limit_is_a_413(api, world):
    before = stored()
    payload = report(world, narrative="x" * (2 * 1024 * 1024 + 10))
    response = api.as_user("docente_a").post("/api/v1/incidents", json=payload)
    assert response.status_code == 413
    assert "demasiado grande" in response.json["errors"][0]["message"]
    assert stored() == before


@pytest.mark.parametrize("username", ["gestor_06", "departamental_06", "nacional", "admin"])
def test_only_school_staff_file_reports(api, world, username):
    before = stored()
    response = api.as_user(username).post("/api/v1/incidents", json=report(world))
    assert response.status_code == 403
    assert stored() == before


@pytest.fixture
def docente_a2(world):
    school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    factories.make_user("docente_a2", R.DOCENTE, school=school)
    db.session.commit()
    return "docente_a2"


@pytest.mark.parametrize(
    ("username", "access"),
    [
        ("docente_a", "full"),  # the reporter
        ("director_a", "full"),
        ("docente_a2", "summary"),  # another teacher of the school
        ("gestor_06", "summary"),
        ("supervisor_06", "summary"),
        ("docente_b", None),
        ("director_c", None),
        ("departamental_06", None),
        ("nacional", None),
        ("admin", None),
    ],
)
def test_reading_a_report_follows_scope(api, world, docente_a2, username, access):
    filed = _file(api, world)
    response = api.as_user(username).get(f"/api/v1/incidents/{filed['id']}")
    if access is None:
        assert response.status_code == 404
        assert b"apodos" not in response.data and world.students_a[0].encode() not in response.data
        return
    assert response.status_code == 200
    body = response.json
    assert body["access"] == access
    assert audit_actions("incident.view")[-1].object_id == str(filed["id"])
    if access == "full":
        assert body["narrative"] == filed["narrative"]
        assert [p["nie"] for p in body["parties"]] == world.students_a[:2]
    else:
        # Exactly the page's summary: nothing about who, or why, or how often.
        assert set(body) == {"id", "access", *SUMMARY_FIELDS}
        for hidden in ("narrative", "parties", "motivations", "relationship", "repetition"):
            assert hidden not in body
        assert body["students"] is None  # no break-the-glass grant
        assert world.students_a[0].encode() not in response.data


def test_a_report_naming_staff_is_hidden_from_other_teachers(api, world, docente_a2):
    filed = _file(
        api,
        world,
        types=["PSI_INSULTOS"],
        relationship="personal_estudiante",
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": world.students_a[0]},
            {"role": "agresor", "kind": "personal", "description": "docente de 5.º grado"},
        ],
    )
    assert filed["names_staff_aggressor"] is True
    assert api.as_user("docente_a2").get(f"/api/v1/incidents/{filed['id']}").status_code == 404
    listed = api.get(f"/api/v1/incidents?school={world.school_a}&per_page=500").json
    assert filed["id"] not in {item["id"] for item in listed["items"]}
    assert api.as_user("director_a").get(f"/api/v1/incidents/{filed['id']}").status_code == 200


def test_amendments_show_in_summary_form(api, world):
    from salve.auth.models import User
    from salve.incidents.operations import amend_incident

    filed = _file(api, world)
    director = db.session.scalar(sa.select(User).where(User.username == "director_a"))
    amend_incident(
        director,
        db.session.get(Incident, filed["id"]),
        {"location": "aula"},
        "Corrección del lugar.",
        current_catalog(),
    )
    db.session.commit()
    body = api.as_user("director_a").get(f"/api/v1/incidents/{filed['id']}").json
    assert body["location"] == "aula"
    assert [(a["action"], a["fields"]) for a in body["amendments"]] == [("amend", ["location"])]


def test_the_list_counts_and_shapes_items_by_access(api, world, docente_a2):
    mine = [_file(api, world)["id"] for _ in range(3)]
    api.as_user("director_a")
    total = api.get(f"/api/v1/incidents?school={world.school_a}").json["total"]
    assert total >= 3
    page = api.get(f"/api/v1/incidents?school={world.school_a}&per_page=2").json
    assert page["total"] == total and len(page["items"]) == 2
    assert all(item["access"] == "full" and "narrative" in item for item in page["items"])
    assert audit_actions("incident.list")[-1].user_id is not None

    other = api.as_user("docente_a2").get(f"/api/v1/incidents?school={world.school_a}").json
    assert other["total"] == total
    assert {i["id"] for i in other["items"]} >= set(mine)
    assert all(item["access"] == "summary" for item in other["items"])
    assert all("narrative" not in item for item in other["items"])

    validated = api.as_user("director_a").get("/api/v1/incidents?status=validado").json
    assert not {i["id"] for i in validated["items"]} & set(mine)
    assert api.get("/api/v1/incidents?status=borrado").status_code == 400

    for username in ("director_c", "departamental_06", "nacional"):
        seen = api.as_user(username).get(f"/api/v1/incidents?school={world.school_a}").json
        assert seen["total"] == 0 and seen["items"] == [], username


def test_the_other_token_cannot_file_for_another_school(api, world):
    token = token_for("director_c")
    response = api.post("/api/v1/incidents", token=token, json=report(world))
    assert response.status_code == 422
    assert {e["field"] for e in response.json["errors"]} >= {"school"}
