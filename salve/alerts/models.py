"""Alerts: what a rule raised about a student or school, and everything done about it since."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import School

ENTITY_TYPES = ("student", "school")
LEVELS = ("medio", "alto", "critico")

ABIERTA = "abierta"
RECONOCIDA = "reconocida"
DESCARTADA = "descartada"
EN_SEGUIMIENTO = "en_seguimiento"
EN_ATENCION = "en_atencion"
RESUELTA = "resuelta"
#: Every status, in lifecycle order.
STATUSES = (ABIERTA, RECONOCIDA, DESCARTADA, EN_SEGUIMIENTO, EN_ATENCION, RESUELTA)
#: Statuses in which an alert is closed; any other is open.
CLOSED = (DESCARTADA, RESUELTA)
OPEN = tuple(status for status in STATUSES if status not in CLOSED)

#: Escalation steps: 0 the assigned handler only, 1 the department's supervisors, 2 national.
ESCALATION_STEPS = (0, 1, 2)


class Alert(db.Model):
    """One alert per (rule, entity) while it is open; new evidence is attached to it."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(f"entity_type IN {ENTITY_TYPES}", name="entity_type"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint(f"level IN {LEVELS}", name="level"),
        # The database itself refuses a second open alert for the same rule and entity.
        sa.Index(
            "uq_alerts_open",
            "rule_id",
            "entity_type",
            "entity_id",
            unique=True,
            sqlite_where=sa.text(f"status NOT IN {CLOSED}"),
            postgresql_where=sa.text(f"status NOT IN {CLOSED}"),
        ),
        sa.Index("ix_alerts_department_status", "department_id", "status"),
        sa.Index("ix_alerts_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The rule that raised it (an id of rules.yaml).
    rule_id: Mapped[str] = mapped_column(sa.String(60))
    #: The rules version in force when it was raised.
    rules_version: Mapped[str] = mapped_column(sa.String(20))
    #: "student" or "school".
    entity_type: Mapped[str] = mapped_column(sa.String(8))
    #: The student's or school's id.
    entity_id: Mapped[int] = mapped_column()
    #: The school (the student's, for a student alert): what scope is decided on.
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id"), index=True)
    #: The school's department, kept here for the inbox and assignment queries.
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    #: medio, alto or critico: the entity's level (or critico for an immediate rule).
    level: Mapped[str] = mapped_column(sa.String(8))
    #: True when raised by an immediate rule, as the report was saved.
    immediate: Mapped[bool] = mapped_column(default=False)
    #: One of ``STATUSES``.
    status: Mapped[str] = mapped_column(sa.String(16), default=ABIERTA)
    #: The case handler it is assigned to.
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: When it was raised (UTC).
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The acknowledgement deadline (UTC).
    due_at: Mapped[datetime] = mapped_column()
    #: 0 handler, 1 supervisors, 2 national.
    escalation: Mapped[int] = mapped_column(default=0)
    #: When it last escalated.
    escalated_at: Mapped[datetime | None] = mapped_column()
    #: When it was acknowledged.
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    #: The review date of an alert under watch (en seguimiento).
    review_at: Mapped[datetime | None] = mapped_column()
    #: When it was closed (dismissed or resolved).
    closed_at: Mapped[datetime | None] = mapped_column()
    #: Why it was dismissed: a code of alerts.yaml's dismiss_reasons.
    dismiss_reason: Mapped[str | None] = mapped_column(sa.String(40))
    #: Since when the entity's level has stayed below the clearing level (hysteresis).
    below_since: Mapped[datetime | None] = mapped_column()
    #: The last time evidence was attached.
    last_evidence_at: Mapped[datetime | None] = mapped_column()
    #: The score's explanation when raised or last updated: [{"rule", "points", "figures"}].
    contributions: Mapped[list] = mapped_column(sa.JSON, default=list)

    school: Mapped[School] = relationship()
    assignee: Mapped[User | None] = relationship()
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="AlertEvent.id"
    )
    evidence: Mapped[list[AlertEvidence]] = relationship(
        back_populates="alert", order_by="AlertEvidence.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    def __repr__(self) -> str:
        return f"<Alert {self.id} {self.rule_id} {self.entity_type} {self.entity_id} {self.status}>"


class AlertEvent(db.Model):
    """Who did what to an alert, when and why: its timeline. Append-only."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id"), index=True)
    #: When (UTC).
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Who; None for the system (a scheduled job or a saved report).
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: raised, evidence, transition, assigned, escalated, level, cleared, reopened.
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The status before and after, for transitions.
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    #: A coded reason (dismissal) or a short system reason.
    reason: Mapped[str | None] = mapped_column(sa.String(60))
    #: The person's note, as typed; always shown escaped.
    note: Mapped[str] = mapped_column(sa.Text, default="")
    #: Anything else worth keeping (assignee ids, levels, review date…).
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    alert: Mapped[Alert] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<AlertEvent {self.id} {self.kind}>"


class AlertEvidence(db.Model):
    """An incident behind an alert."""

    __tablename__ = "alert_evidence"
    __table_args__ = (sa.UniqueConstraint("alert_id", "incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id"), index=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    #: When it was attached (UTC).
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="evidence")

    def __repr__(self) -> str:
        return f"<AlertEvidence alert={self.alert_id} incident={self.incident_id}>"
