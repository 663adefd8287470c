"""The demo's invented year of reports: plausible, true to the catalog, never naming anyone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.loading import load_catalog
from salve.demo import names
from salve.demo.generate import generate_schools, generate_students
from salve.demo.incidents import Reporters, generate_incidents
from salve.demo.operations import DEMO_ACCOUNTS
from salve.extensions import db
from salve.incidents.models import Incident, IncidentParty, IncidentType
from salve.schools.importing import geography_frame
from salve.schools.models import School, Student

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalogs")
#: A country small enough to build quickly, big enough to have a bit of everything.
SMALL = ["--schools", "40", "--students", "4000"]
NAME_WORDS = {
    word.lower() for word in (*names.FEMALE_NAMES, *names.MALE_NAMES, *names.FAMILY_NAMES)
}


@pytest.fixture
def free_demo_names(app):
    """Rename the seeded accounts whose names the demo uses (nacional, admin)."""
    usernames = [username for username, _role, _name in DEMO_ACCOUNTS]
    for user in db.session.scalars(sa.select(User).where(User.username.in_(usernames))):
        user.username = f"{user.username}_prueba"
    db.session.flush()


def frame_of(statement) -> pd.DataFrame:
    result = db.session.execute(statement)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def has_pattern(times: pd.Series, times_needed: int = 4, days: int = 21) -> bool:
    """Tell whether ``times_needed`` of ``times`` fall within ``days`` days."""
    values = np.sort(times.to_numpy())
    if len(values) < times_needed:
        return False
    spans = values[times_needed - 1 :] - values[: len(values) - times_needed + 1]
    return bool((spans <= np.timedelta64(days, "D")).any())


def test_demo_invents_a_year_of_reports(runner, free_demo_names):
    schools_before = set(db.session.scalars(sa.select(School.id)))
    result = runner.invoke(args=["salve", "demo", "--seed", "5", *SMALL])
    assert result.exit_code == 0, result.output

    incidents = frame_of(
        sa.select(
            Incident.id, Incident.school_id, Incident.reporter_id, Incident.status,
            Incident.relationship_code, Incident.narrative, Incident.occurred_at,
            Incident.closed_reason, Incident.closed_at, Incident.closed_by_id,
            Incident.catalog_version, Incident.idempotency_key, Incident.channel,
        )
    )  # fmt: skip
    new_schools = set(db.session.scalars(sa.select(School.id))) - schools_before
    assert 1500 <= len(incidents) <= 2300  # about 0.46 per student
    assert f"{len(incidents):,}".replace(",", " ") in result.output
    assert set(incidents["school_id"]) <= new_schools
    assert incidents["school_id"].nunique() >= len(new_schools) * 0.6
    assert set(incidents["catalog_version"]) == {CATALOG.version}
    assert incidents["idempotency_key"].str.fullmatch(r"demo-\d+").all()
    now = datetime.now(UTC)
    occurred = pd.to_datetime(incidents["occurred_at"], utc=True)
    assert (occurred <= now).all()
    assert (occurred >= now - timedelta(days=367)).all()

    statuses = incidents["status"].value_counts(normalize=True)
    assert statuses["validado"] > 0.7
    assert 0 < statuses["infundado"] < 0.08
    unfounded = incidents[incidents["status"] == "infundado"]
    assert unfounded["closed_reason"].str.len().gt(0).all()
    assert unfounded["closed_at"].notna().all() and unfounded["closed_by_id"].notna().all()

    # The demo school's reports come from its docente; the others are imported history.
    accounts = dict(db.session.execute(sa.select(User.username, User.id).where(User.is_demo)).all())
    docente = db.session.scalar(sa.select(User).where(User.username == "docente", User.is_demo))
    demo_school = docente.role_assignments[0].school_id
    at_demo = incidents["school_id"] == demo_school
    assert at_demo.any()
    assert (incidents.loc[at_demo, "reporter_id"] == accounts["docente"]).all()
    assert (incidents.loc[~at_demo, "reporter_id"] == accounts["admin"]).all()
    assert set(incidents.loc[~at_demo, "channel"]) == {"api"}

    # Every type is in the catalog, with its tier, and allows the incident's relationship.
    types = frame_of(sa.select(IncidentType.incident_id, IncidentType.type_code, IncidentType.tier))
    assert set(types["incident_id"]) == set(incidents["id"])
    merged = types.merge(incidents, left_on="incident_id", right_on="id")
    for row in merged.itertuples():
        violence_type = CATALOG.types[row.type_code]
        assert row.tier == violence_type.tier
        allowed = violence_type.relationships
        assert not allowed or row.relationship_code in allowed, row
    tiers = merged["tier"].value_counts(normalize=True)
    assert tiers.get("I", 0) + tiers.get("II", 0) > 0.9

    # Every student party studies at the incident's school.
    parties = frame_of(
        sa.select(
            IncidentParty.incident_id, IncidentParty.role, IncidentParty.kind,
            IncidentParty.student_id, IncidentParty.description, Student.school_id,
            Student.given_names, Student.family_names,
        ).outerjoin(Student, IncidentParty.student_id == Student.id)
    ).merge(incidents[["id", "school_id", "occurred_at", "narrative"]],
            left_on="incident_id", right_on="id", suffixes=("_student", ""))  # fmt: skip
    assert set(parties["incident_id"]) == set(incidents["id"])
    students = parties[parties["kind"] == "estudiante"]
    assert (students["school_id_student"] == students["school_id"]).all()
    assert not students.duplicated(["incident_id", "student_id", "role"]).any()
    assert (students["role"] == "agresor").any() and (students["role"] == "testigo").any()
    assert (parties.loc[parties["kind"] == "personal", "description"] != "").all()
    shares = incidents["relationship_code"].value_counts(normalize=True)
    assert shares.idxmax() == "estudiante_estudiante" and shares.max() > 0.8

    # No narrative names anyone: no given or family name of the word lists, no party's name.
    for text in incidents["narrative"]:
        assert text and not NAME_WORDS & set(re.findall(r"\w+", text.lower())), text
    for row in students.itertuples():
        assert row.family_names not in row.narrative and row.given_names not in row.narrative

    # A planted pattern at the demo school: the same aggressor against the same victim, 4+
    # times within three weeks.
    victims = students[students["role"] == "victima"][["incident_id", "student_id"]]
    aggressors = students[students["role"] == "agresor"][["incident_id", "student_id"]]
    pairs = victims.merge(aggressors, on="incident_id", suffixes=("_victim", "_aggressor"))
    pairs = pairs.merge(incidents, left_on="incident_id", right_on="id")
    pairs["occurred_at"] = pd.to_datetime(pairs["occurred_at"], utc=True)
    patterns = pairs.groupby(["school_id", "student_id_victim", "student_id_aggressor"])[
        "occurred_at"
    ].agg(has_pattern)
    assert patterns.loc[demo_school].any()
    assert patterns.sum() >= 2


def small_country(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return schools and students with ids, without storing them."""
    rng = np.random.default_rng(seed)
    schools = generate_schools(rng, geography_frame(), 60, 12_000)
    schools["id"] = np.arange(1, len(schools) + 1)
    students = generate_students(rng, schools, 10_000_000, 2026)
    students["id"] = np.arange(1, len(students) + 1)
    return schools, students


def test_same_seed_same_history(app):
    schools, students = small_country(11)
    reporters = Reporters(int(schools["id"].iloc[0]), 1, 2, 3)
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    first = generate_incidents(np.random.default_rng(3), CATALOG, schools, students, reporters, now)
    again = generate_incidents(np.random.default_rng(3), CATALOG, schools, students, reporters, now)
    for one, other in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(one, other)
    other_seed = generate_incidents(
        np.random.default_rng(4), CATALOG, schools, students, reporters, now
    )
    assert len(other_seed[0]) != len(first[0]) or not other_seed[0].equals(first[0])

    incidents, types, _parties = first
    assert abs(len(incidents) / len(students) - 0.46) < 0.05
    tier_iii = (types["tier"] == "III").mean()
    assert 0.01 < tier_iii < 0.08
    immediate = types["type_code"].map(lambda code: CATALOG.types[code].is_immediate)
    assert 0 < immediate.mean() < 0.03
    # Heavy-tailed: the busiest tenth of schools files far more than its share of students.
    per_school = incidents["school_id"].value_counts()
    assert per_school.iloc[: len(per_school) // 10].sum() > 0.2 * len(incidents)


def test_the_demo_is_scored_and_its_school_shows_the_planted_pattern(runner, free_demo_names):
    from salve.scoring.models import CurrentRiskScore
    from salve.scoring.queries import current_risk

    result = runner.invoke(args=["salve", "demo", "--seed", "6", *SMALL])
    assert result.exit_code == 0, result.output
    assert "Puntajes de riesgo calculados" in result.output
    levels = frame_of(
        sa.select(CurrentRiskScore.entity_type, CurrentRiskScore.level, CurrentRiskScore.entity_id)
    )
    student_levels = set(levels.loc[levels["entity_type"] == "student", "level"])
    assert {"medio", "alto"} <= student_levels
    assert (levels["entity_type"] == "school").any()
    # The demo director's school has a bullying pattern still going on.
    from salve.auth.models import RoleAssignment

    demo_school = db.session.scalar(
        sa.select(School)
        .join(RoleAssignment, RoleAssignment.school_id == School.id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(User.username == "director")
    )
    ours = levels[
        (levels["entity_type"] == "student")
        & levels["entity_id"].isin(
            db.session.scalars(sa.select(Student.id).where(Student.school_id == demo_school.id))
        )
    ]
    rank = ours["level"].map({"bajo": 0, "medio": 1, "alto": 2, "critico": 3})
    worst = current_risk("student", int(ours.loc[rank.idxmax(), "entity_id"]))
    explained = {c.rule: c.explanation for c in worst.contributions}
    assert worst.level in ("alto", "critico")
    assert "mismo_agresor" in explained
    assert "La misma persona estudiante le agredió" in explained["mismo_agresor"]
