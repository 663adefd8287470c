"""A sexual-violence report becomes an alert, a case and a closure, in a real Chromium on a phone.

The teacher files the report; the case handler finds its alert in the inbox the same minute,
acknowledges it, opens a case, refers it to the FGR, notes the follow-ups the protocol needs and
asks to close; the supervisor approves, and the alert reads "resuelta".
"""

from __future__ import annotations

import re

from salve.auth import roles as R
from tests.browser.test_incident_journey import _two_nies
from tests.browser.test_login_roles import SIGN_OUT, horizontal_overflow, sign_in

INCIDENT_URL = re.compile(r"/incidentes/(\d+)$")
ALERT_URL = re.compile(r"/alertas/(\d+)$")
CASE_URL = re.compile(r"/casos/(\d+)$")


def submit_in(page, summary: str, *, select=None, fill=None) -> None:
    """Open the folded form titled ``summary``, fill it in and send it; wait for the answer."""
    details = page.locator("details.action-details", has=page.locator("summary", has_text=summary))
    details.locator("summary").click()
    for selector, value in (select or {}).items():
        details.locator(selector).select_option(value)
    for selector, value in (fill or {}).items():
        details.locator(selector).fill(value)
    with page.expect_navigation():
        details.locator("button[type=submit]").click()


def answer_referral(page, summary: str, *, fill=None) -> None:
    """Record an institution's answer to the case's (only) referral."""
    fields = {f"[name={name}]": value for name, value in (fill or {}).items()}
    submit_in(page, summary, fill=fields)
    assert page.locator(".flash-success").is_visible()


def closure_problems(page) -> str:
    """Return what the case page says still stops the case from closing."""
    problems = page.locator(".closure-problems")
    return problems.inner_text() if problems.count() else ""


def _file_sexual_violence_report(teacher, victim: str, aggressor: str) -> None:
    teacher.goto("/incidentes/nuevo")
    teacher.select_option("#location", "patio")
    teacher.locator("summary", has_text="Violencia sexual").click()
    teacher.check("#type-SEX_TOCAMIENTOS")
    teacher.check("#relationship-estudiante_estudiante")
    teacher.select_option("#parties-0-role", "victima")
    teacher.select_option("#parties-0-kind", "estudiante")
    teacher.fill("#parties-0-nie", victim)
    teacher.select_option("#parties-1-role", "agresor")
    teacher.select_option("#parties-1-kind", "estudiante")
    teacher.fill("#parties-1-nie", aggressor)
    teacher.check("#repetition-primera_vez")
    teacher.check("#measure-separacion")
    teacher.fill("#narrative", "En el baño un compañero le tocó sin su consentimiento.")
    teacher.get_by_role("button", name="Enviar reporte").click()
    teacher.wait_for_url(INCIDENT_URL)


def test_a_report_becomes_an_alert_a_case_and_a_closure(new_context, live_server):
    teacher = new_context().new_page()
    sign_in(teacher, live_server, R.DOCENTE)
    victim, aggressor = _two_nies(teacher)
    _file_sexual_violence_report(teacher, victim, aggressor)
    teacher.locator(SIGN_OUT).click()

    # The handler, on a phone, finds the alert in the inbox the same minute.
    gestor = new_context().new_page()
    sign_in(gestor, live_server, R.GESTOR)
    assert gestor.locator(".work-summary .alerts-open .figure-value").inner_text() != "0"
    gestor.locator("nav.main-nav").get_by_role("link", name="Alertas").click()
    gestor.wait_for_url(re.compile(r"/alertas/$"))
    assert horizontal_overflow(gestor) <= 0, "the alert inbox scrolls sideways on a phone"
    gestor.select_option("#regla", "hecho_grave_estudiante")
    gestor.get_by_role("button", name="Filtrar").click()
    gestor.wait_for_url(re.compile(r"regla=hecho_grave_estudiante"))
    assert horizontal_overflow(gestor) <= 0, "the filtered inbox scrolls sideways on a phone"
    card = gestor.locator(".alert-item", has_text=f"NIE {victim}")
    assert card.count() == 1
    assert "Hecho grave (alerta inmediata)" in card.inner_text()
    assert "Crítico" in card.inner_text()
    card.locator("a").click()
    gestor.wait_for_url(ALERT_URL)
    alert_path = "/alertas/" + ALERT_URL.search(gestor.url).group(1)
    assert "Participó en 1 hechos de alerta inmediata" in gestor.locator(".why").inner_text()
    assert gestor.locator(".incident-list .incident-item").count() == 1
    assert horizontal_overflow(gestor) <= 0, "the alert page scrolls sideways on a phone"

    gestor.get_by_role("button", name="Reconocer la alerta").click()
    gestor.wait_for_url(re.compile(alert_path + "$"))
    assert "Alerta reconocida." in gestor.locator(".flash-success").inner_text()
    gestor.get_by_role("button", name="Abrir un caso").click()
    gestor.wait_for_url(CASE_URL)
    case_path = "/casos/" + CASE_URL.search(gestor.url).group(1)
    assert gestor.get_by_text(re.compile(r"Caso C-\d{6} abierto\.")).is_visible()
    assert horizontal_overflow(gestor) <= 0, "the case page scrolls sideways on a phone"

    # Refer to the FGR; the institution accepts and concludes its part.
    submit_in(
        gestor,
        "Referir a una institución",
        select={"#referir-institution": "FGR"},
        fill={"#referir-note": "Aviso por oficio a la Fiscalía."},
    )
    assert gestor.get_by_text(
        "Caso referido a Fiscalía General de la República (FGR)."
    ).is_visible()
    assert "Faltan respuestas de: FGR." in closure_problems(gestor)
    answer_referral(gestor, "La institución la aceptó", fill={"reference": "FGR-2026-0042"})
    answer_referral(gestor, "La institución concluyó su parte")
    assert "FGR-2026-0042" in gestor.locator(".referral-item").inner_text()

    # The follow-ups tier III needs, counted from what the page says is missing.
    needed = int(re.search(r"al menos (\d+) seguimientos", closure_problems(gestor)).group(1))
    for n in range(needed):
        gestor.fill("#seguimiento-note", f"Visita {n + 1}: la estudiante está acompañada.")
        gestor.get_by_role("button", name="Registrar seguimiento").click()
        gestor.wait_for_url(re.compile(case_path + "#seguimientos$"))
    assert gestor.get_by_text("El caso reúne lo que el protocolo pide para cerrarse.").is_visible()
    gestor.fill("#cierre-summary", "Protección inmediata, aviso a la FGR y tres seguimientos.")
    gestor.get_by_role("button", name="Solicitar cierre").click()
    gestor.wait_for_url(re.compile(case_path + "#cierre$"))
    assert gestor.get_by_text(
        "Espera la aprobación de la supervisión del departamento."
    ).is_visible()
    gestor.locator(SIGN_OUT).click()

    # The supervisor approves the closure; the alert is resolved.
    supervisor = new_context().new_page()
    sign_in(supervisor, live_server, R.SUPERVISOR)
    supervisor.locator("nav.main-nav").get_by_role("link", name="Casos").click()
    supervisor.wait_for_url(re.compile(r"/casos/$"))
    assert horizontal_overflow(supervisor) <= 0, "the case list scrolls sideways on a phone"
    supervisor.goto(case_path)
    supervisor.get_by_role("button", name="Aprobar cierre").click()
    supervisor.wait_for_url(re.compile(case_path + "#cierre$"))
    assert supervisor.get_by_text(re.compile(r"Cierre aprobado\.")).is_visible()
    assert supervisor.locator(".page-head .case-status").inner_text() == "Cerrado"
    supervisor.goto(alert_path)
    assert supervisor.locator(".page-head .alert-status").inner_text() == "resuelta"
    assert "Pasó de «en atención» a «resuelta»." in supervisor.locator(".timeline").inner_text()
