"""Legal holds: place, release and list them. Every hold placed or released is audited.

A hold names one student (by NIE), incident, case or school (by code); while it is in force,
retention anonymises neither the record nor anything tied to it (see ``salve.maintenance
.retention``). The hold's reason may name people, so it stays in the hold and never reaches
the audit log.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.models import User
from salve.cases.models import Case
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident
from salve.maintenance.models import TARGET_TYPES, LegalHold
from salve.schools.models import School, Student

#: Roles on whose authority a hold may be placed or released.
AUTHORITY_ROLES = (R.SUPERVISOR, R.NACIONAL, R.ADMIN)
#: How each target is named in Spanish.
TARGET_LABELS = {
    "student": "estudiante",
    "incident": "reporte",
    "case": "caso",
    "school": "centro educativo",
}
MAX_REASON = 2000


class HoldError(ValueError):
    """A hold that cannot be placed or released; the message says why, in Spanish."""


def _authority(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))
    if user is None or not user.is_enabled:
        raise HoldError(f"No hay una cuenta activa «{username}».")
    if not user.has_role(*AUTHORITY_ROLES):
        raise HoldError(
            f"La cuenta «{username}» no puede ordenar retenciones legales; "
            f"hace falta el rol {', '.join(AUTHORITY_ROLES)}."
        )
    return user


def find_target(target_type: str, reference: str) -> tuple[int, bool]:
    """Return (row id, is anonymised) of the record a hold would name; raise when there is none.

    Students are named by NIE and schools by code; incidents and cases by number.
    """
    reference = str(reference).strip()
    label = TARGET_LABELS.get(target_type)
    if label is None:
        raise HoldError(f"Tipo de registro desconocido: {target_type}.")
    if target_type == "school":
        row = db.session.execute(sa.select(School.id, sa.false()).where(School.code == reference))
    elif target_type == "student":
        row = db.session.execute(
            sa.select(Student.id, Student.anonymised_at.is_not(None)).where(
                Student.nie == reference
            )
        )
    else:
        if not reference.isdigit():
            raise HoldError(f"El número de {label} debe ser un número entero, no «{reference}».")
        model = Incident if target_type == "incident" else Case
        row = db.session.execute(
            sa.select(model.id, model.anonymised_at.is_not(None)).where(model.id == int(reference))
        )
    found = row.first()
    if found is None:
        raise HoldError(f"No existe el {label} «{reference}».")
    return found[0], bool(found[1])


def place_hold(
    target_type: str, reference: str, reason: str, by: str, *, now: datetime | None = None
) -> tuple[LegalHold, bool]:
    """Place a hold on a record on the authority of account ``by``; return (hold, anonymised).

    ``anonymised`` tells that the record had already been anonymised: the hold keeps what is
    left, it cannot bring back what was replaced.
    """
    if target_type not in TARGET_TYPES:
        raise HoldError(f"Tipo de registro desconocido: {target_type}.")
    if not reason or not reason.strip():
        raise HoldError("Indique el motivo de la retención (p. ej. el expediente de la FGR).")
    user = _authority(by)
    target_id, anonymised = find_target(target_type, reference)
    hold = LegalHold(
        target_type=target_type,
        target_id=target_id,
        reason=reason.strip()[:MAX_REASON],
        placed_by_id=user.id,
        placed_at=now or utcnow(),
    )
    db.session.add(hold)
    db.session.flush()
    record("legal_hold.place", target_type, target_id, user_id=user.id, hold=hold.id)
    return hold, anonymised


def release_hold(
    hold_id: int, by: str, reason: str = "", *, now: datetime | None = None
) -> LegalHold:
    """Release hold ``hold_id`` on the authority of account ``by``."""
    user = _authority(by)
    hold = db.session.get(LegalHold, hold_id)
    if hold is None:
        raise HoldError(f"No existe la retención {hold_id}.")
    if not hold.is_active:
        raise HoldError(f"La retención {hold_id} ya fue levantada.")
    hold.released_at = now or utcnow()
    hold.released_by_id = user.id
    hold.release_reason = (reason or "").strip()[:MAX_REASON]
    db.session.flush()
    record("legal_hold.release", hold.target_type, hold.target_id, user_id=user.id, hold=hold.id)
    return hold


def list_holds(include_released: bool = False) -> list[LegalHold]:
    """Return the holds in force (or every hold), oldest first."""
    query = sa.select(LegalHold).order_by(LegalHold.id)
    if not include_released:
        query = query.where(LegalHold.released_at.is_(None))
    return list(db.session.scalars(query))


def target_name(hold: LegalHold) -> str:
    """Name a hold's record in Spanish, e.g. "reporte 42" or "estudiante NIE 1234567"."""
    label = TARGET_LABELS[hold.target_type]
    if hold.target_type == "student":
        nie = db.session.scalar(sa.select(Student.nie).where(Student.id == hold.target_id))
        return f"{label} NIE {nie}"
    if hold.target_type == "school":
        code = db.session.scalar(sa.select(School.code).where(School.id == hold.target_id))
        return f"{label} {code}"
    return f"{label} {hold.target_id}"
