"""The scope module: which schools and students each role reaches."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.auth.scope import identity_school_ids, scope_for, visible_schools, visible_students
from salve.extensions import db
from salve.schools.models import School


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _school_codes(username: str) -> set[str]:
    return {s.code for s in db.session.scalars(visible_schools(_user(username)))}


@pytest.mark.parametrize(
    ("username", "sees", "does_not_see"),
    [
        ("docente_a", {"school_a"}, {"school_b", "school_c"}),
        ("director_c", {"school_c"}, {"school_a", "school_b"}),
        ("gestor_06", {"school_a", "school_b"}, {"school_c"}),
        ("departamental_05", {"school_c"}, {"school_a", "school_b"}),
        ("nacional", {"school_a", "school_b", "school_c"}, set()),
    ],
)
def test_visible_schools(world, username, sees, does_not_see):
    codes = _school_codes(username)
    assert {getattr(world, key) for key in sees} <= codes
    assert not {getattr(world, key) for key in does_not_see} & codes


def test_identities_reach_only_the_schools_own_staff(world):
    school_a = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    assert identity_school_ids(_user("docente_a")) == {school_a.id}
    for outsider in ("gestor_06", "departamental_06", "nacional", "admin", "docente_b"):
        students = db.session.scalars(visible_students(_user(outsider))).all()
        assert all(s.school_id != school_a.id for s in students), outsider


def test_docente_sees_the_students_of_their_school_only(world):
    nies = {s.nie for s in db.session.scalars(visible_students(_user("docente_a")))}
    assert set(world.students_a) <= nies
    assert not set(world.students_c) & nies


def test_anonymous_scope_is_empty():
    from flask_login import AnonymousUserMixin

    assert scope_for(AnonymousUserMixin()).is_empty
