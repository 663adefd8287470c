"""What an incident page shows: catalog labels, protocol deadlines, amendments in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _

from salve.catalog.entries import Catalog, Label
from salve.catalog.queries import catalog_of_version, current_catalog
from salve.i18n import current_language, local_datetime
from salve.incidents.models import Incident, IncidentAmendment
from salve.incidents.validation import parse_occurred_at


def catalog_for(incident: Incident) -> Catalog:
    """Return the catalog version ``incident`` was filed under (the current one if not stored)."""
    try:
        return catalog_of_version(incident.catalog_version)
    except LookupError:
        return current_catalog()


def text(label: Label | None) -> str:
    """Return a catalog label in the interface language."""
    return label.in_language(current_language()) if label else ""


def entry_label(entries: dict, code: str) -> str:
    """Return the label of catalog entry ``code``, or the code itself when unknown."""
    entry = entries.get(code)
    return text(entry.label) if entry else code


def type_label(catalog: Catalog, code: str) -> str:
    """Return a violence type's label, following retired codes to their replacement."""
    try:
        return text(catalog.resolve(code).label)
    except KeyError:
        return code


def status_label(status: str) -> str:
    """Return a report status in words."""
    return {
        "reportado": _("Reportado, por validar"),
        "validado": _("Validado"),
        "infundado": _("Cerrado como infundado"),
    }.get(status, status)


def party_role_label(role: str) -> str:
    """Return a party's role in words."""
    return {"victima": _("Víctima"), "agresor": _("Agresor(a)"), "testigo": _("Testigo")}.get(
        role or "", role or ""
    )


def party_kind_label(kind: str) -> str:
    """Return what kind of person a party is, in words."""
    return {
        "estudiante": _("Estudiante"),
        "personal": _("Personal del centro educativo"),
        "externo": _("Familiar o persona externa"),
        "desconocido": _("Se desconoce"),
    }.get(kind or "", kind or "")


def action_label(action: str) -> str:
    """Return what an amendment did, in words."""
    return {
        "amend": _("Corrección"),
        "validate": _("Validación"),
        "close_unfounded": _("Cierre como infundado"),
        "close_requested": _("Cierre como infundado solicitado a la supervisión"),
        "close_refused": _("Solicitud de cierre devuelta por la supervisión"),
    }.get(action, action)


FIELD_LABELS = {
    "occurred_at": lambda: _("Fecha y hora"),
    "location": lambda: _("Lugar"),
    "types": lambda: _("Tipos de violencia"),
    "relationship": lambda: _("Quién hacia quién"),
    "parties": lambda: _("Personas involucradas"),
    "repetition": lambda: _("Cuántas veces ha ocurrido"),
    "motivations": lambda: _("Motivación percibida"),
    "measures": lambda: _("Medidas tomadas"),
    "measures_note": lambda: _("Otras medidas"),
    "narrative": lambda: _("Relato"),
    "status": lambda: _("Estado"),
}


@dataclass
class Change:
    """One field an amendment changed, before and after, in words."""

    field: str
    label: str
    before: str
    after: str


@dataclass
class Deadline:
    """A protocol step and when it is due."""

    label: str
    due_at: datetime
    is_report: bool


@dataclass
class ProtocolView:
    """A protocol the incident's types call for, with its steps' deadlines."""

    label: str
    steps: list[Deadline]


def describe_value(catalog: Catalog, key: str, value) -> str:
    """Return an amendment's stored value of ``key`` as a reader would say it."""
    if value in (None, "", []):
        return _("(vacío)")
    if key == "occurred_at":
        parsed = parse_occurred_at(value)
        return local_datetime(parsed, "short") if parsed else str(value)
    if key == "location":
        return entry_label(catalog.locations, value)
    if key == "relationship":
        return entry_label(catalog.relationships, value)
    if key == "repetition":
        return entry_label(catalog.repetition, value)
    if key == "types":
        return "; ".join(type_label(catalog, code) for code in value)
    if key == "motivations":
        return "; ".join(entry_label(catalog.motivations, code) for code in value)
    if key == "measures":
        return "; ".join(entry_label(catalog.measures, code) for code in value)
    if key == "status":
        return status_label(value)
    if key == "parties":
        return "; ".join(_describe_party(p) for p in value if isinstance(p, dict))
    return str(value)


def _describe_party(party: dict) -> str:
    words = [party_role_label(party.get("role", "")), party_kind_label(party.get("kind", ""))]
    if party.get("nie"):
        words.append(_("NIE %(nie)s", nie=party["nie"]))
    if party.get("description"):
        words.append(party["description"])
    return " · ".join(w for w in words if w)


def changes_of(catalog: Catalog, amendment: IncidentAmendment) -> list[Change]:
    """Return the fields an amendment changed, in a stable order, in words."""
    order = list(FIELD_LABELS)
    keys = sorted(amendment.changes or {}, key=lambda k: (order.index(k) if k in order else 99, k))
    changes = []
    for key in keys:
        pair = amendment.changes[key]
        before, after = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        label = FIELD_LABELS[key]() if key in FIELD_LABELS else key
        changes.append(
            Change(
                key,
                label,
                describe_value(catalog, key, before),
                describe_value(catalog, key, after),
            )
        )
    return changes


def protocols_of(catalog: Catalog, incident: Incident) -> list[ProtocolView]:
    """Return the protocols the incident's types call for, each step due from ``reported_at``."""
    seen, views = set(), []
    for code in incident.type_codes:
        try:
            protocol = catalog.resolve(code).protocol
        except KeyError:
            continue
        if protocol.code in seen:
            continue
        seen.add(protocol.code)
        steps = [
            Deadline(
                text(step.label),
                incident.reported_at + timedelta(hours=step.deadline_hours),
                step.is_report,
            )
            for step in protocol.steps
        ]
        views.append(ProtocolView(text(protocol.label), steps))
    return views


def mandatory_reports(catalog: Catalog, incident: Incident) -> list[str]:
    """Return the institutions the incident's types must be reported to, without repeats."""
    institutions = []
    for code in incident.type_codes:
        try:
            violence_type = catalog.resolve(code)
        except KeyError:
            continue
        if violence_type.is_mandatory_report:
            for institution in violence_type.report_to:
                label = entry_label(catalog.institutions, institution)
                if label not in institutions:
                    institutions.append(label)
    return institutions
