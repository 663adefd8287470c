"""The base table of open data: incident counts by department, month, category, sex and level.

What one count is (the methodology note on the page says the same in Spanish and English):

- **An incident, once per category of its types**: an incident filed as two types of the same
  category counts once in that category; one filed as types of two categories counts once in
  each.
- **Attributed to its student victims' sex and school level**: within a category, an incident
  counts once for each distinct (sex, level) of its student victims. Two girls of 7th grade
  count once; a girl and a boy count once under each sex. So the national total is the number
  of (incident, category, sex, level) records, a little above the number of incidents.
- **Only incidents with a student victim**: open data is about violence against children and
  adolescents. Incidents whose victims are staff or unknown (about 2% nationally) have no sex
  or grade on a roll; counted under "sin dato" they made structural zeros (violence against
  staff has no girls or boys) that forced secondary suppression up to the national count of
  girls (measured on the national demo). They stay in the ministry's own reports.
- **Department** of the school; **month** of when it happened, in El Salvador's time;
  **level** from the student's grade on the roll (parvularia, básica I, II and III ciclo,
  media), as ``salve.reports.analytics.grade_level`` reads it.
- Incidents **closed as unfounded** are left out; reported and validated ones count.
- The period: the last 12 complete months and the current one, up to the end of yesterday,
  as the records stood then (see ``as_of_cutoff``; published once a day, see
  ``salve.opendata.publication``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from babel.dates import format_date

from salve.catalog.entries import Catalog, Label
from salve.catalog.models import CatalogVersion
from salve.catalog.queries import catalog_of_version
from salve.extensions import db
from salve.geography.models import Department
from salve.i18n import LOCAL_TZ
from salve.incidents.models import Incident, IncidentParty, IncidentType
from salve.reports.analytics import UNKNOWN_LEVEL, grade_level
from salve.schools.models import School, Student

#: The dimensions, in the order the page and the API list them.
DIMENSIONS = ("department", "month", "category", "sex", "level")
#: The code of a value that was not recorded (a grade the rolls do not name, say).
UNKNOWN = UNKNOWN_LEVEL
UNKNOWN_LABEL = Label("Sin dato", "Not recorded")
#: How many complete months before the current one are published.
MONTHS_BACK = 12
SEX_LABELS = {
    "F": Label("Femenino", "Female"),
    "M": Label("Masculino", "Male"),
}
LEVEL_LABELS = {
    "parvularia": Label("Educación parvularia", "Pre-school"),
    "basica1": Label("Básica, I ciclo (1.º a 3.º)", "Primary, cycle I (grades 1–3)"),
    "basica2": Label("Básica, II ciclo (4.º a 6.º)", "Primary, cycle II (grades 4–6)"),
    "basica3": Label("Básica, III ciclo (7.º a 9.º)", "Lower secondary, cycle III (grades 7–9)"),
    "media": Label("Educación media (bachillerato)", "Upper secondary (bachillerato)"),
    UNKNOWN: UNKNOWN_LABEL,
}


@dataclass(frozen=True)
class Period:
    """The months published: from the first day of ``months[0]`` up to (not including) ``end``."""

    months: tuple[str, ...]
    #: Local midnight that ends the period (today's, when figures are published daily).
    end: datetime

    @property
    def start(self) -> datetime:
        """Return local midnight of the first published month's first day."""
        year, month = map(int, self.months[0].split("-"))
        return datetime(year, month, 1, tzinfo=LOCAL_TZ)

    @property
    def last_day(self) -> date:
        """Return the last day whose incidents count (yesterday, locally)."""
        return (self.end - timedelta(days=1)).date()


def period_ending(today: date) -> Period:
    """Return the published period when figures are cut at the start of ``today`` (local)."""
    months = []
    year, month = today.year, today.month
    for _ in range(MONTHS_BACK + 1):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return Period(tuple(reversed(months)), datetime.combine(today, time(0), tzinfo=LOCAL_TZ))


def month_label(code: str) -> Label:
    """Return a month code ("2026-01") as "enero de 2026" / "January 2026"."""
    year, month = map(int, code.split("-"))
    first = date(year, month, 1)
    return Label(
        format_date(first, "MMMM 'de' y", locale="es_SV"), format_date(first, "MMMM y", locale="en")
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _month_case(period: Period):
    """Return an SQL expression of the local month of ``Incident.occurred_at``."""
    starts = [datetime(int(m[:4]), int(m[5:]), 1, tzinfo=LOCAL_TZ) for m in period.months]
    bounds = [*starts[1:], period.end]
    whens = [
        (Incident.occurred_at < _utc(bound), code)
        for bound, code in zip(bounds, period.months, strict=True)
    ]
    return sa.case(*whens, else_=UNKNOWN)


def as_of_cutoff(period: Period) -> list:
    """Return the conditions of an incident that counts, as the database stood at the cutoff.

    Happened in the period, reported before the cutoff, and not closed as unfounded before it:
    a late report or a closure today changes tomorrow's figures, never today's.
    """
    end = _utc(period.end)
    return [
        Incident.occurred_at >= _utc(period.start),
        Incident.occurred_at < end,
        Incident.reported_at < end,
        sa.or_(Incident.status != "infundado", Incident.closed_at >= end),
    ]


def type_categories(catalog: Catalog) -> dict[str, str]:
    """Return each stored type code's category, following the mappings of retired codes."""
    codes = db.session.scalars(sa.select(IncidentType.type_code).distinct()).all()
    categories = {}
    for code in codes:
        try:
            categories[code] = catalog.resolve(code).category
        except KeyError:  # a code of an older catalog that no mapping carries forward
            categories[code] = _category_in_stored_versions(code)
    return categories


def _category_in_stored_versions(code: str) -> str:
    versions = db.session.scalars(sa.select(CatalogVersion.version)).all()
    for version in sorted(versions, reverse=True):
        try:
            return catalog_of_version(version).resolve(code).category
        except (KeyError, LookupError):
            continue
    return UNKNOWN


def grade_levels() -> dict[str, str]:
    """Return each grade found on the rolls with its school level."""
    grades = db.session.scalars(sa.select(Student.grade).distinct()).all()
    return {grade: grade_level(grade) for grade in grades}


def base_counts(catalog: Catalog, period: Period) -> pd.DataFrame:
    """Return one row per observed (department, month, category, sex, level) with its ``count``.

    Counted in the database: the per-incident rows never leave it (at national size, about
    600,000 incidents a year, loading them into pandas took 15 s; this takes a few).
    """
    grade_level = sa.case(grade_levels() or {"": UNKNOWN}, value=Student.grade, else_=UNKNOWN)
    category = sa.case(
        type_categories(catalog) or {"": UNKNOWN}, value=IncidentType.type_code, else_=UNKNOWN
    )
    records = (
        sa.select(
            Incident.id.label("incident_id"),
            Department.code.label("department"),
            _month_case(period).label("month"),
            category.label("category"),
            Student.sex.label("sex"),
            grade_level.label("level"),
        )
        .join(School, School.id == Incident.school_id)
        .join(Department, Department.id == School.department_id)
        .join(IncidentType, IncidentType.incident_id == Incident.id)
        .join(IncidentParty, IncidentParty.incident_id == Incident.id)
        .join(Student, Student.id == IncidentParty.student_id)
        .where(IncidentParty.role == "victima", *as_of_cutoff(period))
        .subquery()
    )
    dims = [records.c[dim] for dim in DIMENSIONS]
    # Distinct incidents: two types of one category, or two victims of one sex and level, in
    # the same incident count once.
    query = sa.select(*dims, sa.func.count(sa.distinct(records.c.incident_id)).label("count"))
    rows = db.session.execute(query.group_by(*dims)).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(DIMENSIONS) + 1)]
    frame = pd.DataFrame(dict(zip([*DIMENSIONS, "count"], columns, strict=True)))
    frame["count"] = frame["count"].astype(np.int64)
    return frame


def dimension_values(
    catalog: Catalog, period: Period, observed: Mapping[str, set[str]]
) -> dict[str, dict[str, Label]]:
    """Return, per dimension, every value in display order with its label.

    Every department, month, category, sex and level appears (a zero is published as a zero);
    a value found in the data (``observed``: dimension → codes) but unknown to the catalog or
    the rolls comes last.
    """
    departments = {
        code: Label(name, name)
        for code, name in db.session.execute(
            sa.select(Department.code, Department.name).order_by(Department.code)
        )
    }
    values = {
        "department": departments,
        "month": {code: month_label(code) for code in period.months},
        "category": {code: entry.label for code, entry in catalog.categories.items()},
        "sex": dict(SEX_LABELS),
        "level": {code: label for code, label in LEVEL_LABELS.items() if code != UNKNOWN},
    }
    for dim, codes in observed.items():
        for code in sorted(set(codes) - set(values[dim])):
            values[dim][code] = UNKNOWN_LABEL if code == UNKNOWN else Label(code, code)
    return values


def complete(base: pd.DataFrame, values: dict[str, dict]) -> pd.DataFrame:
    """Return ``base`` with a zero row for every value of every dimension, so all appear."""
    width = max(len(v) for v in values.values())
    padding = pd.DataFrame(
        {dim: [list(values[dim])[i % len(values[dim])] for i in range(width)] for dim in DIMENSIONS}
    )
    padding["count"] = 0
    return pd.concat([base, padding], ignore_index=True)
