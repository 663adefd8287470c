"""A break-the-glass grant: one person may see one school's students by name, for a few hours."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import School

#: Why identities are needed: the category a requester picks (codes stored, labels shown).
REASONS = {
    "emergencia": _l("Emergencia: riesgo inmediato para una niña, niño o adolescente"),
    "caso": _l("Atender una alerta o un caso"),
    "referencia": _l("Referir o informar a una institución (FGR, PNC, CONAPINA…)"),
    "traslado": _l("Seguimiento de un caso trasladado de otro centro o departamento"),
    "verificacion": _l("Verificar la identidad de un estudiante en un reporte"),
    "otro": _l("Otro motivo (explíquelo)"),
}
REASON_CODES = tuple(REASONS)
#: The pages a grant may be asked from, kept to tell the supervision where the need arose.
RECORD_TYPES = ("", "student", "alert", "incident")
#: How long the stated reason must be at least, and at most.
MIN_REASON = 20
MAX_REASON = 1000


class BreakGlassGrant(db.Model):
    """Someone outside a school's scope may see its students' names until ``expires_at``.

    Granted at once (emergencies cannot wait) and reported to the supervision; the grant ends by
    itself at ``expires_at`` or earlier when its holder ends it. Rows are kept as the record of
    who looked, when and why.
    """

    __tablename__ = "break_glass_grants"
    __table_args__ = (
        sa.CheckConstraint(f"reason_category IN {REASON_CODES}", name="reason_category"),
        sa.CheckConstraint(f"record_type IN {RECORD_TYPES}", name="record_type"),
        sa.CheckConstraint(f"length(reason_text) >= {MIN_REASON}", name="reason_text"),
        sa.CheckConstraint("expires_at > granted_at", name="period"),
        sa.Index("ix_break_glass_grants_user_school", "user_id", "school_id", "expires_at"),
        sa.Index("ix_break_glass_grants_department_granted", "department_id", "granted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who asked (and who alone may use the grant).
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: The school whose students' names the grant shows.
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id"))
    #: The school's department when granted: whose supervision was told and lists it.
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    #: One of ``REASON_CODES``; the only part of the reason that reaches the audit log.
    reason_category: Mapped[str] = mapped_column(sa.String(20))
    #: The reason as typed, for the supervision's list; never logged, never mailed.
    reason_text: Mapped[str] = mapped_column(sa.String(MAX_REASON))
    #: The kind of page the grant was asked from ("student", "alert", "incident" or "").
    record_type: Mapped[str] = mapped_column(sa.String(10), default="")
    #: That record's id (a student, alert or incident of the school), if any.
    record_id: Mapped[int | None] = mapped_column()
    #: When it was granted (UTC).
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When it stops by itself (UTC).
    expires_at: Mapped[datetime] = mapped_column()
    #: When its holder ended it early (UTC); None while it runs or once it expired by itself.
    ended_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()
    school: Mapped[School] = relationship()

    def ends_at(self) -> datetime:
        """Return when the grant stopped or will stop: ended early, or at its expiry."""
        return min(self.ended_at, self.expires_at) if self.ended_at else self.expires_at

    def is_live(self, now: datetime) -> bool:
        """Tell whether the grant still shows names at ``now``."""
        return self.ended_at is None and now < self.expires_at

    def __repr__(self) -> str:
        return f"<BreakGlassGrant {self.id} user={self.user_id} school={self.school_id}>"
