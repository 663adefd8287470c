"""The words of the school analytics page: groups, hour bands, days, months, catalog codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from babel.dates import get_day_names
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _

from salve.catalog.entries import Catalog
from salve.incidents.presenting import text
from salve.reports.analytics import HOUR_BANDS, SEX_COLUMNS, UNKNOWN_LEVEL


def sex_label(code: str) -> str:
    """Return "Niñas" or "Niños": the students are children."""
    return {"F": _("Niñas"), "M": _("Niños")}.get(code, code)


def level_label(code: str) -> str:
    """Return a school level in words (the same words as the labels macro)."""
    return {
        "parvularia": _("Educación parvularia"),
        "basica1": _("Básica, I ciclo"),
        "basica2": _("Básica, II ciclo"),
        "basica3": _("Básica, III ciclo"),
        "media": _("Educación media"),
        UNKNOWN_LEVEL: _("Grado sin nivel reconocido"),
    }.get(code, code)


def group_label(code: str) -> str:
    """Return the words of a breakdown column: a sex or a level."""
    return sex_label(code) if code in SEX_COLUMNS else level_label(code)


def hour_band_label(index: int) -> str:
    """Return an hour band as a range of local times, e.g. "07:00" to "08:59"."""
    start, end = HOUR_BANDS[index]
    return f"{start:02d}:00–{end - 1:02d}:59"


def weekday_label(index: int) -> str:
    """Return a day of the week (0 is Monday), capitalised, in the reader's language."""
    name = get_day_names("wide", locale=get_locale())[index]
    return name[:1].upper() + name[1:]


def month_label(month: date) -> str:
    """Return "Enero 2026" / "January 2026"."""
    name = format_date(month, "LLLL yyyy")
    return name[:1].upper() + name[1:]


def month_ticks(months: Sequence[date]) -> list[tuple[str, ...]]:
    """Return each month's label under its bar: its short name, and the year under January.

    The first month shows its year too, unless January follows it (the years would touch).
    """
    ticks = []
    for index, month in enumerate(months):
        short = format_date(month, "LLL").rstrip(".")
        starts_year = month.month == 1 or (index == 0 and month.month != 12)
        ticks.append((short, str(month.year)) if starts_year else (short,))
    return ticks


def frequency_label(band: str) -> str:
    """Return a band of incidents per student in words."""
    return {
        "0-1": _("0 o 1 incidentes"),
        "2-5": _("De 2 a 5 incidentes"),
        "6+": _("6 incidentes o más"),
    }.get(band, band)


def type_label(catalog: Catalog, code: str) -> str:
    """Return a violence type in words (its code when the catalog no longer has it)."""
    found = catalog.types.get(code)
    return text(found.label) if found else code


def count(value) -> str:
    """Return a whole number with thousands separators (as the labels macro does)."""
    return f"{int(value):,}"


def percent(value: float) -> str:
    """Return a percentage with one decimal, e.g. "83.3 %"."""
    return f"{format_decimal(value, '#,##0.0')} %"
