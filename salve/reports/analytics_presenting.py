"""What the school analytics page shows: each figure's table and charts, and its download.

``analytics`` counts; ``charts`` lays out shapes; ``analytics_labels`` has the words; this module
puts them together and chooses the breakdown (by sex or by school level) the page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import pandas as pd
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from salve.catalog.entries import Catalog
from salve.incidents.presenting import entry_label
from salve.reports import charts
from salve.reports.analytics import COUNT_COLUMNS, LEVEL_COLUMNS, SEX_COLUMNS, SchoolFigures, shares
from salve.reports.analytics_labels import (
    count,
    frequency_label,
    group_label,
    hour_band_label,
    month_label,
    month_ticks,
    percent,
    type_label,
    weekday_label,
)
from salve.schools.models import School

#: The breakdown a reader may choose for charts and tables (``?por=``).
BREAKDOWNS = ("sexo", "nivel")
DEFAULT_BREAKDOWN = "sexo"


# --- The breakdown shown -----------------------------------------------------------------------


def breakdown_columns(by: str, figures: SchoolFigures, school: School) -> tuple[str, ...]:
    """Return the breakdown columns to show: both sexes, or the levels that matter here.

    Levels: those the school offers, and any other with students involved or on the roll.
    """
    if by != "nivel":
        return SEX_COLUMNS
    offered = set(school.level_list)
    seen = {c for c in LEVEL_COLUMNS if figures.total[c] or figures.frequency[c].sum()}
    return tuple(c for c in LEVEL_COLUMNS if c in offered | seen)


def palette_of(by: str) -> tuple[str, ...]:
    """Return every column of a breakdown, whose position gives its colour in every chart."""
    return SEX_COLUMNS if by != "nivel" else LEVEL_COLUMNS


# --- Tables and charts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table of figures: a caption, a header per column, rows of formatted cells."""

    caption: str
    key_header: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    footer: tuple[str, ...] | None


@dataclass(frozen=True)
class Chart:
    """A chart with its legend: ``kind`` is "bars" or "columns"; ``palette`` a CSS prefix."""

    kind: str
    title: str
    shapes: charts.BarChart | charts.ColumnChart
    palette: str
    legend: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Figure:
    """One section of the page: a heading, what it counts, its charts and its table."""

    slug: str
    title: str
    note: str
    charts: tuple[Chart, ...]
    table: Table
    is_empty: bool


def _legend(columns: Sequence[str], palette: Sequence[str]) -> tuple[tuple[int, str], ...]:
    return tuple((palette.index(c), group_label(c)) for c in columns)


def _tally_table(
    frame: pd.DataFrame,
    labels: Sequence[str],
    columns: Sequence[str],
    caption: str,
    key_header: str,
    totals: pd.Series | None,
) -> Table:
    shown = ["incidents", "students", *columns]
    headers = (_("Incidentes"), _("Estudiantes involucrados"), *map(group_label, columns))
    rows = tuple(
        (label, tuple(count(v) for v in values))
        for label, values in zip(labels, frame[shown].to_numpy(), strict=True)
    )
    footer = tuple(count(totals[c]) for c in shown) if totals is not None else None
    return Table(caption, key_header, headers, rows, footer)


def _group_bars(
    frame: pd.DataFrame, labels: Sequence[str], by: str, columns: Sequence[str], title: str
) -> Chart:
    palette = palette_of(by)
    values = frame[list(palette)].to_numpy().tolist()
    shapes = charts.horizontal_bars(labels, values, [group_label(c) for c in palette])
    return Chart("bars", title, shapes, "group", _legend(columns, palette))


ONE_CATEGORY = _l("Cada incidente cuenta una vez, en la categoría de su tipo más grave.")
STUDENTS = _l(
    "Estudiantes involucrados: cada estudiante de la escuela que aparece como víctima o "
    "agresor(a) en un incidente cuenta una vez por incidente."
)


@dataclass(frozen=True)
class Cut:
    """A figure counted with ``analytics.tally``: its heading, its frame, how its keys read."""

    title: LazyString
    key_header: LazyString
    frame: Callable[[SchoolFigures], pd.DataFrame]
    label: Callable[[Catalog, object], str]
    note: LazyString | str = ""


MONTHS = Cut(
    _l("Incidentes por mes y categoría"), _l("Mes"), attrgetter("months"),
    lambda catalog, key: month_label(key), ONE_CATEGORY,
)  # fmt: skip
#: The category figure, then the Big 5, in the page's order.
CUTS = {
    "categorias": Cut(
        _l("Incidentes por categoría"), _l("Categoría"), attrgetter("categories"),
        lambda catalog, key: entry_label(catalog.categories, key), ONE_CATEGORY,
    ),
    "tipos": Cut(
        _l("Por tipo de violencia"), _l("Tipo"), attrgetter("types"), type_label,
        _l("Un incidente con varios tipos cuenta en cada uno; la fila de total cuenta cada "
           "incidente una vez."),
    ),
    "lugares": Cut(
        _l("Por lugar"), _l("Lugar"), attrgetter("locations"),
        lambda catalog, key: entry_label(catalog.locations, key),
    ),
    "horas": Cut(
        _l("Por hora del día"), _l("Hora"), attrgetter("hours"),
        lambda catalog, key: hour_band_label(key), _l("Hora local de El Salvador."),
    ),
    "dias": Cut(
        _l("Por día de la semana"), _l("Día"), attrgetter("weekdays"),
        lambda catalog, key: weekday_label(key),
    ),
    "grados": Cut(
        _l("Por grado"), _l("Grado"), attrgetter("grades"), lambda catalog, key: str(key),
        _l("Cuenta el grado de cada estudiante involucrado: un incidente con estudiantes de "
           "varios grados cuenta en cada uno; la fila de total cuenta cada incidente una vez."),
    ),
}  # fmt: skip


def _labels(cut: Cut, frame: pd.DataFrame, catalog: Catalog) -> list[str]:
    return [cut.label(catalog, key) for key in frame["key"]]  # a row per key, a few dozen


def _tally_figure(
    slug: str, cut: Cut, figures: SchoolFigures, catalog: Catalog, by: str, columns
) -> Figure:
    frame = cut.frame(figures)
    labels = _labels(cut, frame, catalog)
    key_header = str(cut.key_header)
    chart = _group_bars(
        frame,
        labels,
        by,
        columns,
        _("Estudiantes involucrados, por %(what)s", what=key_header.lower()),
    )
    table = _tally_table(frame, labels, columns, str(cut.title), key_header, figures.total)
    note = f"{cut.note} {STUDENTS}".strip()
    return Figure(slug, str(cut.title), note, (chart,), table, not frame["incidents"].any())


def month_figure(
    figures: SchoolFigures, catalog: Catalog, by: str, columns: Sequence[str]
) -> Figure:
    """Incidents per month by category (one per incident), and involvements by group."""
    frame = figures.months
    months = figures.period.month_starts
    category_codes = list(catalog.categories)
    present = [c for c in figures.categories["key"] if c in frame.columns]
    palette = category_codes + [c for c in present if c not in category_codes]  # retired codes
    labels = month_ticks(months)
    by_category = Chart(
        "columns",
        _("Incidentes por mes, por categoría"),
        charts.stacked_columns(
            labels,
            frame.reindex(columns=palette, fill_value=0).to_numpy().tolist(),
            [entry_label(catalog.categories, c) for c in palette],
        ),
        "category",
        tuple((palette.index(c), entry_label(catalog.categories, c)) for c in present),
    )
    group_palette = palette_of(by)
    by_group = Chart(
        "columns",
        _("Estudiantes involucrados por mes"),
        charts.stacked_columns(
            labels,
            frame[list(group_palette)].to_numpy().tolist(),
            [group_label(c) for c in group_palette],
        ),
        "group",
        _legend(columns, group_palette),
    )
    shown = ["incidents", *present, "students", *columns]
    headers = (
        _("Incidentes"),
        *(entry_label(catalog.categories, c) for c in present),
        _("Estudiantes involucrados"),
        *map(group_label, columns),
    )
    rows = tuple(
        (label, tuple(count(v) for v in values))
        for label, values in zip(
            _labels(MONTHS, frame, catalog), frame[shown].to_numpy(), strict=True
        )
    )
    footer = tuple(count(frame[c].sum()) for c in shown)
    title = str(MONTHS.title)
    table = Table(title, str(MONTHS.key_header), headers, rows, footer)
    note = f"{MONTHS.note} {STUDENTS}"
    charts_shown = (by_category, by_group)
    return Figure("meses", title, note, charts_shown, table, not frame["incidents"].any())


def tally_figures(
    figures: SchoolFigures, catalog: Catalog, by: str, columns: Sequence[str]
) -> list[Figure]:
    """The category figure and the Big 5: type, location, hour band, weekday and grade."""
    return [_tally_figure(slug, cut, figures, catalog, by, columns) for slug, cut in CUTS.items()]


def frequency_figure(figures: SchoolFigures, by: str, columns: Sequence[str]) -> Figure:
    """The share of active students with 0 or 1, 2 to 5 and 6+ incidents, overall and by group."""
    frame = figures.frequency
    groups = ["total", *columns]
    percentages = shares(frame, groups)
    names = {"total": _("Todos"), **{c: group_label(c) for c in columns}}
    bands = [frequency_label(b) for b in frame["key"]]
    denominators = frame[groups].sum()
    chart = Chart(
        "bars",
        _("Estudiantes según sus incidentes en el período"),
        charts.horizontal_bars(
            [f"{names[g]} ({count(denominators[g])})" for g in groups],
            [frame[g].tolist() for g in groups],
            bands,
            normalise=True,
            value_texts=[""] * len(groups),
            segment_texts=[[percent(p) for p in percentages[g]] for g in groups],
        ),
        "band",
        tuple(enumerate(bands)),
    )
    headers = []
    for group in groups:
        headers += [names[group], _("%% de %(group)s", group=names[group].lower())]
    rows = tuple(
        (
            band,
            tuple(
                cell
                for g in groups
                for cell in (count(frame.at[i, g]), percent(percentages.at[i, g]))
            ),
        )
        for i, band in enumerate(bands)
    )
    footer = tuple(cell for g in groups for cell in (count(denominators[g]), percent(100.0)))
    table = Table(
        _("Estudiantes activos según cuántos incidentes tuvieron"),
        _("Incidentes por estudiante"),
        tuple(headers),
        rows,
        footer if denominators["total"] else None,
    )
    note = _(
        "Cuenta a cada estudiante activo de la matrícula de la escuela según en cuántos "
        "incidentes del período aparece como víctima o agresor(a). El total es la matrícula "
        "activa de cada grupo."
    )
    return Figure(
        "frecuencia",
        _("Estudiantes con 0–1, 2–5 y 6 o más incidentes"),
        note,
        (chart,),
        table,
        not denominators["total"],
    )


def page_figures(
    figures: SchoolFigures, catalog: Catalog, school: School, by: str
) -> tuple[Figure, list[Figure], Figure]:
    """Return the page's figures: by month, the category and Big 5 cuts, and the frequency."""
    columns = breakdown_columns(by, figures, school)
    return (
        month_figure(figures, catalog, by, columns),
        tally_figures(figures, catalog, by, columns),
        frequency_figure(figures, by, columns),
    )


# --- Downloads ---------------------------------------------------------------------------------

#: The tables a reader may download (``?tabla=``).
EXPORT_TABLES = ("meses", *CUTS, "frecuencia")


def export_table(
    figures: SchoolFigures, catalog: Catalog, slug: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return a figure's frame with every breakdown (sex and level) and its headers.

    Call it in the language of the headers (downloads are in Spanish).
    """
    if slug == "frecuencia":
        frame = figures.frequency.copy()
        groups = ["total", *SEX_COLUMNS, *LEVEL_COLUMNS]
        percentages = shares(frame, groups).round(1)
        headers = {"label": _("Incidentes por estudiante")}
        frame["label"] = [frequency_label(b) for b in frame["key"]]
        for group in groups:
            name = _("Todos") if group == "total" else group_label(group)
            frame[f"{group}_pct"] = percentages[group]
            headers[group] = name
            headers[f"{group}_pct"] = _("%% de %(group)s", group=name.lower())
        return frame, headers
    cut = MONTHS if slug == "meses" else CUTS[slug]
    frame = cut.frame(figures).copy()
    frame["label"] = _labels(cut, frame, catalog)
    headers = {"label": str(cut.key_header), "incidents": _("Incidentes")}
    if slug == "meses":
        for code in figures.categories["key"]:
            headers[code] = f"{_('Incidentes')}: {entry_label(catalog.categories, code)}"
    headers["students"] = _("Estudiantes involucrados")
    for column in COUNT_COLUMNS[2:]:
        headers[column] = group_label(column)
    return frame, headers
