"""Published tables as people and programs read them: labelled rows, CSV files, marker counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from flask import Response

from salve.catalog.entries import Label
from salve.opendata.publication import Publication, Thresholds
from salve.reports.exports import prepare, to_csv
from salve.reports.suppression import PRIMARY, SECONDARY

#: What one count is, for programs (the page's methodology says it at length).
COUNTING = Label(
    "Incidentes con al menos una víctima estudiante, reportados por los centros escolares, "
    "excluidos los cerrados como infundados. Un incidente cuenta una vez por cada categoría de "
    "sus tipos y, dentro de ella, una vez por cada combinación distinta de sexo y nivel "
    "educativo de sus víctimas estudiantes. Mes del hecho, en hora de El Salvador.",
    "Incidents with at least one student victim, reported by schools, excluding those closed "
    "as unfounded. An incident counts once per category of its types and, within it, once per "
    "distinct sex and school level of its student victims. Month of the incident, in El "
    "Salvador's time.",
)


def marker_meanings(thresholds: Thresholds) -> dict[str, Label]:
    """Return what each marker that replaces a count means."""
    low, sensitive_low = thresholds.default - 1, thresholds.sensitive - 1
    return {
        f"<{thresholds.default}": Label(
            f"Entre 0 y {low}: cifra pequeña oculta.",
            f"Between 0 and {low}: a small count, hidden.",
        ),
        f"<{thresholds.sensitive}": Label(
            f"Entre 0 y {sensitive_low}: cifra pequeña de violencia sexual, oculta.",
            f"Between 0 and {sensitive_low}: a small count of sexual violence, hidden.",
        ),
        "s": Label(
            "Oculta para que ninguna cifra pequeña pueda deducirse de los totales.",
            "Hidden so that no small count can be worked out from the totals.",
        ),
    }


def labels_of(publication: Publication, dimension: str, codes: pd.Series, language: str):
    """Return the label of each code of ``dimension`` in ``language`` (the code if unknown)."""
    mapping = {
        code: label.in_language(language) for code, label in publication.values[dimension].items()
    }
    return codes.map(mapping).fillna(codes)


def labelled_rows(
    publication: Publication, frame: pd.DataFrame, by: Sequence[str], language: str
) -> list[dict]:
    """Return each row with its dimensions' (code, label), shown value and status."""
    labels = {dim: labels_of(publication, dim, frame[dim], language) for dim in by}
    return [
        {
            "cells": [(frame.at[i, dim], labels[dim].at[i]) for dim in by],
            "shown": frame.at[i, "shown"],
            "status": frame.at[i, "status"],
        }
        for i in frame.index
    ]


def export_frame(
    publication: Publication,
    frame: pd.DataFrame,
    by: Sequence[str],
    languages: Mapping[str, str],
) -> pd.DataFrame:
    """Return the table to download: per dimension its code and a label column per language.

    ``languages`` maps a column suffix to a language: ``{"label": "es"}`` adds ``month_label``,
    ``{"es": "es", "en": "en"}`` adds ``month_es`` and ``month_en``. ``count`` is the published
    value: a number, ``<threshold`` or ``s``.
    """
    out = pd.DataFrame(index=frame.index)
    for dim in by:
        out[dim] = frame[dim]
        for suffix, language in languages.items():
            out[f"{dim}_{suffix}"] = labels_of(publication, dim, frame[dim], language)
    out["count"] = frame["shown"]
    return out


def download_name(publication: Publication, by: Sequence[str]) -> str:
    """Return the file name of a table: its grouping and its publication date."""
    grouping = "_".join(by) or "total"
    return f"salve_datos_abiertos_{grouping}_{publication.published_on.isoformat()}.csv"


def csv_download(
    frame: pd.DataFrame, headers: Mapping[str, str], filename: str, *, cache_seconds: int = 0
) -> Response:
    """Answer with ``frame`` as a CSV attachment, cells neutralised for spreadsheets.

    Not audited: the figures are public and the same for everyone, and a public GET that wrote
    a row per download would let anyone fill the database.
    """
    body = to_csv(prepare(frame, headers))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if cache_seconds:
        response.headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    return response


def suppression_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Return how many cells of a table are suppressed, by kind."""
    return {
        "primary": int((frame["status"] == PRIMARY).sum()),
        "secondary": int((frame["status"] == SECONDARY).sum()),
    }
