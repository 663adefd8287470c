"""Legal holds: records a court, prosecutor or the ministry's legal office needs kept whole."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db

#: What a hold may name. A hold on a school keeps everything of the school.
TARGET_TYPES = ("student", "incident", "case", "school")


class LegalHold(db.Model):
    """A hold on one record: while active, it and everything tied to it are never anonymised."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        sa.CheckConstraint(f"target_type IN {TARGET_TYPES}", name="target_type"),
        sa.CheckConstraint(
            "(released_at IS NULL) = (released_by_id IS NULL)", name="release_complete"
        ),
        sa.Index("ix_legal_holds_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One of ``TARGET_TYPES``.
    target_type: Mapped[str] = mapped_column(sa.String(10))
    #: The id of the student, incident, case or school held (the row id, not a NIE or code).
    target_id: Mapped[int] = mapped_column()
    #: Why, e.g. the prosecutor's file reference. Shown to administrators only, never audited.
    reason: Mapped[str] = mapped_column(sa.Text)
    #: The account on whose authority the hold was placed.
    placed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: When it was placed (UTC).
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When it was released (UTC); None while it is in force.
    released_at: Mapped[datetime | None] = mapped_column()
    #: The account on whose authority it was released.
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Why it was released, e.g. "proceso concluido".
    release_reason: Mapped[str] = mapped_column(sa.Text, default="")

    placed_by: Mapped[User] = relationship(foreign_keys=[placed_by_id])
    released_by: Mapped[User | None] = relationship(foreign_keys=[released_by_id])

    @property
    def is_active(self) -> bool:
        """Tell whether the hold is still in force."""
        return self.released_at is None

    def __repr__(self) -> str:
        return f"<LegalHold {self.id} {self.target_type} {self.target_id}>"
