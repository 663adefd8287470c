"""The report form: its fields turned into the API's payload shape, and back for re-rendering.

The form is plain HTML (no JavaScript needed): a list of party rows named ``parties-N-role``…,
checkboxes for the catalog's multi-choice axes, and one hidden idempotency key that travels with
every re-render, so a double click or a retry stores one incident. The payload is what
``file_incident`` and ``amend_incident`` validate, so the form and the API share every rule.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from salve.db import utcnow
from salve.i18n import LOCAL_TZ
from salve.incidents.validation import MAX_PARTIES, FieldError, parse_occurred_at

#: Empty party rows a fresh form offers (more with "Agregar otra persona").
MIN_PARTY_ROWS = 4
#: The form fields a party row carries, in the payload's names.
PARTY_KEYS = ("role", "kind", "nie", "description")
#: The form's free-text fields, capped before they reach the validator (which names the limit).
TEXT_LIMIT = 200_000
_PARTY_PATH = re.compile(r"^parties\[(\d+)\](?:\.(\w+))?$")
_LIST_PATH = re.compile(r"^(\w+)\[\d+\]$")


def new_key() -> str:
    """Return a fresh idempotency key for a report form."""
    return secrets.token_urlsafe(16)


def local_now_parts(now: datetime | None = None) -> tuple[str, str]:
    """Return today's date and the current minute in El Salvador, as the form's inputs want."""
    local = (now or utcnow()).astimezone(LOCAL_TZ)
    return local.date().isoformat(), local.strftime("%H:%M")


def occurred_parts(value) -> tuple[str, str]:
    """Split a payload's ``occurred_at`` into the form's date and time, in local time.

    A value with an offset (a stored incident) is shown in El Salvador's time; a local value
    without offset (what the form sent) is split as typed, so a mistake is shown as made.
    """
    if not isinstance(value, str) or not value:
        return "", ""
    text = value.strip()
    has_offset = text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text[10:] or "")
    if has_offset:
        parsed = parse_occurred_at(text)
        if parsed is not None:
            local = parsed.astimezone(LOCAL_TZ)
            return local.date().isoformat(), local.strftime("%H:%M")
    date_part, _sep, time_part = text.partition("T")
    return date_part, time_part[:5] if re.fullmatch(r"\d\d:\d\d(:\d\d)?", time_part) else time_part


def _text(form: MultiDict, name: str) -> str:
    return (form.get(name) or "")[:TEXT_LIMIT]


def posted_party_rows(form: MultiDict) -> int:
    """Return how many party rows the posted form showed."""
    try:
        shown = int(form.get("party_rows", MIN_PARTY_ROWS))
    except ValueError:
        shown = MIN_PARTY_ROWS
    return max(0, min(shown, MAX_PARTIES + 5))


def payload_from_form(form: MultiDict, *, school: str) -> dict:
    """Turn the posted report form into the API's payload shape.

    Empty party rows are dropped; a row with a NIE but no kind is a student (the NIE box is
    only for students). ``occurred_at`` is local time without offset, as the validator reads it.
    """
    date_part, time_part = _text(form, "occurred_date").strip(), _text(form, "occurred_time")
    time_part = time_part.strip()
    occurred_at = f"{date_part}T{time_part}" if date_part or time_part else ""
    parties = []
    for index in range(posted_party_rows(form)):
        row = {key: _text(form, f"parties-{index}-{key}").strip() for key in PARTY_KEYS}
        if not any(row.values()):
            continue
        if row["nie"] and not row["kind"]:
            row["kind"] = "estudiante"
        parties.append({key: value for key, value in row.items() if value})
    return {
        "school": school,
        "occurred_at": occurred_at,
        "location": _text(form, "location"),
        "types": form.getlist("types")[:50],
        "relationship": _text(form, "relationship"),
        "parties": parties,
        "repetition": _text(form, "repetition"),
        "motivations": form.getlist("motivations")[:50],
        "measures": form.getlist("measures")[:50],
        "narrative": _text(form, "narrative"),
        "measures_note": _text(form, "measures_note"),
        "idempotency_key": _text(form, "idempotency_key").strip()[:64] or new_key(),
    }


def empty_payload(school: str, now: datetime | None = None) -> dict:
    """Return the payload of a fresh form: the user's school and the current local minute."""
    date_part, time_part = local_now_parts(now)
    return {
        "school": school,
        "occurred_at": f"{date_part}T{time_part}",
        "types": [],
        "parties": [],
        "motivations": [],
        "measures": [],
        "idempotency_key": new_key(),
    }


@dataclass
class ErrorLink:
    """One line of the error summary: the message and the id of the field it points to."""

    anchor: str
    label: str
    message: str


@dataclass
class ReportFormState:
    """What the report template needs: the values as typed, the rows, the errors by field."""

    payload: dict
    rows: list[dict]
    occurred_date: str
    occurred_time: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    general_errors: list[str] = field(default_factory=list)
    summary: list[ErrorLink] = field(default_factory=list)

    def value(self, key: str, default="") -> str:
        """Return a single-valued field as typed."""
        value = self.payload.get(key, default)
        return value if isinstance(value, str) else default

    def chosen(self, key: str) -> set[str]:
        """Return the codes ticked in a multi-choice field."""
        value = self.payload.get(key) or []
        return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()

    def error(self, key: str) -> str:
        """Return the messages for ``key`` joined, or an empty string."""
        return " ".join(self.errors.get(key, []))


def _field_label(key: str) -> str:
    labels = {
        "school": _("Escuela"),
        "occurred_at": _("Fecha y hora"),
        "location": _("Lugar"),
        "types": _("Tipo de violencia"),
        "relationship": _("Quién hacia quién"),
        "parties": _("Personas involucradas"),
        "repetition": _("Cuántas veces ha ocurrido"),
        "motivations": _("Motivación percibida"),
        "measures": _("Medidas tomadas"),
        "measures_note": _("Otras medidas"),
        "narrative": _("Relato de lo ocurrido"),
        "reason": _("Motivo de la corrección"),
    }
    return labels.get(key, "")


def _anchor(key: str) -> str:
    return {"occurred_at": "occurred_date", "types": "types"}.get(key, key)


def _party_part_label(part: str | None) -> str:
    return {
        "role": _("papel"),
        "kind": _("tipo de persona"),
        "nie": _("NIE"),
        "description": _("descripción"),
    }.get(part or "", "")


def form_state(
    payload: dict,
    errors: list[FieldError] = (),
    *,
    rows: int = 0,
    students: dict | None = None,
) -> ReportFormState:
    """Return the template's view of ``payload``: at least ``rows`` party rows, errors placed.

    ``students`` (NIE → Student) lets each row confirm whom its NIE names.
    """
    parties = [p for p in payload.get("parties") or [] if isinstance(p, dict)]
    count = min(max(rows, MIN_PARTY_ROWS, len(parties) + 1), MAX_PARTIES)
    count = max(count, len(parties))
    students = students or {}
    party_rows = []
    for index in range(count):
        raw = parties[index] if index < len(parties) else {}
        row = {key: raw.get(key) if isinstance(raw.get(key), str) else "" for key in PARTY_KEYS}
        row["student"] = students.get(row["nie"]) if row["kind"] == "estudiante" else None
        party_rows.append(row)
    occurred_date, occurred_time = occurred_parts(payload.get("occurred_at"))
    state = ReportFormState(payload, party_rows, occurred_date, occurred_time)
    for error in errors:
        _place(state, error)
    return state


def _place(state: ReportFormState, error: FieldError) -> None:
    """File one error under the field it names, and in the summary with a link to it."""
    path = error.field or ""
    party = _PARTY_PATH.match(path)
    listed = _LIST_PATH.match(path)
    if party:
        index, part = int(party.group(1)), party.group(2)
        key = f"parties-{index}-{part or 'role'}"
        label = _("Persona %(n)d", n=index + 1)
        if _party_part_label(part):
            label = f"{label}: {_party_part_label(part)}"
        state.errors.setdefault(key, []).append(error.message)
        state.summary.append(ErrorLink(key, label, error.message))
        return
    key = listed.group(1) if listed else path
    label = _field_label(key)
    if not label:
        state.general_errors.append(error.message)
        state.summary.append(ErrorLink("", "", error.message))
        return
    state.errors.setdefault(key, []).append(error.message)
    state.summary.append(ErrorLink(_anchor(key), label, error.message))


def typed_nies(payload: dict) -> list[str]:
    """Return the NIEs typed in the payload's student rows."""
    return [
        p["nie"]
        for p in payload.get("parties") or []
        if isinstance(p, dict) and p.get("kind") == "estudiante" and isinstance(p.get("nie"), str)
    ]
