"""The department risk list as a request asks for it: filters, sorting, rows, downloads.

Shared by the page (``salve.reports.department_views``, Spanish parameter names) and the API
(``salve.api.department_risk``, English ones). The data comes from
``salve.reports.queries.department_risk_list``; nothing here names a student.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from salve.extensions import db
from salve.geography.models import Department, District, Municipality
from salve.reports.exports import download
from salve.reports.queries import SORTS, Filters, department_risk_list
from salve.schools.models import SECTORS, ZONES
from salve.scoring.models import LEVELS

#: The page's query parameters, by what they mean (a URL can be shared as it is).
WEB_NAMES = {
    "municipality": "municipio",
    "district": "distrito",
    "sector": "sector",
    "zone": "zona",
    "level": "nivel",
    "open_alerts": "con_alertas",
    "silent": "silencio",
    "search": "q",
    "sort": "orden",
    "direction": "dir",
}
#: The API's query parameters, by what they mean.
API_NAMES = {
    "municipality": "municipality",
    "district": "district",
    "sector": "sector",
    "zone": "zone",
    "level": "level",
    "open_alerts": "open_alerts",
    "silent": "silent",
    "search": "q",
    "sort": "sort",
    "direction": "direction",
}
DIRECTIONS = ("asc", "desc")
MAX_SEARCH = 80
#: More rows than any department has schools: a download holds the whole filtered list.
EXPORT_LIMIT = 100_000
_TRUE, _FALSE = ("1", "true", "si", "sí", "on"), ("", "0", "false", "no", "off")

SECTOR_LABELS = {"publico": _l("Público"), "privado": _l("Privado")}
ZONE_LABELS = {"urbana": _l("Urbana"), "rural": _l("Rural")}
LEVEL_LABELS = {
    "bajo": _l("Bajo"),
    "medio": _l("Medio"),
    "alto": _l("Alto"),
    "critico": _l("Crítico"),
}


class ListArgsError(ValueError):
    """A parameter of the list is not valid; ``field`` names it as the caller sent it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Places:
    """The municipalities and districts of a department, for the filters' choices."""

    #: (id, name) of each municipality, by name.
    municipalities: list[tuple[int, str]]
    #: (municipality name, [(district id, district name), …]) by municipality.
    districts: list[tuple[str, list[tuple[int, str]]]]

    @property
    def district_ids(self) -> set[int]:
        """Return the ids of every district of the department."""
        return {district_id for _m, group in self.districts for district_id, _n in group}


@dataclass(frozen=True)
class ListRequest:
    """What a request asks of the list: its cut, its order."""

    filters: Filters
    sort: str
    descending: bool


def find_department(code: str) -> Department | None:
    """Return the department with the two-digit ``code``, or None."""
    return db.session.scalar(sa.select(Department).where(Department.code == code[:2]))


def department_places(department_id: int) -> Places:
    """Return the municipalities and districts of the department, by name."""
    rows = db.session.execute(
        sa.select(Municipality.id, Municipality.name, District.id, District.name)
        .join(District, District.municipality_id == Municipality.id)
        .where(Municipality.department_id == department_id)
        .order_by(Municipality.name, District.name)
    ).all()
    municipalities: dict[int, str] = {}
    districts: dict[str, list[tuple[int, str]]] = {}
    for municipality_id, municipality, district_id, district in rows:
        municipalities[municipality_id] = municipality
        districts.setdefault(municipality, []).append((district_id, district))
    return Places(list(municipalities.items()), list(districts.items()))


def _choice(args: Mapping, name: str, allowed, strict: bool) -> str:
    value = (args.get(name) or "").strip()
    if value and value not in allowed:
        if strict:
            raise ListArgsError(name, _("Valor desconocido: «%(value)s».", value=value[:20]))
        return ""
    return value


def _place(args: Mapping, name: str, allowed: set[int], strict: bool) -> int | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    # ASCII digits of an id's length: "²" passes isdigit() but not int(), and 5,000 digits
    # exceed int()'s limit (both were a 500).
    if value.isascii() and value.isdigit() and len(value) < 10 and int(value) in allowed:
        return int(value)
    if strict:
        raise ListArgsError(
            name, _("No es un lugar de este departamento: «%(value)s».", value=value[:20])
        )
    return None


def _flag(args: Mapping, name: str, strict: bool) -> bool:
    value = (args.get(name) or "").strip().casefold()
    if value in _TRUE:
        return True
    if value not in _FALSE and strict:
        raise ListArgsError(name, _("Debe ser «true» o «false»."))
    return False


def parse_list_args(
    args: Mapping, names: Mapping[str, str], places: Places, *, strict: bool
) -> ListRequest:
    """Read the filters and the order from ``args``.

    The page (``strict=False``) drops a value it does not know, so an old or edited link still
    shows a list; the API (``strict=True``) refuses it with ``ListArgsError``.
    """
    filters = Filters(
        municipality_id=_place(
            args, names["municipality"], {m for m, _n in places.municipalities}, strict
        ),
        district_id=_place(args, names["district"], places.district_ids, strict),
        sector=_choice(args, names["sector"], SECTORS, strict),
        zone=_choice(args, names["zone"], ZONES, strict),
        level=_choice(args, names["level"], LEVELS, strict),
        with_open_alerts=_flag(args, names["open_alerts"], strict),
        silent=_flag(args, names["silent"], strict),
        search=(args.get(names["search"]) or "").strip()[:MAX_SEARCH],
    )
    sort = _choice(args, names["sort"], SORTS, strict) or "riesgo"
    direction = _choice(args, names["direction"], DIRECTIONS, strict)
    descending = SORTS[sort][1] if not direction else direction == "desc"
    return ListRequest(filters, sort, descending)


def list_params(asked: ListRequest, names: Mapping[str, str]) -> dict[str, str]:
    """Return the query parameters that ask for ``asked`` again (only those that say something)."""
    f = asked.filters
    values = {
        "municipality": str(f.municipality_id or ""),
        "district": str(f.district_id or ""),
        "sector": f.sector,
        "zone": f.zone,
        "level": f.level,
        "open_alerts": "1" if f.with_open_alerts else "",
        "silent": "1" if f.silent else "",
        "search": f.search,
        "sort": "" if asked.sort == "riesgo" else asked.sort,
        "direction": "" if asked.descending == SORTS[asked.sort][1] else
                     ("desc" if asked.descending else "asc"),
    }  # fmt: skip
    return {names[key]: value for key, value in values.items() if value}


def fetch(department_id: int, asked: ListRequest, page: int = 1, per_page: int = EXPORT_LIMIT):
    """Return one page of the list as ``asked`` (by default every row, for a download)."""
    return department_risk_list(
        department_id,
        asked.filters,
        sort=asked.sort,
        descending=asked.descending,
        page=page,
        per_page=per_page,
    )


@dataclass(frozen=True)
class ListRow:
    """One school of the list, ready to show."""

    code: str
    name: str
    municipality: str
    municipality_id: int
    district: str
    district_id: int
    sector: str
    zone: str
    level: str
    score: float
    trend: float
    open_alerts: int
    overdue_alerts: int
    incidents_30: int
    incidents_90: int
    rate: float
    last_report_at: datetime | None
    is_silent: bool


def list_rows(frame: pd.DataFrame) -> list[ListRow]:
    """Return the rows of a page of the list as ``ListRow``s."""
    return [
        ListRow(
            code=row.code,
            name=row.name,
            municipality=row.municipality,
            municipality_id=int(row.municipality_id),
            district=row.district,
            district_id=int(row.district_id),
            sector=row.sector,
            zone=row.zone,
            level=row.level,
            score=float(row.score),
            trend=float(row.trend),
            open_alerts=int(row.open_alerts),
            overdue_alerts=int(row.overdue_alerts),
            incidents_30=int(row.incidents_30),
            incidents_90=int(row.incidents_90),
            rate=float(row.rate_90),
            last_report_at=None if pd.isna(row.last_report) else row.last_report.to_pydatetime(),
            is_silent=bool(row.silent),
        )
        for row in frame.itertuples(index=False)
    ]


def row_json(row: ListRow) -> dict:
    """Return a row as the API shows it (described in ``salve.api.openapi``)."""
    return {
        "code": row.code,
        "name": row.name,
        "municipality": row.municipality,
        "municipality_id": row.municipality_id,
        "district": row.district,
        "district_id": row.district_id,
        "sector": row.sector,
        "zone": row.zone,
        "level": row.level,
        "score": row.score,
        "trend": row.trend,
        "open_alerts": row.open_alerts,
        "overdue_alerts": row.overdue_alerts,
        "incidents_30": row.incidents_30,
        "incidents_90": row.incidents_90,
        "rate_per_100": row.rate,
        "last_report_at": row.last_report_at.isoformat() if row.last_report_at else None,
        "is_silent": row.is_silent,
    }


def export_headers() -> dict[str, str]:
    """Return the download's columns and their headers, in the user's language."""
    return {
        "code": _("Código"),
        "name": _("Centro educativo"),
        "municipality": _("Municipio"),
        "district": _("Distrito"),
        "sector_label": _("Sector"),
        "zone_label": _("Zona"),
        "level_label": _("Nivel"),
        "score": _("Puntaje"),
        "trend": _("Tendencia"),
        "open_alerts": _("Alertas abiertas"),
        "overdue_alerts": _("Alertas vencidas"),
        "incidents_30": _("Incidentes 30 días"),
        "incidents_90": _("Incidentes 90 días"),
        "rate_90": _("Tasa por 100"),
        "last_report": _("Último reporte"),
        "silent_label": _("Silencio"),
    }


def export_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Add the columns a download shows in words (sector, zone, level, silence)."""

    def words(labels: Mapping) -> dict[str, str]:
        return {code: str(label) for code, label in labels.items()}

    return rows.assign(
        sector_label=rows["sector"].map(words(SECTOR_LABELS)).fillna(rows["sector"]),
        zone_label=rows["zone"].map(words(ZONE_LABELS)).fillna(rows["zone"]),
        level_label=rows["level"].map(words(LEVEL_LABELS)).fillna(rows["level"]),
        silent_label=rows["silent"].map({True: _("Sí"), False: _("No")}),
    )


def download_list(department: Department, asked: ListRequest, fmt: str, **audit_fields):
    """Answer a CSV or XLSX download of the whole list as ``asked``; audited."""
    result = fetch(department.id, asked)
    return download(
        export_frame(result.rows),
        export_headers(),
        fmt,
        f"escuelas_riesgo_{department.code}",
        action="department_list.export",
        target_type="department",
        target_id=department.code,
        params=list_params(asked, API_NAMES),
        **audit_fields,
    )
