"""Open data for programs: ``GET /api/v1/open/incidents``, public, JSON or CSV.

A blueprint nested in the API's (registered in ``salve.api.views``), so that its errors are the
API's JSON errors and the OpenAPI document describes it; the API's authentication lets the whole
``api.open`` blueprint through without a token and never reads the session cookie here.

Every answer is one of the day's 32 tables, already suppressed and kept in memory, so a request
costs a lookup and its serialisation (the largest table, by all five dimensions, is about 42,000
rows). Answers may be cached for an hour by browsers and proxies. Each client address is
rate-limited (``open-data`` in ``salve.config.DEFAULT_RATE_LIMITS``), shared with the page.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request, url_for
from flask_babel import gettext as _

from salve.api.errors import ApiError
from salve.opendata.data import DIMENSIONS
from salve.opendata.publication import SENSITIVE_CATEGORIES, Publication, current_publication
from salve.opendata.tables import (
    COUNTING,
    csv_download,
    download_name,
    export_frame,
    marker_meanings,
    suppression_counts,
)

bp = Blueprint("open", __name__, url_prefix="/open")

FORMATS = ("json", "csv")
#: Longer ``by`` values cannot name five dimensions; refuse them before splitting.
MAX_BY_LENGTH = 100
CACHE_SECONDS = 3600


def parse_by(values: list[str]) -> tuple[str, ...]:
    """Return the dimensions of ``by`` (comma-separated, in the caller's order) or refuse."""
    raw = ",".join(values)
    if len(raw) > MAX_BY_LENGTH:
        raise ApiError(400, [("by", _("Demasiado largo: nombre a lo sumo las cinco dimensiones."))])
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in DIMENSIONS:
            raise ApiError(
                400,
                [
                    (
                        "by",
                        _(
                            "Dimensión desconocida: «%(name)s». Use una o varias de: "
                            "%(dimensions)s, separadas por comas.",
                            name=name[:30],
                            dimensions=", ".join(DIMENSIONS),
                        ),
                    )
                ],
            )
        if names.count(name) > 1:
            raise ApiError(400, [("by", _("«%(name)s» aparece más de una vez.", name=name))])
    return tuple(names)


def _format() -> str:
    fmt = request.args.get("format", "").strip().lower() or "json"
    if fmt not in FORMATS:
        raise ApiError(
            400,
            [("format", _("Formato desconocido: «%(format)s». Use json o csv.", format=fmt[:20]))],
        )
    return fmt


def _value(publication: Publication, dimension: str, code: str) -> dict:
    label = publication.label(dimension, code)
    return {"code": code, "label": {"es": label.es, "en": label.en}}


def _suppression(publication: Publication, frame) -> dict:
    thresholds = publication.thresholds
    return {
        "threshold": thresholds.default,
        "category_thresholds": {code: thresholds.sensitive for code in SENSITIVE_CATEGORIES},
        "markers": [
            {"marker": marker, "meaning": {"es": meaning.es, "en": meaning.en}}
            for marker, meaning in marker_meanings(thresholds).items()
        ],
        **suppression_counts(frame),
    }


@bp.get("/incidents")
def incidents():
    """Incident counts grouped by any of the five dimensions, small counts suppressed."""
    by = parse_by(request.args.getlist("by"))
    fmt = _format()
    publication = current_publication()
    frame = publication.table(by)
    if fmt == "csv":
        table = export_frame(publication, frame, by, {"es": "es", "en": "en"})
        name = download_name(publication, by)
        headers = {column: column for column in table.columns}
        return csv_download(table, headers, name, cache_seconds=CACHE_SECONDS)
    values = {
        dim: {code: _value(publication, dim, code) for code in publication.values[dim]}
        for dim in by
    }
    rows = zip(*(frame[dim].tolist() for dim in by), frame["shown"].tolist(), strict=True)
    items = [
        {**{dim: values[dim][code] for dim, code in zip(by, row, strict=False)}, "count": row[-1]}
        for row in rows
    ]
    period = publication.period
    body = {
        "by": list(by),
        "period": {
            "from": period.start.date().isoformat(),
            "to": period.last_day.isoformat(),
            "months": list(period.months),
        },
        "published_on": publication.published_on.isoformat(),
        "counting": {"es": COUNTING.es, "en": COUNTING.en},
        "methodology": url_for("opendata.index") + "#metodologia",
        "suppression": _suppression(publication, frame),
        "items": items,
    }
    # Not jsonify: it sorts keys, and each item's dimensions come in the order of ``by``.
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = Response(text, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response
