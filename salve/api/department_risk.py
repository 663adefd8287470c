"""The API's department risk list: a department's schools ranked by risk, as JSON, CSV or XLSX.

A route of the ``api`` blueprint (salve/api/views.py), scoped as the page
``reports.department_list`` is: departmental offices and case supervisors see their own
department, national analysts any. No student appears anywhere.
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from salve.api.errors import ApiError
from salve.api.views import _page_json, _paging, _user, bp, raise_forbidden
from salve.audit.operations import record
from salve.auth.scope import REGIONAL_ROLES, can_view_department, require
from salve.reports import department_list as listing
from salve.reports.exports import FORMATS
from salve.web import writes_on_read

JSON = "json"


@bp.get("/departments/<code>/schools/risk")
@writes_on_read
def department_schools_risk(code: str):
    """A department's schools ranked by risk, filtered and sorted; ``format`` csv/xlsx: all."""
    user = _user()
    # Refused by role before any lookup, so the answer says nothing about what exists.
    if not user.has_role(*REGIONAL_ROLES):
        raise_forbidden(
            _(
                "Solo las direcciones departamentales, la supervisión de casos y el nivel "
                "nacional ven las escuelas por riesgo."
            )
        )
    department = listing.find_department(code)
    require(department is not None and can_view_department(user, department.id))
    fmt = request.args.get("format", JSON).strip() or JSON
    if fmt != JSON and fmt not in FORMATS:
        raise ApiError(400, [("format", _("Formato desconocido: «%(format)s».", format=fmt[:10]))])
    places = listing.department_places(department.id)
    try:
        asked = listing.parse_list_args(request.args, listing.API_NAMES, places, strict=True)
    except listing.ListArgsError as error:
        raise ApiError(400, [(error.field, error.message)]) from None
    if fmt in FORMATS:
        return listing.download_list(department, asked, fmt, channel="api")
    page_number, per_page = _paging()
    result = listing.fetch(department.id, asked, page=page_number, per_page=per_page)
    record(
        "department_list.view",
        "department",
        department.code,
        page=result.page,
        shown=len(result.rows),
        total=result.total,
        params=listing.list_params(asked, listing.API_NAMES),
        channel="api",
    )
    return _page_json(result, [listing.row_json(row) for row in listing.list_rows(result.rows)])
