"""The TOTP second factor, recovery codes and re-authentication (SECURITY.md item 7)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.auth.models import AuthSession, RecoveryCode, RoleAssignment, User
from salve.db import utcnow
from salve.extensions import db
from tests import factories
from tests.conftest import login
from tests.factories import PASSWORD, totp_code

CODE_PAGE = "/ingresar/codigo"
ENROL_PAGE = "/cuenta/segundo-factor"
LIST_CSV = "/reportes/departamentos/06/escuelas?formato=csv"


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _password_only(client, username: str):
    return client.post("/ingresar", data={"username": username, "password": PASSWORD})


def _actions(user_id: int, action: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.outcome).where(
                AuditEvent.user_id == user_id, AuditEvent.action == action
            )
        )
    )


def _age_sessions(username: str, minutes: int) -> None:
    """Pretend the user's sessions were confirmed ``minutes`` ago (the clock moved on)."""
    then = utcnow() - timedelta(minutes=minutes)
    db.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.user_id == _user(username).id)
        .values(created_at=then, last_seen_at=utcnow(), second_factor_at=then)
    )


@pytest.mark.parametrize("username", ["gestor_06", "supervisor_06", "nacional", "admin"])
def test_the_password_alone_signs_nobody_in_for_roles_that_see_identities(client, world, username):
    response = _password_only(client, username)
    assert response.status_code == 302
    assert response.location.startswith(CODE_PAGE)
    # Still nobody: every page sends the browser back to the second step.
    home = client.get("/inicio")
    assert home.status_code == 302 and home.location.startswith("/ingresar")
    assert client.get("/ingresar").location.startswith(CODE_PAGE)

    response = client.post(CODE_PAGE, data={"code": totp_code(username)})
    assert response.status_code == 302
    assert client.get("/inicio").status_code == 200
    assert _actions(_user(username).id, "login.second_factor") == ["ok"]


@pytest.mark.parametrize("username", ["docente_a", "director_a", "departamental_06"])
def test_school_staff_and_regional_offices_sign_in_with_the_password(client, world, username):
    response = _password_only(client, username)
    assert response.location == "/inicio"
    assert client.get("/inicio").status_code == 200


def test_the_next_page_survives_the_second_step(client, world):
    response = client.post(
        "/ingresar?next=/alertas/", data={"username": "gestor_06", "password": PASSWORD}
    )
    assert response.location.startswith(CODE_PAGE)
    response = client.post(response.location, data={"code": totp_code("gestor_06")})
    assert response.location == "/alertas/"


def test_a_code_is_accepted_once(app, client, world):
    code = totp_code("gestor_06")
    _password_only(client, "gestor_06")
    assert client.post(CODE_PAGE, data={"code": code}).status_code == 302

    watcher = app.test_client()  # someone who saw the code over the shoulder
    _password_only(watcher, "gestor_06")
    page = watcher.post(CODE_PAGE, data={"code": code})
    assert page.status_code == 200
    assert "El código no es correcto o ya fue usado" in page.get_data(as_text=True)
    assert watcher.get("/inicio").status_code == 302


def test_wrong_codes_lock_the_account_like_wrong_passwords(client, world):
    _password_only(client, "gestor_06")
    for _ in range(5):
        page = client.post(CODE_PAGE, data={"code": "000000"})
        assert page.status_code == 200
        assert 'aria-invalid="true"' in page.get_data(as_text=True)
    response = client.post(CODE_PAGE, data={"code": "000000"})
    assert response.status_code == 302 and response.location == "/ingresar"
    # Locked: even the right password and code no longer open a session.
    assert "Demasiados intentos" in login(client, "gestor_06").get_data(as_text=True)
    assert client.get("/inicio").status_code == 302
    assert _actions(_user("gestor_06").id, "login.second_factor").count("failed") == 5


def test_the_password_again_does_not_forget_wrong_codes(client, world):
    """Finding 4 of the December audit: 5 codes, the password again, 5 codes… never locked."""
    _password_only(client, "gestor_06")
    for _ in range(5):
        assert client.post(CODE_PAGE, data={"code": "000000"}).status_code == 200
    response = _password_only(client, "gestor_06")  # a new pending session, same password
    assert response.status_code == 302 and response.location.startswith(CODE_PAGE)
    response = client.post(CODE_PAGE, data={"code": "000000"})
    assert response.status_code == 302 and response.location == "/ingresar"
    assert "Demasiados intentos" in client.get("/ingresar").get_data(as_text=True)
    # Locked for 30 minutes: the right password and the right code no longer sign in.
    assert "Demasiados intentos" in login(client, "gestor_06").get_data(as_text=True)
    assert client.get("/inicio").status_code == 302


def test_a_correct_password_keeps_counting_wrong_codes_but_a_full_sign_in_clears_them(
    app, client, world, monkeypatch
):
    monkeypatch.setitem(app.config["RATE_LIMITS"], "second-factor", (100, 300))
    _password_only(client, "gestor_06")
    for _ in range(5):
        client.post(CODE_PAGE, data={"code": "000000"})
    assert login(client, "gestor_06").status_code == 302  # password and the right code
    client.post("/salir")
    _password_only(client, "gestor_06")
    for _ in range(5):  # counted from zero again: five more are not a lock
        assert client.post(CODE_PAGE, data={"code": "000000"}).status_code == 200
    assert client.post(CODE_PAGE, data={"code": totp_code("gestor_06")}).status_code == 302


def test_a_pending_session_expires_after_ten_minutes(client, world):
    _password_only(client, "gestor_06")
    db.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.user_id == _user("gestor_06").id)
        .values(created_at=utcnow() - timedelta(minutes=11))
    )
    response = client.post(CODE_PAGE, data={"code": totp_code("gestor_06")})
    assert response.status_code == 302 and response.location == "/ingresar"
    assert client.get("/inicio").status_code == 302


def test_enrolment_shows_a_qr_code_and_gives_ten_recovery_codes_once(app, client, world):
    factories.make_user("gestor_nuevo", "gestor", department="06", enrol_second_factor=False)
    response = _password_only(client, "gestor_nuevo")
    assert response.location.startswith(ENROL_PAGE)
    page = client.get(ENROL_PAGE).get_data(as_text=True)
    assert "<svg" in page and "<path" in page  # the QR code, drawn by the server
    secret = re.search(r"data-totp-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", "")
    assert _user("gestor_nuevo").totp_enabled_at is None
    # Reloading the page keeps the same secret (the phone may have scanned it already).
    assert secret.replace(" ", "") in client.get(ENROL_PAGE).get_data(as_text=True).replace(" ", "")

    wrong = client.post(ENROL_PAGE, data={"code": "123456"}).get_data(as_text=True)
    assert "El código no coincide" in wrong

    page = client.post(ENROL_PAGE, data={"code": pyotp.TOTP(secret).now()})
    assert page.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", page.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/inicio").status_code == 200
    user = _user("gestor_nuevo")
    assert user.has_second_factor
    stored = set(db.session.scalars(sa.select(RecoveryCode.code_hash).where(
        RecoveryCode.user_id == user.id)))  # fmt: skip
    assert len(stored) == 10 and not any(code.replace("-", "") in stored for code in codes)

    # A recovery code stands in for the phone once.
    other = app.test_client()
    _password_only(other, "gestor_nuevo")
    response = other.post(CODE_PAGE, data={"code": codes[0].upper()})
    assert response.status_code == 302
    assert "le quedan 9" in other.get("/inicio").get_data(as_text=True)
    third = app.test_client()
    _password_only(third, "gestor_nuevo")
    assert third.post(CODE_PAGE, data={"code": codes[0]}).status_code == 200
    assert third.get("/inicio").status_code == 302


def test_the_enrolment_page_is_not_open_to_anyone_else(client, world):
    assert client.get(ENROL_PAGE).location == "/ingresar"
    login(client, "docente_a")
    assert client.get(ENROL_PAGE).location == "/inicio"
    assert client.get(CODE_PAGE).location == "/inicio"


# --- re-authentication before exports and role changes -----------------------------------------


def test_an_export_needs_a_recent_confirmation(client, world):
    login(client, "departamental_06")
    assert client.get(LIST_CSV).status_code == 200  # signing in just now counts
    _age_sessions("departamental_06", 20)
    response = client.get(LIST_CSV)
    assert response.status_code == 302
    assert response.location.startswith("/reautenticar?next=")
    page = client.get(response.location)
    assert "Confirme su identidad" in page.get_data(as_text=True)

    wrong = client.post(response.location, data={"reauth_password": "otra-cosa-123"})
    assert "La contraseña no es correcta." in wrong.get_data(as_text=True)
    back = client.post(response.location, data={"reauth_password": PASSWORD})
    assert back.status_code == 302 and back.location == LIST_CSV
    download = client.get(back.location)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert _actions(_user("departamental_06").id, "reauth") == ["failed", "ok"]


def test_roles_with_a_second_factor_confirm_with_password_and_code(client, world):
    login(client, "supervisor_06")
    _age_sessions("supervisor_06", 20)
    target = client.get(LIST_CSV).location
    page = client.post(target, data={"reauth_password": PASSWORD, "reauth_code": "000000"})
    assert "El código no es correcto" in page.get_data(as_text=True)
    response = client.post(
        target, data={"reauth_password": PASSWORD, "reauth_code": totp_code("supervisor_06")}
    )
    assert response.location == LIST_CSV
    assert client.get(LIST_CSV).status_code == 200


def test_a_role_change_with_a_stale_confirmation_keeps_what_the_admin_typed(client, world):
    login(client, "admin")
    _age_sessions("admin", 20)
    target = _user("docente_b")
    url = f"/admin/usuarios/{target.id}/roles"
    form = {"role": "director", "school_code": world.school_b, "department_code": ""}
    page = client.post(url, data=form)
    assert page.status_code == 401
    html = page.get_data(as_text=True)
    assert "Confirme su identidad" in html
    assert f'name="school_code" value="{world.school_b}"' in html  # carried along
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(RoleAssignment.user_id == target.id))
        == 1
    )

    action = re.search(r'<form method="post" class="form" action="([^"]+)"', html).group(1)
    action = action.replace("&amp;", "&")
    response = client.post(
        action,
        data={**form, "reauth_password": PASSWORD, "reauth_code": totp_code("admin")},
    )
    assert response.status_code == 307 and response.location == url
    response = client.post(url, data=form)  # what the browser does with a 307
    assert response.status_code == 302
    roles = set(db.session.scalars(
        sa.select(RoleAssignment.role).where(RoleAssignment.user_id == target.id)))  # fmt: skip
    assert roles == {"docente", "director"}
    assert _actions(_user("admin").id, "user.role_add") == ["ok"]


def test_a_stale_confirmation_never_puts_a_typed_password_in_the_page(client, world):
    """Finding 13 of the December audit: the new account's password came back in a hidden input."""
    login(client, "admin")
    _age_sessions("admin", 20)
    url = "/admin/usuarios/nuevo"
    typed = {
        "username": "persona.nueva", "display_name": "Persona Nueva", "role": "docente",
        "school_code": world.school_b, "department_code": "",
        "password": "Secret-Typed-Pass-991", "new_password": "Secret-Typed-Pass-992",
        "confirm": "Secret-Typed-Pass-993",
    }  # fmt: skip
    page = client.post(url, data=typed)
    assert page.status_code == 401
    html = page.get_data(as_text=True)
    assert "Secret-Typed-Pass" not in html
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    carried = {name: value for name, value in hidden if name not in {"csrf_token", "next"}}
    assert carried == {
        "username": "persona.nueva", "display_name": "Persona Nueva", "role": "docente",
        "school_code": world.school_b, "department_code": "", "reauth_retype": "1",
    }  # fmt: skip
    assert "la contraseña que escribió en el formulario no se conserva" in html

    action = re.search(r'<form method="post" class="form" action="([^"]+)"', html).group(1)
    action = action.replace("&amp;", "&")
    confirm = {"reauth_password": PASSWORD, "reauth_code": totp_code("admin")}
    response = client.post(action, data={**carried, **confirm})
    assert response.status_code == 307 and response.location == url
    page = client.post(url, data={**carried, **confirm})  # what the browser does with a 307
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Escriba de nuevo la contraseña" in html
    assert 'value="persona.nueva"' in html and 'value="Persona Nueva"' in html
    assert _user("persona.nueva") is None


def test_a_role_change_ends_the_accounts_sessions(app, client, world):
    teacher = app.test_client()
    login(teacher, "docente_b")
    assert teacher.get("/inicio").status_code == 200
    login(client, "admin")
    target = _user("docente_b")
    assignment = target.role_assignments[0].id
    response = client.post(f"/admin/usuarios/{target.id}/roles/{assignment}/quitar")
    assert response.status_code == 302
    assert teacher.get("/inicio").status_code == 302


def test_a_lost_phone_is_reset_by_an_administrator(app, client, world):
    login(client, "admin")
    gestor = _user("gestor_06")
    page = client.get(f"/admin/usuarios/{gestor.id}").get_data(as_text=True)
    assert "Restablecer segundo factor" in page
    response = client.post(f"/admin/usuarios/{gestor.id}/segundo-factor/restablecer")
    assert response.status_code == 302
    assert _user("gestor_06").totp_secret is None
    other = app.test_client()
    assert _password_only(other, "gestor_06").location.startswith(ENROL_PAGE)


@pytest.mark.parametrize("form", ["new_user", "add_role"])
def test_an_expired_admin_form_keeps_what_was_typed(app, client, world, form):
    login(client, "admin")
    target = _user("docente_b")
    if form == "new_user":
        url, data = "/admin/usuarios/nuevo", {
            "username": "persona.nueva", "display_name": "Persona Nueva", "role": "docente",
            "school_code": world.school_b, "department_code": "", "password": "frase-larga-2026",
        }  # fmt: skip
    else:
        url = f"/admin/usuarios/{target.id}/roles"
        data = {"role": "director", "school_code": world.school_b, "department_code": ""}
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.post(url, data={**data, "csrf_token": "caducado"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "Su sesión de formulario caducó" in html
    assert f'value="{world.school_b}"' in html
    assert "frase-larga-2026" not in html  # a password is never sent back
    assert _user("persona.nueva") is None
    assert len(_user("docente_b").role_assignments) == 1
