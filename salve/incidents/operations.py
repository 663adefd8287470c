"""Verbs on incidents: file, amend, validate, close as unfounded, keep drafts.

Domain code flushes; the request, CLI command or job commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.scope import scope_for
from salve.catalog.entries import Catalog
from salve.catalog.loading import store_version
from salve.catalog.queries import stored_version
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import (
    Incident,
    IncidentAmendment,
    IncidentDraft,
    IncidentParty,
    IncidentType,
)
from salve.incidents.validation import FieldError, ReportData, validate_report
from salve.schools.models import School, Student

#: Called with each incident right after it is filed or amended, in the same transaction.
#: The risk scores (rescoring the students and school it touches) and the immediate alerts
#: register here, so nothing that depends on a report ever lags behind it.
INCIDENT_SAVED_HOOKS: list[Callable[[Incident], None]] = []
#: The longest reason a correction or a closure as unfounded keeps (the form's limit).
MAX_REASON = 2000


class IncidentError(ValueError):
    """A request about an incident that cannot be carried out; ``errors`` name the fields."""

    def __init__(self, errors: list[FieldError], status: int = 422):
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status


def reporting_school_ids(user) -> frozenset[int]:
    """Return the schools ``user`` may file reports for (their own, as docente or director)."""
    return frozenset(
        a.school_id for a in user.role_assignments if a.role in (R.DOCENTE, R.DIRECTOR)
    )


def find_reportable_school(user, code: str) -> School | None:
    """Return the school with ``code`` if ``user`` may report for it."""
    school_ids = reporting_school_ids(user)
    if not school_ids:
        return None
    return db.session.scalar(
        sa.select(School).where(School.code == code, School.id.in_(school_ids))
    )


def find_students(school: School, nies: list[str]) -> dict[str, Student]:
    """Return the active students of ``school`` among ``nies``, by NIE."""
    students = db.session.scalars(
        sa.select(Student).where(
            Student.school_id == school.id, Student.nie.in_(nies), Student.is_active
        )
    )
    return {student.nie: student for student in students}


def check_report(user, payload, catalog: Catalog, *, now: datetime | None = None):
    """Validate ``payload`` as a report by ``user``; return (data, errors)."""
    return validate_report(
        payload,
        catalog=catalog,
        find_school=lambda code: find_reportable_school(user, code),
        find_students=find_students,
        now=now or utcnow(),
    )


def file_incident(
    user, payload, catalog: Catalog, *, channel: str = "web"
) -> tuple[Incident, bool]:
    """File a report; return (incident, created). The same key again returns the first one."""
    existing = _by_key(payload)
    if existing is not None:
        return _replay(user, existing), False
    data, errors = check_report(user, payload, catalog)
    if errors:
        raise IncidentError(errors)
    if stored_version(catalog.version) is None:
        store_version(catalog)  # files edited without `salve init`: keep the version anyway
    incident = _build(user, data, channel)
    try:
        with db.session.begin_nested():
            db.session.add(incident)
            db.session.flush()
    except IntegrityError:
        # A concurrent retry with the same key won the race: answer with its incident.
        existing = _by_key(payload)
        if existing is None:
            raise
        return _replay(user, existing), False
    db.session.execute(
        sa.delete(IncidentDraft).where(
            IncidentDraft.user_id == user.id,
            IncidentDraft.idempotency_key == data.idempotency_key,
        )
    )
    record("incident.file", "incident", incident.id, channel=channel, types=incident.type_codes)
    run_saved_hooks(incident)
    return incident, True


def _by_key(payload) -> Incident | None:
    key = payload.get("idempotency_key") if isinstance(payload, dict) else None
    if not isinstance(key, str) or not key:
        return None
    return db.session.scalar(sa.select(Incident).where(Incident.idempotency_key == key[:64]))


def _replay(user, incident: Incident) -> Incident:
    if incident.reporter_id != user.id:
        raise IncidentError(
            [FieldError("idempotency_key", _("Esa clave de envío ya fue usada por otro reporte."))],
            status=409,
        )
    return incident


def _field_values(data: ReportData) -> dict:
    """Return the incident's own columns that a report sets (and an amendment may change)."""
    return {
        "occurred_at": data.occurred_at,
        "location": data.location,
        "relationship_code": data.relationship,
        "repetition": data.repetition,
        "motivations": data.motivations,
        "measures": data.measures,
        "narrative": data.narrative,
        "measures_note": data.measures_note,
        "names_staff_aggressor": data.names_staff_aggressor,
    }


def _type_row(violence_type) -> IncidentType:
    return IncidentType(type_code=violence_type.code, tier=violence_type.tier)


def _party_rows(data: ReportData) -> list[IncidentParty]:
    return [
        IncidentParty(
            role=p.role,
            kind=p.kind,
            student_id=p.student.id if p.student else None,
            description=p.description,
        )
        for p in data.parties
    ]


def _build(user, data: ReportData, channel: str) -> Incident:
    return Incident(
        idempotency_key=data.idempotency_key,
        school_id=data.school.id,
        reporter_id=user.id,
        catalog_version=data.catalog_version,
        reported_at=utcnow(),
        channel=channel,
        types=[_type_row(t) for t in data.types],
        parties=_party_rows(data),
        **_field_values(data),
    )


def run_saved_hooks(incident: Incident) -> None:
    for hook in INCIDENT_SAVED_HOOKS:
        hook(incident)


def as_payload(incident: Incident) -> dict:
    """Return ``incident`` in the API's payload shape (what a form or an amendment edits)."""
    return {
        "school": incident.school.code,
        "occurred_at": incident.occurred_at.isoformat(),
        "location": incident.location,
        "types": incident.type_codes,
        "relationship": incident.relationship_code,
        "parties": [
            {
                "role": p.role,
                "kind": p.kind,
                **({"nie": p.student.nie} if p.student else {}),
                **({"description": p.description} if p.description else {}),
            }
            for p in incident.parties
        ],
        "repetition": incident.repetition,
        "motivations": list(incident.motivations),
        "measures": list(incident.measures),
        "narrative": incident.narrative,
        "measures_note": incident.measures_note,
        "idempotency_key": incident.idempotency_key,
    }


def require_principal(user, incident: Incident) -> None:
    scope = scope_for(user)
    is_principal = any(
        a.role == R.DIRECTOR and a.school_id == incident.school_id for a in user.role_assignments
    )
    if not is_principal or incident.school_id not in scope.school_ids:
        raise IncidentError(
            [FieldError("", _("Solo la dirección de la escuela puede hacerlo."))], 403
        )


def amend_incident(
    user, incident: Incident, payload: dict, reason: str, catalog: Catalog
) -> IncidentAmendment | None:
    """Correct a report, keeping what it said before; return the amendment (None: no change)."""
    require_principal(user, incident)
    if incident.status == "infundado":
        raise IncidentError([FieldError("", _("El reporte está cerrado como infundado."))], 409)
    if not reason or not reason.strip():
        raise IncidentError([FieldError("reason", _("Explique el motivo de la corrección."))])
    check_reason_length(reason)
    merged = {**as_payload(incident), **payload, "idempotency_key": incident.idempotency_key}
    merged["school"] = incident.school.code  # the school of a report never changes
    data, errors = validate_report(
        merged,
        catalog=catalog,
        find_school=lambda code: incident.school if code == incident.school.code else None,
        find_students=find_students,
        now=utcnow(),
    )
    if errors:
        raise IncidentError(errors)
    before = as_payload(incident)
    for attribute, value in _field_values(data).items():
        setattr(incident, attribute, value)
    if [t.code for t in data.types] != incident.type_codes:
        # Keep the rows of types that stay: their primary key is (incident, code).
        kept = {t.type_code: t for t in incident.types}
        incident.types = [kept.get(t.code) or _type_row(t) for t in data.types]
    new_parties = _party_rows(data)
    if _party_tuples(new_parties) != _party_tuples(incident.parties):
        incident.parties = new_parties
    db.session.flush()
    after = as_payload(incident)
    changes = {
        key: [before[key], after[key]]
        for key in before
        if before[key] != after[key] and key != "narrative"
    }
    if before["narrative"] != after["narrative"]:
        # The narrative's history is kept whole, like every other field.
        changes["narrative"] = [before["narrative"], after["narrative"]]
    if not changes:
        return None
    amendment = IncidentAmendment(
        incident_id=incident.id,
        author_id=user.id,
        action="amend",
        reason=reason.strip(),
        changes=changes,
    )
    db.session.add(amendment)
    record("incident.amend", "incident", incident.id, fields=sorted(changes))
    run_saved_hooks(incident)
    return amendment


def _party_tuples(parties) -> list[tuple]:
    return [(p.role, p.kind, p.student_id, p.description) for p in parties]


def validate_incident(user, incident: Incident) -> None:
    """Mark a report as validated by the school's principal."""
    require_principal(user, incident)
    if incident.status != "reportado":
        raise IncidentError(
            [FieldError("", _("Solo se valida un reporte recién presentado."))], 409
        )
    incident.status = "validado"
    incident.validated_by_id = user.id
    incident.validated_at = utcnow()
    db.session.add(
        IncidentAmendment(
            incident_id=incident.id, author_id=user.id, action="validate",
            changes={"status": ["reportado", "validado"]},
        )
    )  # fmt: skip
    record("incident.validate", "incident", incident.id)


def close_unfounded(user, incident: Incident, reason: str) -> bool:
    """Close a report as unfounded as its principal (``salve.incidents.closure``).

    Return False when the report names staff as aggressor: then it is only asked of the ministry.
    """
    from salve.incidents import closure

    return closure.close_unfounded(user, incident, reason)


def check_reason_length(reason: str) -> None:
    """Refuse a correction's or a closure's reason longer than the form allows; never cut it."""
    if len(reason.strip()) > MAX_REASON:
        message = _("Es demasiado largo; el máximo es %(limit)d caracteres.", limit=MAX_REASON)
        raise IncidentError([FieldError("reason", message)])


def save_draft(user, payload: dict) -> IncidentDraft:
    """Keep what the user typed so far, under the report's key."""
    key = str(payload.get("idempotency_key") or "")[:64]
    draft = db.session.scalar(
        sa.select(IncidentDraft).where(
            IncidentDraft.user_id == user.id, IncidentDraft.idempotency_key == key
        )
    )
    if draft is None:
        draft = IncidentDraft(user_id=user.id, idempotency_key=key, data={})
        db.session.add(draft)
    draft.data = payload
    draft.updated_at = utcnow()
    db.session.flush()
    return draft
