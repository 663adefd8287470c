"""Rescoring from the database: scores written with their explanation, only when they change."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.schools.models import Student
from salve.scoring.models import CurrentRiskScore, RiskScoreChange
from salve.scoring.operations import rescore


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _student_id(nie: str) -> int:
    return db.session.scalar(sa.select(Student.id).where(Student.nie == nie))


def _plant_bullying(world, times: int = 4):
    """File ``times`` reports of the same classmate hurting the same student in three weeks."""
    victim, aggressor = world.students_a[0], world.students_a[1]
    filed = []
    for n in range(times):
        when = utcnow() - timedelta(days=20 - 6 * n)
        incident, _created = incidents.file_incident(
            _user("docente_a"),
            {
                "school": world.school_a,
                "occurred_at": when.isoformat(),
                "location": "patio",
                "types": ["ACO_FISICO"],
                "relationship": "estudiante_estudiante",
                "parties": [
                    {"role": "victima", "kind": "estudiante", "nie": victim},
                    {"role": "agresor", "kind": "estudiante", "nie": aggressor},
                ],
                "repetition": "2_3" if n else "primera_vez",
                "narrative": "Le empujó y le quitó sus útiles en el recreo.",
                "idempotency_key": f"acoso-plantado-{n:04d}",
            },
            current_catalog(),
        )
        filed.append(incident)
    return _student_id(victim), filed


def _current(student_id: int) -> CurrentRiskScore | None:
    return db.session.get(CurrentRiskScore, ("student", student_id))


def test_a_planted_bullying_pattern_is_scored_and_explained(world):
    victim_id, _filed = _plant_bullying(world)
    report = rescore(current_catalog())
    assert report.changed > 0
    current = _current(victim_id)
    assert current.level in ("alto", "critico")
    assert "mismo_agresor" in {c["rule"] for c in current.contributions}
    assert current.rules_version


def test_a_second_rescoring_writes_nothing(world):
    _plant_bullying(world)
    rescore(current_catalog())
    history = db.session.scalar(sa.select(sa.func.count()).select_from(RiskScoreChange))
    assert rescore(current_catalog()).changed == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RiskScoreChange)) == history


def test_unfounded_reports_stop_counting(world):
    victim_id, filed = _plant_bullying(world)
    rescore(current_catalog())
    before = _current(victim_id).score
    for incident in filed:
        incidents.close_unfounded(_user("director_a"), incident, "No ocurrió: se verificó.")
    rescore(current_catalog())
    db.session.expire_all()
    assert _current(victim_id).score < before


def test_the_score_command_rescores_the_nation(runner, world):
    victim_id, _filed = _plant_bullying(world)
    result = runner.invoke(args=["salve", "score"])
    assert result.exit_code == 0, result.output
    assert "cambiaron" in result.output
    assert _current(victim_id).level in ("alto", "critico")
