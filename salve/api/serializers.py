"""Records as JSON for the API. The shapes are described in ``salve.api.openapi``."""

from __future__ import annotations

from datetime import datetime

from salve.alerts.models import Alert
from salve.auth.scope import FULL
from salve.catalog.entries import Catalog, Entry, Label
from salve.incidents.disclosure import fields_for
from salve.incidents.models import Incident
from salve.schools.models import School, Student
from salve.scoring.queries import Contribution, Risk


def _label(label: Label) -> dict:
    return {"es": label.es, "en": label.en}


def _entry(entry: Entry) -> dict:
    return {"code": entry.code, "label": _label(entry.label)}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def catalog_json(catalog: Catalog) -> dict:
    """Return the catalog in force: every type and every coded choice, with labels."""
    return {
        "version": catalog.version,
        "valid_from": catalog.valid_from.isoformat(),
        "types": [
            {
                "code": t.code,
                "category": t.category,
                "tier": t.tier,
                "mandatory_report": t.is_mandatory_report,
                "immediate": t.is_immediate,
                "label": _label(t.label),
                "report_to": list(t.report_to),
                "relationships": list(t.relationships),
                "requires_factor": t.requires_factor,
            }
            for t in catalog.types.values()
        ],
        "categories": [_entry(e) for e in catalog.categories.values()],
        "locations": [_entry(e) for e in catalog.locations.values()],
        "relationships": [_entry(e) for e in catalog.relationships.values()],
        "repetition": [
            {**_entry(e), "min_times": e.min_times, "max_times": e.max_times}
            for e in catalog.repetition.values()
        ],
        "motivations": [
            {**_entry(e), "is_discrimination": e.is_discrimination}
            for e in catalog.motivations.values()
        ],
        "measures": [_entry(e) for e in catalog.measures.values()],
        "institutions": [_entry(e) for e in catalog.institutions.values()],
    }


def school_json(school: School) -> dict:
    """Return a school's public facts (no figures, no people)."""
    district = school.district
    return {
        "code": school.code,
        "name": school.name,
        "department_code": school.department.code,
        "municipality": district.municipality.name,
        "district": district.name,
    }


def named_student_json(student: Student) -> dict:
    """Return who a child is, for an answer that may name them (``salve.auth.scope``)."""
    return {
        "nie": student.nie,
        "given_names": student.given_names,
        "family_names": student.family_names,
        "grade": student.grade,
        "section": student.section,
    }


def student_json(student: Student) -> dict:
    """Return a student as on the roll: only what finding them for a report needs."""
    return {**named_student_json(student), "sex": student.sex}


def _parties(incident: Incident) -> list[dict]:
    return [
        {
            "role": p.role,
            "kind": p.kind,
            "nie": p.student.nie if p.student else None,
            "given_names": p.student.given_names if p.student else None,
            "family_names": p.student.family_names if p.student else None,
            "description": p.description,
        }
        for p in incident.parties
    ]


def _amendments(incident: Incident) -> list[dict]:
    return [
        {
            "id": a.id,
            "action": a.action,
            "created_at": _time(a.created_at),
            "author_id": a.author_id,
            "reason": a.reason,
            "fields": sorted(a.changes or {}),
        }
        for a in incident.amendments
    ]


#: Each field of ``salve.incidents.disclosure``, as the API writes it.
_INCIDENT_FIELDS = {
    "school": lambda i: i.school.code,
    "occurred_at": lambda i: _time(i.occurred_at),
    "location": lambda i: i.location,
    "types": lambda i: [{"code": t.type_code, "tier": t.tier} for t in i.types],
    "status": lambda i: i.status,
    "validated_at": lambda i: _time(i.validated_at),
    "closed_at": lambda i: _time(i.closed_at),
    "reported_at": lambda i: _time(i.reported_at),
    "reporter": lambda i: i.reporter.username if i.reporter else None,
    "relationship": lambda i: i.relationship_code,
    "repetition": lambda i: i.repetition,
    "motivations": lambda i: list(i.motivations or []),
    "measures": lambda i: list(i.measures or []),
    "measures_note": lambda i: i.measures_note,
    "names_staff_aggressor": lambda i: i.names_staff_aggressor,
    "parties": _parties,
    "narrative": lambda i: i.narrative,
    "closed_reason": lambda i: i.closed_reason,
    "amendments": _amendments,
    "channel": lambda i: i.channel,
    "catalog_version": lambda i: i.catalog_version,
    "idempotency_key": lambda i: i.idempotency_key,
}


def incident_json(incident: Incident, access: str, *, names_students: bool = False) -> dict:
    """Return ``incident`` as ``access`` allows, field by field (``salve.incidents.disclosure``).

    A summary names the children involved (``students``) only when ``names_students``: under
    a break-the-glass grant, as the page does (``salve.auth.scope.incident_identities``).
    """
    data = {"id": incident.id, "access": access}
    for field in fields_for(access):
        if field == "students":
            data[field] = (
                [
                    {"role": p.role, **named_student_json(p.student)}
                    for p in incident.parties
                    if p.student
                ]
                if names_students
                else None
            )
        else:
            data[field] = _INCIDENT_FIELDS[field](incident)
    return data


def risk_json(risk: Risk, key: str, value: str, *, student: Student | None = None) -> dict:
    """Return a risk score with each rule's part explained, under ``key`` (``nie`` or ``code``).

    A student's score names the child (``student``) only to whoever may see who it is (the
    school's staff, whoever handles the child's alert or case, a live grant); else null.
    """
    data = {
        "entity_type": risk.entity_type,
        key: value,
        "score": risk.score,
        "level": risk.level,
        "rules_version": risk.rules_version,
        "computed_at": _time(risk.computed_at),
        "contributions": [contribution_json(c) for c in risk.contributions],
    }
    if key == "nie":
        data["student"] = named_student_json(student) if student is not None else None
    return data


def contribution_json(contribution: Contribution) -> dict:
    """Return one rule's part of a score, explained (figures stay out: the text has them)."""
    return {
        "rule": contribution.rule,
        "points": contribution.points,
        "explanation": contribution.explanation,
        "alert_level": contribution.alert_level,
        "immediate": contribution.immediate,
    }


def alert_json(
    alert: Alert,
    access: str,
    entity_ref: str | None,
    overdue: bool,
    student: Student | None = None,
) -> dict:
    """Return an alert as listed: what it is about, how serious, where it stands, whose it is.

    ``entity_ref`` is the student's NIE or the school's code; None for a student when the
    caller sees the alert in summary (national analysts see schools, not children).
    ``student`` is the child it names, when the caller may see who (``salve.auth.scope``).
    """
    return {
        "student": named_student_json(student) if student is not None else None,
        "id": alert.id,
        "access": access,
        "rule": alert.rule_id,
        "entity_type": alert.entity_type,
        "entity_ref": entity_ref,
        "school": alert.school.code,
        "level": alert.level,
        "status": alert.status,
        "assignee": alert.assignee.username if alert.assignee else None,
        "opened_at": _time(alert.opened_at),
        "due_at": _time(alert.due_at),
        "overdue": overdue,
    }


def alert_detail_json(
    alert: Alert,
    access: str,
    entity_ref: str | None,
    overdue: bool,
    explanation: tuple[Contribution, ...],
    student: Student | None = None,
) -> dict:
    """Return an alert with why it was raised, its evidence and its timeline.

    In summary the people's notes are left out (``note`` is null): they may name a child.
    """
    return {
        **alert_json(alert, access, entity_ref, overdue, student),
        "escalation": alert.escalation,
        "acknowledged_at": _time(alert.acknowledged_at),
        "review_at": _time(alert.review_at),
        "closed_at": _time(alert.closed_at),
        "dismiss_reason": alert.dismiss_reason,
        "explanation": [contribution_json(c) for c in explanation],
        "evidence": [e.incident_id for e in alert.evidence],
        "events": [
            {
                "at": _time(event.at),
                "actor": event.actor.username if event.actor else None,
                "kind": event.kind,
                "from": event.from_status,
                "to": event.to_status,
                "reason": event.reason,
                "note": event.note if access == FULL else None,
            }
            for event in alert.events
        ],
    }
