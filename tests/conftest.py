"""Fixtures: the app on SQLite and on a real PostgreSQL, a seeded world, isolated tests.

Every test that asks for ``app`` runs twice: once on SQLite and once on a PostgreSQL server that
the session starts in a temporary directory. Each test runs inside a transaction that is rolled
back, so tests never see each other's writes; the views' own commits become savepoints.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import orm

from salve import create_app
from salve.auth import roles as R
from salve.extensions import db
from salve.geography.operations import load_geography
from tests import factories
from tests.support.postgres import PostgresServer, find_bindir

# Logs over the whole session never carry names, narratives, passwords or tokens (item 20).
pytest_plugins = ["tests.support.log_guard"]

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REQUIRE_POSTGRES = ON_CI or os.environ.get("SALVE_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server():
    """Start one PostgreSQL server for the whole test session."""
    bindir = find_bindir()
    if bindir is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required here (CI) but its binaries are not installed")
        pytest.skip("PostgreSQL binaries not installed")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@dataclass
class World:
    """The seeded records every test can rely on (ids, not live objects)."""

    school_a: str  # San Salvador (06)
    school_b: str  # San Salvador (06)
    school_c: str  # La Libertad (05)
    students_a: list[str]
    students_c: list[str]


#: username → (role, school key or department code) for the seeded accounts.
ACCOUNTS = {
    "docente_a": (R.DOCENTE, "school_a"),
    "director_a": (R.DIRECTOR, "school_a"),
    "docente_b": (R.DOCENTE, "school_b"),
    "docente_c": (R.DOCENTE, "school_c"),
    "director_c": (R.DIRECTOR, "school_c"),
    "gestor_06": (R.GESTOR, "06"),
    "supervisor_06": (R.SUPERVISOR, "06"),
    "departamental_06": (R.DEPARTAMENTAL, "06"),
    "departamental_05": (R.DEPARTAMENTAL, "05"),
    "nacional": (R.NACIONAL, None),
    "admin": (R.ADMIN, None),
}

#: The first account of each role, for tests that walk every role.
ROLE_ACCOUNTS = {
    R.DOCENTE: "docente_a",
    R.DIRECTOR: "director_a",
    R.GESTOR: "gestor_06",
    R.SUPERVISOR: "supervisor_06",
    R.DEPARTAMENTAL: "departamental_06",
    R.NACIONAL: "nacional",
    R.ADMIN: "admin",
}


def seed_world() -> World:
    """Create geography, three schools with students, and one account per role."""
    load_geography(Path(__file__).resolve().parent.parent / "catalogs" / "geography.csv")
    school_a = factories.make_school("06", name="Centro Escolar Prueba Alfa")
    school_b = factories.make_school("06", name="Centro Escolar Prueba Beta")
    school_c = factories.make_school("05", name="Centro Escolar Prueba Gamma")
    students_a = [factories.make_student(school_a).nie for _ in range(5)]
    students_c = [factories.make_student(school_c).nie for _ in range(3)]
    schools = {"school_a": school_a, "school_b": school_b, "school_c": school_c}
    for username, (role, where) in ACCOUNTS.items():
        if where in schools:
            factories.make_user(username, role, school=schools[where])
        else:
            factories.make_user(username, role, department=where)
    db.session.commit()
    return World(school_a.code, school_b.code, school_c.code, students_a, students_c)


def _build_app(database_url: str):
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request, tmp_path_factory):
    """Yield (app, world) for each database backend, migrated and seeded once."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'salve.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database("salve_test")
    app = _build_app(url)
    with app.app_context():
        world = seed_world()
        db.session.remove()
    yield app, world
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(backend):
    """Yield the app inside a transaction that is rolled back after the test."""
    app, _world = backend
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = orm.scoped_session(
            orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=original.registry.scopefunc,
        )
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def world(app, backend) -> World:
    """Return the seeded world of the current backend (inside the test's transaction)."""
    return backend[1]


@pytest.fixture
def client(app):
    """Return a test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Return a CLI runner of the app."""
    return app.test_cli_runner()


def login(client, username: str, password: str = factories.PASSWORD):
    """Sign ``client`` in, typing the authenticator's code when asked; return the last response."""
    response = client.post("/ingresar", data={"username": username, "password": password})
    if response.status_code == 302 and response.location.startswith("/ingresar/codigo"):
        response = client.post(response.location, data={"code": factories.totp_code(username)})
    return response


@pytest.fixture
def login_as(client):
    """Return a function that signs the test client in as a seeded account."""

    def _login(username: str, password: str = factories.PASSWORD):
        response = login(client, username, password)
        assert response.status_code == 302, f"sign-in as {username} failed"
        return client

    return _login


@pytest.fixture
def temp_dir():
    """Yield a temporary directory removed after the test."""
    with tempfile.TemporaryDirectory() as path:
        yield Path(path)


def count(model) -> int:
    """Return how many rows ``model`` has in the current transaction."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))
