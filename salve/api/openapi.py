"""The OpenAPI 3.1 document of the API, served at ``/api/v1/openapi.json``.

tests/api/test_openapi.py keeps it true: every route of the ``api`` blueprint is described here
and nothing else is, the document is valid OpenAPI, and every response the tests receive
validates against the schema documented for its route and status.
"""

from __future__ import annotations

import copy

from salve.alerts.models import ENTITY_TYPES as ALERT_ENTITY_TYPES
from salve.alerts.models import LEVELS as ALERT_LEVELS
from salve.alerts.models import STATUSES as ALERT_STATUSES
from salve.api.alerts import MAX_NOTE as MAX_ALERT_NOTE
from salve.api.alerts import MAX_REASON, MAX_REVIEW_AT, OPEN_FILTER
from salve.incidents.disclosure import fields_for
from salve.incidents.models import CHANNELS, PARTY_KINDS, PARTY_ROLES, STATUSES
from salve.incidents.validation import (
    MAX_DESCRIPTION,
    MAX_NARRATIVE,
    MAX_NOTE,
    MAX_PARTIES,
    MAX_TYPES,
)
from salve.reports.department_list import DIRECTIONS, MAX_SEARCH
from salve.reports.queries import SORTS
from salve.schools.models import SECTORS, ZONES
from salve.scoring.models import LEVELS

#: The URL prefix every path below is relative to.
SERVER_URL = "/api/v1"
MAX_PER_PAGE = 500


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, required: list[str] | None = None, **extra) -> dict:
    """A closed object: responses carry no field the document does not name."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    schema["required"] = list(properties) if required is None else required
    schema.update(extra)
    return schema


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
CODES = {"type": "array", "items": STRING}

SCHEMAS = {
    "FieldError": _obj(
        {
            "field": {
                **NULLABLE_STRING,
                "description": "Path of the offending field (`parties[0].nie`, `page`); "
                "null when the request as a whole is at fault.",
            },
            "message": {**STRING, "description": "What is wrong, in the caller's language."},
        }
    ),
    "Error": _obj({"errors": {"type": "array", "minItems": 1, "items": _ref("FieldError")}}),
    "Label": _obj({"es": STRING, "en": STRING}),
    "CatalogEntry": _obj({"code": STRING, "label": _ref("Label")}),
    "ViolenceType": _obj(
        {
            "code": STRING,
            "category": {**STRING, "description": "Code of one of `categories`."},
            "tier": {"type": "string", "enum": ["I", "II", "III"]},
            "mandatory_report": {"type": "boolean"},
            "immediate": {"type": "boolean", "description": "Raises an alert at once."},
            "label": _ref("Label"),
            "report_to": {**CODES, "description": "Codes of `institutions` to report to."},
            "relationships": {
                **CODES,
                "description": "Relationships this type may be filed with; empty: any.",
            },
            "requires_factor": {
                "type": "boolean",
                "description": "A report must name a motivation that is a discrimination factor.",
            },
        }
    ),
    "Repetition": _obj(
        {
            "code": STRING,
            "label": _ref("Label"),
            "min_times": {"type": "integer"},
            "max_times": {"type": ["integer", "null"]},
        }
    ),
    "Motivation": _obj(
        {"code": STRING, "label": _ref("Label"), "is_discrimination": {"type": "boolean"}}
    ),
    "Catalog": _obj(
        {
            "version": STRING,
            "valid_from": {"type": "string", "format": "date"},
            "types": {"type": "array", "items": _ref("ViolenceType")},
            "categories": {"type": "array", "items": _ref("CatalogEntry")},
            "locations": {"type": "array", "items": _ref("CatalogEntry")},
            "relationships": {"type": "array", "items": _ref("CatalogEntry")},
            "repetition": {"type": "array", "items": _ref("Repetition")},
            "motivations": {"type": "array", "items": _ref("Motivation")},
            "measures": {"type": "array", "items": _ref("CatalogEntry")},
            "institutions": {"type": "array", "items": _ref("CatalogEntry")},
        }
    ),
    "School": _obj(
        {
            "code": {"type": "string", "pattern": "^[0-9]{5}$"},
            "name": STRING,
            "department_code": {"type": "string", "pattern": "^[0-9]{2}$"},
            "municipality": STRING,
            "district": STRING,
        }
    ),
    "Student": _obj(
        {
            "nie": STRING,
            "given_names": STRING,
            "family_names": STRING,
            "sex": {"type": "string", "enum": ["F", "M"]},
            "grade": STRING,
            "section": STRING,
        }
    ),
    "PartyInput": {
        "type": "object",
        "required": ["role", "kind"],
        "additionalProperties": False,
        "properties": {
            "role": {"type": "string", "enum": list(PARTY_ROLES)},
            "kind": {"type": "string", "enum": list(PARTY_KINDS)},
            "nie": {**STRING, "description": "Required when `kind` is `estudiante`."},
            "description": {
                "type": "string",
                "maxLength": MAX_DESCRIPTION,
                "description": "For staff and outsiders, e.g. «docente de 7.º grado»; "
                "no full names.",
            },
        },
    },
    "IncidentInput": {
        "type": "object",
        "description": "A report. Any other field (status, reporter, ids…) is refused (422).",
        "required": [
            "school",
            "occurred_at",
            "location",
            "types",
            "relationship",
            "parties",
            "repetition",
            "narrative",
            "idempotency_key",
        ],
        "additionalProperties": False,
        "properties": {
            "school": {**STRING, "description": "Code of a school the caller works at."},
            "occurred_at": {
                **STRING,
                "description": "ISO 8601; without an offset it is El Salvador's local time. "
                "Not in the future, not more than three years ago.",
                "examples": ["2026-03-02T10:15", "2026-03-02T16:15:00Z"],
            },
            "location": {**STRING, "description": "A `locations` code of the catalog."},
            "types": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_TYPES,
                "items": STRING,
                "description": "Current `types` codes; a retired code is refused naming "
                "its replacement.",
            },
            "relationship": {**STRING, "description": "A `relationships` code."},
            "parties": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PARTIES,
                "items": _ref("PartyInput"),
            },
            "repetition": {**STRING, "description": "A `repetition` code."},
            "motivations": {**CODES, "description": "`motivations` codes."},
            "narrative": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NARRATIVE,
                "description": "Stored as typed (markup included) and returned as typed.",
            },
            "measures": {**CODES, "description": "`measures` codes."},
            "measures_note": {"type": "string", "maxLength": MAX_NOTE},
            "idempotency_key": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{8,64}$",
                "description": "Generated by the client once per report: a retry with the "
                "same key stores nothing new and answers 200 with the first report.",
            },
        },
    },
    "Party": _obj(
        {
            "role": {"type": "string", "enum": list(PARTY_ROLES)},
            "kind": {"type": "string", "enum": list(PARTY_KINDS)},
            "nie": {**NULLABLE_STRING, "description": "The student's NIE; null for others."},
            "given_names": {**NULLABLE_STRING, "description": "The student's; null for others."},
            "family_names": {**NULLABLE_STRING, "description": "The student's; null for others."},
            "description": STRING,
        }
    ),
    "NamedStudent": _obj(
        {
            "nie": STRING,
            "given_names": STRING,
            "family_names": STRING,
            "grade": STRING,
            "section": STRING,
        },
        description="Who a child is: only in answers to whoever may see it (the school's "
        "staff, whoever handles the child's alert or case, or a live break-the-glass grant); "
        "every such answer is audited naming the child.",
    ),
    "IncidentType": _obj({"code": STRING, "tier": {"type": "string", "enum": ["I", "II", "III"]}}),
    "Amendment": _obj(
        {
            "id": {"type": "integer"},
            "action": {
                "type": "string",
                "enum": [
                    "amend",
                    "validate",
                    "close_unfounded",
                    "close_requested",
                    "close_refused",
                ],
            },
            "created_at": DATE_TIME,
            "author_id": {"type": "integer"},
            "reason": STRING,
            "fields": {**CODES, "description": "Names of the fields that changed."},
        }
    ),
}

_INCIDENT_FIELD_SCHEMAS = {
    "school": STRING,
    "status": {"type": "string", "enum": list(STATUSES)},
    "channel": {"type": "string", "enum": list(CHANNELS)},
    "catalog_version": STRING,
    "occurred_at": DATE_TIME,
    "reported_at": DATE_TIME,
    "reporter": {**NULLABLE_STRING, "description": "Username of whoever filed it."},
    "location": STRING,
    "types": {"type": "array", "items": _ref("IncidentType")},
    "relationship": STRING,
    "repetition": STRING,
    "motivations": CODES,
    "measures": CODES,
    "names_staff_aggressor": {"type": "boolean"},
    "validated_at": NULLABLE_DATE_TIME,
    "closed_at": NULLABLE_DATE_TIME,
    "idempotency_key": STRING,
    "narrative": STRING,
    "measures_note": STRING,
    "closed_reason": NULLABLE_STRING,
    "amendments": {"type": "array", "items": _ref("Amendment")},
    "parties": {"type": "array", "items": _ref("Party")},
    "students": {
        "type": ["array", "null"],
        "items": _ref("InvolvedStudent"),
        "description": "The children involved, by name: only under the caller's live "
        "break-the-glass grant on the school; null otherwise.",
    },
}
SCHEMAS["InvolvedStudent"] = _obj(
    {"role": {"type": "string", "enum": list(PARTY_ROLES)}, **SCHEMAS["NamedStudent"]["properties"]}
)


def _incident_variant(access: str, title: str) -> dict:
    """One level of a report, with exactly the fields ``salve.incidents.disclosure`` gives it."""
    return _obj(
        {
            "id": {"type": "integer"},
            "access": {"const": access},
            **{field: _INCIDENT_FIELD_SCHEMAS[field] for field in fields_for(access)},
        },
        title=title,
    )


SCHEMAS["Incident"] = {
    "description": "A report, as much of it as the caller may see (`access`): `full` for the "
    "principal and the reporter; `summary` for other staff of the school and the department's "
    "case handlers: where, when, what kind and its status, never who, why or how often. The "
    "page of the report shows the same fields.",
    "oneOf": [
        _incident_variant("full", "IncidentFull"),
        _incident_variant("summary", "IncidentSummary"),
    ],
}

SCHEMAS["RiskContribution"] = _obj(
    {
        "rule": {**STRING, "description": "Id of the rule in the scoring rules."},
        "points": {"type": "number", "minimum": 0},
        "explanation": {
            **STRING,
            "description": "The rule's plain-language reason with its figures, in the "
            "caller's language (the token account's preference; Spanish by default).",
        },
        "alert_level": {
            "type": ["string", "null"],
            "enum": [*LEVELS, None],
            "description": "The level from which this rule raises an alert; null: never by level.",
        },
        "immediate": {"type": "boolean", "description": "Raises an alert as soon as it counts."},
    }
)
_RISK_COMMON = {
    "score": {"type": "number", "minimum": 0, "maximum": 100},
    "level": {"type": "string", "enum": list(LEVELS)},
    "rules_version": {
        **NULLABLE_STRING,
        "description": "The rules that computed the score; null if never scored.",
    },
    "computed_at": {
        **NULLABLE_DATE_TIME,
        "description": "When the score was computed (UTC); null if never scored, in which "
        "case the score is 0 and the level `bajo`.",
    },
    "contributions": {
        "type": "array",
        "items": _ref("RiskContribution"),
        "description": "Each rule's part of the score, largest first.",
    },
}
SCHEMAS["StudentRisk"] = _obj(
    {
        "entity_type": {"const": "student"},
        "nie": STRING,
        **_RISK_COMMON,
        "student": {
            "anyOf": [_ref("NamedStudent"), {"type": "null"}],
            "description": "Who the child is, for the school's staff, whoever handles the "
            "child's alert or case, or under a live grant; null otherwise.",
        },
    },
    description="A student's risk score: a prompt for review, never a verdict.",
)
SCHEMAS["SchoolRisk"] = _obj(
    {
        "entity_type": {"const": "school"},
        "code": {"type": "string", "pattern": "^[0-9]{5}$"},
        **_RISK_COMMON,
    },
    description="A school's risk score.",
)

_NULLABLE_ALERT_STATUS = {"type": ["string", "null"], "enum": [*ALERT_STATUSES, None]}
_ALERT_ITEM = {
    "id": {"type": "integer"},
    "access": {
        "type": "string",
        "enum": ["full", "summary"],
        "description": "`full`: the assigned case handler and the department's supervisors. "
        "`summary`: national analysts, on alerts escalated to them; no student's NIE, no "
        "notes.",
    },
    "rule": {
        **STRING,
        "description": "Id of the rule that raised it; `paso_vencido`: an overdue protocol step.",
    },
    "entity_type": {"type": "string", "enum": list(ALERT_ENTITY_TYPES)},
    "entity_ref": {
        **NULLABLE_STRING,
        "description": "The student's NIE or the school's code; null for a student in summary.",
    },
    "student": {
        "anyOf": [_ref("NamedStudent"), {"type": "null"}],
        "description": "Who the child is, for the assigned case handler and the department's "
        "supervisors (and, on one alert, under a live grant); null otherwise.",
    },
    "school": {
        "type": "string",
        "pattern": "^[0-9]{5}$",
        "description": "The school's code (the student's school).",
    },
    "level": {"type": "string", "enum": list(ALERT_LEVELS)},
    "status": {"type": "string", "enum": list(ALERT_STATUSES)},
    "assignee": {**NULLABLE_STRING, "description": "Username of the assigned case handler."},
    "opened_at": DATE_TIME,
    "due_at": {**DATE_TIME, "description": "The acknowledgement deadline (UTC)."},
    "overdue": {
        "type": "boolean",
        "description": "Still `abierta` past `due_at`: it escalates to the supervisors, then "
        "to the national level.",
    },
}
SCHEMAS["Alert"] = _obj(_ALERT_ITEM, description="An alert as listed.")
SCHEMAS["AlertEvent"] = _obj(
    {
        "at": DATE_TIME,
        "actor": {**NULLABLE_STRING, "description": "Username; null for the system."},
        "kind": {
            **STRING,
            "description": "raised, evidence, transition, assigned, escalated, level, "
            "cleared, reopened.",
        },
        "from": _NULLABLE_ALERT_STATUS,
        "to": _NULLABLE_ALERT_STATUS,
        "reason": {
            **NULLABLE_STRING,
            "description": "A dismissal reason code, or a short system reason (`caso:12`).",
        },
        "note": {
            **NULLABLE_STRING,
            "description": "The person's note as typed (escape it when showing it); null in "
            "summary.",
        },
    }
)
SCHEMAS["AlertDetail"] = _obj(
    {
        **_ALERT_ITEM,
        "escalation": {
            "type": "integer",
            "enum": [0, 1, 2],
            "description": "0 the handler only, 1 the department's supervisors, 2 national.",
        },
        "acknowledged_at": NULLABLE_DATE_TIME,
        "review_at": {**NULLABLE_DATE_TIME, "description": "Review date while under watch."},
        "closed_at": NULLABLE_DATE_TIME,
        "dismiss_reason": NULLABLE_STRING,
        "explanation": {
            "type": "array",
            "items": _ref("RiskContribution"),
            "description": "The score's parts when the alert was raised or last updated, "
            "largest first, in the caller's language; empty for an alert raised by a report "
            "as it was saved.",
        },
        "evidence": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "Ids of the reports behind it.",
        },
        "events": {
            "type": "array",
            "items": _ref("AlertEvent"),
            "description": "The timeline, oldest first.",
        },
    },
    description="An alert with why it was raised, its evidence and its timeline.",
)
SCHEMAS["AlertTransitionInput"] = {
    "type": "object",
    "description": "A move through the alert's lifecycle: abierta → reconocida or "
    "descartada; reconocida → descartada or en_seguimiento; en_seguimiento → descartada "
    "or resuelta; descartada and resuelta → abierta (reopen). `en_atencion` is reached by "
    "opening a case, not here. Any other field is refused (422).",
    "required": ["to"],
    "additionalProperties": False,
    "properties": {
        "to": {"type": "string", "enum": list(ALERT_STATUSES)},
        "reason": {
            "type": "string",
            "maxLength": MAX_REASON,
            "description": "Required to dismiss: a code of the alert policy's "
            "`dismiss_reasons` (falso_positivo, duplicada, error_datos, atendida_otra_via).",
        },
        "note": {
            "type": "string",
            "maxLength": MAX_ALERT_NOTE,
            "description": "Required to resolve and to reopen.",
        },
        "review_at": {
            "type": "string",
            "maxLength": MAX_REVIEW_AT,
            "description": "Only with `en_seguimiento`, where it is required: a future date "
            "or date-time (ISO 8601), within a year; without an offset it is El Salvador's "
            "local time.",
            "examples": ["2026-06-01", "2026-06-01T08:00", "2026-06-01T14:00:00Z"],
        },
    },
}


def _page_of(item: str) -> dict:
    return _obj(
        {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer", "minimum": 0, "description": "Items on every page."},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        }
    )


SCHEMAS["SchoolPage"] = _page_of("School")
SCHEMAS["StudentPage"] = _page_of("Student")
SCHEMAS["IncidentPage"] = _page_of("Incident")
SCHEMAS["AlertPage"] = _page_of("Alert")


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _error(description: str, **headers) -> dict:
    response = {"description": description, "content": _json(_ref("Error"))}
    if headers:
        response["headers"] = {
            name: {"schema": {"type": "string"}, "description": text}
            for name, text in headers.items()
        }
    return response


RESPONSES = {
    "BadRequest": _error(
        "Malformed request: invalid JSON, wrong content type, bad parameter, or text holding a "
        "NUL character or a lone surrogate (which no database stores)."
    ),
    "Unauthorized": _error(
        "No token, or an unknown, expired or revoked one, or a disabled account.",
        **{
            "WWW-Authenticate": '`Bearer`, with `error="invalid_token"` for a bad, expired or '
            "revoked token."
        },
    ),
    "Forbidden": _error("The caller's role may not do this."),
    "ForbiddenOrReadOnly": _error(
        "The caller's role may not do this, or the token is read-only (scope `read`): every "
        "write needs a `read-write` token. Nothing is stored.",
        **{
            "WWW-Authenticate": 'For a read-only token: `Bearer error="insufficient_scope"`.',
        },
    ),
    "NotFound": _error("No such record, or outside the caller's scope (not told apart)."),
    "Conflict": _error("The idempotency key was already used by another account's report."),
    "TooLarge": _error("The body exceeds the server's limit (2 MB by default)."),
    "Unprocessable": _error("The report is not valid; each error names its field."),
    "TooManyRequests": _error(
        "Too many requests: per token (600 a minute by default); for open data, per client "
        "address (120 a minute); and per client address for requests whose token is refused "
        "(30 a minute: past that, a refused token gets 429 instead of 401). Refused requests "
        "are not counted.",
        **{"Retry-After": "Seconds to wait before the next request is allowed."},
    ),
    "Unavailable": _error(
        "The database cannot be reached right now; nothing was saved. Retry later (a report "
        "with the same idempotency key is stored once)."
    ),
}

PARAMETERS = {
    "page": {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "default": 1},
        "description": "Page number; past the last page answers the last one.",
    },
    "per_page": {
        "name": "per_page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 50},
    },
    "q": {
        "name": "q",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 80},
        "description": "Search text.",
    },
}


def _param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _resp(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(description: str, schema: dict) -> dict:
    return {"description": description, "content": _json(schema)}


_AUTH_ERRORS = {"401": _resp("Unauthorized")}
_ALERT_ID = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
_ALERT_ROLES_TEXT = (
    "For case handlers (gestor: the alerts assigned to them; supervisor: every alert of "
    "their department, in full) and national analysts (the alerts escalated to the national "
    "level, in summary). Other roles are refused (403)"
)

PATHS = {
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": _ok("The OpenAPI document.", {"type": "object"})},
        }
    },
    "/catalog": {
        "get": {
            "operationId": "catalog",
            "summary": "The violence catalog in force",
            "description": "Every type (category, tier, mandatory report, immediate alert, "
            "institutions to report to) and every coded choice, each with labels in Spanish "
            "and English.",
            "responses": {"200": _ok("The catalog.", _ref("Catalog")), **_AUTH_ERRORS},
        }
    },
    "/schools": {
        "get": {
            "operationId": "schools",
            "summary": "Schools in the caller's scope",
            "description": "A teacher or principal sees their school; departmental roles "
            "their department; national roles every school. `q` searches name and code.",
            "parameters": [_param("page"), _param("per_page"), _param("q")],
            "responses": {
                "200": _ok("A page of schools, by code.", _ref("SchoolPage")),
                "400": _resp("BadRequest"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/schools/{code}/students": {
        "get": {
            "operationId": "school_students",
            "summary": "A school's active roll",
            "description": "Only the school's own staff (docente, director) and the case "
            "handlers (gestor, supervisor) of its department. `q` searches NIE and names. "
            "Every call is recorded in the audit log.",
            "parameters": [
                {
                    "name": "code",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The school's five-digit code.",
                },
                _param("page"),
                _param("per_page"),
                _param("q"),
            ],
            "responses": {
                "200": _ok("A page of students.", _ref("StudentPage")),
                "400": _resp("BadRequest"),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "404": _resp("NotFound"),
            },
        }
    },
    "/schools/{code}/risk": {
        "get": {
            "operationId": "school_risk",
            "summary": "A school's risk score, explained",
            "description": "The school's principal (director), the case handlers (gestor, "
            "supervisor) and the departmental office of its department, and national "
            "analysts. Teachers and administrators are refused (403); a school outside the "
            "caller's scope answers 404.",
            "parameters": [
                {
                    "name": "code",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The school's five-digit code.",
                }
            ],
            "responses": {
                "200": _ok("The school's current score.", _ref("SchoolRisk")),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "404": _resp("NotFound"),
            },
        }
    },
    "/students/{nie}/risk": {
        "get": {
            "operationId": "student_risk",
            "summary": "A student's risk score, explained",
            "description": "The principal of the student's school and the case handlers "
            "(gestor, supervisor) of its department; identified by NIE, never by name. Other "
            "roles are refused (403); a student outside the caller's scope answers 404. "
            "Every call is recorded in the audit log.",
            "parameters": [
                {
                    "name": "nie",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The student's NIE (número de identificación estudiantil).",
                }
            ],
            "responses": {
                "200": _ok("The student's current score.", _ref("StudentRisk")),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "404": _resp("NotFound"),
            },
        }
    },
    "/incidents": {
        "get": {
            "operationId": "list_incidents",
            "summary": "Reports the caller may list, newest first",
            "description": "Each item in full where the caller has full access, otherwise in "
            "summary. Recorded in the audit log.",
            "parameters": [
                {
                    "name": "school",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Only this school's reports.",
                },
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(STATUSES)},
                },
                _param("page"),
                _param("per_page"),
            ],
            "responses": {
                "200": _ok("A page of reports.", _ref("IncidentPage")),
                "400": _resp("BadRequest"),
                **_AUTH_ERRORS,
            },
        },
        "post": {
            "operationId": "create_incident",
            "summary": "File a report",
            "description": "For teachers and principals, at their own school. Validated as "
            "the web form is. The same `idempotency_key` again stores nothing and answers "
            "200 with the report first filed under it.",
            "requestBody": {"required": True, "content": _json(_ref("IncidentInput"))},
            "responses": {
                "201": {
                    **_ok("Filed.", _ref("Incident")),
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "URL of the new report.",
                        }
                    },
                },
                "200": {
                    **_ok("Already filed under this key: the first report.", _ref("Incident")),
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "URL of the report.",
                        }
                    },
                },
                "400": _resp("BadRequest"),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "409": _resp("Conflict"),
                "413": _resp("TooLarge"),
                "422": _resp("Unprocessable"),
            },
        },
    },
    "/incidents/{incident_id}": {
        "get": {
            "operationId": "get_incident",
            "summary": "One report",
            "description": "In full for the principal and the reporter; in summary for the "
            "school's other staff and the department's case handlers; 404 for anyone else. "
            "Recorded in the audit log.",
            "parameters": [
                {
                    "name": "incident_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            ],
            "responses": {
                "200": _ok("The report.", _ref("Incident")),
                **_AUTH_ERRORS,
                "404": _resp("NotFound"),
            },
        }
    },
    "/alerts": {
        "get": {
            "operationId": "list_alerts",
            "summary": "Alerts in the caller's scope",
            "description": f"{_ALERT_ROLES_TEXT}. Overdue alerts first, then by level "
            "(critico, alto, medio), then oldest first. Recorded in the audit log.",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": [OPEN_FILTER, *ALERT_STATUSES]},
                    "description": f"`{OPEN_FILTER}`: every status but descartada and "
                    "resuelta; or one status.",
                },
                {
                    "name": "level",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(ALERT_LEVELS)},
                },
                {
                    "name": "rule",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 60},
                    "description": "Only alerts raised by this rule.",
                },
                {
                    "name": "school",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Only this school's alerts (its five-digit code).",
                },
                _param("page"),
                _param("per_page"),
            ],
            "responses": {
                "200": _ok("A page of alerts.", _ref("AlertPage")),
                "400": _resp("BadRequest"),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
            },
        }
    },
    "/alerts/{alert_id}": {
        "get": {
            "operationId": "get_alert",
            "summary": "One alert, explained, with its evidence and timeline",
            "description": f"{_ALERT_ROLES_TEXT}; an alert outside the caller's scope "
            "answers 404. Every call is recorded in the audit log.",
            "parameters": [_ALERT_ID],
            "responses": {
                "200": _ok("The alert.", _ref("AlertDetail")),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "404": _resp("NotFound"),
            },
        }
    },
    "/alerts/{alert_id}/transitions": {
        "post": {
            "operationId": "transition_alert",
            "summary": "Move an alert through its lifecycle",
            "description": "The assigned case handler and the department's supervisors; "
            "national analysts see escalated alerts but may not move them (403). A refusal "
            "says why, naming the field at fault, e.g. 409 «Una alerta «abierta» no puede "
            "pasar a «resuelta».». Recorded in the alert's timeline and the audit log.",
            "parameters": [_ALERT_ID],
            "requestBody": {"required": True, "content": _json(_ref("AlertTransitionInput"))},
            "responses": {
                "201": {
                    **_ok("Moved: the alert as it now stands.", _ref("AlertDetail")),
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "URL of the alert.",
                        }
                    },
                },
                "400": _error("Malformed request, or a status that does not exist."),
                **_AUTH_ERRORS,
                "403": _resp("Forbidden"),
                "404": _resp("NotFound"),
                "409": _error(
                    "The alert's status does not allow this move (a wrong order, or a move "
                    "only a case makes)."
                ),
                "413": _error("The body exceeds 16 KB."),
                "422": _error(
                    "A field is missing, unknown, too long or not valid: a dismissal without "
                    "a reason, a reopening without a note, a review date not in the future…"
                ),
            },
        }
    },
}

# --- A department's schools ranked by risk (salve/api/department_risk.py) ---------------------

SCHEMAS["DepartmentSchoolRisk"] = _obj(
    {
        "code": {"type": "string", "pattern": "^[0-9]{5}$"},
        "name": STRING,
        "municipality": STRING,
        "municipality_id": {"type": "integer", "description": "For the `municipality` filter."},
        "district": STRING,
        "district_id": {"type": "integer", "description": "For the `district` filter."},
        "sector": {"type": "string", "enum": list(SECTORS)},
        "zone": {"type": "string", "enum": list(ZONES)},
        "level": {"type": "string", "enum": list(LEVELS)},
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "trend": {
            "type": "number",
            "description": "Points up (positive) or down against the score 30 days ago.",
        },
        "open_alerts": {"type": "integer", "minimum": 0},
        "overdue_alerts": {
            "type": "integer",
            "minimum": 0,
            "description": "Open alerts nobody acknowledged in time.",
        },
        "incidents_30": {"type": "integer", "minimum": 0},
        "incidents_90": {"type": "integer", "minimum": 0},
        "rate_per_100": {
            "type": "number",
            "minimum": 0,
            "description": "Incidents of the last 90 days per 100 students enrolled.",
        },
        "last_report_at": {
            **NULLABLE_DATE_TIME,
            "description": "When the school's latest reported incident happened; null: never.",
        },
        "is_silent": {
            "type": "boolean",
            "description": "The school stopped reporting while its peers did not.",
        },
    },
    description="A school of the department with its risk figures; no student appears.",
)
SCHEMAS["DepartmentSchoolRiskPage"] = _page_of("DepartmentSchoolRisk")


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


PATHS["/departments/{code}/schools/risk"] = {
    "get": {
        "operationId": "department_schools_risk",
        "summary": "A department's schools ranked by risk",
        "description": "Every active school of the department with its level, score, trend, "
        "open and overdue alerts, incidents and rate; most at risk first unless `sort` says "
        "otherwise. For the department's office (departamental) and case supervisors, and "
        "national analysts for any department; other roles are refused (403), another "
        "department answers 404. `format=csv` or `xlsx` downloads every row of the filtered "
        "list (Spanish headers, cells that a spreadsheet would run as formulas neutralised). "
        "Recorded in the audit log.",
        "parameters": [
            {
                "name": "code",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The department's two-digit DIGESTYC code, e.g. `06`.",
            },
            _query("municipality", {"type": "integer"}, "A municipality id of the department."),
            _query("district", {"type": "integer"}, "A district id of the department."),
            _query("sector", {"type": "string", "enum": list(SECTORS)}, "Only this sector."),
            _query("zone", {"type": "string", "enum": list(ZONES)}, "Only this zone."),
            _query("level", {"type": "string", "enum": list(LEVELS)}, "Only this risk level."),
            _query("open_alerts", {"type": "boolean"}, "Only schools with open alerts."),
            _query("silent", {"type": "boolean"}, "Only schools that stopped reporting."),
            _query(
                "q",
                {"type": "string", "maxLength": MAX_SEARCH},
                "Part of the name, or the start of the code.",
            ),
            _query(
                "sort",
                {"type": "string", "enum": list(SORTS), "default": "riesgo"},
                "The column to sort by; each has its usual direction (risk, alerts, incidents, "
                "rate: highest first; name, code, municipality, last report: ascending).",
            ),
            _query("direction", {"type": "string", "enum": list(DIRECTIONS)}, "Override it."),
            _query(
                "format",
                {"type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"},
                "`csv` (UTF-8 with BOM) or `xlsx`: every row, not one page.",
            ),
            _param("page"),
            _param("per_page"),
        ],
        "responses": {
            "200": {
                "description": "A page of schools (JSON), or the whole list as a file.",
                "content": {
                    **_json(_ref("DepartmentSchoolRiskPage")),
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                    },
                },
            },
            "400": _resp("BadRequest"),
            **_AUTH_ERRORS,
            "403": _resp("Forbidden"),
            "404": _resp("NotFound"),
        },
    }
}


# --- Open data, public (salve/opendata/api.py) -------------------------------------------------

_OPEN_DIMENSIONS = ["department", "month", "category", "sex", "level"]
SCHEMAS["OpenValue"] = _obj(
    {
        "code": {
            **STRING,
            "description": "department: two-digit DIGESTYC code; month: `YYYY-MM` (El "
            "Salvador's time); category: a `categories` code of the catalog; sex: `F` or `M`; "
            "level: `parvularia`, `basica1`, `basica2`, `basica3`, `media`, or `sin_dato` for a "
            "grade the rolls do not name.",
        },
        "label": _ref("Label"),
    }
)
SCHEMAS["OpenCount"] = {
    "type": "object",
    "description": "One cell: the values of the dimensions asked for, and the count.",
    "required": ["count"],
    "additionalProperties": False,
    "properties": {
        **{dim: _ref("OpenValue") for dim in _OPEN_DIMENSIONS},
        "count": {
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^(<[0-9]+|s)$"},
            ],
            "description": "The number of incidents, or a marker: `<5` (0 to 4; `<10` for "
            "sexual violence, 0 to 9) for a small count, `s` for a count hidden so that no "
            "small one can be worked out from the totals. Thresholds are configurable; "
            "`suppression` gives those in force.",
        },
    },
}
SCHEMAS["OpenIncidents"] = _obj(
    {
        "by": {"type": "array", "items": {"type": "string", "enum": _OPEN_DIMENSIONS}},
        "period": _obj(
            {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date", "description": "The last day counted."},
                "months": {"type": "array", "items": STRING},
            }
        ),
        "published_on": {
            "type": "string",
            "format": "date",
            "description": "Figures are published once a day, as the records stood at midnight.",
        },
        "counting": _ref("Label"),
        "methodology": {**STRING, "description": "The page that explains the figures."},
        "suppression": _obj(
            {
                "threshold": {"type": "integer", "minimum": 2},
                "category_thresholds": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "Higher thresholds by category code (sexual violence).",
                },
                "markers": {
                    "type": "array",
                    "items": _obj({"marker": STRING, "meaning": _ref("Label")}),
                },
                "primary": {"type": "integer", "minimum": 0, "description": "Small counts hidden."},
                "secondary": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Counts hidden to protect the small ones.",
                },
            }
        ),
        "items": {"type": "array", "items": _ref("OpenCount")},
    },
    description="Every cell of one grouping, in the order of `by`, then by each value's order.",
)
PATHS["/open/incidents"] = {
    "get": {
        "operationId": "open_incidents",
        "summary": "Open data: incident counts, small counts suppressed (public)",
        "description": "No token needed. Incidents against students reported by schools in "
        "the last 12 complete months and the current one (up to yesterday), excluding those "
        "closed as unfounded, "
        "grouped by any subset of department, month, category, sex and level. Counts from 1 "
        "to 4 (1 to 9 for sexual violence) and the zeros beside them are replaced by a "
        "marker, and so are other cells wherever subtraction across any of the 32 groupings "
        "could recover a hidden one. Updated daily; limited per client address (429 past "
        "the limit); answers may be cached for an hour.",
        "security": [],
        "parameters": [
            {
                "name": "by",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": 100},
                "description": "Comma-separated dimensions, in the order wanted: "
                "`department`, `month`, `category`, `sex`, `level`. None: the national total.",
                "examples": {"two": {"value": "department,month"}},
            },
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                "description": "`csv`: UTF-8 with BOM; per dimension its code and labels "
                "(`_es`, `_en`), then `count`.",
            },
        ],
        "responses": {
            "200": {
                "description": "The table.",
                "content": {
                    **_json(_ref("OpenIncidents")),
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "400": _resp("BadRequest"),
        },
    }
}


# --- The audit log, for administrators (salve/api/audit.py) -----------------------------------

SCHEMAS["AuditEvent"] = _obj(
    {
        "id": {"type": "integer"},
        "occurred_at": DATE_TIME,
        "user_id": {"type": ["integer", "null"], "description": "The acting account, if any."},
        "username": {**NULLABLE_STRING, "description": "That account's username."},
        "action": {**STRING, "description": "What was done or seen, e.g. `incident.view`."},
        "object_type": {**STRING, "description": "The kind of record; empty when none."},
        "object_id": {**STRING, "description": "The record's id or code; empty when none."},
        "outcome": {"type": "string", "enum": ["ok", "refused", "failed"]},
        "ip_address": STRING,
        "detail": {
            "type": "object",
            "description": "Counts, codes and reasons as recorded; never names or narratives.",
        },
    },
    description="One row of the append-only audit log, as stored.",
)
SCHEMAS["AuditEventPage"] = _page_of("AuditEvent")
PATHS["/audit"] = {
    "get": {
        "operationId": "audit_events",
        "summary": "The audit log, newest first (administrators)",
        "description": "Who did or saw what, when and from where. Only administrators; every "
        "other role is refused (403). Dates are El Salvador's calendar days, both included. "
        "Every call is itself recorded in the audit log (`audit.list`).",
        "parameters": [
            _query("user", {"type": "string", "maxLength": 64}, "Only this username's events."),
            _query("action", {"type": "string", "maxLength": 60}, "Actions starting with this."),
            _query("object_type", {"type": "string", "maxLength": 40}, "Only this kind."),
            _query("object_id", {"type": "string", "maxLength": 64}, "Only this record."),
            _query("from", {"type": "string", "format": "date"}, "From this day."),
            _query("to", {"type": "string", "format": "date"}, "Up to this day."),
            _param("page"),
            _param("per_page"),
        ],
        "responses": {
            "200": _ok("A page of audit events.", _ref("AuditEventPage")),
            "400": _resp("BadRequest"),
            **_AUTH_ERRORS,
            "403": _resp("Forbidden"),
        },
    }
}

# Every route but this document is rate-limited (salve.ratelimit).
for _path, _item in PATHS.items():
    for _method, _operation in _item.items():
        if _method != "get" and _operation.get("security") != []:
            _operation["responses"]["403"] = _resp("ForbiddenOrReadOnly")  # read tokens
        if _operation["operationId"] != "openapi":
            _operation["responses"]["429"] = _resp("TooManyRequests")
        _operation["responses"]["503"] = _resp("Unavailable")  # every route reads the database


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "SALVE API",
        "version": "1",
        "summary": "Sistema de Alerta de Violencia en Educación: catalog, schools, reports, "
        "risk scores, alerts.",
        "description": (
            "Every request except this document and open data (`/open/…`) needs "
            "`Authorization: Bearer <token>`; "
            "an administrator creates tokens with `flask --app app salve token create USER`. "
            "The session cookie of the web pages is never accepted. Errors, on every route "
            "(an unknown path answers 404, a wrong method 405, a NUL character in the query "
            "400), have the shape "
            '`{"errors": [{"field": "parties[0].nie", "message": "…"}]}`.'
        ),
    },
    "servers": [{"url": SERVER_URL}],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "A token from `flask --app app salve token create USER [--scope read|"
                    "read-write] [--days N]`. A token acts as its account (the account's roles "
                    "and scope apply) and expires after 90 days unless created for 1 to 365; "
                    'an expired or revoked one answers 401 with `error="invalid_token"`. '
                    "Its scope is `read` (the default: GET only; any write answers 403 with "
                    '`error="insufficient_scope"`) or `read-write`. Administrators list tokens '
                    "with `salve token list [--user NAME]` (never the token itself) and revoke "
                    "them with `salve token revoke ID`."
                ),
            }
        },
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": RESPONSES,
    },
}


def document() -> dict:
    """Return the OpenAPI document (a copy: callers may not alter the served one)."""
    return copy.deepcopy(DOCUMENT)
