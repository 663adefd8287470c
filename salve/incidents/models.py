"""Incidents, their types and parties, their amendments, and the drafts teachers keep."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.db import TimestampMixin, utcnow
from salve.extensions import db
from salve.schools.models import School, Student

#: How a report reached SALVE.
CHANNELS = ("web", "api", "telefono", "whatsapp", "app", "anonimo")
#: reportado → validado; either may be closed as infundado (never deleted).
STATUSES = ("reportado", "validado", "infundado")
PARTY_ROLES = ("victima", "agresor", "testigo")
#: Who a party is: a student of the school, a staff member, an outsider, or unknown.
PARTY_KINDS = ("estudiante", "personal", "externo", "desconocido")


class Incident(TimestampMixin, db.Model):
    """A report of violence at or around a school."""

    __tablename__ = "incidents"
    __table_args__ = (
        sa.CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint(
            "status != 'infundado' OR (closed_reason IS NOT NULL AND closed_at IS NOT NULL)",
            name="unfounded_has_reason",
        ),
        # Covering: a school's counts over a window, unfounded ones left out, read from the
        # index alone (the department risk list, the save hook).
        sa.Index("ix_incidents_school_occurred_status", "school_id", "occurred_at", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The key the reporting client generated; a retried submission finds the same incident.
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The school where (or about which) it was reported.
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id"))
    #: The account that filed the report.
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: The catalog version the report was filed under.
    catalog_version: Mapped[str] = mapped_column(sa.String(20))
    #: When it happened (UTC).
    occurred_at: Mapped[datetime] = mapped_column()
    #: When it was filed (UTC).
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: How it reached SALVE, one of ``CHANNELS``.
    channel: Mapped[str] = mapped_column(sa.String(10), default="web")
    #: Catalog location code, e.g. "patio".
    location: Mapped[str] = mapped_column(sa.String(40))
    #: Catalog relationship code (who to whom), e.g. "estudiante_estudiante".
    relationship_code: Mapped[str] = mapped_column(sa.String(40))
    #: Catalog repetition code, e.g. "2_3".
    repetition: Mapped[str] = mapped_column(sa.String(20))
    #: Catalog motivation codes (perceived motivation, discrimination factors).
    motivations: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: Catalog codes of the immediate measures taken.
    measures: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: What happened, in the reporter's words. Stored as typed; always shown escaped.
    narrative: Mapped[str] = mapped_column(sa.Text)
    #: Other measures taken, in the reporter's words.
    measures_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: One of ``STATUSES``.
    status: Mapped[str] = mapped_column(sa.String(12), default="reportado")
    #: True when a staff member is named as aggressor: only the principal and the ministry see it.
    names_staff_aggressor: Mapped[bool] = mapped_column(default=False)
    #: The principal who validated the report.
    validated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: When it was validated.
    validated_at: Mapped[datetime | None] = mapped_column()
    #: Who closed it as unfounded.
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: When it was closed as unfounded.
    closed_at: Mapped[datetime | None] = mapped_column()
    #: Why it was closed as unfounded.
    closed_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: When retention replaced its free text (salve.maintenance.retention).
    anonymised_at: Mapped[datetime | None] = mapped_column()

    school: Mapped[School] = relationship()
    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    types: Mapped[list[IncidentType]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentType.type_code"
    )
    parties: Mapped[list[IncidentParty]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentParty.id"
    )
    amendments: Mapped[list[IncidentAmendment]] = relationship(
        back_populates="incident", order_by="IncidentAmendment.id"
    )

    @property
    def type_codes(self) -> list[str]:
        """Return the codes of the incident's types."""
        return [t.type_code for t in self.types]

    def __repr__(self) -> str:
        return f"<Incident {self.id} {self.status}>"


class IncidentType(db.Model):
    """One type of violence an incident is classified as."""

    __tablename__ = "incident_types"

    #: The incident.
    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    #: Type code in the incident's catalog version, e.g. "ACO_VERBAL".
    type_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True, index=True)
    #: The type's tier when filed ("I", "II", "III"), kept so scores need no catalog lookup.
    tier: Mapped[str] = mapped_column(sa.String(3))

    incident: Mapped[Incident] = relationship(back_populates="types")

    def __repr__(self) -> str:
        return f"<IncidentType {self.incident_id} {self.type_code}>"


class IncidentParty(db.Model):
    """A person involved: victim, aggressor or witness."""

    __tablename__ = "incident_parties"
    __table_args__ = (
        sa.CheckConstraint(f"role IN {PARTY_ROLES}", name="role"),
        sa.CheckConstraint(f"kind IN {PARTY_KINDS}", name="kind"),
        sa.CheckConstraint(
            "(kind = 'estudiante') = (student_id IS NOT NULL)", name="student_iff_kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The incident.
    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    #: One of ``PARTY_ROLES``.
    role: Mapped[str] = mapped_column(sa.String(10))
    #: One of ``PARTY_KINDS``.
    kind: Mapped[str] = mapped_column(sa.String(12))
    #: The student, when ``kind`` is "estudiante".
    student_id: Mapped[int | None] = mapped_column(sa.ForeignKey("students.id"), index=True)
    #: A short description for staff and outsiders (e.g. "docente de 7.º grado"); no full names.
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    incident: Mapped[Incident] = relationship(back_populates="parties")
    student: Mapped[Student | None] = relationship()

    def __repr__(self) -> str:
        return f"<IncidentParty {self.id} {self.role} {self.kind}>"


class IncidentAmendment(db.Model):
    """A correction to a report: who, when, why and what changed. Append-only."""

    __tablename__ = "incident_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The incident amended.
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    #: Who amended it.
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: When (UTC).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: What kind of change: "amend", "validate", "close_unfounded".
    action: Mapped[str] = mapped_column(sa.String(20), default="amend")
    #: Why, in the author's words.
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: field → [before, after], JSON values.
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="amendments")
    author: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<IncidentAmendment {self.id} incident={self.incident_id}>"


class IncidentDraft(db.Model):
    """A report being written, kept on the server so nothing typed is lost."""

    __tablename__ = "incident_drafts"
    __table_args__ = (sa.UniqueConstraint("user_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Whose draft it is; nobody else sees it.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The key the report will be filed with.
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    #: The form's fields as typed (the API's payload shape).
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: Last saved (UTC).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<IncidentDraft {self.id}>"
