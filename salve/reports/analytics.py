"""A school's incidents, seen from the region: counts by month, category and the "Big 5".

The Big 5 are the cuts that school-wide behaviour support systems use to decide where to act:
what happened (type), where (location), when in the day (hour band), which day of the week, and
in which grade. Every figure counts two things:

- **incidents**: reports of the school in the period, without those closed as unfounded;
- **student involvements**: each (incident, student) pair in which a student of the school is a
  victim or an aggressor. Sex and school level belong to people, not to reports, so every
  figure is disaggregated over involvements, and those breakdowns add up to their total.

A few queries load the period's rows (incidents, their types, their student parties, the roll);
every figure is a pandas grouping of those frames. No student name is ever read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pandas as pd
import sqlalchemy as sa

from salve.catalog.entries import Catalog
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents.models import Incident, IncidentParty, IncidentType
from salve.schools.models import LEVELS, Student

#: Periods a reader may choose, in months (the current month and the ones before it).
PERIOD_MONTHS = (3, 6, 12)
DEFAULT_MONTHS = 12
#: The level of a student whose grade says nothing we recognise.
UNKNOWN_LEVEL = "sin_dato"
SEX_COLUMNS = ("F", "M")
LEVEL_COLUMNS = (*LEVELS, UNKNOWN_LEVEL)
COUNT_COLUMNS = ("incidents", "students", *SEX_COLUMNS, *LEVEL_COLUMNS)
#: Party roles an involvement counts (witnesses are not involved in the violence).
INVOLVED_ROLES = ("victima", "agresor")
#: Hour bands of the local day, [start, end) hours: the morning and afternoon shifts in pieces.
HOUR_BANDS = ((0, 7), (7, 9), (9, 11), (11, 13), (13, 15), (15, 17), (17, 19), (19, 24))
#: Bands of incidents per student in the period, [low, high] (None: no upper bound).
FREQUENCY_BANDS = (("0-1", 0, 1), ("2-5", 2, 5), ("6+", 6, None))
TIER_RANK = {"I": 1, "II": 2, "III": 3}


# --- Grades and school levels ------------------------------------------------------------------

_ORDINALS = {
    "primer": 1, "primero": 1, "segundo": 2, "tercer": 3, "tercero": 3, "cuarto": 4,
    "quinto": 5, "sexto": 6, "septimo": 7, "setimo": 7, "octavo": 8, "noveno": 9,
}  # fmt: skip
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[a-z]+")


def _plain(text: str) -> str:
    """Lower case without accents: "Séptimo" → "septimo"."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _grade_number(text: str) -> int | None:
    found = _NUMBER.search(text)
    if found:
        return int(found.group())
    return next((_ORDINALS[w] for w in _WORD.findall(text) if w in _ORDINALS), None)


def grade_level(grade: str | None) -> str:
    """Return the school level of a grade as the roll writes it (``UNKNOWN_LEVEL`` if unclear).

    Parvularia (4 to 6 years), básica I ciclo (grades 1 to 3), II ciclo (4 to 6), III ciclo
    (7 to 9) and media (bachillerato, counted in years: "1 bachillerato", "primer año"). Básica
    counts in grades ("7", "7.º grado", "séptimo"), so a year ("año") without "grado" is media.
    """
    text = _plain(grade or "")
    if not text:
        return UNKNOWN_LEVEL
    if "parv" in text or "kinder" in text or "prepa" in text:
        return "parvularia"
    number = _grade_number(text)
    if "bach" in text or "media" in text or ("ano" in _WORD.findall(text) and "grado" not in text):
        return "media" if number is None or 1 <= number <= 3 else UNKNOWN_LEVEL
    if number is None or not 1 <= number <= 9:
        return UNKNOWN_LEVEL
    return LEVELS[1 + (number - 1) // 3]


def grade_levels(grades: pd.Series) -> pd.Series:
    """Return the level of each grade (one call per distinct grade, not per student)."""
    levels = {grade: grade_level(grade) for grade in grades.dropna().unique()}
    return grades.map(levels).fillna(UNKNOWN_LEVEL)


def grade_sort_key(grade: str) -> tuple:
    """Order grades as a school does: parvularia, 1.º to 9.º grade, then bachillerato."""
    level = grade_level(grade)
    rank = LEVEL_COLUMNS.index(level)
    return (rank, _grade_number(_plain(grade)) or 0, grade)


# --- The period --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole local months, the current one included: [start, end) in UTC."""

    months: int
    start: datetime
    end: datetime
    #: The first day of each month covered, oldest first (El Salvador's calendar).
    month_starts: tuple[date, ...]


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_ending(now: datetime, months: int = DEFAULT_MONTHS) -> Period:
    """Return the ``months`` local months up to the one containing ``now``."""
    if months not in PERIOD_MONTHS:
        months = DEFAULT_MONTHS
    local = now.astimezone(LOCAL_TZ)
    current = date(local.year, local.month, 1)
    starts = tuple(_add_months(current, -back) for back in range(months - 1, -1, -1))

    def utc(day: date) -> datetime:
        return datetime.combine(day, time(), LOCAL_TZ).astimezone(UTC)

    return Period(months, utc(starts[0]), utc(_add_months(current, 1)), starts)


# --- Reading the period's rows -----------------------------------------------------------------


@dataclass(frozen=True)
class SchoolRows:
    """What the figures are computed from; one frame per query."""

    #: One row per incident: id, occurred_at (local), location, month, hour_band, weekday.
    incidents: pd.DataFrame
    #: One row per incident and type: incident_id, type_code, tier.
    types: pd.DataFrame
    #: One row per involvement: incident_id, student_id, sex, grade, level.
    involvements: pd.DataFrame
    #: The active roll grouped: sex, grade, level, incidents (per student), students.
    roll: pd.DataFrame


def _frame(query, columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(db.session.execute(query).all(), columns=list(columns))


def _counted(school_id: int, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(
        Incident.school_id == school_id,
        Incident.status != "infundado",
        Incident.occurred_at >= period.start,
        Incident.occurred_at < period.end,
    )


def _involved(school_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        IncidentParty.role.in_(INVOLVED_ROLES),
        IncidentParty.kind == "estudiante",
        Student.school_id == school_id,
    )


def hour_band(hours: pd.Series) -> pd.Series:
    """Return the index in ``HOUR_BANDS`` of each local hour."""
    edges = [start for start, _end in HOUR_BANDS] + [24]
    return pd.cut(hours, edges, right=False, labels=False).astype(int)


def load_rows(school_id: int, period: Period) -> SchoolRows:
    """Read the school's incidents, types, involvements and roll for ``period`` (four queries)."""
    counted = _counted(school_id, period)
    incidents = _frame(
        sa.select(Incident.id, Incident.occurred_at, Incident.location).where(counted),
        ["id", "occurred_at", "location"],
    )
    local = pd.to_datetime(incidents["occurred_at"], utc=True).dt.tz_convert(LOCAL_TZ)
    incidents = incidents.assign(
        occurred_at=local,
        month=local.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date,
        hour_band=hour_band(local.dt.hour),
        weekday=local.dt.day_of_week,
    )
    types = _frame(
        sa.select(IncidentType.incident_id, IncidentType.type_code, IncidentType.tier)
        .join(Incident, Incident.id == IncidentType.incident_id)
        .where(counted),
        ["incident_id", "type_code", "tier"],
    )
    involvements = _frame(
        sa.select(IncidentParty.incident_id, IncidentParty.student_id, Student.sex, Student.grade)
        .join(Incident, Incident.id == IncidentParty.incident_id)
        .join(Student, Student.id == IncidentParty.student_id)
        .where(counted, _involved(school_id))
        .distinct(),
        ["incident_id", "student_id", "sex", "grade"],
    )
    involvements["level"] = grade_levels(involvements["grade"])
    per_student = (
        sa.select(
            IncidentParty.student_id,
            sa.func.count(sa.distinct(IncidentParty.incident_id)).label("incidents"),
        )
        .join(Incident, Incident.id == IncidentParty.incident_id)
        .join(Student, Student.id == IncidentParty.student_id)
        .where(counted, _involved(school_id))
        .group_by(IncidentParty.student_id)
        .subquery()
    )
    roll = _frame(
        sa.select(Student.sex, Student.grade, per_student.c.incidents, sa.func.count())
        .outerjoin(per_student, per_student.c.student_id == Student.id)
        .where(Student.school_id == school_id, Student.is_active)
        .group_by(Student.sex, Student.grade, per_student.c.incidents),
        ["sex", "grade", "incidents", "students"],
    )
    roll["incidents"] = roll["incidents"].fillna(0).astype(int)
    roll["level"] = grade_levels(roll["grade"])
    return SchoolRows(incidents, types, involvements, roll)


# --- Counting ----------------------------------------------------------------------------------


def tally(keys: pd.DataFrame, involvements: pd.DataFrame, order: Sequence | None = None):
    """Count incidents and student involvements per ``key``, involvements by sex and level.

    ``keys`` has ``incident_id`` and ``key`` (an incident may have several keys, e.g. types);
    with a ``student_id`` column too, the key belongs to the student (e.g. their grade) and only
    that student's involvement counts under it. Rows follow ``order`` (zeros included) or, without
    it, go from the most incidents to the fewest.
    """
    on = [c for c in ("incident_id", "student_id") if c in keys.columns]
    keys = keys.drop_duplicates([*on, "key"])
    incidents = keys.drop_duplicates(["incident_id", "key"]).groupby("key").size()
    joined = keys.merge(involvements, on=on)
    parts = [incidents.rename("incidents"), joined.groupby("key").size().rename("students")]
    for column, values in (("sex", SEX_COLUMNS), ("level", LEVEL_COLUMNS)):
        parts.append(
            joined.groupby(["key", column])
            .size()
            .unstack(column, fill_value=0)
            .reindex(columns=list(values), fill_value=0)
        )
    frame = pd.concat(parts, axis=1).reindex(columns=list(COUNT_COLUMNS)).fillna(0).astype(int)
    if order is not None:
        frame = frame.reindex(list(order), fill_value=0)
    else:
        frame = frame.sort_index(kind="stable").sort_values(
            ["incidents", "students"], ascending=False, kind="stable"
        )
    frame.index.name = "key"
    return frame.reset_index()


def total(keys: pd.DataFrame, involvements: pd.DataFrame) -> pd.Series:
    """Count the distinct incidents and involvements behind ``keys``, as ``tally`` columns."""
    everything = keys.drop(columns="key").assign(key="total")
    return tally(everything, involvements, order=["total"]).iloc[0][list(COUNT_COLUMNS)]


def primary_categories(types: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Give each incident one category: its most serious type's (tier, then catalog order).

    So that a month's stacked bar adds up to the month's incidents.
    """
    category_order = {code: rank for rank, code in enumerate(catalog.categories)}
    categories = {code: type_category(catalog, code) for code in types["type_code"].unique()}
    ranked = types.assign(
        category=types["type_code"].map(categories),
        tier_rank=types["tier"].map(TIER_RANK).fillna(0),
    )
    ranked["category_rank"] = ranked["category"].map(category_order).fillna(len(category_order))
    ranked = ranked.sort_values(
        ["incident_id", "tier_rank", "category_rank"], ascending=[True, False, True]
    )
    return ranked.drop_duplicates("incident_id")[["incident_id", "category"]]


def type_category(catalog: Catalog, code: str) -> str:
    """Return the category of type ``code``, following retired codes (the code if unknown)."""
    try:
        return catalog.resolve(code).category
    except KeyError:
        return code


def current_type(catalog: Catalog, code: str) -> str:
    """Return the type code in force for ``code`` (retired codes are counted as their successor)."""
    try:
        return catalog.resolve(code).code
    except KeyError:
        return code


@dataclass(frozen=True)
class SchoolFigures:
    """Every figure of the analytics page, as frames with ``tally``'s columns."""

    period: Period
    total: pd.Series
    #: Per month: tally columns, then one column per category (incidents, primary category).
    months: pd.DataFrame
    categories: pd.DataFrame
    types: pd.DataFrame
    locations: pd.DataFrame
    hours: pd.DataFrame
    weekdays: pd.DataFrame
    grades: pd.DataFrame
    #: Students per band of incidents (rows) and group (columns): total, sex, level.
    frequency: pd.DataFrame


def figures(rows: SchoolRows, period: Period, catalog: Catalog) -> SchoolFigures:
    """Compute every figure from the period's rows (no database access)."""
    incidents, involvements = rows.incidents, rows.involvements
    by_incident = incidents.rename(columns={"id": "incident_id"})

    def keyed(column: str) -> pd.DataFrame:
        return by_incident[["incident_id", column]].rename(columns={column: "key"})

    primary = primary_categories(rows.types, catalog).rename(columns={"category": "key"})
    categories = tally(primary, involvements)
    months = tally(keyed("month"), involvements, order=period.month_starts)
    per_category = (
        by_incident[["incident_id", "month"]]
        .merge(primary, on="incident_id")
        .groupby(["month", "key"])
        .size()
        .unstack("key", fill_value=0)
        .reindex(index=list(period.month_starts), columns=list(categories["key"]), fill_value=0)
    )
    months = months.join(per_category.reset_index(drop=True))
    types = rows.types.assign(
        key=rows.types["type_code"].map(
            {code: current_type(catalog, code) for code in rows.types["type_code"].unique()}
        )
    )[["incident_id", "key"]]
    grades = involvements[["incident_id", "student_id", "grade"]].rename(columns={"grade": "key"})
    grade_order = sorted(set(involvements["grade"]) | set(rows.roll["grade"]), key=grade_sort_key)
    return SchoolFigures(
        period=period,
        total=total(keyed("location"), involvements),
        months=months,
        categories=categories,
        types=tally(types, involvements),
        locations=tally(keyed("location"), involvements),
        hours=tally(keyed("hour_band"), involvements, order=range(len(HOUR_BANDS))),
        weekdays=tally(keyed("weekday"), involvements, order=range(7)),
        grades=tally(grades, involvements, order=grade_order),
        frequency=frequency(rows.roll),
    )


def frequency(roll: pd.DataFrame) -> pd.DataFrame:
    """Count active students by how many incidents they had (bands) and by group.

    ``roll`` has sex, level, incidents (a student's incidents as victim or aggressor) and
    students (how many students share those values). Columns: total, F, M and every level;
    each column adds up to that group's active students.
    """
    labels = [label for label, _low, _high in FREQUENCY_BANDS]
    edges = [low for _label, low, _high in FREQUENCY_BANDS] + [float("inf")]
    band = pd.cut(roll["incidents"], edges, right=False, labels=labels)
    banded = roll.assign(band=band)
    parts = [banded.groupby("band", observed=False)["students"].sum().rename("total")]
    for column, values in (("sex", SEX_COLUMNS), ("level", LEVEL_COLUMNS)):
        parts.append(
            banded.pivot_table(
                index="band", columns=column, values="students", aggfunc="sum", observed=False
            )
            .reindex(index=labels, columns=list(values))
            .fillna(0)
        )
    frame = pd.concat(parts, axis=1).reindex(labels).fillna(0).astype(int)
    frame.index = pd.Index(labels, name="key")
    return frame.reset_index()


def shares(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return each count of ``columns`` as a percentage of its column's sum (0 when empty)."""
    counts = frame[list(columns)].astype(float)
    sums = counts.sum()
    return (counts / sums.where(sums > 0)).fillna(0.0) * 100
