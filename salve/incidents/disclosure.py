"""What a report shows at each level of access: one definition for its page and its API.

``salve.auth.scope.incident_access`` decides the level (FULL or SUMMARY); this module says what
each level holds. The page (``templates/incidents/show.html``) shows a field only when it is in
``fields_for(access)`` and marks it with ``data-field``; the API (``salve.api.serializers``)
builds its answer from the same names, and ``salve.api.openapi`` describes them. A test compares
the page and the API, role by role (tests/api/test_incident_disclosure.py).
"""

from __future__ import annotations

from salve.auth.scope import FULL

#: What anyone who may see a report at all sees (another teacher of the school, the department's
#: case handlers): where and when, what kind, where it stands. Nothing about who, or why: in a
#: small school a date, a place and "pregnancy" identify a girl. ``students`` is the list of the
#: children involved, present (not null) only under a break-the-glass grant.
SUMMARY_FIELDS: tuple[str, ...] = (
    "school",
    "occurred_at",
    "location",
    "types",
    "status",
    "validated_at",
    "closed_at",
    "students",
)

#: What the reporter and the school's principal see besides: the people, the relationship and
#: how often, the perceived motivation, the measures, the narrative and the history.
DETAIL_FIELDS: tuple[str, ...] = (
    "reported_at",
    "reporter",
    "relationship",
    "repetition",
    "motivations",
    "measures",
    "measures_note",
    "names_staff_aggressor",
    "parties",
    "narrative",
    "closed_reason",
    "amendments",
)

#: Bookkeeping that only a full reader's program needs (the page has no use for it).
RECORD_FIELDS: tuple[str, ...] = ("channel", "catalog_version", "idempotency_key")

FULL_FIELDS: tuple[str, ...] = (
    *(f for f in SUMMARY_FIELDS if f != "students"),
    *DETAIL_FIELDS,
    *RECORD_FIELDS,
)


def fields_for(access: str | None) -> tuple[str, ...]:
    """Return the fields of a report that ``access`` (FULL or SUMMARY) shows."""
    return FULL_FIELDS if access == FULL else SUMMARY_FIELDS


def named_students(incident, identities) -> dict:
    """Return what the audit event of an answer showing ``incident`` adds about its children.

    The ids of the children it names (``identities.is_shown``: in full, or under a grant); nothing
    when it names none. Never a name or a NIE.
    """
    if not identities.is_shown:
        return {}
    return {"students": sorted({p.student_id for p in incident.parties if p.student_id})}
