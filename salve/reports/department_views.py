"""The department's schools ranked by risk, for the regional office, with CSV/XLSX downloads.

Routes of the reports blueprint (see salve/reports/views.py). Departmental offices and case
supervisors see their own department; national analysts any. No student appears anywhere.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from salve.audit.operations import record
from salve.auth.scope import (
    REGIONAL_ROLES,
    can_view_department,
    regional_department_ids,
    require,
    roles_required,
)
from salve.extensions import db
from salve.geography.models import Department
from salve.main.queries import department_figures
from salve.pagination import page_number
from salve.reports import department_list as listing
from salve.reports.exports import FORMATS
from salve.reports.queries import SORTS
from salve.reports.views import bp
from salve.schools.models import SECTORS, ZONES
from salve.scoring import presenting
from salve.scoring.models import LEVELS
from salve.web import writes_on_read

#: The school analytics page (salve/reports/analytics_views.py), linked from each school.
ANALYTICS_ENDPOINT = "reports.school_analytics"


@bp.route("/escuelas")
@roles_required(*sorted(REGIONAL_ROLES))
def department_picker():
    """Send a regional office to its department's list; let others choose a department."""
    departments = regional_department_ids(current_user)
    if departments is not None and len(departments) == 1:
        (department_id,) = departments
        code = db.session.scalar(sa.select(Department.code).where(Department.id == department_id))
        return redirect(url_for(".department_list", code=code))
    clause = sa.true() if departments is None else Department.id.in_(departments)
    return render_template("reports/department_picker.html", departments=department_figures(clause))


def analytics_url(code: str) -> str:
    """Return the URL of a school's analytics page (by path until its route is registered)."""
    if ANALYTICS_ENDPOINT in current_app.view_functions:
        return url_for(ANALYTICS_ENDPOINT, code=code)
    return f"{bp.url_prefix}/escuelas/{code}/analisis"


@bp.route("/departamentos/<code>/escuelas")
@roles_required(*sorted(REGIONAL_ROLES))
@writes_on_read
def department_list(code: str):
    """Rank the department's schools by risk, filtered and sorted; download it as CSV or XLSX."""
    department = listing.find_department(code)
    require(department is not None and can_view_department(current_user, department.id))
    places = listing.department_places(department.id)
    asked = listing.parse_list_args(request.args, listing.WEB_NAMES, places, strict=False)
    params = listing.list_params(asked, listing.WEB_NAMES)
    fmt = request.args.get("formato", "")
    if fmt in FORMATS:
        return listing.download_list(department, asked, fmt, channel="web")
    result = listing.fetch(
        department.id, asked, page=page_number(), per_page=current_app.config["PAGE_SIZE"]
    )
    record(
        "department_list.view",
        "department",
        department.code,
        page=result.page,
        shown=len(result.rows),
        total=result.total,
        params=listing.list_params(asked, listing.API_NAMES),
    )
    return render_template(
        "reports/department_list.html",
        department=department,
        result=result,
        rows=listing.list_rows(result.rows),
        asked=asked,
        places=places,
        params=params,
        sort_links=_sort_links(department.code, asked, params),
        export_links={
            fmt: url_for(".department_list", code=department.code, formato=fmt, **params)
            for fmt in FORMATS
        },
        sorts=SORTS,
        levels=LEVELS[::-1],
        sectors=SECTORS,
        zones=ZONES,
        analytics_url=analytics_url,
        can_pick=_may_pick(),
        presenting=presenting,
    )


def _may_pick() -> bool:
    """Tell whether the user reaches more than one department (and so has a picker)."""
    departments = regional_department_ids(current_user)
    return departments is None or len(departments) > 1


def _sort_links(code: str, asked: listing.ListRequest, params: dict) -> dict[str, str]:
    """Return, per sort key, the link a column header offers: the current column flips order."""
    names = listing.WEB_NAMES
    base = {k: v for k, v in params.items() if k not in (names["sort"], names["direction"])}
    links = {}
    for key, (_column, default_descending) in SORTS.items():
        descending = not asked.descending if key == asked.sort else default_descending
        wanted = listing.ListRequest(asked.filters, key, descending)
        order = listing.list_params(wanted, names)
        links[key] = url_for(
            ".department_list",
            code=code,
            **base,
            **{k: v for k, v in order.items() if k in (names["sort"], names["direction"])},
        )
    return links
