"""Reading stored risk scores: one entity's score explained in plain words, and its history.

Pages and the API both read through here, so a contribution is explained the same way in both.
Access is not decided here: callers check ``salve.auth.scope.can_view_student_risk`` /
``can_view_school_risk`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from salve.extensions import db
from salve.filecache import load_if_changed
from salve.scoring.models import CurrentRiskScore, RiskScoreChange
from salve.scoring.rules import RULES_FILE, RulesError, RuleSet, load_rules


def rules_in_force() -> RuleSet:
    """Return the rules of the app's ``CATALOG_DIR``, read again only when the file changes."""
    from salve.catalog.queries import current_catalog

    path = Path(current_app.config["CATALOG_DIR"]) / RULES_FILE
    return load_if_changed("rules", path, lambda p: load_rules(p, current_catalog()))


@dataclass(frozen=True)
class Contribution:
    """One rule's part of a score, explained."""

    rule: str
    points: float
    #: The rule's plain-language explanation filled with the figures, in the asked language.
    explanation: str
    #: The level from which the rule raises an alert, or None.
    alert_level: str | None
    immediate: bool
    figures: dict[str, Any]


@dataclass(frozen=True)
class Risk:
    """An entity's current score; an entity never scored is ``bajo`` with 0 points."""

    entity_type: str
    entity_id: int
    score: float
    level: str
    rules_version: str | None
    computed_at: datetime | None
    contributions: tuple[Contribution, ...]


def explain_contributions(
    stored: list[dict], rules: RuleSet | None, language: str
) -> tuple[Contribution, ...]:
    """Explain stored contributions (``[{"rule", "points", "figures"}]``), largest first.

    A contribution of a rule that is no longer in the rules in force (a rules change since the
    score was computed) keeps its points and says which rule it was.
    """
    known = {rule.id: rule for rule in rules.rules} if rules is not None else {}
    explained = []
    for item in stored or []:
        rule = known.get(item.get("rule"))
        figures = item.get("figures") or {}
        if rule is not None:
            try:
                text = rule.explain(figures, language)
            except (KeyError, IndexError, ValueError):
                text = rule.id
            explained.append(
                Contribution(
                    rule=rule.id,
                    points=float(item.get("points", 0)),
                    explanation=text,
                    alert_level=rule.alert_level,
                    immediate=rule.immediate,
                    figures=figures,
                )
            )
        else:
            explained.append(
                Contribution(
                    rule=str(item.get("rule")),
                    points=float(item.get("points", 0)),
                    explanation=str(item.get("rule")),
                    alert_level=None,
                    immediate=False,
                    figures=figures,
                )
            )
    return tuple(sorted(explained, key=lambda c: (-c.points, c.rule)))


def current_risk(entity_type: str, entity_id: int, language: str = "es") -> Risk:
    """Return the current score of a student or school, explained in ``language``."""
    row = db.session.get(CurrentRiskScore, (entity_type, entity_id))
    if row is None:
        return Risk(entity_type, entity_id, 0.0, "bajo", None, None, ())
    try:
        rules = rules_in_force()
    except RulesError:
        rules = None
    return Risk(
        entity_type=entity_type,
        entity_id=entity_id,
        score=float(row.score),
        level=row.level,
        rules_version=row.rules_version,
        computed_at=row.computed_at,
        contributions=explain_contributions(row.contributions, rules, language),
    )


def risk_history(entity_type: str, entity_id: int, limit: int = 200) -> list[RiskScoreChange]:
    """Return the entity's score changes, oldest first (the most recent ``limit``)."""
    rows = db.session.scalars(
        sa.select(RiskScoreChange)
        .where(RiskScoreChange.entity_type == entity_type, RiskScoreChange.entity_id == entity_id)
        .order_by(RiskScoreChange.computed_at.desc(), RiskScoreChange.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))
