"""Check a report, as typed in the form or posted to the API, against the catalog and the roll.

One function serves both: the form turns its fields into the API's payload shape first, so a
teacher and a mobile client get the same rules and the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _

from salve.catalog.entries import Catalog, ViolenceType
from salve.i18n import LOCAL_TZ
from salve.incidents.models import PARTY_KINDS, PARTY_ROLES
from salve.schools.models import School, Student

MAX_NARRATIVE = 10_000
MAX_NOTE = 2_000
MAX_DESCRIPTION = 200
MAX_TYPES = 10
MAX_PARTIES = 30
MAX_AGE = timedelta(days=3 * 365)
#: Clocks on phones drift; a few minutes "in the future" is not an error.
CLOCK_SKEW = timedelta(minutes=10)
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

#: Fields a client may send. Anything else (status, reporter, ids…) is refused by name.
ALLOWED_FIELDS = frozenset(
    {
        "school", "occurred_at", "location", "types", "relationship", "parties", "repetition",
        "motivations", "narrative", "measures", "measures_note", "idempotency_key",
    }
)  # fmt: skip
PARTY_FIELDS = frozenset({"role", "kind", "nie", "description"})


@dataclass
class FieldError:
    """A problem with one field, named by its path in the payload (``parties[0].nie``)."""

    field: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


@dataclass
class PartyData:
    """A validated party."""

    role: str
    kind: str
    student: Student | None = None
    description: str = ""


@dataclass
class ReportData:
    """A validated report, ready to store."""

    school: School
    occurred_at: datetime
    location: str
    types: list[ViolenceType]
    relationship: str
    parties: list[PartyData]
    repetition: str
    motivations: list[str]
    measures: list[str]
    narrative: str
    measures_note: str
    idempotency_key: str
    catalog_version: str

    @property
    def names_staff_aggressor(self) -> bool:
        """Tell whether a staff member is named as aggressor."""
        return any(p.role == "agresor" and p.kind == "personal" for p in self.parties)


@dataclass
class _Checker:
    payload: dict
    catalog: Catalog
    errors: list[FieldError] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def text(self, key: str, *, required: bool, limit: int) -> str:
        value = self.payload.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.error(key, _("Debe ser un texto."))
            return ""
        if "\x00" in value:
            self.error(key, _("Contiene caracteres no válidos."))
            return ""
        if required and not value.strip():
            self.error(key, _("Este dato es obligatorio."))
        elif len(value) > limit:
            self.error(
                key,
                _("Es demasiado largo: %(length)d caracteres; el máximo es %(limit)d.",
                  length=len(value), limit=limit),
            )  # fmt: skip
        return value

    def code(self, key: str, choices: dict, *, required: bool = True) -> str:
        value = self.payload.get(key)
        if value in (None, ""):
            if required:
                self.error(key, _("Elija una opción."))
            return ""
        if not isinstance(value, str):
            self.error(key, _("Debe ser un código del catálogo."))
            return ""
        if value not in choices:
            self.error(key, _("Código desconocido: «%(code)s».", code=value[:40]))
            return ""
        return value

    def codes(self, key: str, choices: dict) -> list[str]:
        value = self.payload.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, _("Debe ser una lista de códigos del catálogo."))
            return []
        unknown = [v for v in value if v not in choices]
        for code in unknown[:5]:
            self.error(key, _("Código desconocido: «%(code)s».", code=code[:40]))
        return list(dict.fromkeys(v for v in value if v in choices))


def parse_occurred_at(value) -> datetime | None:
    """Parse an ISO 8601 date-time; a value without offset is El Salvador's local time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_TZ)
    return parsed.astimezone(UTC)


def validate_report(
    payload,
    *,
    catalog: Catalog,
    find_school: Callable[[str], School | None],
    find_students: Callable[[School, list[str]], dict[str, Student]],
    now: datetime,
) -> tuple[ReportData | None, list[FieldError]]:
    """Check ``payload``; return the report ready to store, or every problem found."""
    if not isinstance(payload, dict):
        return None, [FieldError("", _("Se esperaba un objeto JSON con los datos del reporte."))]
    check = _Checker(payload, catalog)
    for key in sorted(set(payload) - ALLOWED_FIELDS):
        check.error(key[:60], _("Este campo no se puede enviar."))

    school = None
    school_code = payload.get("school")
    if not isinstance(school_code, str) or not school_code:
        check.error("school", _("Indique la escuela."))
    else:
        school = find_school(school_code)
        if school is None:
            check.error("school", _("No puede reportar para esa escuela."))

    occurred_at = None
    raw_when = payload.get("occurred_at")
    if raw_when in (None, ""):
        check.error("occurred_at", _("Indique la fecha y hora en que ocurrió."))
    else:
        occurred_at = parse_occurred_at(raw_when)
        if occurred_at is None:
            check.error(
                "occurred_at", _("Fecha y hora no válidas; use el formato AAAA-MM-DD HH:MM.")
            )
        elif occurred_at > now + CLOCK_SKEW:
            check.error("occurred_at", _("La fecha está en el futuro."))
        elif occurred_at < now - MAX_AGE:
            check.error("occurred_at", _("La fecha es de hace más de tres años; revise el año."))

    location = check.code("location", catalog.locations)
    relationship = check.code("relationship", catalog.relationships)
    repetition = check.code("repetition", catalog.repetition)
    motivations = check.codes("motivations", catalog.motivations)
    measures = check.codes("measures", catalog.measures)
    types = _check_types(check, relationship, motivations)
    narrative = check.text("narrative", required=True, limit=MAX_NARRATIVE)
    measures_note = check.text("measures_note", required=False, limit=MAX_NOTE)

    key = payload.get("idempotency_key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        check.error("idempotency_key", _("Falta la clave del envío o no es válida."))

    parties = _check_parties(check, school, find_students)
    if check.errors:
        return None, check.errors
    return (
        ReportData(
            school=school, occurred_at=occurred_at, location=location, types=types,
            relationship=relationship, parties=parties, repetition=repetition,
            motivations=motivations, measures=measures, narrative=narrative,
            measures_note=measures_note, idempotency_key=key, catalog_version=catalog.version,
        ),
        [],
    )  # fmt: skip


def _check_types(check: _Checker, relationship: str, motivations: list[str]) -> list[ViolenceType]:
    catalog = check.catalog
    value = check.payload.get("types")
    if not value:
        check.error("types", _("Elija al menos un tipo de violencia."))
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        check.error("types", _("Debe ser una lista de códigos del catálogo."))
        return []
    if len(value) > MAX_TYPES:
        check.error("types", _("Elija como máximo %(n)d tipos.", n=MAX_TYPES))
        return []
    types = []
    for index, code in enumerate(dict.fromkeys(value)):
        if code in catalog.types:
            types.append(catalog.types[code])
        elif code in catalog.mappings:
            check.error(
                f"types[{index}]",
                _("El código «%(code)s» ya no se usa; use «%(new)s».",
                  code=code, new=catalog.resolve(code).code),
            )  # fmt: skip
        else:
            check.error(f"types[{index}]", _("Código desconocido: «%(code)s».", code=code[:40]))
    for violence_type in types:
        if (
            relationship
            and violence_type.relationships
            and relationship not in violence_type.relationships
        ):
            check.error(
                "relationship",
                _("«%(type)s» no corresponde a la relación elegida.",
                  type=violence_type.label.es),
            )  # fmt: skip
        if violence_type.requires_factor and not any(
            catalog.motivations[m].is_discrimination for m in motivations
        ):
            check.error("motivations", _("Indique el factor de discriminación percibido."))
    return types


def _check_parties(check: _Checker, school: School | None, find_students) -> list[PartyData]:
    value = check.payload.get("parties")
    if not value:
        check.error("parties", _("Indique al menos una persona involucrada."))
        return []
    if not isinstance(value, list):
        check.error("parties", _("Debe ser una lista de personas."))
        return []
    if len(value) > MAX_PARTIES:
        check.error("parties", _("Se admiten como máximo %(n)d personas.", n=MAX_PARTIES))
        return []
    parties, wanted = [], []
    for index, raw in enumerate(value):
        path = f"parties[{index}]"
        if not isinstance(raw, dict):
            check.error(path, _("Debe ser un objeto con rol y tipo de persona."))
            continue
        for key in sorted(set(raw) - PARTY_FIELDS):
            check.error(f"{path}.{key[:40]}", _("Este campo no se puede enviar."))
        role, kind = raw.get("role"), raw.get("kind")
        if role not in PARTY_ROLES:
            check.error(f"{path}.role", _("Indique si es víctima, agresor(a) o testigo."))
        if kind not in PARTY_KINDS:
            check.error(
                f"{path}.kind", _("Indique si es estudiante, personal, externo o desconocido.")
            )
        description = raw.get("description") or ""
        if (
            not isinstance(description, str)
            or len(description) > MAX_DESCRIPTION
            or "\x00" in description
        ):
            check.error(
                f"{path}.description",
                _("Descripción no válida (máximo %(n)d caracteres).", n=MAX_DESCRIPTION),
            )
            description = ""
        party = PartyData(role=role, kind=kind, description=description.strip())
        if kind == "estudiante":
            nie = raw.get("nie")
            if not isinstance(nie, str) or not nie.strip():
                check.error(f"{path}.nie", _("Indique el NIE del estudiante."))
            else:
                wanted.append((index, nie.strip(), party))
        parties.append(party)
    if school is not None and wanted:
        found = find_students(school, [nie for _index, nie, _party in wanted])
        seen = set()
        for index, nie, party in wanted:
            student = found.get(nie)
            if student is None:
                check.error(
                    f"parties[{index}].nie",
                    _("No hay un estudiante con NIE %(nie)s en esta escuela.", nie=nie[:20]),
                )
            elif (nie, party.role) in seen:
                check.error(
                    f"parties[{index}].nie", _("Este estudiante ya está en la lista con ese rol.")
                )
            else:
                seen.add((nie, party.role))
                party.student = student
    return parties
