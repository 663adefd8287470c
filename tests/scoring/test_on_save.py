"""Saving a report rescores the students and the school it touches, in the same transaction."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.incidents.models import Incident
from salve.schools.models import School, Student
from salve.scoring import operations as scoring
from salve.scoring.models import CurrentRiskScore, RiskReference
from salve.scoring.operations import rescore
from tests.factories import report_payload
from tests.scoring.test_persistence import _plant_bullying, _student_id, _user


def _score(entity_type: str, entity_id: int) -> CurrentRiskScore | None:
    db.session.expire_all()
    return db.session.get(CurrentRiskScore, (entity_type, entity_id))


def _school_id(code: str) -> int:
    return db.session.scalar(sa.select(School.id).where(School.code == code))


def test_a_bullying_pattern_raises_the_victims_level_as_the_reports_are_saved(world):
    # No national rescoring at all: the reports alone move the victim's score.
    victim_id, _filed = _plant_bullying(world)
    current = _score("student", victim_id)
    assert current is not None
    assert current.level in ("alto", "critico")
    assert "mismo_agresor" in {c["rule"] for c in current.contributions}
    aggressor = _score("student", _student_id(world.students_a[1]))
    assert "misma_victima" in {c["rule"] for c in aggressor.contributions}


def test_the_school_is_rescored_against_the_last_national_figures(world):
    rescore(current_catalog())  # stores the department and national figures
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RiskReference)) == 1
    school_id = _school_id(world.school_a)
    assert _score("school", school_id) is None  # nothing reported yet: bajo, no row
    payload = report_payload(world, types=["ARM_AMENAZA"])
    incidents.file_incident(_user("docente_a"), payload, current_catalog())
    school = _score("school", school_id)
    assert school is not None
    assert "hecho_grave_centro" in {c["rule"] for c in school.contributions}


def test_the_hook_agrees_with_a_national_rescoring(world):
    rescore(current_catalog())
    victim_id, _filed = _plant_bullying(world)
    by_hook = {
        (row.entity_type, row.entity_id): (row.score, row.level)
        for row in db.session.scalars(sa.select(CurrentRiskScore))
    }
    rescore(current_catalog())
    db.session.expire_all()
    national = {
        (row.entity_type, row.entity_id): (row.score, row.level)
        for row in db.session.scalars(sa.select(CurrentRiskScore))
    }
    touched = {("student", victim_id), ("student", _student_id(world.students_a[1]))}
    for key in touched:
        assert by_hook[key] == national[key]


def test_before_any_national_rescoring_only_students_are_rescored(world):
    _plant_bullying(world)
    assert _score("school", _school_id(world.school_a)) is None


def test_closing_a_report_as_unfounded_lowers_the_score_at_once(world):
    victim_id, filed = _plant_bullying(world)
    before = _score("student", victim_id).score
    for incident in filed:
        incidents.close_unfounded(_user("director_a"), incident, "No ocurrió: se verificó.")
    after = _score("student", victim_id)
    assert after.score < before
    assert "mismo_agresor" not in {c["rule"] for c in after.contributions}


def test_an_amendment_that_removes_a_student_rescores_them(world):
    _victim_id, filed = _plant_bullying(world)
    aggressor_id = _student_id(world.students_a[1])
    assert _score("student", aggressor_id).score > 0
    for incident in filed:
        payload = incidents.as_payload(incident)
        payload["parties"] = [p for p in payload["parties"] if p["role"] == "victima"]
        incidents.amend_incident(
            _user("director_a"), incident, payload, "El agresor fue otro.", current_catalog()
        )
    assert _score("student", aggressor_id).score == 0


def test_a_failure_in_scoring_never_loses_the_report(world, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("scoring is broken")

    monkeypatch.setattr(scoring, "rescore_entities", broken)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
    payload = report_payload(world, narrative="Relato que no debe aparecer en el registro.")
    with caplog.at_level(logging.ERROR, logger="salve.scoring.operations"):
        incident, created = incidents.file_incident(_user("docente_a"), payload, current_catalog())
    assert created
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == before + 1
    assert f"incident {incident.id} failed" in caplog.text
    assert "Relato" not in caplog.text
    student = db.session.scalar(sa.select(Student).where(Student.nie == world.students_a[0]))
    assert student.given_names not in caplog.text


def test_rescoring_on_save_can_be_switched_off(app, world):
    app.config["RESCORE_ON_SAVE"] = False
    try:
        victim_id, _filed = _plant_bullying(world)
    finally:
        app.config["RESCORE_ON_SAVE"] = True
    assert _score("student", victim_id) is None


@pytest.mark.parametrize("rules_version", ["1999.1"])
def test_a_reference_from_older_rules_is_not_used(world, rules_version):
    rescore(current_catalog())
    reference = db.session.scalar(sa.select(RiskReference))
    reference.rules_version = rules_version
    reference.figures = {**reference.figures, "rules_version": rules_version}
    db.session.flush()
    payload = report_payload(world, types=["ARM_AMENAZA"])
    incidents.file_incident(_user("docente_a"), payload, current_catalog())
    assert _score("school", _school_id(world.school_a)) is None


def _connection_lost(*args, **kwargs):
    raise sa.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
    )


def test_a_lost_database_connection_is_not_taken_for_a_scoring_failure(world, monkeypatch):
    """The database went away mid-save: the report cannot be kept, so the error goes up (→ 503)."""
    monkeypatch.setattr(scoring, "rescore_entities", _connection_lost)
    with pytest.raises(sa.exc.OperationalError):
        incidents.file_incident(_user("docente_a"), report_payload(world), current_catalog())


def test_a_report_sent_while_the_database_goes_away_gets_the_503_answer(
    app, client, world, monkeypatch
):
    from tests.api.conftest import Api, report

    api = Api(app, client)
    monkeypatch.setattr(scoring, "rescore_entities", _connection_lost)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
    response = api.as_user("docente_a").post("/api/v1/incidents", json=report(world))
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == before
