"""Server-side sessions: a copied cookie dies with logout, password change and disabling."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from salve.auth.models import AuthSession, User
from salve.extensions import db
from tests.conftest import login
from tests.factories import PASSWORD


def _copy_cookie(client) -> str:
    cookie = client.get_cookie("salve_session")
    assert cookie is not None
    return cookie.value


def _replay(app, cookie_value: str):
    thief = app.test_client()
    thief.set_cookie("salve_session", cookie_value)
    return thief.get("/inicio")


def test_copied_cookie_is_refused_after_logout(app, client, world):
    login(client, "gestor_06")
    stolen = _copy_cookie(client)
    assert _replay(app, stolen).status_code == 200
    client.post("/salir")
    response = _replay(app, stolen)
    assert response.status_code == 302
    assert response.location.startswith("/ingresar")


def test_copied_cookie_is_refused_after_password_change(app, client, world):
    login(client, "director_a")
    stolen = _copy_cookie(client)
    response = client.post(
        "/cuenta/contrasena",
        data={
            "current_password": PASSWORD,
            "new_password": "otra frase segura 2026",
            "confirm_password": "otra frase segura 2026",
        },
    )
    assert response.status_code == 302
    assert _replay(app, stolen).status_code == 302
    # The user who changed it stays signed in with a fresh session.
    assert client.get("/inicio").status_code == 200
    assert _copy_cookie(client) != stolen


def test_copied_cookie_is_refused_after_account_disabled(app, client, world):
    login(client, "docente_b")
    stolen = _copy_cookie(client)
    admin = app.test_client()
    login(admin, "admin")
    user_id = db.session.scalar(sa.select(User.id).where(User.username == "docente_b"))
    assert admin.post(f"/admin/usuarios/{user_id}/estado", data={"enabled": "0"}).status_code == 302
    assert _replay(app, stolen).status_code == 302
    # And the password no longer opens a session.
    assert login(app.test_client(), "docente_b").status_code == 200


def test_sign_in_starts_a_new_session(client, world):
    client.get("/ingresar")
    before = client.get_cookie("salve_session")
    login(client, "docente_a")
    after = client.get_cookie("salve_session")
    assert after is not None
    assert before is None or before.value != after.value


def test_pre_login_cookie_stays_anonymous(app, client, world):
    client.get("/ingresar")
    anonymous = client.get_cookie("salve_session")
    login(client, "docente_a")
    if anonymous is not None:
        response = _replay(app, anonymous.value)
        assert response.status_code == 302


def test_idle_session_expires(app, client, world):
    login(client, "docente_a")
    session_row = db.session.scalars(sa.select(AuthSession).order_by(AuthSession.id.desc())).first()
    session_row.last_seen_at -= timedelta(minutes=31)
    session_row.created_at -= timedelta(minutes=31)
    db.session.commit()
    response = client.get("/inicio")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AuthSession, session_row.id).end_reason == "idle"


def test_absolute_timeout_ends_a_busy_session(app, client, world):
    login(client, "docente_a")
    session_row = db.session.scalars(sa.select(AuthSession).order_by(AuthSession.id.desc())).first()
    session_row.created_at -= timedelta(hours=12, minutes=1)
    db.session.commit()
    assert client.get("/inicio").status_code == 302


def test_cookie_flags_and_no_remember_me(client, world):
    response = login(client, "docente_a")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("salve_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert not any(c.startswith("remember_token=") for c in cookies)
    # A session cookie (no Expires): it dies with the browser.
    assert "Expires=" not in session_cookie
