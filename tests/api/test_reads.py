"""The catalog, the schools in scope and a school's roll."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.schools.models import School, Student
from tests import factories
from tests.api.conftest import audit_actions


def test_the_catalog_has_every_type_and_choice(api, world):
    response = api.as_user("docente_a").get("/api/v1/catalog")
    assert response.status_code == 200
    body = response.json
    catalog = current_catalog()
    assert body["version"] == catalog.version
    assert {t["code"] for t in body["types"]} == set(catalog.types)
    sexual = next(t for t in body["types"] if t["code"] == "SEX_ACOSO")
    assert sexual["category"] == "sexual" and sexual["tier"] in {"I", "II", "III"}
    assert isinstance(sexual["mandatory_report"], bool) and isinstance(sexual["immediate"], bool)
    assert sexual["label"]["es"] and sexual["label"]["en"]
    for key in (
        "categories",
        "locations",
        "relationships",
        "repetition",
        "motivations",
        "measures",
    ):
        codes = {entry["code"] for entry in body[key]}
        assert codes == set(getattr(catalog, key)), key
        assert all(entry["label"]["es"] and entry["label"]["en"] for entry in body[key])
    # Retired codes are not offered.
    assert not set(catalog.mappings) & {t["code"] for t in body["types"]}


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("docente_a", {"school_a"}),
        ("director_c", {"school_c"}),
        ("departamental_05", {"school_c"}),
        ("gestor_06", {"school_a", "school_b"}),
    ],
)
def test_schools_are_those_in_scope(api, world, username, expected):
    response = api.as_user(username).get("/api/v1/schools?per_page=500")
    assert response.status_code == 200
    codes = {item["code"] for item in response.json["items"]}
    seeded = {getattr(world, key) for key in ("school_a", "school_b", "school_c")}
    assert codes & seeded == {getattr(world, key) for key in expected}
    assert response.json["total"] == len(codes)
    item = next(i for i in response.json["items"] if i["code"] in codes & seeded)
    assert item["department_code"] in {"05", "06"} and item["municipality"] and item["district"]


def test_national_roles_see_every_school_paginated(api, world):
    api.as_user("nacional")
    first = api.get("/api/v1/schools?per_page=2").json
    second = api.get("/api/v1/schools?per_page=2&page=2").json
    assert first["total"] >= 3 and len(first["items"]) == 2
    assert not {i["code"] for i in first["items"]} & {i["code"] for i in second["items"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=501", "per_page"),
        ("per_page=0", "per_page"),
        ("per_page=muchos", "per_page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("page=99999999999999999999", "page"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(api, world, query, field):
    response = api.as_user("docente_a").get(f"/api/v1/schools?{query}")
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("username", "school", "status"),
    [
        ("docente_a", "school_a", 200),
        ("director_a", "school_a", 200),
        # Case handlers see a child's name only where they handle it (audit 2026-12, finding 1).
        ("gestor_06", "school_a", 403),
        ("supervisor_06", "school_a", 403),
        # docente_b's scope is school_b: school_a is outside it, so it is not even confirmed.
        ("docente_b", "school_a", 404),
        ("departamental_06", "school_a", 403),
        ("nacional", "school_a", 403),
        ("admin", "school_a", 403),
        ("director_c", "school_a", 404),
        ("gestor_06", "school_c", 404),
    ],
)
def test_who_may_list_a_schools_students(api, world, username, school, status):
    code = getattr(world, school)
    response = api.as_user(username).get(f"/api/v1/schools/{code}/students")
    assert response.status_code == status, response.json
    if status == 200:
        assert {s["nie"] for s in response.json["items"]} == set(world.students_a)
        event = audit_actions("student_roll.view")[-1]
        assert event.object_id == code
        shown = db.session.scalars(sa.select(Student.id).where(Student.nie.in_(world.students_a)))
        assert sorted(event.detail["students"]) == sorted(shown)  # which children, by id
    else:
        assert b"Estudiante" not in response.data


def test_students_search_and_inactive_students(api, world):
    school = db.session.query(School).filter_by(code=world.school_a).one()
    gone = factories.make_student(school, given_names="Retirada", is_active=False)
    db.session.commit()
    api.as_user("director_a")
    nie = world.students_a[2]
    found = api.get(f"/api/v1/schools/{world.school_a}/students?q={nie}").json
    assert [s["nie"] for s in found["items"]] == [nie] and found["total"] == 1
    everyone = api.get(f"/api/v1/schools/{world.school_a}/students").json
    assert gone.nie not in {s["nie"] for s in everyone["items"]}


def test_unknown_paths_and_methods_answer_json(api, world):
    api.as_user("docente_a")
    missing = api.get("/api/v1/no-existe")
    assert missing.status_code == 404
    assert missing.json["errors"][0]["message"] == "No existe o no tiene acceso."
    wrong = api.request("DELETE", "/api/v1/catalog")
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    assert "método" in wrong.json["errors"][0]["message"]
    assert api.get("/api/v1/schools/00000/students").status_code == 404
    assert api.get("/api/v1/incidents/99999999999999999999").status_code == 404
