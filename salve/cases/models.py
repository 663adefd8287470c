"""Cases: the ministry's response to a child or school, from an alert until it is closed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.alerts.models import Alert
from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import School

ABIERTO = "abierto"
#: The handler asked to close it; a supervisor approves or sends it back.
CIERRE_SOLICITADO = "cierre_solicitado"
CERRADO = "cerrado"
STATUSES = (ABIERTO, CIERRE_SOLICITADO, CERRADO)

ENVIADA = "enviada"
ACEPTADA = "aceptada"
RECHAZADA = "rechazada"
CONCLUIDA = "concluida"
REVOCADA = "revocada"
REFERRAL_STATUSES = (ENVIADA, ACEPTADA, RECHAZADA, CONCLUIDA, REVOCADA)
#: Referral statuses the institution has answered in (or the handler withdrew).
ANSWERED = (ACEPTADA, RECHAZADA, CONCLUIDA, REVOCADA)


class Case(db.Model):
    """Follow-ups, referrals and protocol steps for one student or school."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.Index("ix_cases_department_status", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "student" or "school", as the alert it came from.
    entity_type: Mapped[str] = mapped_column(sa.String(8))
    entity_id: Mapped[int] = mapped_column()
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id"), index=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    #: One of ``STATUSES``.
    status: Mapped[str] = mapped_column(sa.String(20), default=ABIERTO)
    #: The case handler in charge.
    handler_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: The most severe tier among its incidents (I, II, III): what closing requires.
    tier: Mapped[str] = mapped_column(sa.String(3), default="I")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    closure_requested_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    #: The supervisor who approved the closure.
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: The handler's summary when asking to close.
    closing_summary: Mapped[str] = mapped_column(sa.Text, default="")
    #: When retention replaced its notes and summaries (salve.maintenance.retention).
    anonymised_at: Mapped[datetime | None] = mapped_column()

    school: Mapped[School] = relationship()
    handler: Mapped[User] = relationship(foreign_keys=[handler_id])
    alerts: Mapped[list[CaseAlert]] = relationship(back_populates="case", order_by="CaseAlert.id")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")
    follow_ups: Mapped[list[FollowUp]] = relationship(back_populates="case", order_by="FollowUp.id")
    referrals: Mapped[list[Referral]] = relationship(back_populates="case", order_by="Referral.id")
    steps: Mapped[list[CaseStep]] = relationship(
        back_populates="case", order_by="(CaseStep.due_at, CaseStep.id)"
    )

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.status}>"


class CaseAlert(db.Model):
    """An alert a case attends."""

    __tablename__ = "case_alerts"
    __table_args__ = (sa.UniqueConstraint("alert_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id"))

    case: Mapped[Case] = relationship(back_populates="alerts")
    alert: Mapped[Alert] = relationship()


class CaseEvent(db.Model):
    """The case's timeline: who did what, when and why. Append-only."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: None for the system.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: opened, follow_up, referral, referral_status, step_done, closure_requested,
    #: closure_refused, closed, reopened, step_overdue.
    kind: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class FollowUp(db.Model):
    """A contact with the child, family or school, noted by the handler."""

    __tablename__ = "case_follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: What was done and found, as typed; always shown escaped.
    note: Mapped[str] = mapped_column(sa.Text)

    case: Mapped[Case] = relationship(back_populates="follow_ups")
    author: Mapped[User] = relationship()


class Referral(db.Model):
    """A referral to an institution of the catalog (FGR, PNC, CONAPINA…)."""

    __tablename__ = "case_referrals"
    __table_args__ = (sa.CheckConstraint(f"status IN {REFERRAL_STATUSES}", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    #: An institution code of institutions.yaml.
    institution: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default=ENVIADA)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: The institution's reference number, if it gave one.
    reference: Mapped[str] = mapped_column(sa.String(60), default="")
    #: When the status last changed, and why (a refusal needs a reason).
    updated_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    case: Mapped[Case] = relationship(back_populates="referrals")


class CaseStep(db.Model):
    """A protocol step of the case's incidents, with its deadline."""

    __tablename__ = "case_steps"
    __table_args__ = (sa.UniqueConstraint("case_id", "incident_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"))
    #: The protocol and step codes of the catalog.
    protocol: Mapped[str] = mapped_column(sa.String(40))
    code: Mapped[str] = mapped_column(sa.String(40))
    due_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column()
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    #: When the overdue-step alert went out (once).
    overdue_alerted_at: Mapped[datetime | None] = mapped_column()

    case: Mapped[Case] = relationship(back_populates="steps")
