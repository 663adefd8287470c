"""Sign-in counters under concurrent requests (SECURITY.md item 32), on a real PostgreSQL.

Several threads, each with its own client and its own database connection, post at the same
instant, as several gunicorn workers would. The database is really committed here (not the
rolled-back transaction of the ``app`` fixture), so each request sees what the others wrote.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from salve import create_app
from salve.auth import second_factor as factor
from salve.auth.models import AuthSession, LoginThrottle, RecoveryCode, User
from salve.extensions import db
from salve.ratelimit import RateLimitCounter
from tests.conftest import seed_world
from tests.factories import PASSWORD, totp_code

pytestmark = pytest.mark.postgres

WRONG = "Usuario o contraseña incorrectos."
LOCKED = "Demasiados intentos fallidos"


@pytest.fixture(scope="module")
def race_app(postgres_server):
    """Yield an app on a PostgreSQL database of its own, seeded and really committed."""
    url = postgres_server.create_database("salve_auth_races")
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            # Every thread signs in from the same address: only the lockout may refuse.
            "RATE_LIMITS": {"sign-in": (1000, 60), "second-factor": (1000, 60)},
        }
    )
    with app.app_context():
        upgrade()
        seed_world()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def fresh(race_app):
    """Return the app with no counted failures, limits or sessions left by an earlier test."""
    with race_app.app_context():
        for model in (LoginThrottle, RateLimitCounter, AuthSession):
            db.session.execute(sa.delete(model))
        db.session.execute(sa.update(User).values(totp_last_step=None))
        db.session.commit()
        db.session.remove()
    return race_app


def _at_once(clients, post) -> tuple[list, list[BaseException]]:
    """Run ``post(client)`` for every client in its own thread, all released together."""
    barrier = threading.Barrier(len(clients))
    answers, errors = [None] * len(clients), []

    def run(index, client):
        try:
            barrier.wait(timeout=60)
            answers[index] = post(client)
        except BaseException as error:  # reported by the test, whatever it is
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers, errors


def _pending_clients(app, username: str, count: int) -> list:
    """Return ``count`` clients that typed ``username``'s password and now owe the code."""
    clients = []
    for _ in range(count):
        client = app.test_client()
        data = {"username": username, "password": PASSWORD}
        response = client.post("/ingresar", data=data)
        assert response.status_code == 302 and response.location.startswith("/ingresar/codigo")
        clients.append(client)
    return clients


def _signed_in(app, username: str) -> int:
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.username == username))
        signed_in = db.session.scalar(
            sa.select(sa.func.count()).where(
                AuthSession.user_id == user_id, AuthSession.second_factor_at.is_not(None)
            )
        )
        db.session.remove()
    return signed_in


@pytest.mark.parametrize("username", ["director_c", "nadie_con_este_nombre"])
def test_simultaneous_wrong_passwords_check_at_most_six_and_never_fail(fresh, username):
    clients = [fresh.test_client() for _ in range(12)]

    def post(client):
        data = {"username": username, "password": "equivocada-0000"}
        response = client.post("/ingresar", data=data)
        return response.status_code, response.get_data(as_text=True)

    answers, errors = _at_once(clients, post)
    assert errors == []
    assert [status for status, _ in answers] == [200] * len(clients)  # no 500
    checked = sum(WRONG in page for _, page in answers)
    locked = sum(LOCKED in page for _, page in answers)
    assert (checked, locked) == (6, len(clients) - 6)
    # Locked now: even the right password is refused without being checked.
    page = fresh.test_client().post("/ingresar", data={"username": username, "password": PASSWORD})
    assert LOCKED in page.get_data(as_text=True)


def test_one_code_posted_by_six_sessions_at_once_signs_in_one(fresh):
    clients = _pending_clients(fresh, "gestor_06", 6)
    with fresh.app_context():
        code = totp_code("gestor_06")
        db.session.commit()
        db.session.remove()

    answers, errors = _at_once(clients, lambda c: c.post("/ingresar/codigo", data={"code": code}))
    assert errors == []
    assert {r.status_code for r in answers} <= {200, 302}  # refused or redirected, no 500
    assert _signed_in(fresh, "gestor_06") == 1


def test_one_recovery_code_posted_by_six_sessions_at_once_signs_in_one(fresh):
    with fresh.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "nacional"))
        code = factor.new_recovery_codes(user)[0]
        db.session.commit()
        db.session.remove()
    clients = _pending_clients(fresh, "nacional", 6)

    answers, errors = _at_once(clients, lambda c: c.post("/ingresar/codigo", data={"code": code}))
    assert errors == []
    assert {r.status_code for r in answers} <= {200, 302}  # refused or redirected, no 500
    assert _signed_in(fresh, "nacional") == 1
    with fresh.app_context():
        used = db.session.scalar(
            sa.select(sa.func.count()).where(RecoveryCode.used_at.is_not(None))
        )
        db.session.remove()
    assert used == 1
