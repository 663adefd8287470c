"""``salve demo``: an invented country that someone trying SALVE can sign in to."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.demo import DEMO_PASSWORD
from salve.demo.operations import DEMO_ACCOUNTS
from salve.extensions import db
from salve.geography.models import Department
from salve.schools.importing import STUDENT_COLUMNS, validate_students
from salve.schools.models import School, Student
from tests.conftest import count, login

#: A country small enough to build twice per test run.
SMALL = ["--schools", "40", "--students", "4000"]


@pytest.fixture
def free_demo_names(app):
    """Rename the seeded accounts whose names the demo uses (nacional, admin)."""
    names = [username for username, _role, _name in DEMO_ACCOUNTS]
    for user in db.session.scalars(sa.select(User).where(User.username.in_(names))):
        user.username = f"{user.username}_prueba"
    db.session.flush()


def new_schools(before: set[str]) -> pd.DataFrame:
    rows = db.session.execute(
        sa.select(
            School.code, School.zone, School.sector, Department.code.label("department")
        ).join(Department, School.department_id == Department.id)
    ).all()
    frame = pd.DataFrame(rows, columns=["code", "zone", "sector", "department"])
    return frame[~frame["code"].isin(before)]


def test_demo_builds_a_country_with_accounts_that_sign_in(runner, client, free_demo_names):
    schools_before = set(db.session.scalars(sa.select(School.code)))
    students_before = count(Student)

    result = runner.invoke(args=["salve", "demo", "--scale", "small", "--seed", "1", *SMALL])
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output

    schools = new_schools(schools_before)
    assert len(schools) == 40
    assert sorted(schools["department"].unique()) == [f"{n:02d}" for n in range(1, 15)]
    assert schools["department"].value_counts().idxmax() == "06"
    assert set(schools["zone"]) == {"urbana", "rural"}
    assert 3600 <= count(Student) - students_before <= 4400

    demo_users = db.session.scalars(sa.select(User).where(User.is_demo)).all()
    assert {user.username for user in demo_users} == {name for name, _r, _n in DEMO_ACCOUNTS}
    docente = next(user for user in demo_users if user.username == "docente")
    assert docente.role_assignments[0].school.department.code == "06"
    for user in demo_users:
        assert user.username in result.output
        response = login(client, user.username, DEMO_PASSWORD)
        assert response.status_code == 302, user.username
        client.post("/salir")


def test_demo_runs_once(runner, free_demo_names):
    first = runner.invoke(args=["salve", "demo", "--seed", "2", *SMALL])
    assert first.exit_code == 0, first.output
    schools, students, users = count(School), count(Student), count(User)

    second = runner.invoke(args=["salve", "demo", "--seed", "3", *SMALL])
    assert second.exit_code == 0, second.output
    assert "ya existen" in second.output
    assert (count(School), count(Student), count(User)) == (schools, students, users)


def test_demo_refuses_to_take_over_existing_accounts(runner):
    schools = count(School)
    result = runner.invoke(args=["salve", "demo", *SMALL])
    assert result.exit_code != 0
    assert "nacional" in result.output and "admin" in result.output
    assert count(School) == schools
    assert db.session.scalar(sa.select(User.id).where(User.is_demo)) is None


def test_demo_students_pass_the_import_checks(runner, free_demo_names):
    result = runner.invoke(args=["salve", "demo", "--seed", "4", *SMALL])
    assert result.exit_code == 0, result.output
    rows = db.session.execute(
        sa.select(
            Student.nie,
            School.code,
            Student.given_names,
            Student.family_names,
            Student.sex,
            Student.birth_date,
            Student.grade,
            Student.section,
        ).join(School, Student.school_id == School.id)
    ).all()
    exported = pd.DataFrame(rows, columns=STUDENT_COLUMNS).to_csv(index=False).encode()
    checked = validate_students(exported)
    assert checked.problems == []
    assert len(checked.valid) == len(rows)
