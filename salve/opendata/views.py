"""Public pages of open data (no sign-in)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from salve import ratelimit
from salve.i18n import current_language
from salve.opendata.data import DIMENSIONS
from salve.opendata.publication import SENSITIVE_CATEGORIES, current_publication
from salve.opendata.tables import (
    csv_download,
    download_name,
    export_frame,
    labelled_rows,
    suppression_counts,
)

bp = Blueprint("opendata", __name__, url_prefix="/datos-abiertos")

#: The page's names of the dimensions (its query string is in Spanish, as its URL).
PAGE_NAMES = {
    "departamento": "department",
    "mes": "month",
    "categoria": "category",
    "sexo": "sex",
    "nivel": "level",
}
DEFAULT_GROUPING = ("department", "category")
ROWS_PER_PAGE = 100


def dimension_titles() -> dict[str, str]:
    """Return each dimension's column title in the interface language."""
    return {
        "department": _("Departamento"),
        "month": _("Mes"),
        "category": _("Categoría de violencia"),
        "sex": _("Sexo de la víctima"),
        "level": _("Nivel educativo"),
    }


def _grouping() -> tuple[str, ...]:
    """Return the dimensions asked for, in the page's order; the default on a first visit."""
    asked = request.args.getlist("por")
    if not asked:
        return DEFAULT_GROUPING
    # The form always sends an empty "por", so that ticking nothing asks for the total.
    chosen = {PAGE_NAMES[name] for name in asked if name in PAGE_NAMES}
    return tuple(dim for dim in DIMENSIONS if dim in chosen)


def _page_number(pages: int) -> int:
    try:
        number = int(request.args.get("pagina", "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), pages)


@bp.get("/")
@ratelimit.rate_limited("open-data")  # shared with /api/v1/open, per client address
def index():
    """Show incident counts to anyone, grouped as they choose, small counts suppressed."""
    publication = current_publication()
    by = _grouping()
    frame = publication.table(by)
    language = current_language()
    titles = dimension_titles()
    if request.args.get("formato") == "csv":
        headers = {}
        for dim in by:
            headers[dim] = _("%(dimension)s (código)", dimension=titles[dim])
            headers[f"{dim}_label"] = titles[dim]
        headers["count"] = _("Incidentes")
        table = export_frame(publication, frame, by, {"label": language})
        return csv_download(table, headers, download_name(publication, by))
    pages = max(1, -(-len(frame) // ROWS_PER_PAGE))
    number = _page_number(pages)
    shown = frame.iloc[(number - 1) * ROWS_PER_PAGE : number * ROWS_PER_PAGE]
    names = {dim: name for name, dim in PAGE_NAMES.items()}
    grouping = [names[dim] for dim in by]
    return render_template(
        "opendata/index.html",
        publication=publication,
        by=by,
        names=names,
        grouping=grouping,
        titles=titles,
        grouping_titles=[titles[dim] for dim in by],
        rows=labelled_rows(publication, shown, by, language),
        total_rows=len(frame),
        page=number,
        pages=pages,
        suppressed=suppression_counts(frame),
        thresholds=publication.thresholds,
        sensitive=[
            publication.label("category", code).in_language(language)
            for code in SENSITIVE_CATEGORIES
        ],
        api_by=",".join(by),
    )
