"""Risk scores through the API: explained, scoped like the pages, never with a name.

Every answer is also checked against the OpenAPI schema of its route by the ``api`` client.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.schools.models import Student
from salve.scoring.operations import rescore
from tests.api.conftest import audit_actions
from tests.scoring.test_persistence import _plant_bullying

#: The shipped Spanish explanation of ``mismo_agresor``, with the planted four reports.
MISMO_AGRESOR_ES = (
    "La misma persona estudiante le agredió 4 veces en los últimos 30 días (patrón de acoso)."
)


@pytest.fixture
def bullied(world) -> Student:
    """Plant four reports of one classmate hurting the same student, rescore, return the victim."""
    victim_id, _filed = _plant_bullying(world)
    rescore(current_catalog())
    db.session.commit()
    return db.session.get(Student, victim_id)


def _contribution(body: dict, rule: str) -> dict:
    return next(c for c in body["contributions"] if c["rule"] == rule)


def _assert_no_name(response, student: Student) -> None:
    assert student.given_names.encode() not in response.data
    assert student.family_names.encode() not in response.data


def test_the_principal_sees_the_planted_pattern_explained(api, bullied):
    response = api.as_user("director_a").get(f"/api/v1/students/{bullied.nie}/risk")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["entity_type"] == "student" and body["nie"] == bullied.nie
    assert body["level"] in ("alto", "critico")
    assert body["score"] >= 35 and body["rules_version"]
    computed_at = datetime.fromisoformat(body["computed_at"])
    assert computed_at.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - computed_at).total_seconds()) < 600
    contribution = _contribution(body, "mismo_agresor")
    assert contribution["explanation"] == MISMO_AGRESOR_ES
    assert contribution["points"] == 35 and contribution["alert_level"] == "alto"
    points = [c["points"] for c in body["contributions"]]
    assert points == sorted(points, reverse=True)
    # The principal sees who the child is, as on the risk page; the audit names the child.
    assert body["student"]["given_names"] == bullied.given_names
    assert body["student"]["family_names"] == bullied.family_names
    event = audit_actions("student_risk.view")[-1]
    assert event.object_type == "student" and event.object_id == str(bullied.id)
    assert event.user_id == _user_id("director_a")
    assert event.detail["students"] == [bullied.id]


@pytest.mark.parametrize("username", ["gestor_06", "supervisor_06"])
def test_the_departments_case_handlers_see_it_by_nie_without_a_name(api, bullied, username):
    response = api.as_user(username).get(f"/api/v1/students/{bullied.nie}/risk")
    assert response.status_code == 200, response.json
    assert response.json["level"] in ("alto", "critico")
    assert _contribution(response.json, "mismo_agresor")["explanation"] == MISMO_AGRESOR_ES
    _assert_no_name(response, bullied)
    assert b"given_names" not in response.data and b"family_names" not in response.data
    assert audit_actions("student_risk.view")[-1].user_id == _user_id(username)


def test_explanations_follow_the_token_accounts_language(api, bullied):
    user = db.session.scalar(sa.select(User).where(User.username == "gestor_06"))
    user.language = "en"
    db.session.commit()
    response = api.as_user("gestor_06").get(f"/api/v1/students/{bullied.nie}/risk")
    assert _contribution(response.json, "mismo_agresor")["explanation"] == (
        "The same student attacked them 4 times in the last 30 days (bullying pattern)."
    )


def test_a_student_never_scored_is_low_with_no_date(api, world):
    nie = world.students_a[4]
    response = api.as_user("director_a").get(f"/api/v1/students/{nie}/risk")
    assert response.status_code == 200
    student = db.session.scalar(sa.select(Student).where(Student.nie == nie))
    assert response.json == {
        "student": {
            "nie": nie,
            "given_names": student.given_names,
            "family_names": student.family_names,
            "grade": student.grade,
            "section": student.section,
        },
        "entity_type": "student",
        "nie": nie,
        "score": 0.0,
        "level": "bajo",
        "rules_version": None,
        "computed_at": None,
        "contributions": [],
    }


@pytest.mark.parametrize(
    ("username", "which"),
    [
        ("gestor_06", "students_c"),  # another department's student
        ("supervisor_06", "students_c"),
        ("director_c", "students_a"),  # another school's student
        ("gestor_06", "unknown"),
    ],
)
def test_a_student_out_of_scope_is_not_confirmed(api, world, bullied, username, which):
    nie = {"students_a": bullied.nie, "students_c": world.students_c[0], "unknown": "0000001"}
    response = api.as_user(username).get(f"/api/v1/students/{nie[which]}/risk")
    assert response.status_code == 404
    assert response.json["errors"][0]["message"] == "No existe o no tiene acceso."
    assert nie[which].encode() not in response.data
    assert not audit_actions("student_risk.view")
    assert audit_actions("access.refused")[-1].object_id.endswith("/risk")


@pytest.mark.parametrize("username", ["docente_a", "admin", "departamental_06", "nacional"])
def test_roles_that_never_see_a_students_risk_are_refused(api, bullied, username):
    response = api.as_user(username).get(f"/api/v1/students/{bullied.nie}/risk")
    assert response.status_code == 403
    message = response.json["errors"][0]["message"]
    assert "dirección de la escuela" in message and "gestores de casos" in message
    assert bullied.nie.encode() not in response.data
    assert not audit_actions("student_risk.view")


def test_a_teacher_is_refused_alike_for_any_nie(api, world):
    api.as_user("docente_a")
    known = api.get(f"/api/v1/students/{world.students_a[0]}/risk")
    unknown = api.get("/api/v1/students/0000001/risk")
    assert known.status_code == unknown.status_code == 403
    assert known.json == unknown.json


@pytest.mark.parametrize("username", ["departamental_06", "nacional", "gestor_06", "director_a"])
def test_the_schools_risk_for_its_principal_and_the_ministry(api, world, bullied, username):
    response = api.as_user(username).get(f"/api/v1/schools/{world.school_a}/risk")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["entity_type"] == "school" and body["code"] == world.school_a
    assert body["rules_version"] and body["computed_at"]
    assert {c["rule"] for c in body["contributions"]} <= {
        "hecho_grave_centro",
        "tasa_centro",
        "repunte_centro",
        "silencio_centro",
    }
    assert all(c["explanation"] for c in body["contributions"])


@pytest.mark.parametrize(
    ("username", "school"),
    [
        ("departamental_05", "school_a"),
        ("gestor_06", "school_c"),
        ("director_a", "school_b"),
        ("director_c", "school_a"),
    ],
)
def test_a_school_out_of_scope_is_not_confirmed(api, world, username, school):
    response = api.as_user(username).get(f"/api/v1/schools/{getattr(world, school)}/risk")
    assert response.status_code == 404
    assert response.json["errors"][0]["message"] == "No existe o no tiene acceso."


@pytest.mark.parametrize("username", ["docente_a", "admin"])
def test_teachers_and_administrators_never_see_a_schools_risk(api, world, username):
    response = api.as_user(username).get(f"/api/v1/schools/{world.school_a}/risk")
    assert response.status_code == 403
    assert "riesgo" in response.json["errors"][0]["message"]


def test_overlong_identifiers_are_cut_not_searched(api, world):
    assert api.as_user("gestor_06").get(f"/api/v1/students/{'9' * 5000}/risk").status_code == 404
    assert api.get(f"/api/v1/schools/{world.school_a}{'0' * 5000}/risk").status_code == 404


def _user_id(username: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == username))
