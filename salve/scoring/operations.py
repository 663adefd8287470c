"""Rescore from the database: read the tables the rules need, score, write what changed.

The engine (``salve.scoring.engine``) is pure; this module is its only bridge to the database.
Only entities whose score or level changed are written, so a national rescoring with few changes
writes little, and the history table holds one row per change, enough to draw trends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from flask import current_app

from salve.catalog.entries import Catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident, IncidentParty, IncidentType
from salve.schools.models import School, Student
from salve.scoring.engine import ScoreResult, ScoreTables, score
from salve.scoring.models import CurrentRiskScore, RiskScoreChange
from salve.scoring.rules import RULES_FILE, RuleSet, load_rules, lookback_days

#: A change smaller than this (in points) with the same level is not a change worth writing.
TOLERANCE = 0.05
#: Rows per statement when writing scores.
CHUNK = 5_000


@dataclass
class RescoreReport:
    """What a rescoring did and how long each part took (seconds)."""

    scored: int = 0
    changed: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def current_rules(catalog: Catalog | None = None) -> RuleSet:
    """Return the rules of the app's ``CATALOG_DIR``."""
    return load_rules(Path(current_app.config["CATALOG_DIR"]) / RULES_FILE, catalog)


def _frame(query: sa.Select) -> pd.DataFrame:
    return pd.read_sql(query, db.session.connection())


def load_tables(rules: RuleSet, catalog: Catalog, as_of: datetime) -> ScoreTables:
    """Read the incidents the rules can see, their types and parties, students and schools."""
    since = as_of - timedelta(days=max(lookback_days(rule) for rule in rules.rules) + 1)
    window = sa.and_(Incident.occurred_at >= since, Incident.occurred_at <= as_of)
    incidents = _frame(
        sa.select(Incident.id, Incident.school_id, Incident.occurred_at, Incident.status).where(
            window
        )
    )
    incidents["occurred_at"] = pd.to_datetime(incidents["occurred_at"], utc=True)
    in_window = sa.select(Incident.id).where(window)
    types = _frame(
        sa.select(IncidentType.incident_id, IncidentType.type_code, IncidentType.tier).where(
            IncidentType.incident_id.in_(in_window)
        )
    )
    known = catalog.types
    types["is_immediate"] = (
        types["type_code"]
        .map({code: t.is_immediate for code, t in known.items()})
        .fillna(False)
        .astype(bool)
    )
    types["category"] = types["type_code"].map({code: t.category for code, t in known.items()})
    parties = _frame(
        sa.select(
            IncidentParty.incident_id,
            IncidentParty.role,
            IncidentParty.kind,
            IncidentParty.student_id,
        ).where(IncidentParty.incident_id.in_(in_window))
    )
    students = _frame(sa.select(Student.id, Student.school_id).where(Student.is_active))
    schools = _frame(
        sa.select(
            School.id,
            School.department_id,
            (School.enrolment_female + School.enrolment_male).label("enrolment"),
        ).where(School.is_active)
    )
    return ScoreTables(
        incidents=incidents,
        incident_types=types,
        parties=parties,
        students=students,
        schools=schools,
    )


def rescore(
    catalog: Catalog, *, as_of: datetime | None = None, rules: RuleSet | None = None
) -> RescoreReport:
    """Score the whole nation and write the scores that changed."""
    report = RescoreReport()
    as_of = as_of or utcnow()
    rules = rules or current_rules(catalog)
    started = time.perf_counter()
    tables = load_tables(rules, catalog, as_of)
    loaded = time.perf_counter()
    result = score(tables, rules, pd.Timestamp(as_of))
    computed = time.perf_counter()
    report.scored = len(result.scores)
    report.changed = write_scores(result, as_of)
    written = time.perf_counter()
    report.timings = {
        "load": loaded - started,
        "compute": computed - loaded,
        "write": written - computed,
    }
    return report


def write_scores(result: ScoreResult, computed_at: datetime) -> int:
    """Store the scores of ``result`` that differ from the current ones; return how many."""
    scores = result.scores
    current = _frame(
        sa.select(
            CurrentRiskScore.entity_type,
            CurrentRiskScore.entity_id,
            CurrentRiskScore.score.label("old_score"),
            CurrentRiskScore.level.label("old_level"),
        )
    )
    merged = scores.merge(current, on=["entity_type", "entity_id"], how="left")
    never_scored = merged["old_score"].isna()
    moved = (merged["score"] - merged["old_score"].fillna(0)).abs() > TOLERANCE
    # An entity never scored and still at zero needs no row: absence means "bajo, 0".
    changed = merged[
        (never_scored & (merged["score"] > 0))
        | (~never_scored & (moved | (merged["level"] != merged["old_level"])))
    ]
    if changed.empty:
        return 0
    contributions = result.contributions
    keyed = contributions.set_index(["entity_type", "entity_id"])
    wanted = pd.MultiIndex.from_frame(changed[["entity_type", "entity_id"]])
    mine = keyed[keyed.index.isin(wanted)].reset_index()
    grouped = {
        key: [
            {"rule": row.rule_id, "points": float(row.points), "figures": _plain(row.figures)}
            for row in rows.itertuples()
        ]
        for key, rows in mine.groupby(["entity_type", "entity_id"], sort=False)
    }  # a loop over the changed entities' contributions only, for their JSON
    rows = pd.DataFrame(
        {
            "entity_type": changed["entity_type"].to_numpy(),
            "entity_id": changed["entity_id"].to_numpy(dtype=np.int64),
            "score": changed["score"].to_numpy(dtype=float),
            "level": changed["level"].to_numpy(),
            "rules_version": result.rules_version,
            "computed_at": computed_at,
        }
    )
    rows["contributions"] = [
        grouped.get((t, int(i)), [])
        for t, i in zip(rows["entity_type"], rows["entity_id"], strict=True)
    ]
    connection = db.session.connection()
    table = CurrentRiskScore.__table__
    for entity_type, ids in rows.groupby("entity_type")["entity_id"]:
        for start in range(0, len(ids), CHUNK):
            chunk = [int(i) for i in ids.iloc[start : start + CHUNK]]
            connection.execute(
                table.delete().where(
                    table.c.entity_type == entity_type, table.c.entity_id.in_(chunk)
                )
            )
    records = rows.to_dict("records")
    for start in range(0, len(records), CHUNK):
        batch = records[start : start + CHUNK]
        connection.execute(table.insert(), batch)
        connection.execute(
            RiskScoreChange.__table__.insert(),
            [{k: v for k, v in row.items() if k != "contributions"} for row in batch],
        )
    return len(rows)


def _plain(figures) -> dict:
    """Return ``figures`` with numpy scalars turned into JSON-ready Python numbers."""
    if not isinstance(figures, dict):
        return {}
    return {
        key: value.item() if hasattr(value, "item") else value for key, value in figures.items()
    }
