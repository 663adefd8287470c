"""Sign-in: one message for every failure, lockout in the database, CSRF, password policy."""

from __future__ import annotations

import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.auth.models import LoginThrottle, User
from salve.auth.passwords import hash_password, password_problems, verify_password
from salve.extensions import db
from tests.conftest import login
from tests.factories import PASSWORD

WRONG = "Usuario o contraseña incorrectos."
LOCKED = "Demasiados intentos fallidos"


def test_unknown_user_and_wrong_password_get_the_same_answer(client, world):
    unknown = login(client, "nadie_con_este_nombre", "cualquier-cosa-123")
    wrong = login(client, "docente_a", "cualquier-cosa-123")
    assert unknown.status_code == wrong.status_code == 200
    assert WRONG in unknown.get_data(as_text=True)
    assert WRONG in wrong.get_data(as_text=True)


def test_username_is_kept_and_password_is_not(client, world):
    page = login(client, "docente_a", "mala-contrasena-1").get_data(as_text=True)
    assert 'value="docente_a"' in page
    assert "mala-contrasena-1" not in page


def test_six_failures_lock_the_account_even_for_the_right_password(client, world):
    for _ in range(6):
        login(client, "director_c", "equivocada-0000")
    response = login(client, "director_c", PASSWORD)
    assert response.status_code == 200
    assert LOCKED in response.get_data(as_text=True)
    throttle = db.session.get(LoginThrottle, "user:director_c")
    assert throttle.locked_until is not None


def test_unknown_usernames_lock_the_same_way(client, world):
    for _ in range(6):
        login(client, "fantasma", "equivocada-0000")
    assert LOCKED in login(client, "fantasma", "equivocada-0000").get_data(as_text=True)


def test_success_clears_earlier_failures(client, world):
    for _ in range(3):
        login(client, "docente_c", "equivocada-0000")
    assert login(client, "docente_c").status_code == 302
    assert db.session.get(LoginThrottle, "user:docente_c") is None


def test_sign_in_and_failures_are_audited_without_passwords(client, world):
    login(client, "docente_a", "secreto-equivocado-9")
    login(client, "docente_a")
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "login").order_by(AuditEvent.id)
    ).all()
    assert [e.outcome for e in events[-2:]] == ["failed", "ok"]
    assert all("secreto" not in str(e.detail) for e in events)


def test_login_without_csrf_token_is_refused(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = login(client, "docente_a")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert client.get("/inicio").status_code == 302


def test_passwords_are_stored_as_argon2id(world):
    user = db.session.scalar(sa.select(User).where(User.username == "docente_a"))
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD)


def test_old_hash_parameters_are_upgraded_at_sign_in(client, world):
    from argon2 import PasswordHasher

    user = db.session.scalar(sa.select(User).where(User.username == "docente_b"))
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    db.session.commit()
    assert login(client, "docente_b").status_code == 302
    db.session.expire_all()
    assert user.password_hash.startswith("$argon2id$")
    assert "m=8192" not in user.password_hash


def test_password_policy(app):
    with app.test_request_context():
        assert password_problems("corta")  # too short
        assert password_problems("password")  # common
        assert password_problems("contraseña")  # common here
        assert password_problems("x" * 129)
        assert password_problems("maria.lopez-2026", username="maria.lopez")
        assert not password_problems("el volcán de izalco 1770")
        assert not password_problems("a" * 64 + "b")
        assert hash_password("x") != hash_password("x")  # salted


def test_weak_new_password_is_refused_and_nothing_changes(client, world):
    login(client, "docente_a")
    response = client.post(
        "/cuenta/contrasena",
        data={
            "current_password": PASSWORD,
            "new_password": "12345678",
            "confirm_password": "12345678",
        },
    )
    assert response.status_code == 200
    assert "demasiado común" in response.get_data(as_text=True)
    assert client.get("/inicio").status_code == 200
