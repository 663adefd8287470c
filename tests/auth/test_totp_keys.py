"""TOTP secrets encrypted at rest with SALVE_TOTP_KEY, and the keys' rotation."""

from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from salve.auth import roles as R
from salve.auth import totp_keys
from salve.auth.models import User
from salve.extensions import db
from tests import factories
from tests.factories import PASSWORD

CODE_PAGE = "/ingresar/codigo"
ENROL_PAGE = "/cuenta/segundo-factor"


def _stored(username: str) -> str | None:
    """Return ``users.totp_secret`` as the database holds it, past the ORM."""
    return db.session.execute(
        sa.text("SELECT totp_secret FROM users WHERE username = :name"), {"name": username}
    ).scalar()


def _sign_in(client, username: str, code: str):
    response = client.post("/ingresar", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302 and response.location.startswith(CODE_PAGE)
    return client.post(CODE_PAGE, data={"code": code})


@pytest.fixture
def use_keys(app):
    """Return a function that sets SALVE_TOTP_KEY on the app; the test's keys are undone after."""
    original = app.config.get("TOTP_KEY")

    def _use(value: str) -> None:
        app.config["TOTP_KEY"] = value
        totp_keys.init_app(app)

    yield _use
    app.config["TOTP_KEY"] = original
    totp_keys.init_app(app)


def test_the_database_never_holds_the_base32_secret(app, client, world):
    factories.make_user("gestor.nuevo", R.GESTOR, department="06", enrol_second_factor=False)
    response = client.post("/ingresar", data={"username": "gestor.nuevo", "password": PASSWORD})
    assert response.location.startswith(ENROL_PAGE)
    page = client.get(ENROL_PAGE).get_data(as_text=True)
    secret = re.search(r"data-totp-secret>([^<]+)<", page).group(1).replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    stored = _stored("gestor.nuevo")
    assert stored.startswith("fernet:") and secret not in stored

    response = client.post(ENROL_PAGE, data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200  # the recovery codes, shown once
    assert client.get("/inicio").status_code == 200
    assert _stored("gestor.nuevo") == stored  # enrolled: still encrypted
    client.post("/salir")
    user = db.session.scalar(sa.select(User).where(User.username == "gestor.nuevo"))
    user.totp_last_step = None
    db.session.flush()
    assert _sign_in(client, "gestor.nuevo", pyotp.TOTP(secret).now()).status_code == 302
    assert client.get("/inicio").status_code == 200


def test_a_plain_secret_stored_before_encryption_works_and_is_encrypted_when_used(client, world):
    secret = pyotp.random_base32()
    db.session.execute(
        sa.text("UPDATE users SET totp_secret = :secret, totp_last_step = NULL"
                " WHERE username = 'gestor_06'"),
        {"secret": secret},
    )  # fmt: skip
    db.session.expire_all()
    assert _sign_in(client, "gestor_06", pyotp.TOTP(secret).now()).status_code == 302
    assert client.get("/inicio").status_code == 200
    stored = _stored("gestor_06")
    assert stored.startswith("fernet:") and secret not in stored


def test_rekey_moves_every_secret_to_the_new_key_and_sign_in_keeps_working(
    app, client, runner, world, use_keys
):
    old_key = totp_keys.development_key(app.config["SECRET_KEY"])  # what the tests ran with
    new_key = Fernet.generate_key().decode()
    before = _stored("supervisor_06")

    use_keys(f"{new_key},{old_key}")  # the new key first: it encrypts, both decrypt
    result = runner.invoke(args=["salve", "totp", "rekey"])
    assert result.exit_code == 0, result.output
    after = _stored("supervisor_06")
    assert after != before and after.startswith("fernet:")
    assert Fernet(new_key).decrypt(after.removeprefix("fernet:").encode())

    use_keys(new_key)  # the old key dropped
    assert (
        _sign_in(client, "supervisor_06", factories.totp_code("supervisor_06")).status_code == 302
    )
    assert client.get("/inicio").status_code == 200


def test_rekey_names_the_secrets_no_key_opens(app, runner, world, use_keys):
    use_keys(Fernet.generate_key().decode())  # the key the secrets were encrypted with is gone
    result = runner.invoke(args=["salve", "totp", "rekey"])
    assert result.exit_code != 0
    assert "Ninguna clave de SALVE_TOTP_KEY abre el secreto" in result.output


def test_the_migration_encrypts_plain_secrets_and_its_downgrade_decrypts_them(tmp_path):
    from flask_migrate import downgrade, upgrade

    from salve import create_app
    from salve.auth.operations import create_user

    app = create_app(
        {"ENV": "testing", "SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    )
    secret = pyotp.random_base32()
    with app.app_context():
        upgrade()
        create_user("nacional.viejo", PASSWORD, R.NACIONAL, check_password=False)
        db.session.commit()
        downgrade(revision="c12a0002tokn")  # the schema before encryption, a plain secret in it
        db.session.execute(sa.text("UPDATE users SET totp_secret = :secret"), {"secret": secret})
        db.session.commit()
        upgrade()
        stored = _stored("nacional.viejo")
        assert stored.startswith("fernet:") and totp_keys.unseal(stored) == secret
        db.session.commit()  # SQLite: the migration below needs the write lock
        downgrade(revision="c12a0002tokn")
        assert _stored("nacional.viejo") == secret
        db.session.remove()
        db.engine.dispose()
