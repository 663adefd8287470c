"""National figures: the 14 departments side by side, and how each rule's alerts fare.

Every figure is one grouped query over the whole country, never a loop over schools: at national
size (6,000 schools, 600,000 incidents) the department table builds in a small fraction of a
second. The department figures are the sums of the department list's per-school figures
(``salve.reports.queries.school_risk_frame``), computed without building that list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from salve.alerts.models import ABIERTA, DESCARTADA, OPEN, RESUELTA, Alert
from salve.db import utcnow
from salve.extensions import db
from salve.geography.models import Department
from salve.incidents.models import Incident
from salve.reports.queries import LEVEL_RANK, SILENCE_RULE
from salve.schools.models import School
from salve.scoring.models import CurrentRiskScore

LEVELS = tuple(LEVEL_RANK)
#: Columns the department table can be sorted by, and the default direction (True: descending).
DEPARTMENT_SORTS = {
    "codigo": ("code", False),
    "departamento": ("name", False),
    "escuelas": ("schools", True),
    "matricula": ("enrolment", True),
    "incidentes_30": ("incidents_30", True),
    "incidentes_90": ("incidents_90", True),
    "tasa": ("rate_90", True),
    "bajo": ("level_bajo", True),
    "medio": ("level_medio", True),
    "alto": ("level_alto", True),
    "critico": ("level_critico", True),
    "alertas": ("open_alerts", True),
    "vencidas": ("overdue_alerts", True),
    "silenciosas": ("silent", True),
}
#: The department table's columns that add up to a national total.
COUNTS = (
    "schools",
    "enrolment",
    "incidents_30",
    "incidents_90",
    *(f"level_{level}" for level in LEVELS),
    "open_alerts",
    "overdue_alerts",
    "silent",
)
#: The periods the rule-quality report offers, in days.
PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 90
FALSE_POSITIVE = "falso_positivo"


def _frame(query) -> pd.DataFrame:
    result = db.session.connection().execute(query)  # Core rows: no ORM wrapping
    columns = list(result.keys())
    # As plain tuples: handed Row objects, pandas inspects each one (7 times slower at 100,000).
    return pd.DataFrame(list(map(tuple, result.all())), columns=columns)


def rate_per_100(incidents, enrolment):
    """Return incidents per 100 students, 0 where there are no students, to two decimals."""
    incidents = np.asarray(incidents, dtype=float)
    hundreds = np.asarray(enrolment, dtype=float) / 100
    return np.round(
        np.divide(incidents, hundreds, out=np.zeros_like(incidents), where=hundreds > 0), 2
    )


# --- The departments side by side ------------------------------------------------------------


def department_frame(now: datetime | None = None) -> pd.DataFrame:
    """Return every department with the department list's figures summed, in code order.

    Columns: id, code, name, schools, enrolment, incidents_30, incidents_90, rate_90,
    level_bajo … level_critico, open_alerts, overdue_alerts, silent.
    """
    now = now or utcnow()
    active = sa.and_(School.department_id == Department.id, School.is_active)
    frame = _frame(
        sa.select(
            Department.id,
            Department.code,
            Department.name,
            sa.func.count(School.id).label("schools"),
            sa.func.coalesce(sa.func.sum(School.enrolment_female + School.enrolment_male), 0).label(
                "enrolment"
            ),
        )
        .outerjoin(School, active)
        .group_by(Department.id, Department.code, Department.name)
        .order_by(Department.code)
    )
    # Driven from the schools, on the covering (school, occurred_at, status) index.
    incidents = _frame(
        sa.select(
            School.department_id.label("id"),
            sa.func.sum(
                sa.case((Incident.occurred_at >= now - timedelta(days=30), 1), else_=0)
            ).label("incidents_30"),
            sa.func.count().label("incidents_90"),
        )
        .join(Incident, Incident.school_id == School.id)
        .where(
            School.is_active,
            Incident.status != "infundado",
            Incident.occurred_at >= now - timedelta(days=90),
            Incident.occurred_at <= now,
        )
        .group_by(School.department_id)
    )
    # A silent school carries the silence rule among its score's contributions; rule ids are
    # quoted strings in the stored JSON, its figures are numbers.
    is_silent = sa.cast(CurrentRiskScore.contributions, sa.Text).like(f'%"{SILENCE_RULE}"%')
    levels = _frame(
        sa.select(
            School.department_id.label("id"),
            CurrentRiskScore.level,
            sa.func.count().label("schools"),
            sa.func.sum(sa.case((is_silent, 1), else_=0)).label("silent"),
        )
        .join(
            CurrentRiskScore,
            sa.and_(
                CurrentRiskScore.entity_type == "school", CurrentRiskScore.entity_id == School.id
            ),
        )
        .where(School.is_active)
        .group_by(School.department_id, CurrentRiskScore.level)
    )
    # As the department list: the department's open alerts at its active schools. A semi-join
    # (not a join) lets SQLite read the open alerts by (department, status) instead of every
    # alert of every school: 30 ms instead of 260 ms with 100,000 alerts.
    at_active_school = sa.tuple_(Alert.school_id, Alert.department_id).in_(
        sa.select(School.id, School.department_id).where(School.is_active)
    )
    alerts = _frame(
        sa.select(
            Alert.department_id.label("id"),
            sa.func.count().label("open_alerts"),
            sa.func.sum(
                sa.case((sa.and_(Alert.due_at < now, Alert.status == ABIERTA), 1), else_=0)
            ).label("overdue_alerts"),
        )
        .where(Alert.status.in_(OPEN), at_active_school)
        .group_by(Alert.department_id)
    )
    by_level = (
        levels.pivot_table(index="id", columns="level", values="schools", aggfunc="sum")
        .reindex(columns=list(LEVELS))
        .add_prefix("level_")
        .reset_index()
    )
    by_level.columns.name = None
    silent = levels.groupby("id", as_index=False)["silent"].sum()
    for other in (incidents, by_level, silent, alerts):
        frame = frame.merge(other, on="id", how="left")
    for column in COUNTS:
        frame[column] = frame[column].fillna(0).astype(int)
    # A school never scored is "bajo", as in the department list.
    scored = frame[[f"level_{level}" for level in LEVELS[1:]]].sum(axis=1)
    frame["level_bajo"] = frame["schools"] - scored
    frame["rate_90"] = rate_per_100(frame["incidents_90"], frame["enrolment"])
    return frame


def national_totals(frame: pd.DataFrame) -> dict:
    """Return the nation's figures: the departments' sums, and the rate of the sums."""
    totals = {column: int(frame[column].sum()) for column in COUNTS}
    totals["rate_90"] = float(rate_per_100([totals["incidents_90"]], [totals["enrolment"]])[0])
    return totals


def sort_departments(
    frame: pd.DataFrame, sort: str, descending: bool | None = None
) -> tuple[pd.DataFrame, str, bool]:
    """Sort by a whitelisted key (unknown keys fall back to the code); return the sort used."""
    if sort not in DEPARTMENT_SORTS:
        sort = "codigo"
    column, default_descending = DEPARTMENT_SORTS[sort]
    descending = default_descending if descending is None else descending
    ordered = frame.sort_values([column, "code"], ascending=[not descending, True], kind="stable")
    return ordered, sort, descending


# --- How each rule's alerts fare ---------------------------------------------------------------


def _seconds_between(start, end):
    """Seconds from ``start`` to ``end`` (whole seconds; NULL when either is missing)."""
    # An integer: PostgreSQL's EXTRACT gives numerics, which arrive as slow Decimals.
    return sa.cast(sa.extract("epoch", end) - sa.extract("epoch", start), sa.Integer)


_PERIOD_COLUMNS = ("rule_id", "department_id", "outcome", "ack_seconds", "close_seconds")
#: How an alert of the period ended, coded in SQL (a number per row is cheaper than two words).
_OPEN_STILL, _RESOLVED, _FALSE_POSITIVE, _DISMISSED_OTHER = 0, 1, 2, 3
_OUTCOME = sa.case(
    (Alert.status == RESUELTA, _RESOLVED),
    (
        Alert.status == DESCARTADA,
        sa.case((Alert.dismiss_reason == FALSE_POSITIVE, _FALSE_POSITIVE), else_=_DISMISSED_OTHER),
    ),
    else_=_OPEN_STILL,
)
_COUNT_COLUMNS = ("raised", "closed", "false_positive", "dismissed_other", "resolved",
                  "acknowledged", "open_now", "overdue_now")  # fmt: skip


def _summarise(period: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Count, share out and take the medians of the period's alerts per ``keys``."""
    outcome = period["outcome"]
    resolved = outcome == _RESOLVED
    frame = period.assign(
        closed=outcome > 0,
        false_positive=outcome == _FALSE_POSITIVE,
        dismissed_other=outcome == _DISMISSED_OTHER,
        resolved=resolved,
        ack_hours=period["ack_seconds"].astype(float) / 3600,
        resolve_hours=period["close_seconds"].astype(float).where(resolved) / 3600,
    )
    return frame.groupby(keys).agg(
        raised=("outcome", "size"),
        closed=("closed", "sum"),
        false_positive=("false_positive", "sum"),
        dismissed_other=("dismissed_other", "sum"),
        resolved=("resolved", "sum"),
        acknowledged=("ack_hours", "count"),
        median_ack_hours=("ack_hours", "median"),
        median_resolve_hours=("resolve_hours", "median"),
    )


def rule_quality_frame(
    rule_ids: Sequence[str], days: int = DEFAULT_PERIOD, now: datetime | None = None
) -> pd.DataFrame:
    """Return how each rule's alerts fared, per department and in total.

    Rows, in this order: for each rule, its national total (``department_id`` 0) and then each
    department where it raised an alert in the last ``days`` or has one open now; last, every
    rule together (``rule_id`` ""). Rules come in ``rule_ids`` order (each listed even with no
    alert), then any other rule found in the alerts (a rule since retired).

    Columns: rule_id, department_id, department_code, department_name, raised, closed,
    false_positive, dismissed_other, resolved, acknowledged, false_positive_share,
    dismissed_other_share (of the closed ones; NaN when none closed), median_ack_hours,
    median_resolve_hours (NaN when none), open_now, overdue_now.
    """
    now = now or utcnow()
    period = _frame(
        sa.select(
            Alert.rule_id,
            Alert.department_id,
            _OUTCOME.label("outcome"),
            _seconds_between(Alert.opened_at, Alert.acknowledged_at).label("ack_seconds"),
            _seconds_between(Alert.opened_at, Alert.closed_at).label("close_seconds"),
        ).where(Alert.opened_at >= now - timedelta(days=days), Alert.opened_at <= now)
    ).reindex(columns=list(_PERIOD_COLUMNS))
    current = (
        _frame(
            sa.select(
                Alert.rule_id,
                Alert.department_id,
                sa.func.count().label("open_now"),
                sa.func.sum(
                    sa.case((sa.and_(Alert.due_at < now, Alert.status == ABIERTA), 1), else_=0)
                ).label("overdue_now"),
            )
            .where(Alert.status.in_(OPEN))
            .group_by(Alert.rule_id, Alert.department_id)
        )
        .reindex(columns=["rule_id", "department_id", "open_now", "overdue_now"])
        .set_index(["rule_id", "department_id"])
    )
    by_department = _summarise(period, ["rule_id", "department_id"]).join(current, how="outer")
    by_rule = _summarise(period.assign(department_id=0), ["rule_id", "department_id"]).join(
        current.groupby(level="rule_id")
        .sum()
        .assign(department_id=0)
        .set_index("department_id", append=True),
        how="outer",
    )
    overall = _summarise(period.assign(rule_id="", department_id=0), ["rule_id", "department_id"])
    overall = overall.reindex(pd.MultiIndex.from_tuples([("", 0)], names=overall.index.names))
    overall[["open_now", "overdue_now"]] = current[["open_now", "overdue_now"]].sum().to_numpy()
    found = set(by_rule.index.get_level_values("rule_id"))
    order = [*dict.fromkeys(rule_ids), *sorted(found - set(rule_ids))]
    by_rule = by_rule.reindex(pd.MultiIndex.from_tuples(
        [(rule, 0) for rule in order], names=by_rule.index.names
    ))  # fmt: skip
    frame = pd.concat([by_rule, by_department, overall]).reset_index()
    for column in _COUNT_COLUMNS:
        frame[column] = frame[column].fillna(0).astype(int)
    frame["department_id"] = frame["department_id"].astype(int)
    closed = frame["closed"].where(frame["closed"] > 0)
    frame["false_positive_share"] = frame["false_positive"] / closed
    frame["dismissed_other_share"] = frame["dismissed_other"] / closed
    for column in ("median_ack_hours", "median_resolve_hours"):
        frame[column] = frame[column].astype(float).round(1)
    departments = _frame(
        sa.select(
            Department.id.label("department_id"),
            Department.code.label("department_code"),
            Department.name.label("department_name"),
        )
    )
    frame = frame.merge(departments, on="department_id", how="left")
    frame[["department_code", "department_name"]] = frame[
        ["department_code", "department_name"]
    ].fillna("")
    # Each rule's total, then its departments by code; every rule together last.
    rank = {rule: position for position, rule in enumerate(order)}
    frame["rule_rank"] = frame["rule_id"].map(rank).fillna(len(order))
    ordered = frame.sort_values(["rule_rank", "department_code"], kind="stable")
    return ordered.drop(columns="rule_rank").reset_index(drop=True)
