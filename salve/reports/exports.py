"""CSV and XLSX downloads of any table, with Spanish headers, safe for spreadsheets, audited.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula (CSV injection); pandas' ``to_csv`` passes it through. Every text cell
is neutralised with a leading apostrophe, the OWASP recommendation. Numbers stay numbers.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import datetime

import pandas as pd
from flask import Response, request

from salve.audit.operations import record
from salve.auth import reauth

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")


def neutralise(value):
    """Return ``value`` made inert for a spreadsheet (text only; numbers and dates untouched)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def prepare(frame: pd.DataFrame, headers: Mapping[str, str]) -> pd.DataFrame:
    """Keep the ``headers`` columns in order, renamed to their Spanish headers, neutralised.

    Time zone-aware timestamps become local El Salvador time without the zone (spreadsheets
    cannot show zones).
    """
    out = frame[list(headers)].copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[column] = series.dt.tz_convert("America/El_Salvador").dt.tz_localize(None)
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            out[column] = series.map(neutralise)
    return out.rename(columns=dict(headers))


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheets show accents right; comma separated.

    Rows end in CRLF (RFC 4180), which also makes the writer quote a cell holding a bare CR:
    unquoted, a spreadsheet starts a new row there, and the rest of the cell with it.
    """
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_xlsx(frame: pd.DataFrame, sheet: str = "SALVE") -> bytes:
    """One sheet, bold headers, the first row frozen."""
    from openpyxl.styles import Font

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False, sheet_name=sheet[:31])
        worksheet = writer.sheets[sheet[:31]]
        worksheet.freeze_panes = "A2"
        for cell in worksheet[1]:
            cell.font = Font(bold=True)
        for column in worksheet.columns:
            width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
            worksheet.column_dimensions[column[0].column_letter].width = min(60, width + 2)
    return buffer.getvalue()


def download(
    frame: pd.DataFrame,
    headers: Mapping[str, str],
    fmt: str,
    name: str,
    *,
    action: str,
    target_type: str,
    target_id,
    **audit_fields,
) -> Response:
    """Answer a download of ``frame`` as CSV or XLSX, audited as ``action``.

    Exports from the pages carry sensitive figures away from the app, so they need a recent
    confirmation of the password (SECURITY.md item 7); without one the user is asked for it
    and brought back to the same download. The API's bearer tokens are credentials issued to
    one program by an administrator and never come with a browser session: nothing to confirm.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    through_api = (request.blueprint or "").split(".")[0] == "api"
    if not through_api and not reauth.is_recent():
        return reauth.challenge()
    table = prepare(frame, headers)
    stamp = datetime.now().strftime("%Y%m%d")
    filename = f"{_UNSAFE_FILENAME.sub('_', name)}_{stamp}.{fmt}"
    if fmt == "csv":
        body, mime = to_csv(table), "text/csv; charset=utf-8"
    else:
        body, mime = to_xlsx(table, _UNSAFE_FILENAME.sub("_", name)), XLSX_MIME  # a valid title
    record(action, target_type, target_id, format=fmt, rows=len(table), **audit_fields)
    return Response(
        body,
        content_type=mime,  # as is: mimetype= would add a second charset to text/csv
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
