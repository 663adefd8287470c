"""Open data in a real Chromium on a phone: an anonymous visitor groups, reads and downloads.

On the demo country, without signing in: the visitor opens the open data page, groups the
counts by month and sex instead of the default, and downloads the CSV. Neither the page nor the
file shows a count from 1 to 4.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tests.browser.test_login_roles import horizontal_overflow

FILE_NAME = re.compile(r"salve_datos_abiertos_month_sex_\d{4}-\d{2}-\d{2}\.csv")


def is_small(text: str) -> bool:
    """Tell whether a shown count is a number from 1 to 4."""
    digits = text.strip().replace(",", "")
    return digits.isdigit() and 1 <= int(digits) <= 4


def test_an_anonymous_visitor_groups_and_downloads_open_data(page, live_server):
    page.goto("/datos-abiertos/")
    assert "/ingresar" not in page.url
    assert "Datos abiertos" in page.locator("h1").inner_text()
    assert page.get_by_role("heading", name="Metodología").is_visible()
    assert horizontal_overflow(page) <= 0, "the open data page scrolls sideways on a phone"

    page.get_by_label("Departamento", exact=True).uncheck()
    page.get_by_label("Categoría de violencia", exact=True).uncheck()
    page.get_by_label("Mes", exact=True).check()
    page.get_by_label("Sexo de la víctima", exact=True).check()
    page.get_by_role("button", name="Ver tabla").click()
    page.wait_for_url(re.compile(r"por=mes&por=sexo"))
    headers = page.locator("table thead th").all_inner_texts()
    assert headers == ["Mes", "Sexo de la víctima", "Incidentes"]
    shown = page.locator("table tbody td.num").all_inner_texts()
    assert len(shown) == 13 * 2  # 12 complete months and the current one, by sex
    assert not [text for text in shown if is_small(text)]
    assert any(text.strip().replace(",", "").isdigit() and text.strip() != "0" for text in shown)

    with page.expect_download() as info:
        page.get_by_role("link", name="Descargar CSV").click()
    saved = info.value
    assert FILE_NAME.fullmatch(saved.suggested_filename), saved.suggested_filename
    text = Path(saved.path()).read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[-1] == "Incidentes"
    assert len(rows) == 13 * 2
    assert {row[2] for row in rows} == {"F", "M"}
    counts = [row[-1] for row in rows]
    assert not [count for count in counts if is_small(count)], counts
