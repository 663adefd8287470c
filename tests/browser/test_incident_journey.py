"""A teacher files a report with two students on a phone; the principal validates and amends it."""

from __future__ import annotations

import re

from salve.auth import roles as R
from tests.browser.test_login_roles import SIGN_OUT, horizontal_overflow, sign_in

INCIDENT_URL = re.compile(r"/incidentes/(\d+)$")


def _two_nies(page) -> list[str]:
    """Return two NIEs of the teacher's school, read from the student search page."""
    page.goto("/incidentes/estudiantes")
    nies = page.locator(".student-nie").all_inner_texts()
    assert len(nies) >= 2, "the demo school has fewer than two students"
    return nies[:2]


def test_a_teacher_files_and_the_principal_validates_and_amends(new_context, live_server):
    teacher = new_context().new_page()
    sign_in(teacher, live_server, R.DOCENTE)
    first, second = _two_nies(teacher)

    teacher.goto("/inicio")
    teacher.get_by_role("link", name="Reportar un incidente").first.click()
    teacher.wait_for_url(re.compile(r"/incidentes/nuevo$"))
    assert horizontal_overflow(teacher) <= 0, "the report form scrolls sideways on a phone"
    teacher.select_option("#location", "patio")
    teacher.locator("summary", has_text="Acoso escolar").click()
    teacher.check("#type-ACO_VERBAL")
    teacher.check("#relationship-estudiante_estudiante")
    teacher.select_option("#parties-0-role", "victima")
    teacher.select_option("#parties-0-kind", "estudiante")
    teacher.fill("#parties-0-nie", first)
    teacher.select_option("#parties-1-role", "agresor")
    teacher.select_option("#parties-1-kind", "estudiante")
    teacher.fill("#parties-1-nie", second)
    teacher.check("#repetition-2_3")
    teacher.check("#measure-separacion")
    teacher.fill("#narrative", "En el recreo le dijeron apodos <b>ofensivos</b> otra vez.")
    teacher.get_by_role("button", name="Enviar reporte").click()
    teacher.wait_for_url(INCIDENT_URL)
    incident_path = "/incidentes/" + INCIDENT_URL.search(teacher.url).group(1)
    assert teacher.get_by_text(re.compile(r"Reporte registrado con el número \d+")).is_visible()
    assert teacher.locator(".narrative").inner_text().endswith("<b>ofensivos</b> otra vez.")
    assert teacher.locator(".party-item").count() == 2
    assert horizontal_overflow(teacher) <= 0, "the report page scrolls sideways on a phone"
    teacher.locator(SIGN_OUT).click()

    principal = new_context().new_page()
    sign_in(principal, live_server, R.DIRECTOR)
    assert principal.locator(".awaiting .figure-value").inner_text() != "0"
    principal.goto(incident_path)
    principal.get_by_role("button", name="Validar reporte").click()
    principal.wait_for_url(re.compile(incident_path + "$"))
    assert principal.get_by_text("Reporte validado.").is_visible()
    assert principal.locator(".page-head .badge").inner_text() == "Validado"

    principal.get_by_role("link", name="Corregir o completar").click()
    principal.wait_for_url(re.compile(incident_path + "/corregir$"))
    assert principal.locator("#parties-1-nie").input_value() == second
    assert horizontal_overflow(principal) <= 0, "the correction form scrolls sideways"
    principal.select_option("#location", "aula")
    principal.fill("#reason", "La docente aclaró que fue en el aula.")
    principal.get_by_role("button", name="Guardar corrección").click()
    principal.wait_for_url(re.compile(incident_path + "$"))
    history = principal.locator(".history")
    assert "La docente aclaró que fue en el aula." in history.inner_text()
    change = history.locator(".change", has_text="Lugar").first
    assert "Patio" in change.locator(".change-before").inner_text()
    assert "Aula" in change.locator(".change-after").inner_text()
    assert "Validación" in history.inner_text()
