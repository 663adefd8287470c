"""Risk scores: the current score of every student and school, and the history of changes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from salve.extensions import db

ENTITY_TYPES = ("student", "school")
LEVELS = ("bajo", "medio", "alto", "critico")


class CurrentRiskScore(db.Model):
    """The latest score of a student or school: what lists and pages read."""

    __tablename__ = "current_risk_scores"
    __table_args__ = (
        sa.CheckConstraint(f"entity_type IN {ENTITY_TYPES}", name="entity_type"),
        sa.CheckConstraint(f"level IN {LEVELS}", name="level"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        sa.Index("ix_current_risk_scores_level", "entity_type", "level"),
    )

    #: "student" or "school".
    entity_type: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    #: The student's or school's id.
    entity_id: Mapped[int] = mapped_column(primary_key=True)
    #: 0-100, the sum of the rules' contributions, capped.
    score: Mapped[float] = mapped_column()
    #: bajo, medio, alto or critico, from the rules' thresholds.
    level: Mapped[str] = mapped_column(sa.String(8))
    #: The rules version that computed it.
    rules_version: Mapped[str] = mapped_column(sa.String(20))
    #: When it was computed (UTC).
    computed_at: Mapped[datetime] = mapped_column()
    #: Each rule's contribution: [{"rule": id, "points": n, "figures": {...}}].
    contributions: Mapped[list] = mapped_column(sa.JSON, default=list)

    def __repr__(self) -> str:
        return f"<CurrentRiskScore {self.entity_type} {self.entity_id} {self.score}>"


class RiskScoreChange(db.Model):
    """A score as it became at one rescoring: written only when the score or level changed."""

    __tablename__ = "risk_score_history"
    __table_args__ = (
        sa.CheckConstraint(f"entity_type IN {ENTITY_TYPES}", name="entity_type"),
        sa.Index("ix_risk_score_history_entity", "entity_type", "entity_id", "computed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "student" or "school".
    entity_type: Mapped[str] = mapped_column(sa.String(8))
    #: The student's or school's id.
    entity_id: Mapped[int] = mapped_column()
    #: The new score.
    score: Mapped[float] = mapped_column()
    #: The new level.
    level: Mapped[str] = mapped_column(sa.String(8))
    #: The rules version that computed it.
    rules_version: Mapped[str] = mapped_column(sa.String(20))
    #: When (UTC).
    computed_at: Mapped[datetime] = mapped_column()

    def __repr__(self) -> str:
        return f"<RiskScoreChange {self.entity_type} {self.entity_id} {self.score}>"


class RiskReference(db.Model):
    """The department and national figures of the last national rescoring.

    Rescoring one school after a saved report compares it with these instead of re-reading the
    nation's incidents; the next national rescoring replaces them. Only the latest row is kept.
    """

    __tablename__ = "risk_references"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The rules version the figures were computed with (a rules change needs new figures).
    rules_version: Mapped[str] = mapped_column(sa.String(20))
    #: The as-of moment of that rescoring (UTC).
    computed_at: Mapped[datetime] = mapped_column()
    #: See ``salve.scoring.engine``: rates and peers per rule.
    figures: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    def __repr__(self) -> str:
        return f"<RiskReference {self.rules_version} {self.computed_at}>"
