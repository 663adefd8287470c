"""Downloads neutralise cells a spreadsheet would run as formulas (SECURITY.md item 15).

Schools named like the corpus' formulas (``=cmd|' /C calc'!A0``, ``+SUM(1)``, a leading tab…)
are listed by the department risk list, downloaded as CSV and XLSX from the page and the API,
and read back as a spreadsheet would: no cell starts a formula; each name is kept, behind an
apostrophe. On both backends.
"""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from salve.extensions import db
from tests.api.conftest import token_for
from tests.factories import make_school
from tests.fuzz import hostile


def test_exports_neutralise_cells_a_spreadsheet_would_run(app, client, login_as, world):
    names = {make_school("06", name=formula).name for formula in hostile.FORMULAS}
    db.session.commit()
    login_as("departamental_06")
    token = token_for("departamental_06")
    downloads = {
        "csv": client.get("/reportes/departamentos/06/escuelas?formato=csv"),
        "xlsx": client.get("/reportes/departamentos/06/escuelas?formato=xlsx"),
        "api csv": client.get(
            "/api/v1/departments/06/schools/risk?format=csv",
            headers={"Authorization": f"Bearer {token}"},
        ),
        "api xlsx": client.get(
            "/api/v1/departments/06/schools/risk?format=xlsx",
            headers={"Authorization": f"Bearer {token}"},
        ),
    }
    for label, response in downloads.items():
        assert response.status_code == 200, (label, response.status_code)
        if "csv" in label:
            rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
        else:
            sheet = load_workbook(io.BytesIO(response.get_data())).active
            rows = [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
        cells = [cell for row in rows for cell in row if isinstance(cell, str)]
        assert not [c for c in cells if c.startswith(hostile.FORMULA_STARTS)], label
        for name in names:
            if "xlsx" in label:  # XML keeps a carriage return as a line feed
                name = name.replace("\r", "\n")
            assert "'" + name in cells, (label, name)  # kept, behind an apostrophe
