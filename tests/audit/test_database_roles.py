"""On PostgreSQL the app's own role cannot erase or rewrite the audit log (SECURITY.md item 31).

The throwaway server gets two roles: ``salve_owner``, which owns the database and runs the
migrations (``SALVE_MIGRATION_DATABASE_URL``), and ``salve_app``, the role the app connects as
(``SALVE_DATABASE_URL``), given its rights by ``salve init`` (``salve db grant-app-role``).
Several writers at once still produce a chain that verifies.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import DBAPIError

from salve import create_app
from salve.extensions import db
from tests import factories
from tests.conftest import login


def _superuser(server) -> sa.Engine:
    return sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")


def _url(server, role: str, database: str) -> str:
    return f"postgresql+psycopg://{role}@/{database}?host={server.socketdir}"


@pytest.fixture(scope="module")
def roles_database(postgres_server):
    """Yield (owner URL, app URL) of a database owned by one role and used by another."""
    suffix = uuid.uuid4().hex[:8]
    owner, user, name = f"salve_owner_{suffix}", f"salve_app_{suffix}", f"salve_roles_{suffix}"
    engine = _superuser(postgres_server)
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {owner} LOGIN")
        connection.exec_driver_sql(f"CREATE ROLE {user} LOGIN")
        connection.exec_driver_sql(f"CREATE DATABASE {name} OWNER {owner}")
    engine.dispose()
    owner_url, app_url = _url(postgres_server, owner, name), _url(postgres_server, user, name)
    # PostgreSQL 15 gives the schema to pg_database_owner already; be explicit for older ones.
    setup = sa.create_engine(_url(postgres_server, "postgres", name), isolation_level="AUTOCOMMIT")
    with setup.connect() as connection:
        connection.exec_driver_sql(f"ALTER SCHEMA public OWNER TO {owner}")
        connection.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    setup.dispose()

    app = _app(app_url, owner_url)
    result = app.test_cli_runner().invoke(args=["salve", "init"])
    assert result.exit_code == 0, result.output
    assert f"Permisos del rol de la aplicación «{user}» actualizados." in result.output
    with app.app_context():
        school = factories.make_school("06", name="Centro Escolar Roles")
        factories.make_user("docente_roles", "docente", school=school)
        db.session.commit()  # written by the app's role: it may insert into ordinary tables
        db.session.remove()
        db.engine.dispose()
    yield owner_url, app_url


def _app(app_url: str, owner_url: str) -> Flask:
    return create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "k" * 32,
            "DATABASE_URL": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "WTF_CSRF_ENABLED": False,
        }
    )


def _refused(url: str, statement: str) -> str:
    """Run ``statement`` as the role of ``url`` in a rolled-back transaction; return the error."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            try:
                connection.exec_driver_sql(statement)
            except DBAPIError as error:
                return str(error.orig)
            finally:
                if transaction.is_active:
                    transaction.rollback()
        return ""
    finally:
        engine.dispose()


ERASING = [
    "UPDATE audit_events SET action = 'nada'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "DROP TABLE audit_events",
]


@pytest.mark.parametrize("statement", ERASING)
def test_the_apps_role_cannot_erase_or_rewrite_the_audit_log(roles_database, statement):
    _owner_url, app_url = roles_database
    error = _refused(app_url, statement)
    assert "permission denied" in error or "must be owner" in error, (statement, error)


def test_the_owner_cannot_truncate_it_by_mistake_either(roles_database):
    owner_url, _app_url = roles_database
    assert "append-only" in _refused(owner_url, "TRUNCATE audit_events")


def test_the_apps_role_signs_in_appends_and_reads(roles_database):
    owner_url, app_url = roles_database
    app = _app(app_url, owner_url)
    with app.app_context():
        before = db.session.scalar(sa.text("SELECT count(*) FROM audit_events"))
        db.session.remove()
    response = login(app.test_client(), "docente_roles")
    assert response.status_code == 302 and response.location == "/inicio"
    with app.app_context():
        actions = db.session.scalars(
            sa.text("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1")
        ).all()
        assert actions == ["login"]
        assert db.session.scalar(sa.text("SELECT count(*) FROM audit_events")) == before + 1
        db.session.remove()
        db.engine.dispose()
    result = app.test_cli_runner().invoke(args=["salve", "audit", "verify"])
    assert result.exit_code == 0, result.output


def test_concurrent_writers_produce_a_chain_that_verifies(roles_database):
    from salve.audit.operations import record

    owner_url, app_url = roles_database
    app = _app(app_url, owner_url)
    writers, rows_each = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(rows_each):
                    record("test.concurrent", "writer", n, i=i)
                    # Other work in the same transaction, before the commit links the row.
                    db.session.execute(sa.text("SELECT count(*) FROM users"))
                    db.session.commit()
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with app.app_context():
        written = db.session.scalar(
            sa.text("SELECT count(*) FROM audit_events WHERE action = 'test.concurrent'")
        )
        assert written == writers * rows_each
        db.session.remove()
        db.engine.dispose()
    result = app.test_cli_runner().invoke(args=["salve", "audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "filas encadenadas, OK" in result.output
