"""Configuration from SALVE_* variables, and production's refusals."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from salve import create_app
from salve.config import ConfigurationError

#: A key for the production apps these tests start (production refuses to start without one).
TOTP_KEY = Fernet.generate_key().decode()


def test_environment_variables_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("SALVE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SALVE_SECRET_KEY", "a-long-random-secret-for-this-test")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.db")
    assert app.config["SECRET_KEY"] == "a-long-random-secret-for-this-test"
    assert app.config["ENV"] == "development"


def test_plain_postgresql_urls_use_psycopg3(monkeypatch):
    monkeypatch.setenv("SALVE_DATABASE_URL", "postgresql://u@/salve?host=/tmp")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_production_refuses_the_development_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SALVE_ENV", "production")
    monkeypatch.setenv("SALVE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("SALVE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SALVE_SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_a_totp_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SALVE_ENV", "production")
    monkeypatch.setenv("SALVE_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SALVE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("SALVE_TOTP_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SALVE_TOTP_KEY must be set in production"):
        create_app()
    monkeypatch.setenv("SALVE_TOTP_KEY", "not-a-fernet-key")
    with pytest.raises(ConfigurationError, match="SALVE_TOTP_KEY must be Fernet keys"):
        create_app()
    monkeypatch.setenv("SALVE_TOTP_KEY", f"{TOTP_KEY},{Fernet.generate_key().decode()}")
    assert create_app().config["ENV"] == "production"


def test_production_refuses_a_database_with_demo_accounts(monkeypatch, tmp_path):
    from flask_migrate import upgrade

    from salve.auth.operations import create_user
    from salve.extensions import db

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        upgrade()
        create_user("demo_admin", "una frase larga 2026", "admin", is_demo=True)
        db.session.commit()
        db.engine.dispose()
    monkeypatch.setenv("SALVE_ENV", "production")
    monkeypatch.setenv("SALVE_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SALVE_TOTP_KEY", TOTP_KEY)
    monkeypatch.setenv("SALVE_DATABASE_URL", url)
    with pytest.raises(ConfigurationError, match="demo accounts"):
        create_app()


def test_production_sets_secure_cookies_and_hsts(monkeypatch, tmp_path):
    monkeypatch.setenv("SALVE_ENV", "production")
    monkeypatch.setenv("SALVE_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SALVE_TOTP_KEY", TOTP_KEY)
    monkeypatch.setenv("SALVE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/ingresar")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("SALVE_ENV", "staging")
    with pytest.raises(ConfigurationError):
        create_app()


def test_security_headers_on_every_page(client):
    response = client.get("/ingresar")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Referrer-Policy" in response.headers


def test_timeouts_are_given_in_seconds(monkeypatch):
    from datetime import timedelta

    monkeypatch.setenv("SALVE_SESSION_IDLE_TIMEOUT", "600")
    app = create_app()
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=10)
