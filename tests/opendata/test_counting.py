"""What one count is: incidents with a student victim, once per category, sex and level."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.models import Incident
from salve.opendata import publication
from salve.opendata.data import LOCAL_TZ, base_counts, grade_levels, period_ending
from tests.opendata.conftest import close_as_unfounded, file_reports, students, today


def counts(by: tuple[str, ...]) -> dict:
    """Return the true counts of a grouping (before suppression), keyed by its values."""
    frame = base_counts(current_catalog(), period_ending(publication.local_today()))
    grouped = frame.groupby(list(by))["count"].sum() if by else frame["count"].sum()
    return grouped.to_dict() if by else {(): int(grouped)}


def test_the_level_comes_from_the_grade_on_the_roll(world):
    for grade in ("Parvularia 5", "2", "5", "8", "1 bachillerato", "sin grado"):
        students(world.school_a, "F", grade, 1)
    levels = grade_levels()
    assert [levels[g] for g in ("Parvularia 5", "2", "5", "8", "1 bachillerato", "sin grado")] == [
        "parvularia",
        "basica1",
        "basica2",
        "basica3",
        "media",
        "sin_dato",
    ]


def test_a_grade_the_rolls_do_not_name_is_published_as_not_recorded(client, world):
    file_reports(world, students(world.school_a, "M", "sin grado", 1) * 6)
    items = client.get("/api/v1/open/incidents?by=level").json["items"]
    assert items[-1]["level"] == {
        "code": "sin_dato",
        "label": {"es": "Sin dato", "en": "Not recorded"},
    }
    assert items[-1]["count"] == 6


def test_an_incident_counts_once_per_category_of_its_types(world):
    girl = students(world.school_a, "F", "2", 1)
    # Two types of bullying, one of psychological violence: two categories, not three.
    file_reports(world, girl, types=("ACO_VERBAL", "ACO_SOCIAL", "PSI_INSULTOS"))
    assert counts(("category",)) == {"acoso_escolar": 1, "psicologica": 1}


def test_an_incident_counts_once_per_sex_and_level_of_its_student_victims(world):
    girls = students(world.school_a, "F", "2", 2)
    boy = students(world.school_a, "M", "2", 1)
    older = students(world.school_a, "F", "8", 1)
    file_reports(world, [(*girls, *boy, *older)])
    expected = {("F", "basica1"): 1, ("M", "basica1"): 1, ("F", "basica3"): 1}
    assert counts(("sex", "level")) == expected
    assert counts(()) == {(): 3}  # one incident, three records


def test_incidents_without_a_student_victim_are_not_counted(world):
    girl = students(world.school_a, "F", "2", 1)
    [incident] = file_reports(world, girl)
    # The same report filed against a member of staff instead: no sex or grade on a roll.
    for party in incident.parties:
        if party.role == "victima":
            party.kind, party.student_id, party.description = "personal", None, "docente"
    db.session.flush()
    assert counts(()) == {(): 0}


def test_unfounded_incidents_are_left_out(world):
    girl = students(world.school_a, "F", "2", 1)
    file_reports(world, girl * 2)
    close_as_unfounded(file_reports(world, girl)[0])
    assert counts(()) == {(): 2}


def test_department_of_the_school(world):
    file_reports(world, students(world.school_a, "F", "2", 2))
    file_reports(world, students(world.school_c, "M", "7", 1), at=world.school_c)
    assert counts(("department",)) == {"06": 2, "05": 1}


def test_months_are_local_time(world, monkeypatch):
    # Published on the 15th: an incident at 23:30 local time on the last day of last month
    # happened at 05:30 UTC on the 1st of this one, and counts in last month.
    day = today().replace(day=15)
    monkeypatch.setattr(publication, "local_today", lambda: day)
    first = day.replace(day=1)
    [late] = file_reports(world, students(world.school_a, "F", "2", 1))
    [early] = file_reports(world, students(world.school_a, "F", "2", 1))
    late.occurred_at = datetime.combine(first - timedelta(days=1), datetime.min.time(),
                                        tzinfo=LOCAL_TZ).replace(hour=23, minute=30)  # fmt: skip
    early.occurred_at = datetime.combine(first, datetime.min.time(), tzinfo=LOCAL_TZ).replace(
        minute=30
    )
    for incident in (late, early):
        incident.reported_at = incident.occurred_at + timedelta(hours=1)
    db.session.flush()
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    assert counts(("month",)) == {previous: 1, first.strftime("%Y-%m"): 1}


def test_the_figures_stand_as_they_were_at_midnight(world, monkeypatch):
    girl = students(world.school_a, "F", "2", 1)
    [earlier, unfounded_today] = file_reports(world, girl * 2)
    yesterday = datetime.now(LOCAL_TZ) - timedelta(days=1)
    for incident in (earlier, unfounded_today):
        incident.occurred_at = incident.reported_at = yesterday
    db.session.flush()
    close_as_unfounded(unfounded_today)  # closed today: still counts until tomorrow's figures
    file_reports(world, girl)  # reported today: counts from tomorrow
    monkeypatch.setattr(publication, "local_today", today)
    assert counts(()) == {(): 2}


def test_the_period_is_twelve_complete_months_and_the_current_one():
    period = period_ending(date(2026, 3, 10))
    assert period.months[0] == "2025-03" and period.months[-1] == "2026-03"
    assert len(period.months) == 13
    assert period.last_day == date(2026, 3, 9)
    january = period_ending(date(2026, 1, 1))
    assert january.months[0] == "2025-01" and january.last_day == date(2025, 12, 31)


def test_incidents_outside_the_period_are_not_counted(world):
    [old] = file_reports(world, students(world.school_a, "F", "2", 1))
    old.occurred_at = datetime.now(LOCAL_TZ) - timedelta(days=500)
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) >= 1
    assert counts(()) == {(): 0}
