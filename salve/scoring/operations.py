"""Rescore from the database: read the tables the rules need, score, write what changed.

The engine (``salve.scoring.engine``) is pure; this module is its only bridge to the database.
Only entities whose score or level changed are written, so a national rescoring with few changes
writes little, and the history table holds one row per change, enough to draw trends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
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
from salve.incidents.models import Incident, IncidentAmendment, IncidentParty, IncidentType
from salve.schools.models import School, Student
from salve.scoring.engine import ScoreResult, ScoreTables, score
from salve.scoring.models import CurrentRiskScore, RiskReference, RiskScoreChange
from salve.scoring.rules import RULES_FILE, RuleSet, load_rules, lookback_days

logger = logging.getLogger(__name__)

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


def _frame(query: sa.Select, kinds: str) -> pd.DataFrame:
    """Run ``query`` and build its frame column by column.

    ``kinds`` has one letter per column: ``i`` integer, ``f`` float (NULL as NaN), ``c`` a
    categorical of a few strings, ``t`` a UTC timestamp. Much faster than ``pd.read_sql`` on a
    million rows: no per-row type processing, no per-row frame construction.
    """
    result = db.session.connection().execute(query)
    names = list(result.keys())
    rows = result.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    data = {}
    for name, kind, values in zip(names, kinds, columns, strict=True):
        if kind == "i":
            data[name] = np.fromiter(values, dtype=np.int64, count=len(values))
        elif kind == "f":
            data[name] = np.array(values, dtype=float)
        elif kind == "t":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        else:
            data[name] = pd.Categorical(np.array(values, dtype=object))
    return pd.DataFrame(data)


def _as_text(column) -> sa.ColumnElement:
    """Read a timestamp as the database gives it (parsed in bulk by ``_frame``)."""
    return sa.type_coerce(column, sa.String).label(column.key)


def _incident_tables(
    catalog: Catalog, which: sa.ColumnElement[bool], students: sa.Select, schools: sa.Select
) -> ScoreTables:
    """Read the incidents ``which`` selects, their types and student parties."""
    incidents = _frame(
        sa.select(
            Incident.id, Incident.school_id, _as_text(Incident.occurred_at), Incident.status
        ).where(which),
        "iitc",
    )
    chosen = sa.select(Incident.id).where(which)
    types = _frame(
        sa.select(IncidentType.incident_id, IncidentType.type_code, IncidentType.tier).where(
            IncidentType.incident_id.in_(chosen)
        ),
        "icc",
    )
    known = catalog.types
    codes = types["type_code"].astype(object)
    types["is_immediate"] = (
        codes.map({code: t.is_immediate for code, t in known.items()}).fillna(False).astype(bool)
    )
    types["category"] = codes.map({code: t.category for code, t in known.items()})
    # The engine reads student parties only: others are not worth a million rows.
    parties = _frame(
        sa.select(
            IncidentParty.incident_id,
            IncidentParty.role,
            IncidentParty.kind,
            IncidentParty.student_id,
        ).where(
            IncidentParty.incident_id.in_(chosen),
            IncidentParty.kind == "estudiante",
            IncidentParty.student_id.is_not(None),
        ),
        "iccf",
    )
    return ScoreTables(
        incidents=incidents,
        incident_types=types,
        parties=parties,
        students=_frame(students, "ii"),
        schools=_frame(schools, "iii"),
    )


def _since(rules: RuleSet, moment: datetime) -> datetime:
    return moment - timedelta(days=max(lookback_days(rule) for rule in rules.rules) + 1)


def _schools_query() -> sa.Select:
    return sa.select(
        School.id,
        School.department_id,
        (School.enrolment_female + School.enrolment_male).label("enrolment"),
    ).where(School.is_active)


def load_tables(
    rules: RuleSet, catalog: Catalog, as_of: datetime, *, start: datetime | None = None
) -> ScoreTables:
    """Read the incidents the rules can see, their types and parties, students and schools.

    With ``start``, the tables serve every as-of moment from ``start`` to ``as_of`` (a backtest).
    """
    which = sa.and_(
        Incident.occurred_at >= _since(rules, start or as_of), Incident.occurred_at <= as_of
    )
    return _incident_tables(
        catalog,
        which,
        sa.select(Student.id, Student.school_id).where(Student.is_active),
        _schools_query(),
    )


def load_tables_for(
    rules: RuleSet,
    catalog: Catalog,
    as_of: datetime,
    student_ids: Collection[int],
    school_ids: Collection[int],
) -> ScoreTables:
    """Read only what rescoring a few students and schools needs.

    The students' own incidents (with every party, for the repetition rules) and the schools'
    own incidents; the department and national figures come from the stored reference.
    """
    window = sa.and_(Incident.occurred_at >= _since(rules, as_of), Incident.occurred_at <= as_of)
    # A union of two indexed lookups, not an OR that PostgreSQL would answer with a full scan.
    ids = sa.union(
        sa.select(Incident.id).where(Incident.school_id.in_(sorted(school_ids)), window),
        sa.select(IncidentParty.incident_id).where(
            IncidentParty.student_id.in_(sorted(student_ids))
        ),
    )
    which = sa.and_(window, Incident.id.in_(sa.select(ids.subquery().c[0])))
    return _incident_tables(
        catalog,
        which,
        sa.select(Student.id, Student.school_id).where(
            Student.is_active, Student.id.in_(sorted(student_ids))
        ),
        _schools_query().where(School.id.in_(sorted(school_ids))),
    )


def latest_reference() -> dict | None:
    """Return the figures of the last national rescoring, or None before the first one."""
    row = db.session.scalar(
        sa.select(RiskReference).order_by(RiskReference.computed_at.desc()).limit(1)
    )
    return row.figures if row is not None else None


def store_reference(figures: dict, computed_at: datetime) -> None:
    """Keep ``figures`` as the only reference."""
    db.session.execute(sa.delete(RiskReference))
    db.session.add(
        RiskReference(
            rules_version=figures["rules_version"], computed_at=computed_at, figures=figures
        )
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
    if result.reference is not None:
        store_reference(result.reference, as_of)
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
    query = sa.select(
        CurrentRiskScore.entity_type,
        CurrentRiskScore.entity_id,
        CurrentRiskScore.score.label("old_score"),
        CurrentRiskScore.level.label("old_level"),
    )
    if len(scores) <= 1_000:  # a few entities: read only their rows
        query = query.where(
            sa.or_(
                *[
                    sa.and_(
                        CurrentRiskScore.entity_type == entity_type,
                        CurrentRiskScore.entity_id.in_([int(i) for i in ids]),
                    )
                    for entity_type, ids in scores.groupby("entity_type")["entity_id"]
                ],
                sa.false(),
            )
        )
    current = _frame(query, "cifc")
    current["entity_type"] = current["entity_type"].astype(object)
    current["old_level"] = current["old_level"].astype(object)
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


def rescore_entities(
    catalog: Catalog,
    student_ids: Collection[int],
    school_ids: Collection[int],
    *,
    as_of: datetime | None = None,
    rules: RuleSet | None = None,
) -> RescoreReport:
    """Rescore a few students and schools (those a saved report touches) and write the changes.

    Schools are compared with the department and national figures of the last national
    rescoring; before the first one (or after a rules change) only the students are rescored,
    and the next national rescoring scores the schools.
    """
    from salve.scoring.queries import rules_in_force

    report = RescoreReport()
    as_of = as_of or utcnow()
    rules = rules or rules_in_force()
    started = time.perf_counter()
    reference = latest_reference()
    if reference is None or reference.get("rules_version") != rules.version:
        reference, school_ids = None, ()
    tables = load_tables_for(rules, catalog, as_of, student_ids, school_ids)
    loaded = time.perf_counter()
    result = score(
        tables,
        rules,
        pd.Timestamp(as_of),
        only_students=student_ids,
        only_schools=school_ids,
        reference=reference,
    )
    computed = time.perf_counter()
    report.scored = len(result.scores)
    report.changed = write_scores(result, as_of)
    report.timings = {
        "load": loaded - started,
        "compute": computed - loaded,
        "write": time.perf_counter() - computed,
    }
    return report


def touched_students(incident: Incident) -> set[int]:
    """Return the students ``incident`` names now or named before an amendment."""
    ids = {party.student_id for party in incident.parties if party.student_id is not None}
    # Read the amendments without loading ``incident.amendments``: a caller may still be adding one.
    changes = db.session.scalars(
        sa.select(IncidentAmendment.changes).where(IncidentAmendment.incident_id == incident.id)
    )
    earlier = {
        party.get("nie")
        for change in changes
        for version in (change or {}).get("parties", [])
        for party in (version or [])
        if isinstance(party, dict) and party.get("nie")
    }
    if earlier:
        ids |= set(
            db.session.scalars(
                sa.select(Student.id).where(
                    Student.school_id == incident.school_id, Student.nie.in_(sorted(earlier))
                )
            )
        )
    return ids


def rescore_incident(incident: Incident) -> None:
    """Rescore the students and the school ``incident`` touches (an incident-saved hook).

    Runs in a savepoint of the report's transaction: a failure here is logged and rolled back,
    never the report itself; the next national rescoring catches up. A lost database connection
    is not a scoring failure: the report cannot be saved either, so it propagates (a 503 page;
    the form's idempotency key makes the user's retry safe).
    """
    if not current_app.config.get("RESCORE_ON_SAVE", True):
        return
    from salve.catalog.queries import current_catalog

    started = time.perf_counter()
    try:
        with db.session.begin_nested():
            # Reports of one school saved at once rescore the same rows (the school's, often the
            # same students'): one after the other, each reading what the other committed, or
            # the second insert collides (PostgreSQL; SQLite already writes one at a time).
            # NO KEY UPDATE: the incidents' foreign keys hold KEY SHARE on the row; no deadlock.
            db.session.execute(
                sa.select(School.id)
                .where(School.id == incident.school_id)
                .with_for_update(key_share=True)
            )
            report = rescore_entities(
                current_catalog(), touched_students(incident), {incident.school_id}
            )
    except Exception as error:  # the report must be saved whatever scoring does
        if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
            raise  # the database went away mid-request: nothing of the request can be saved
        logger.exception("Rescoring after incident %s failed", incident.id)
        return
    logger.info(
        "Rescored incident %s: %d scored, %d changed in %.0f ms",
        incident.id,
        report.scored,
        report.changed,
        (time.perf_counter() - started) * 1000,
    )
