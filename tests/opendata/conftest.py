"""Open data fixtures: a fresh publication per test, dated tomorrow, and a way to file reports.

The figures are cut at midnight, so a report filed during a test would only count tomorrow:
``publication.local_today`` is moved one day ahead unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from itertools import combinations

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.models import Incident
from salve.incidents.operations import close_unfounded, file_incident
from salve.opendata import publication
from salve.opendata.data import DIMENSIONS, LOCAL_TZ
from salve.schools.models import School
from tests import factories
from tests.factories import local_time, report_payload

#: Every grouping the public may ask for: the 31 non-empty subsets, and the national total.
GROUPINGS = [
    combo for size in range(len(DIMENSIONS) + 1) for combo in combinations(DIMENSIONS, size)
]


def today() -> date:
    """Return today in El Salvador."""
    from datetime import datetime

    return datetime.now(LOCAL_TZ).date()


@pytest.fixture(autouse=True)
def fresh_publication(app, monkeypatch):
    """Build the publication again in each test, in memory only, as if published tomorrow."""
    monkeypatch.setitem(app.config, "OPEN_DATA_DIR", "")
    monkeypatch.setattr(publication, "local_today", lambda: today() + timedelta(days=1))
    publication.forget()
    yield
    publication.forget()


def school(code: str) -> School:
    """Return the school with ``code``."""
    return db.session.scalar(sa.select(School).where(School.code == code))


def students(code: str, sex: str, grade: str, count: int) -> list[str]:
    """Enrol ``count`` new students of one sex and grade at a school; return their NIEs."""
    where = school(code)
    return [factories.make_student(where, sex=sex, grade=grade).nie for _ in range(count)]


def file_reports(
    world,
    victims: Iterable[str | tuple[str, ...]],
    *,
    at: str | None = None,
    types: tuple[str, ...] = ("ACO_VERBAL",),
    days_ago: float = 2,
    aggressor: str | None = None,
) -> list[Incident]:
    """File one report per victim (or tuple of victims) at a school, by its teacher."""
    at = at or world.school_a
    reporter = {world.school_a: "docente_a", world.school_b: "docente_b"}.get(at, "docente_c")
    user = db.session.scalar(sa.select(User).where(User.username == reporter))
    filed = []
    for victim in victims:
        group = (victim,) if isinstance(victim, str) else victim
        parties = [{"role": "victima", "kind": "estudiante", "nie": nie} for nie in group]
        if aggressor:
            parties.append({"role": "agresor", "kind": "estudiante", "nie": aggressor})
        payload = report_payload(
            world,
            school=at,
            types=list(types),
            parties=parties,
            occurred_at=local_time(timedelta(days=-days_ago)),
        )
        incident, _created = file_incident(user, payload, current_catalog())
        filed.append(incident)
    db.session.flush()
    return filed


def close_as_unfounded(incident: Incident) -> None:
    """Close a report as unfounded, as its school's principal."""
    principal = db.session.scalar(sa.select(User).where(User.username == "director_a"))
    close_unfounded(principal, incident, "Se verificó que no ocurrió.")
    db.session.flush()


@pytest.fixture
def seeded(world):
    """Reports enough for cells of 5 and more, cells of 1 to 4, and sexual violence from 5 to 9.

    School A (San Salvador): 12 bullying reports against girls of 2nd grade, 7 fights against
    boys of 8th grade, 6 reports of sexual violence against girls of 8th grade, 2 bullying
    reports a month and a half ago, and one report closed as unfounded. School C (La Libertad):
    3 bullying reports against a boy of 1st year of bachillerato.
    """
    girls_2 = students(world.school_a, "F", "2", 4)
    boys_8 = students(world.school_a, "M", "8", 3)
    girls_8 = students(world.school_a, "F", "8", 3)
    boy_media = students(world.school_c, "M", "1 bachillerato", 1)
    file_reports(world, [girls_2[i % 4] for i in range(12)])
    file_reports(world, [boys_8[i % 3] for i in range(7)], types=("FIS_PELEA",))
    file_reports(world, [girls_8[i % 3] for i in range(6)], types=("SEX_TOCAMIENTOS",))
    file_reports(world, girls_2[:2], days_ago=45)
    close_as_unfounded(file_reports(world, girls_2[:1], types=("FIS_PELEA",))[0])
    file_reports(world, boy_media * 3, at=world.school_c)
    return {"girls_2": girls_2, "boys_8": boys_8, "girls_8": girls_8, "boy_media": boy_media}
