"""A department 06 whose schools differ in every way the risk list filters and sorts by.

The seeded world has two schools in 06 (school_a, school_b); ``plant_department`` adds three
more and plants scores, a score of a month ago, alerts and reports, so each filter picks a
known set of schools and each sort a known order.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.geography.models import Department, District, Municipality
from salve.incidents.operations import file_incident
from salve.schools.models import School
from salve.scoring.models import CurrentRiskScore, RiskScoreChange
from tests.factories import district_in, local_time, make_school, report_payload

#: A school name a spreadsheet would run as a formula if the export passed it through.
FORMULA_NAME = '=HYPERLINK("http://x")'
LIST_URL = "/reportes/departamentos/06/escuelas"
API_URL = "/api/v1/departments/06/schools/risk"


@dataclass(frozen=True)
class Department06:
    """The codes of department 06's schools, most at risk first, and the places they stand in."""

    critical: str  # 90, crítico; private; two open alerts, one overdue; FORMULA_NAME
    high: str  # 75, alto; rural; silent
    medium: str  # school_a: 40, medio, 50 a month ago; three reports in 30 days, four in 90
    low: str  # school_b: 10, bajo
    unscored: str  # never scored: 0, bajo
    #: A municipality of 06 other than the seeded schools', and two of its districts.
    municipality_id: int
    district_id: int
    second_district_id: int

    @property
    def ranked(self) -> list[str]:
        return [self.critical, self.high, self.medium, self.low, self.unscored]


def _department(code: str) -> Department:
    return db.session.scalar(sa.select(Department).where(Department.code == code))


def _other_districts() -> tuple[int, int, int]:
    """Return a municipality of 06 with two districts, away from the seeded schools."""
    seeded = district_in("06")
    rows = db.session.execute(
        sa.select(Municipality.id, District.id)
        .join(District, District.municipality_id == Municipality.id)
        .where(
            Municipality.department_id == _department("06").id,
            Municipality.id != seeded.municipality_id,
        )
        .order_by(Municipality.id, District.id)
    ).all()
    municipality_id = next(m for m, _d in rows if sum(1 for o, _e in rows if o == m) >= 2)
    first, second = [district for m, district in rows if m == municipality_id][:2]
    return municipality_id, first, second


def score(school_code: str, points: float, level: str, *, silent: bool = False) -> None:
    """Set a school's current score (over whatever a rescoring wrote)."""
    school_id = db.session.scalar(sa.select(School.id).where(School.code == school_code))
    contributions = [{"rule": "silencio_centro", "points": 20.0}] if silent else []
    db.session.merge(
        CurrentRiskScore(
            entity_type="school",
            entity_id=school_id,
            score=points,
            level=level,
            rules_version="prueba",
            computed_at=utcnow(),
            contributions=contributions,
        )
    )


def _report(world, days_ago: int) -> None:
    teacher = db.session.scalar(sa.select(User).where(User.username == "docente_a"))
    payload = report_payload(
        world,
        occurred_at=local_time(timedelta(days=-days_ago, hours=-1)),
        idempotency_key=secrets.token_urlsafe(16),
    )
    file_incident(teacher, payload, current_catalog())


def plant_department(world) -> Department06:
    """Add three schools to 06 and give the five their risk figures; return their codes."""
    department = _department("06")
    municipality_id, district_id, second_district_id = _other_districts()
    critical = make_school(
        "06",
        name=FORMULA_NAME,
        sector="privado",
        district_id=district_id,
        department_id=department.id,
    )
    high = make_school(
        "06",
        name="Centro Escolar Prueba Delta",
        zone="rural",
        district_id=second_district_id,
        department_id=department.id,
    )
    unscored = make_school("06", name="Centro Escolar Prueba Eco")
    for days_ago in (1, 5, 20, 60):  # hooks rescore school_a; its score is set below
        _report(world, days_ago)
    score(critical.code, 90, "critico")
    score(high.code, 75, "alto", silent=True)
    score(world.school_a, 40, "medio")
    score(world.school_b, 10, "bajo")
    school_a_id = db.session.scalar(sa.select(School.id).where(School.code == world.school_a))
    db.session.add(
        RiskScoreChange(
            entity_type="school",
            entity_id=school_a_id,
            score=50,
            level="medio",
            rules_version="prueba",
            computed_at=utcnow() - timedelta(days=40),
        )
    )
    now = utcnow()
    for rule, status, due_at in (
        ("tasa_escuela", "abierta", now - timedelta(days=1)),  # overdue
        ("pico_escuela", "reconocida", now + timedelta(days=3)),
    ):
        db.session.add(
            Alert(
                rule_id=rule,
                rules_version="prueba",
                entity_type="school",
                entity_id=critical.id,
                school_id=critical.id,
                department_id=department.id,
                level="critico",
                status=status,
                opened_at=now - timedelta(days=2),
                due_at=due_at,
            )
        )
    db.session.commit()  # a savepoint in the tests
    return Department06(
        critical=critical.code,
        high=high.code,
        medium=world.school_a,
        low=world.school_b,
        unscored=unscored.code,
        municipality_id=municipality_id,
        district_id=district_id,
        second_district_id=second_district_id,
    )
