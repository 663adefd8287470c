"""Factories for test records: invented people and schools, never real ones."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta

import pyotp
import sqlalchemy as sa

from salve.auth import totp_keys
from salve.auth.models import User
from salve.auth.operations import create_user
from salve.extensions import db
from salve.geography.models import Department, District, Municipality
from salve.i18n import LOCAL_TZ
from salve.schools.models import School, Student

#: The password of every account the tests create.
PASSWORD = "prueba-segura-2026"

_sequence = itertools.count(1)


def district_in(department_code: str) -> District:
    """Return the first district of a department."""
    return db.session.scalars(
        sa.select(District)
        .join(District.municipality)
        .join(Municipality.department)
        .where(Department.code == department_code)
        .order_by(District.id)
    ).first()


def make_school(department_code: str = "06", **fields) -> School:
    """Create a school in a department."""
    number = next(_sequence)
    district = district_in(department_code)
    values = {
        "code": f"{90000 + number:05d}",
        "name": f"Centro Escolar de Prueba {number}",
        "sector": "publico",
        "zone": "urbana",
        "district_id": district.id,
        "department_id": district.municipality.department_id,
        "levels": "basica1,basica2,basica3",
        "enrolment_female": 100,
        "enrolment_male": 100,
    }
    values.update(fields)
    school = School(**values)
    db.session.add(school)
    db.session.flush()
    return school


def make_student(school: School, **fields) -> Student:
    """Create a student on a school's roll."""
    number = next(_sequence)
    values = {
        "nie": f"{9000000 + number}",
        "school_id": school.id,
        "given_names": f"Estudiante{number}",
        "family_names": f"Prueba Ficticia{number}",
        "sex": "F" if number % 2 else "M",
        "birth_date": date(2012, 1 + number % 12, 1 + number % 28),
        "grade": str(1 + number % 9),
        "section": "A",
    }
    values.update(fields)
    student = Student(**values)
    db.session.add(student)
    db.session.flush()
    return student


def make_user(
    username: str,
    role: str,
    *,
    school: School | None = None,
    department: str | None = None,
    **fields,
):
    """Create an account with one role; roles that need a second factor get one enrolled.

    Pass ``enrol_second_factor=False`` for an account that must enrol at its first sign-in.
    """
    enrol = fields.pop("enrol_second_factor", True)
    user = create_user(
        username,
        fields.pop("password", PASSWORD),
        role,
        school_code=school.code if school else None,
        department_code=department,
        check_password=False,
        **fields,
    )
    if enrol and user.needs_second_factor:
        user.totp_secret = totp_keys.seal(pyotp.random_base32())
        user.totp_enabled_at = datetime.now(UTC)
    return user


def totp_code(username: str, *, fresh: bool = True) -> str:
    """Return the current code of ``username``'s authenticator app.

    ``fresh`` forgets the last accepted step first, so a test may sign the same account in
    several times within 30 seconds (a real app would wait for the next code).
    """
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if fresh:
        user.totp_last_step = None
        db.session.flush()
    return pyotp.TOTP(totp_keys.unseal(user.totp_secret)).now()


def local_time(delta: timedelta = timedelta(hours=-1)) -> str:
    """Return an El Salvador local time relative to now, as a form would send it."""
    return (datetime.now(LOCAL_TZ) + delta).replace(tzinfo=None).isoformat(timespec="minutes")


def report_payload(world, **overrides) -> dict:
    """Return a valid report by docente_a: two students of school_a, bullying an hour ago."""
    payload = {
        "school": world.school_a,
        "occurred_at": local_time(),
        "location": "patio",
        "types": ["ACO_VERBAL"],
        "relationship": "estudiante_estudiante",
        "parties": [
            {"role": "victima", "kind": "estudiante", "nie": world.students_a[0]},
            {"role": "agresor", "kind": "estudiante", "nie": world.students_a[1]},
        ],
        "repetition": "2_3",
        "narrative": "Durante el recreo le dijeron apodos ofensivos.",
        "measures": ["separacion"],
        "idempotency_key": secrets.token_urlsafe(16),
    }
    payload.update(overrides)
    return payload
