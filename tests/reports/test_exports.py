"""CSV and XLSX downloads: formulas neutralised, numbers untouched, local times, audited."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.extensions import db
from salve.reports.exports import (
    FORMULA_START,
    XLSX_MIME,
    download,
    neutralise,
    prepare,
    to_csv,
    to_xlsx,
)

DANGEROUS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")']
HEADERS = {"name": "Centro educativo", "count": "Incidentes", "rate": "Tasa", "at": "Fecha"}


def frame(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": names,
            "count": range(len(names)),
            "rate": [-1.5] * len(names),
            "at": pd.to_datetime(["2026-03-02 16:15"] * len(names), utc=True),
        }
    )


@pytest.mark.parametrize("value", DANGEROUS)
def test_a_cell_that_a_spreadsheet_would_run_is_neutralised(value):
    assert neutralise(value) == "'" + value


def test_every_dangerous_first_character_is_covered():
    assert set(FORMULA_START) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize("value", ["Centro Escolar", "", "1=1", "a-b", " =1", "'ya"])
def test_harmless_text_is_left_alone(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [-3, 0, 2.5, -0.75, None])
def test_numbers_are_untouched(value):
    assert neutralise(value) == value


def test_prepare_renames_keeps_order_and_neutralises_text_only():
    table = prepare(frame(["=1+1", "Escuela"]), HEADERS)
    assert list(table.columns) == list(HEADERS.values())
    assert table["Centro educativo"].tolist() == ["'=1+1", "Escuela"]
    assert table["Incidentes"].tolist() == [0, 1]
    assert table["Tasa"].tolist() == [-1.5, -1.5]


def test_times_are_shown_in_el_salvador_time_without_a_zone():
    table = prepare(frame(["Escuela"]), HEADERS)
    # 16:15 UTC is 10:15 in El Salvador (UTC-6, no daylight saving).
    assert table["Fecha"].iloc[0] == pd.Timestamp("2026-03-02 10:15")
    assert table["Fecha"].dt.tz is None


def test_csv_is_utf8_with_a_bom_and_inert_in_a_spreadsheet():
    body = to_csv(prepare(frame([*DANGEROUS, "Señor de Esquipulas"]), HEADERS))
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(HEADERS.values())
    names = [row[0] for row in rows[1:]]
    assert names == ["'" + value for value in DANGEROUS] + ["Señor de Esquipulas"]
    assert all(row[2] == "-1.5" for row in rows[1:])  # a negative number stays a number
    assert rows[1][3] == "2026-03-02 10:15:00"


def test_xlsx_keeps_numbers_as_numbers_and_formulas_as_text():
    body = to_xlsx(prepare(frame(DANGEROUS), HEADERS), "Prueba")
    sheet = openpyxl.load_workbook(io.BytesIO(body))["Prueba"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(HEADERS.values())
    for row, value in zip(rows[1:], DANGEROUS, strict=True):
        assert row[0] == "'" + value.replace("\r", "\n")  # XML reads a CR as a line feed
        assert row[2] == -1.5
        assert row[3] == datetime(2026, 3, 2, 10, 15)
    assert all(cell.data_type == "s" for cell in sheet["A"][1:])  # no formula anywhere
    assert sheet.freeze_panes == "A2"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_download_answers_an_attachment_and_audits_it(app, fmt, monkeypatch):
    from salve.auth import reauth

    monkeypatch.setattr(reauth, "is_recent", lambda: True)  # confirmed a minute ago
    with app.test_request_context():
        response = download(
            frame(["Escuela"]),
            HEADERS,
            fmt,
            "lista de prueba/../x",
            action="prueba.export",
            target_type="department",
            target_id="06",
            channel="web",
        )
    assert response.headers["Content-Type"] == (
        "text/csv; charset=utf-8" if fmt == "csv" else XLSX_MIME
    )
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="lista_de_prueba_.._x_')
    assert disposition.endswith(f'.{fmt}"')
    assert response.headers["Cache-Control"] == "no-store"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "prueba.export"))
    assert (event.object_type, event.object_id) == ("department", "06")
    assert event.detail == {"format": fmt, "rows": 1, "channel": "web"}


def test_a_download_without_a_recent_confirmation_asks_for_one_and_writes_nothing(app):
    with app.test_request_context("/reportes/x?formato=csv"):
        response = download(
            frame(["Escuela"]), HEADERS, "csv", "x", action="prueba.export",
            target_type="department", target_id="06",
        )  # fmt: skip
    assert response.status_code == 302
    assert response.location.startswith("/reautenticar?next=/reportes/x?formato%3Dcsv")
    assert (
        db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "prueba.export")) is None
    )


def test_download_refuses_an_unknown_format(app):
    with app.test_request_context(), pytest.raises(ValueError, match="unknown export format"):
        download(frame([]), HEADERS, "pdf", "x", action="a", target_type="t", target_id=1)
