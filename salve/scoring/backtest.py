"""Replay rules over past incidents: how many alerts each rule would have raised, week by week.

A backtest scores the nation with ``salve.scoring.engine.score`` at the end of every week of a
period and counts, per rule, week and department, the alerts *raised* that week: an (entity,
rule) pair whose contribution alerts at the week's end and did not at the previous week's end.
The first week compares with the moment the period starts, so alerts already standing then are
not counted, and an alert that rises and falls within one week is not seen.

Weeks are ISO weeks (Monday to Sunday) in El Salvador's time, named by their Monday. The first
and last week may be partial: the period starts at midnight opening its first day and ends at
midnight closing its last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from salve.i18n import LOCAL_TZ
from salve.scoring.engine import ScoreTables, score
from salve.scoring.rules import RuleSet

#: The longest period a backtest accepts, in days (a year, leap day included).
MAX_DAYS = 366
#: The columns of ``backtest``'s result.
COLUMNS = ("rule", "week", "department_id", "alerts")


@dataclass(frozen=True)
class Weeks:
    """The weeks of a backtest period: when it starts and when each week ends (UTC)."""

    #: Local midnight opening the period's first day: the state alerts are first compared with.
    starts_at: pd.Timestamp
    #: The Monday naming each week (the first week's Monday may precede the period).
    mondays: tuple[date, ...]
    #: The moment each week ends: the next Monday's local midnight, or the period's end.
    ends_at: tuple[pd.Timestamp, ...]


def local_midnight(day: date) -> pd.Timestamp:
    """Return the UTC moment at which ``day`` starts in El Salvador."""
    return pd.Timestamp(datetime.combine(day, time(), LOCAL_TZ)).tz_convert("UTC")


def weeks_between(first_day: date, last_day: date) -> Weeks:
    """Return the weeks from ``first_day`` to ``last_day`` (both included, local dates)."""
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    mondays, ends_at = [], []
    monday = first_day - timedelta(days=first_day.weekday())
    while monday <= last_day:
        mondays.append(monday)
        ends_at.append(
            local_midnight(min(monday + timedelta(days=7), last_day + timedelta(days=1)))
        )
        monday += timedelta(days=7)
    return Weeks(local_midnight(first_day), tuple(mondays), tuple(ends_at))


def alerting(tables: ScoreTables, rules: RuleSet, as_of) -> pd.DataFrame:
    """Return the (entity_type, entity_id, rule_id) contributions that alert at ``as_of``."""
    contributions = score(tables, rules, as_of).contributions
    return contributions.loc[
        contributions["alert"].to_numpy(dtype=bool), ["entity_type", "entity_id", "rule_id"]
    ].reset_index(drop=True)


def backtest(tables: ScoreTables, rules: RuleSet, weeks: Weeks) -> pd.DataFrame:
    """Count the alerts each rule would have raised per week and department.

    Returns one row per rule (in the rules' order), week and department of ``tables.schools``
    (ascending), zeros included: rule, week (the Monday), department_id (``<NA>`` for entities
    whose school is unknown, only when there are any) and alerts.
    """
    if not weeks.ends_at:
        raise ValueError("a backtest needs at least one week")
    previous = alerting(tables, rules, weeks.starts_at)
    raised = []
    for position, ends_at in enumerate(weeks.ends_at):  # a loop over the weeks only
        current = alerting(tables, rules, ends_at)
        merged = current.merge(previous, how="left", indicator=True)
        raised.append(merged.loc[merged["_merge"] == "left_only"].assign(week=position))
        previous = current
    new = pd.concat(raised, ignore_index=True)
    department = departments_of(tables, new["entity_type"], new["entity_id"])
    return _count(rules, weeks, tables, new["rule_id"], new["week"], department)


def departments_of(tables: ScoreTables, entity_types, entity_ids) -> np.ndarray:
    """Return each entity's department id (NaN when unknown): a school's, or its school's."""
    entity_types = np.asarray(entity_types)
    entity_ids = np.asarray(entity_ids, dtype=np.int64)
    schools = tables.schools
    by_school = pd.Series(
        schools["department_id"].to_numpy(dtype=float), index=schools["id"].to_numpy()
    )
    students = tables.students
    school_of_student = pd.Series(
        students["school_id"].to_numpy(dtype=float), index=students["id"].to_numpy()
    )
    is_student = entity_types == "student"
    school = entity_ids.astype(float)
    school[is_student] = school_of_student.reindex(entity_ids[is_student]).to_numpy()
    return by_school.reindex(school).to_numpy()


def _count(rules, weeks, tables, rule_ids, week_positions, department) -> pd.DataFrame:
    """Count the raised alerts on the full grid of rules, weeks and departments, zeros included."""
    rule_list = [rule.id for rule in rules.rules]
    known = np.unique(tables.schools["department_id"].dropna().to_numpy(dtype=np.int64))
    department_position = pd.Index(known).get_indexer(department)
    department_ids = pd.array(known, dtype="Int64")
    if (department_position < 0).any():
        department_position[department_position < 0] = len(known)
        department_ids = pd.array([*known, pd.NA], dtype="Int64")
    n_rules, n_weeks, n_departments = len(rule_list), len(weeks.mondays), len(department_ids)
    flat = (
        pd.Index(rule_list).get_indexer(np.asarray(rule_ids)) * n_weeks
        + np.asarray(week_positions, dtype=np.int64)
    ) * n_departments + department_position
    alerts = np.bincount(flat, minlength=n_rules * n_weeks * n_departments)
    return pd.DataFrame(
        {
            "rule": np.repeat(np.asarray(rule_list, dtype=object), n_weeks * n_departments),
            "week": np.tile(
                np.repeat(np.asarray(weeks.mondays, dtype=object), n_departments), n_rules
            ),
            "department_id": pd.array(
                np.tile(np.asarray(department_ids, dtype=object), n_rules * n_weeks),
                dtype="Int64",
            ),
            "alerts": alerts.astype(np.int64),
        }
    )


def rule_summary(counts: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Summarise ``backtest``'s counts per rule.

    Returns, per rule in the counts' order: total, weekly_median, busiest_week (the earliest
    week with the most alerts; None when there are none), busiest_alerts, and top_departments,
    a list of up to ``top`` (department_id, alerts) with alerts, most first.
    """
    rules = pd.unique(counts["rule"])
    weekly = counts.groupby(["rule", "week"], sort=False)["alerts"].sum()
    by_department = (
        counts.groupby(["rule", "department_id"], sort=True, dropna=False)["alerts"]
        .sum()
        .reset_index()
    )
    rows = []
    for rule in rules:  # a loop over the rules only
        per_week = weekly.loc[rule]
        total = int(per_week.sum())
        departments = by_department[
            (by_department["rule"] == rule) & (by_department["alerts"] > 0)
        ].sort_values("alerts", ascending=False, kind="stable")
        rows.append(
            {
                "rule": rule,
                "total": total,
                "weekly_median": float(per_week.median()) if len(per_week) else 0.0,
                "busiest_week": per_week.idxmax() if total else None,
                "busiest_alerts": int(per_week.max()) if total else 0,
                "top_departments": list(
                    zip(
                        departments["department_id"].head(top),
                        departments["alerts"].head(top).astype(int),
                        strict=True,
                    )
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rule",
            "total",
            "weekly_median",
            "busiest_week",
            "busiest_alerts",
            "top_departments",
        ],
    )
