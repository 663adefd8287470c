"""Fill an empty SALVE with the demo country and its accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from flask import current_app

from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.models import User
from salve.auth.operations import create_user
from salve.bulk import bulk_upsert
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.demo import DEMO_PASSWORD
from salve.demo.generate import generate_schools, generate_students
from salve.demo.incidents import Reporters, create_incidents
from salve.extensions import db
from salve.geography.models import District
from salve.geography.operations import load_geography
from salve.schools.importing import geography_frame
from salve.schools.models import School, Student

#: Schools and students per scale.
SCALES = {"small": (300, 60_000), "national": (6_000, 1_300_000)}
#: The department whose offices the demo accounts work in.
DEMO_DEPARTMENT = "06"
#: NIEs of the demo start above this, clear of the ministry's real numbering.
FIRST_NIE = 10_000_000
#: username, role, invented display name.
DEMO_ACCOUNTS = (
    ("docente", R.DOCENTE, "Rosa Elvira Quintanilla"),
    ("director", R.DIRECTOR, "Mauricio Ernesto Sorto"),
    ("gestor", R.GESTOR, "Claudia Beatriz Umaña"),
    ("supervisor", R.SUPERVISOR, "Julio César Villalta"),
    ("departamental", R.DEPARTAMENTAL, "Noemí Alejandra Deras"),
    ("nacional", R.NACIONAL, "Óscar Leonel Barahona"),
    ("admin", R.ADMIN, "Administración SALVE"),
)


class DemoError(RuntimeError):
    """The demo cannot be created in this database; the message says why."""


@dataclass
class DemoSummary:
    """What ``create_demo`` added, and where the accounts work."""

    school_count: int
    student_count: int
    #: (username, role, where) per account.
    accounts: list[tuple[str, str, str]]
    #: Invented reports over the last twelve months.
    incident_count: int = 0


def demo_present() -> bool:
    """Tell whether the demo accounts already exist."""
    return db.session.scalar(sa.select(User.id).where(User.is_demo).limit(1)) is not None


def create_demo(school_count: int, student_count: int, seed: int) -> DemoSummary:
    """Add the demo schools, students and accounts; the caller commits."""
    taken = db.session.scalars(
        sa.select(User.username).where(User.username.in_([a[0] for a in DEMO_ACCOUNTS]))
    ).all()
    if taken:
        raise DemoError(f"ya existen usuarios con nombres de la demostración: {', '.join(taken)}")
    if db.session.scalar(sa.select(District.id).limit(1)) is None:
        load_geography(Path(current_app.config["CATALOG_DIR"]) / "geography.csv")
    rng = np.random.default_rng(seed)
    schools = generate_schools(
        rng,
        geography_frame(),
        school_count,
        student_count,
        set(db.session.scalars(sa.select(School.code))),
    )
    bulk_upsert(School.__table__, schools, ["code"], [])
    ids = pd.DataFrame(
        db.session.execute(sa.select(School.code, School.id)).all(), columns=["code", "id"]
    )
    schools = schools.merge(ids, on="code")
    students = generate_students(rng, schools, _first_nie(), date.today().year)
    bulk_upsert(Student.__table__, students, ["nie"], [])
    school = _demo_school(schools)
    accounts = _create_accounts(school)
    incident_count = create_incidents(
        rng, current_catalog(), schools, _stored_students(), _reporters(school), utcnow()
    )
    record("demo.create", schools=len(schools), students=len(students), incidents=incident_count)
    db.session.flush()
    return DemoSummary(len(schools), len(students), accounts, incident_count)


def _first_nie() -> int:
    """Return a number above every numeric NIE already stored."""
    highest = db.session.scalar(
        sa.select(sa.func.max(sa.cast(Student.nie, sa.BigInteger))).where(
            sa.func.length(Student.nie) < 19
        )
    )
    return max(FIRST_NIE, int(highest or 0) + 1)


def _demo_department() -> pd.Series:
    geography = geography_frame()
    return geography[geography["department_code"] == DEMO_DEPARTMENT].iloc[0]


def _demo_school(schools: pd.DataFrame) -> pd.Series:
    """Return the school where the demo docente and director work."""
    department = _demo_department()
    # The first urban public school of San Salvador by code: the same school for every run.
    local = schools[schools["department_id"] == department["department_id"]]
    return (
        local.assign(is_other=(local["zone"] != "urbana") | (local["sector"] != "publico"))
        .sort_values(["is_other", "code"])
        .iloc[0]
    )


def _stored_students() -> pd.DataFrame:
    """Return every student's id, school and grade (the demo's, and any already there)."""
    rows = db.session.execute(sa.select(Student.id, Student.school_id, Student.grade)).all()
    return pd.DataFrame(rows, columns=["id", "school_id", "grade"])


def _reporters(school: pd.Series) -> Reporters:
    ids = dict(
        db.session.execute(
            sa.select(User.username, User.id).where(
                User.is_demo, User.username.in_(["docente", "director", "admin"])
            )
        ).all()
    )
    return Reporters(int(school["id"]), ids["docente"], ids["director"], ids["admin"])


def _create_accounts(school: pd.Series) -> list[tuple[str, str, str]]:
    department_name = _demo_department()["department_name"]
    accounts = []
    for username, role, display_name in DEMO_ACCOUNTS:
        scope = R.ROLE_SCOPE[role]
        if scope == R.SCHOOL_SCOPE:
            where = {"school_code": school["code"]}
            label = f"{school['code']} {school['name']}"
        elif scope == R.DEPARTMENT_SCOPE:
            where = {"department_code": DEMO_DEPARTMENT}
            label = f"{DEMO_DEPARTMENT} {department_name}"
        else:
            where, label = {}, "todo el país"
        create_user(
            username,
            DEMO_PASSWORD,
            role,
            display_name=display_name,
            is_demo=True,
            check_password=False,
            **where,
        )
        accounts.append((username, role, label))
    return accounts
