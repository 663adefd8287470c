"""A school's analytics, opened from the regional office's list, in a real Chromium on a phone.

The demo departamental opens the school most at risk in San Salvador, sees its charts fit a
360 px screen by sex and by level, and downloads one table as CSV and XLSX.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl

from salve.auth import roles as R
from tests.browser.test_login_roles import horizontal_overflow, sign_in

ANALYTICS_URL = re.compile(r"/reportes/escuelas/(\d{5})/analisis")
LOCATION_HEADERS = ["Lugar", "Incidentes", "Estudiantes involucrados", "Niñas", "Niños"]


def download(page, section: str, link_text: str, code: str, extension: str) -> bytes:
    """Download a figure's table from its section and return the file's content."""
    with page.expect_download() as info:
        page.locator(f"section[aria-labelledby='{section}-titulo']").get_by_role(
            "link", name=link_text, exact=True
        ).click()
    saved = info.value
    assert re.fullmatch(
        rf"analisis_{code}_{section}_\d+m_\d{{8}}\.{extension}", saved.suggested_filename
    )
    return Path(saved.path()).read_bytes()


def test_the_office_opens_a_school_analytics_and_downloads_a_table(page, live_server):
    sign_in(page, live_server, R.DEPARTAMENTAL)
    page.goto("/reportes/departamentos/06/escuelas")
    page.locator("tr.risk-row .school-name").first.click()
    page.wait_for_url(ANALYTICS_URL)
    code = ANALYTICS_URL.search(page.url)[1]
    assert page.locator("h1").inner_text() == "Análisis de la escuela"
    assert horizontal_overflow(page) <= 0, "the analytics page scrolls sideways on a phone"
    charts = page.locator("svg.analytics-chart")
    assert charts.count() >= 9
    widest = max(box["width"] for box in (c.bounding_box() for c in charts.all()) if box)
    assert widest <= 360

    page.get_by_role("link", name="Por nivel educativo").click()
    page.wait_for_url(re.compile(r"por=nivel"))
    page.get_by_role("link", name="3 meses").click()
    page.wait_for_url(re.compile(r"meses=3"))
    assert "por=nivel" in page.url
    assert page.locator("a[aria-current='page']", has_text="3 meses").count() == 1
    assert horizontal_overflow(page) <= 0, "the level breakdown scrolls sideways on a phone"

    rows = list(
        csv.reader(io.StringIO(download(page, "lugares", "CSV", code, "csv").decode("utf-8-sig")))
    )
    assert rows[0][: len(LOCATION_HEADERS)] == LOCATION_HEADERS
    assert "Básica, III ciclo" in rows[0]  # every breakdown, whatever the page shows
    total = page.locator("#tabla-lugares tfoot td").first.inner_text()
    assert sum(int(row[1]) for row in rows[1:]) == int(total.replace(",", ""))
    workbook = openpyxl.load_workbook(io.BytesIO(download(page, "lugares", "XLSX", code, "xlsx")))
    sheet = list(workbook.active.iter_rows(values_only=True))
    assert list(sheet[0][: len(LOCATION_HEADERS)]) == LOCATION_HEADERS
    assert [row[0] for row in sheet[1:]] == [row[0] for row in rows[1:]]
