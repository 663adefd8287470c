"""Notifications: an outbox so a retry never sends twice, a delivery log, an in-app inbox."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db

PENDING = "pendiente"
#: Claimed by a sender and being handed to the mail server.
SENDING = "enviando"
SENT = "enviado"
#: Gave up after the last retry.
FAILED = "fallido"
#: The sender died while handing it over: it may or may not have left; never sent again.
UNCERTAIN = "incierto"
STATUSES = (PENDING, SENDING, SENT, FAILED, UNCERTAIN)
CHANNELS = ("email", "inbox")


class OutboxMessage(db.Model):
    """A message to send once: the key says what it is about, for whom and by which channel.

    Whatever job or request decides a message is due adds a row here in its own transaction; the
    sender delivers pending rows and marks them. A second attempt to add the same message finds
    the key taken, so a job rerun after a crash sends nothing twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        sa.Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. "alert:42:raised:email:user:7" — unique: the same message is never queued twice.
    key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: The kind of message (a template name): alert_raised, alert_escalated, step_overdue, digest.
    kind: Mapped[str] = mapped_column(sa.String(30))
    #: What the template needs: references and ids only, never a name or a narrative.
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(10), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.String(300), default="")

    recipient: Mapped[User] = relationship()


class Delivery(db.Model):
    """One attempt to deliver an outbox message: the delivery log."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column()
    #: The server's answer or the error, without the message itself.
    detail: Mapped[str] = mapped_column(sa.String(300), default="")


class InboxMessage(db.Model):
    """A notice in a user's in-app inbox."""

    __tablename__ = "inbox_messages"
    __table_args__ = (sa.Index("ix_inbox_messages_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Like the outbox key: the same notice is never added twice.
    key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: Same kinds as the outbox.
    kind: Mapped[str] = mapped_column(sa.String(30))
    #: References only (alert id, level, school code, rule).
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: Where the notice leads (a path inside SALVE).
    link: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
