"""On a phone, the national analyst sees the departments side by side and the rule quality."""

from __future__ import annotations

import re
from pathlib import Path

from salve.auth import roles as R
from tests.browser.test_login_roles import horizontal_overflow, sign_in


def test_the_national_analyst_sees_the_departments_and_the_rules(page, live_server):
    sign_in(page, live_server, R.NACIONAL)
    home_links = page.locator(".national-links")
    assert home_links.get_by_role("link", name="Ver la calidad de las reglas").is_visible()

    page.locator("nav.main-nav").get_by_role("link", name="Vista nacional").click()
    page.wait_for_url(re.compile(r"/reportes/nacional$"))
    assert page.locator("h1").inner_text() == "Los 14 departamentos, lado a lado"
    assert page.locator("svg.rank-chart rect.rank-bar").count() == 14
    assert page.locator(".national-table tbody tr").count() == 14
    assert "no un mapa" in page.locator(".rank-chart-figure figcaption").inner_text()
    assert horizontal_overflow(page) <= 0, "the national view scrolls sideways on a phone"

    # Sorting by rate puts the highest first; each department opens its list of schools.
    page.locator(".national-table thead").get_by_role("link", name=re.compile(r"^Tasa")).click()
    page.wait_for_url(re.compile(r"orden=tasa"))
    rates = [float(text) for text in page.locator(".national-table tbody td:nth-child(6)")
             .all_inner_texts()]  # fmt: skip
    assert rates == sorted(rates, reverse=True)
    first = page.locator(".national-table tbody th a").first
    assert re.fullmatch(r"/reportes/departamentos/\d\d/escuelas", first.get_attribute("href"))

    page.locator("nav.main-nav").get_by_role("link", name="Calidad de las reglas").click()
    page.wait_for_url(re.compile(r"/reportes/reglas$"))
    assert page.locator("h1").inner_text() == "Calidad de las reglas de alerta"
    rules = page.locator(".rule-table").first.locator("tbody tr")
    assert rules.count() >= 2
    assert "flask --app app salve rules backtest" in page.locator("code.command").inner_text()
    page.locator("details.rule-departments summary").first.click()
    assert horizontal_overflow(page) <= 0, "the rule-quality report scrolls sideways on a phone"
    page.locator(".period-choice").get_by_role("link", name="365 días").click()
    page.wait_for_url(re.compile(r"periodo=365"))
    assert page.locator('.period-choice a[aria-current="page"]').inner_text() == "365 días"

    with page.expect_download() as download:
        page.get_by_role("link", name="Descargar CSV").click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines()[0].startswith("Código de la regla,Regla,")
