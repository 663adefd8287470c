"""Signing in and out on a phone, for every role, in a real Chromium."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest

from salve.auth import roles as R

#: The role name each home page shows in the header, in Spanish.
ROLE_LABELS = {
    R.DOCENTE: "Docente",
    R.DIRECTOR: "Director(a)",
    R.GESTOR: "Gestor(a) de casos",
    R.SUPERVISOR: "Supervisor(a) de casos",
    R.DEPARTAMENTAL: "Dirección departamental",
    R.NACIONAL: "Análisis nacional",
    R.ADMIN: "Administración del sistema",
}

#: The sign-in labels (a required field's label goes on with "(obligatorio)").
USERNAME = re.compile(r"^Usuario\b")
PASSWORD = re.compile(r"^Contraseña\b")

SIGN_OUT = "header form[action$='/salir'] [type=submit]"


def path_of(page) -> str:
    """Return the path of the page's current URL."""
    return urlsplit(page.url).path


def fill_login(page, username: str, password: str) -> None:
    """Type credentials into the sign-in form and submit it."""
    page.get_by_label(USERNAME).fill(username)
    page.get_by_label(PASSWORD).fill(password)
    page.locator("form:has(input[name=password]) [type=submit]").click()
    page.wait_for_load_state()


def _next_code(live_server, username: str) -> str:
    """Return a code the server has not seen yet, waiting for the next step if need be."""
    totp = pyotp.TOTP(live_server.totp_secrets[username])
    while True:
        step = totp.timecode(time.time())
        last = live_server.totp_steps.get(username)
        if last is None or step > last:
            live_server.totp_steps[username] = step
            return totp.generate_otp(step)
        if step + 1 > last:  # one step ahead is accepted too (a phone's clock runs fast)
            live_server.totp_steps[username] = step + 1
            return totp.generate_otp(step + 1)
        time.sleep(1)


def complete_second_factor(page, live_server, username: str) -> None:
    """Enrol the authenticator (first sign-in) or type its code, as a person with a phone would."""
    path = path_of(page)
    if path == "/cuenta/segundo-factor":
        secret = page.locator("[data-totp-secret]").inner_text().replace(" ", "")
        live_server.totp_secrets[username] = secret
        page.get_by_label(re.compile(r"^Código de 6 dígitos")).fill(
            _next_code(live_server, username)
        )
        page.get_by_role("button", name="Activar").click()
        page.wait_for_load_state()
        assert page.locator(".recovery-codes code").count() == 10
        page.get_by_role("link", name="Ya los guardé, continuar").click()
        page.wait_for_load_state()
    elif path == "/ingresar/codigo":
        page.get_by_label(re.compile(r"^Código")).fill(_next_code(live_server, username))
        page.get_by_role("button", name="Verificar").click()
        page.wait_for_load_state()


def sign_in(page, live_server, role: str) -> None:
    """Sign in as the account of ``role`` and wait for the home page."""
    page.goto("/ingresar")
    username = live_server.accounts[role]
    fill_login(page, username, live_server.password)
    complete_second_factor(page, live_server, username)
    page.wait_for_url(re.compile(r"/inicio$"))


def horizontal_overflow(page) -> int:
    """Return by how many CSS pixels the page is wider than the viewport."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("role", R.ROLES)
def test_each_role_signs_in_and_out_on_a_phone(page, live_server, role):
    page.goto("/ingresar")
    assert page.get_by_label(USERNAME).is_visible()
    assert page.get_by_label(PASSWORD).is_visible()
    assert horizontal_overflow(page) <= 0, "the sign-in page scrolls sideways on a phone"

    username = live_server.accounts[role]
    fill_login(page, username, live_server.password)
    if role in R.SECOND_FACTOR_ROLES:
        assert path_of(page) in {"/cuenta/segundo-factor", "/ingresar/codigo"}
        assert horizontal_overflow(page) <= 0, "the second step scrolls sideways on a phone"
        complete_second_factor(page, live_server, username)

    assert path_of(page) == "/inicio"
    assert page.locator("header").get_by_text(ROLE_LABELS[role], exact=True).count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, (
        f"the {role} home page scrolls sideways on a 360 px screen"
    )

    page.locator(SIGN_OUT).click()
    page.wait_for_url(re.compile(r"/ingresar"))
    assert path_of(page) == "/ingresar"
    page.goto("/inicio")
    assert path_of(page) == "/ingresar", "the home page is still open after signing out"


def test_wrong_password_is_refused_in_spanish_keeping_the_username(page, live_server):
    username = live_server.accounts[R.DOCENTE]
    page.goto("/ingresar")
    fill_login(page, username, "not-the-password")

    assert path_of(page) == "/ingresar"
    assert page.get_by_text("Usuario o contraseña incorrectos.").is_visible()
    assert page.get_by_label(USERNAME).input_value() == username
    assert page.get_by_label(PASSWORD).input_value() == ""


def test_switching_to_english_translates_the_sign_in_page(page, live_server):
    page.goto("/ingresar")
    assert page.locator("html").get_attribute("lang", timeout=1000).startswith("es")

    switch = page.locator("form[action$='/idioma']")
    english_button = switch.locator("button[name=lang][value=en]")
    if english_button.count():
        english_button.click()
    else:
        switch.locator("select[name=lang]").select_option("en")
        switch.locator("[type=submit]").click()
    page.wait_for_load_state()

    assert path_of(page) == "/ingresar"
    assert page.locator("html").get_attribute("lang").startswith("en")
    assert page.get_by_label(re.compile(r"^Password")).is_visible()
    assert page.get_by_text("Contraseña", exact=True).count() == 0


def test_a_cookie_copied_before_sign_out_is_refused_after_it(new_context, live_server):
    context = new_context()
    page = context.new_page()
    sign_in(page, live_server, R.DIRECTOR)
    copied = context.cookies()
    assert copied, "signing in set no cookie"

    page.locator(SIGN_OUT).click()
    page.wait_for_url(re.compile(r"/ingresar"))

    thief = new_context()
    thief.add_cookies(copied)
    stolen = thief.new_page()
    stolen.goto("/inicio")
    assert path_of(stolen) == "/ingresar"
    assert ROLE_LABELS[R.DIRECTOR] not in stolen.locator("body").inner_text()
