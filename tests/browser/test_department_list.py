"""The regional office's ranked list of schools, in a real Chromium on a phone.

The demo departamental opens San Salvador's list, cuts it to one municipality, sorts it by rate,
and downloads it as CSV and XLSX: both files open cleanly and hold as many schools as the page
says it found.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl

from salve.auth import roles as R
from tests.browser.conftest import PHONE
from tests.browser.test_login_roles import horizontal_overflow, sign_in

LIST_URL = re.compile(r"/reportes/departamentos/06/escuelas")
HEADERS = ["Código", "Centro educativo", "Municipio", "Distrito", "Sector", "Zona", "Nivel"]


def found(page) -> int:
    """Return how many schools the page says the list holds."""
    text = page.locator(".result-count").inner_text()
    return (
        1
        if "1 escuela." in text
        else int(re.search(r"([\d,]+) escuelas", text)[1].replace(",", ""))
    )


def rates(page) -> list[float]:
    """Return the rates per 100 students of the schools shown, in order."""
    cells = page.locator("tr.risk-row td:nth-child(10)").all_inner_texts()
    return [float(text.split()[-1].replace(",", "")) for text in cells]


def download(page, link_text: str, extension: str) -> bytes:
    """Click a download link, check the file's suggested name, and return its content."""
    with page.expect_download() as info:
        page.get_by_role("link", name=link_text).click()
    saved = info.value
    assert re.fullmatch(rf"escuelas_riesgo_06_\d{{8}}\.{extension}", saved.suggested_filename)
    return Path(saved.path()).read_bytes()


def test_the_office_ranks_filters_sorts_and_downloads_its_schools(page, live_server):
    sign_in(page, live_server, R.DEPARTAMENTAL)
    page.locator("nav.main-nav").get_by_role("link", name="Escuelas por riesgo").click()
    page.wait_for_url(LIST_URL)
    assert page.locator("h1").inner_text() == "Escuelas de San Salvador por riesgo"
    assert horizontal_overflow(page) <= 0, "the risk list scrolls sideways on a phone"
    everyone = found(page)
    assert everyone > 1
    risk_header = page.locator("th[aria-sort]")
    assert risk_header.get_attribute("aria-sort") == "descending"
    assert "Riesgo" in risk_header.inner_text()

    # Cut it to the municipality of the school most at risk.
    first_row = page.locator("tr.risk-row").first
    municipality = first_row.locator("td").nth(1).inner_text().splitlines()[0].strip()
    page.select_option("#municipio", label=municipality)
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"municipio=\d+"))
    cut = found(page)
    assert 1 <= cut <= everyone
    shown = page.locator("tr.risk-row td:nth-child(3)").all_inner_texts()
    assert shown and all(text.startswith(municipality) for text in shown)
    assert horizontal_overflow(page) <= 0, "the filtered list scrolls sideways on a phone"

    # On the phone the form sorts (each card names its figures); by rate, highest first.
    page.select_option("#orden", label="Tasa por 100")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"orden=tasa"))
    assert "municipio=" in page.url
    assert rates(page) == sorted(rates(page), reverse=True)
    assert found(page) == cut
    assert horizontal_overflow(page) <= 0, "the sorted list scrolls sideways on a phone"

    # On a wide screen the column headers sort: the sorted one says so, and flips the order.
    page.set_viewport_size({"width": 1280, "height": 800})
    header = page.locator("th[aria-sort]")
    assert "Tasa por 100" in header.inner_text()
    assert header.get_attribute("aria-sort") == "descending"
    header.get_by_role("link").click()
    page.wait_for_url(re.compile(r"dir=asc"))
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    assert rates(page) == sorted(rates(page))
    assert found(page) == cut
    page.set_viewport_size(PHONE)

    # Both files open cleanly and hold every school of the cut, not one page.
    text = download(page, "Descargar CSV", "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][: len(HEADERS)] == HEADERS
    assert len(rows) - 1 == cut
    assert {row[2] for row in rows[1:]} == {municipality}
    workbook = openpyxl.load_workbook(io.BytesIO(download(page, "Descargar Excel", "xlsx")))
    sheet_rows = list(workbook.active.iter_rows(values_only=True))
    assert list(sheet_rows[0][: len(HEADERS)]) == HEADERS
    assert len(sheet_rows) - 1 == cut
    assert [row[0] for row in sheet_rows[1:]] == [row[0] for row in rows[1:]]

    # A school's name leads to its analytics; "Ver riesgo" to its risk page.
    name = page.locator("tr.risk-row .school-name").first
    assert re.fullmatch(r"/reportes/escuelas/\d{5}/analisis", name.get_attribute("href"))
    page.locator("tr.risk-row .school-meta a").first.click()
    page.wait_for_url(re.compile(r"/riesgo/escuelas/\d{5}$"))
    assert page.locator("h1").inner_text() == "Riesgo de la escuela"
