"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from salve.db import utcnow
from salve.extensions import db


class AuditEvent(db.Model):
    """Who did or saw what, when and from where. Never updated, never deleted; hash-chained."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_object", "object_type", "object_id"),
        sa.CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: When it happened (UTC).
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The acting account, if any (none for anonymous requests and failed sign-ins).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: What was done, e.g. "login", "school.view", "student.import".
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    #: The kind of record touched, e.g. "student"; empty when none.
    object_type: Mapped[str] = mapped_column(sa.String(40), default="")
    #: The record's id or code; empty when none.
    object_id: Mapped[str] = mapped_column(sa.String(64), default="")
    #: "ok", "refused" or "failed".
    outcome: Mapped[str] = mapped_column(sa.String(8), default="ok")
    #: Client address.
    ip_address: Mapped[str] = mapped_column(sa.String(45), default="")
    #: Structured detail without personal data or narrative text (counts, codes, reasons).
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: Place in the hash chain: 1, 2, 3 … with no gap (salve.audit.chain).
    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    #: ``row_hash`` of the row before (seq - 1); 64 zeros for the first.
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 (hex) of ``prev_hash`` and this row's fields: a change anywhere breaks the chain.
    row_hash: Mapped[str] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"
