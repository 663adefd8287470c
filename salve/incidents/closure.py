"""Closing a report as unfounded: the principal's own decision, or the ministry's.

A report closed as unfounded leaves the risk scores. When it names a member of the staff as
aggressor, the accused may be the principal, or a colleague: the principal then only asks, with
the reason, and a supervisor of the school's department decides (audit 2026-12, finding 14). The
request, the decision and both reasons stay in the report's history.
"""

from __future__ import annotations

from flask_babel import gettext as _

from salve.audit.operations import record
from salve.auth import roles as R
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident, IncidentAmendment
from salve.incidents.operations import (
    IncidentError,
    check_reason_length,
    require_principal,
    run_saved_hooks,
)
from salve.incidents.validation import FieldError

REQUESTED = "close_requested"
REFUSED = "close_refused"
CLOSED = "close_unfounded"
#: What a supervisor may answer to a request.
APPROVE, REFUSE = "aprobar", "devolver"


def needs_the_ministry(incident: Incident) -> bool:
    """Tell whether closing ``incident`` as unfounded is the ministry's decision."""
    return incident.names_staff_aggressor


def pending_request(incident: Incident) -> IncidentAmendment | None:
    """Return the principal's request to close ``incident`` still waiting for a decision."""
    for amendment in reversed(incident.amendments):
        if amendment.action in (REQUESTED, REFUSED, CLOSED):
            return amendment if amendment.action == REQUESTED else None
    return None


def may_decide(user, incident: Incident) -> bool:
    """The supervisors of the report's department decide on a request to close it."""
    return any(
        a.role == R.SUPERVISOR and a.department_id == incident.school.department_id
        for a in user.role_assignments
    )


def _reason(reason: str, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise IncidentError([FieldError("reason", missing)])
    check_reason_length(reason)
    return reason


def _check_open(incident: Incident) -> None:
    if incident.status == "infundado":
        raise IncidentError([FieldError("", _("El reporte ya está cerrado como infundado."))], 409)


def _close(user, incident: Incident, reason: str, note: str = "") -> None:
    previous = incident.status
    incident.status = "infundado"
    incident.closed_by_id = user.id
    incident.closed_at = utcnow()
    incident.closed_reason = reason
    db.session.add(
        IncidentAmendment(
            incident_id=incident.id, author_id=user.id, action=CLOSED,
            reason=note or reason, changes={"status": [previous, "infundado"]},
        )
    )  # fmt: skip


def close_unfounded(user, incident: Incident, reason: str) -> bool:
    """Close a report as unfounded, as its principal; return False when it was only requested.

    A report naming staff as aggressor is not closed: the request goes to the department's
    supervisors, who are told.
    """
    require_principal(user, incident)
    _check_open(incident)
    reason = _reason(reason, _("Explique por qué el reporte es infundado."))
    if not needs_the_ministry(incident):
        _close(user, incident, reason)
        record("incident.close_unfounded", "incident", incident.id)
        run_saved_hooks(incident)
        return True
    if pending_request(incident) is not None:
        raise IncidentError(
            [FieldError("", _("Ya se pidió cerrar este reporte; lo decide la supervisión."))], 409
        )
    db.session.add(
        IncidentAmendment(
            incident_id=incident.id, author_id=user.id, action=REQUESTED, reason=reason,
            changes={},
        )
    )  # fmt: skip
    db.session.flush()
    db.session.refresh(incident, ["amendments"])
    record("incident.close_requested", "incident", incident.id)
    _tell_the_supervision(incident, user)
    return False


def decide(user, incident: Incident, decision: str, note: str) -> None:
    """Approve or refuse, as a supervisor of its department, a request to close ``incident``.

    Approved, the report closes with the principal's reason, and the supervisor's note joins the
    history; refused, it stays open and the note says why.
    """
    if not may_decide(user, incident):
        raise IncidentError(
            [FieldError("", _("Solo la supervisión del departamento decide este cierre."))], 403
        )
    _check_open(incident)
    request = pending_request(incident)
    if request is None:
        raise IncidentError([FieldError("", _("No hay una solicitud de cierre pendiente."))], 409)
    if decision not in (APPROVE, REFUSE):
        raise IncidentError([FieldError("decision", _("Elija aprobar o devolver."))])
    note = _reason(note, _("Explique su decisión."))
    if decision == APPROVE:
        _close(user, incident, request.reason, note)
        record("incident.close_unfounded", "incident", incident.id, request=request.id)
        run_saved_hooks(incident)
        return
    db.session.add(
        IncidentAmendment(
            incident_id=incident.id, author_id=user.id, action=REFUSED, reason=note, changes={}
        )
    )
    record("incident.close_refused", "incident", incident.id, request=request.id)


def _tell_the_supervision(incident: Incident, principal) -> None:
    from salve.alerts.operations import department_users
    from salve.notifications.operations import notify

    notify(
        department_users(incident.school.department_id, R.SUPERVISOR),
        "unfounded_request",
        f"incident:{incident.id}:close_requested:{len(incident.amendments)}",
        {"incident_id": incident.id, "school_code": incident.school.code},
        f"/incidentes/{incident.id}#decidir-cierre",
        actor_id=principal.id,
    )
