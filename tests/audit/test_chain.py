"""The audit log is hash-chained: `salve audit verify` names the first row changed, removed or
inserted out of order (SECURITY.md item 31), on SQLite and PostgreSQL.

Tampering is done as the database owner would: the append-only triggers dropped or disabled
inside the test's transaction, which the rollback at the end of the test restores.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
import sqlalchemy as sa

from salve.extensions import db
from tests.conftest import login

AUDIT = sa.table(
    "audit_events",
    sa.column("id"),
    sa.column("seq"),
    sa.column("action"),
    sa.column("prev_hash"),
    sa.column("row_hash"),
)


def _verify(runner):
    return runner.invoke(args=["salve", "audit", "verify"])


def _some_history(client) -> None:
    """Write a few audit rows the way the app does: sign-ins, a failure, a page refused."""
    login(client, "docente_a", "contraseña-equivocada-1")
    login(client, "docente_a")
    client.get("/admin/usuarios")  # refused: audited
    client.post("/salir")
    login(client, "director_a")


def _rows() -> list:
    return db.session.execute(sa.select(AUDIT).order_by(AUDIT.c.seq)).all()


def _without_append_only_triggers() -> None:
    """Do what the owner of the table can do (undone by the test's rollback)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
    else:
        for name in ("audit_events_no_update", "audit_events_no_delete"):
            connection.exec_driver_sql(f"DROP TRIGGER {name}")


def test_an_untouched_log_verifies_with_its_count(client, runner, world):
    _some_history(client)
    rows = _rows()
    assert len(rows) >= 6
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))

    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert f"{len(rows):,} filas encadenadas, OK" in result.output
    assert f"Última fila: seq={rows[-1].seq}, huella {rows[-1].row_hash}" in result.output


def test_a_row_edited_by_hand_is_named(client, runner, world):
    _some_history(client)
    target = _rows()[2]
    _without_append_only_triggers()
    db.session.execute(sa.update(AUDIT).where(AUDIT.c.id == target.id).values(action="nada"))

    result = _verify(runner)
    assert result.exit_code == 1
    assert f"la fila id={target.id} (seq={target.seq}) fue modificada" in result.output


def test_a_row_deleted_by_hand_is_named(client, runner, world):
    _some_history(client)
    rows = _rows()
    target = rows[3]
    _without_append_only_triggers()
    db.session.execute(sa.delete(AUDIT).where(AUDIT.c.id == target.id))

    result = _verify(runner)
    assert result.exit_code == 1
    assert f"falta(n) la(s) fila(s) seq={target.seq}" in result.output
    assert "se borraron" in result.output


def test_the_last_rows_replaced_by_a_rewritten_tail_are_named(client, runner, world):
    """Deleting a row and renumbering the rest still breaks the chain where it was cut."""
    _some_history(client)
    rows = _rows()
    _without_append_only_triggers()
    db.session.execute(sa.delete(AUDIT).where(AUDIT.c.id == rows[2].id))
    for row in rows[3:]:
        db.session.execute(sa.update(AUDIT).where(AUDIT.c.id == row.id).values(seq=row.seq - 1))

    result = _verify(runner)
    assert result.exit_code == 1
    assert f"la fila id={rows[3].id} (seq={rows[2].seq}) no enlaza" in result.output


def test_a_row_inserted_out_of_order_is_named(client, runner, world):
    _some_history(client)
    rows = _rows()
    last = rows[-1]
    # A forged row placed after the last one but chained to an earlier row, hashed properly.
    forged = {
        "seq": last.seq + 1,
        "occurred_at": "2026-12-01 10:00:00",
        "action": "login",
        "object_type": "",
        "object_id": "",
        "outcome": "ok",
        "ip_address": "10.0.0.9",
        "detail": json.dumps({}),
        "prev_hash": rows[1].row_hash,
        "row_hash": hashlib.sha256(b"whatever").hexdigest(),
    }
    columns = ", ".join(forged)
    db.session.execute(
        sa.text(f"INSERT INTO audit_events ({columns}) VALUES (:{', :'.join(forged)})"),
        forged,
    )
    forged_id = db.session.scalar(sa.select(AUDIT.c.id).where(AUDIT.c.seq == last.seq + 1))

    result = _verify(runner)
    assert result.exit_code == 1
    assert f"la fila id={forged_id} (seq={last.seq + 1}) no enlaza" in result.output
    assert "fuera de orden" in result.output


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_sqlite_replace_cannot_rewrite_a_row(client, world, verb):
    if db.session.connection().dialect.name != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    login(client, "docente_a")
    last = sa.select(AUDIT.c.id, AUDIT.c.action).order_by(AUDIT.c.id.desc()).limit(1)
    row = db.session.execute(last).one()
    columns = [c[1] for c in db.session.execute(sa.text("PRAGMA table_info(audit_events)"))]
    values = ["'nada'" if column == "action" else column for column in columns]
    rewrite = (
        f"{verb} INTO audit_events ({', '.join(columns)})"
        f" SELECT {', '.join(values)} FROM audit_events WHERE id = :id"
    )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(rewrite), {"id": row.id})
    assert db.session.scalar(sa.select(AUDIT.c.action).where(AUDIT.c.id == row.id)) == row.action


def test_a_rolled_back_savepoint_drops_what_was_recorded_in_it(app, world):
    from salve.audit.operations import record

    before = len(_rows())
    record("test.kept")
    try:
        with db.session.begin_nested():
            record("test.dropped")
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    db.session.commit()
    assert [row.action for row in _rows()[before:]] == ["test.kept"]


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_the_migration_links_the_rows_already_stored(backend_name, tmp_path, request):
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from salve import create_app
    from salve.audit import chain
    from salve.db import UTCDateTime

    if backend_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("salve_old_audit")
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "k" * 32})
    old = sa.Table(
        "audit_events",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("occurred_at", UTCDateTime()),
        sa.Column("action", sa.String),
        sa.Column("object_type", sa.String),
        sa.Column("object_id", sa.String),
        sa.Column("outcome", sa.String),
        sa.Column("ip_address", sa.String),
        sa.Column("detail", sa.JSON),
    )
    with app.app_context():
        upgrade(revision="ad4f5b2a7e43")  # the schema before the chain, with rows in it
        with db.engine.begin() as connection:
            for n in range(5):
                connection.execute(
                    sa.insert(old).values(
                        occurred_at=datetime(2026, 11, 30, 12, n, 7, 123456, tzinfo=UTC),
                        action="login",
                        object_type="",
                        object_id=str(n),
                        outcome="ok" if n % 2 else "failed",
                        ip_address="10.0.0.1",
                        detail={"n": n, "á": ["b", 1.5]},
                    )
                )
        upgrade()
        with db.engine.connect() as connection:
            verdict = chain.verify(connection)
            seqs = connection.scalars(sa.select(AUDIT.c.seq).order_by(AUDIT.c.id)).all()
        db.session.remove()
        db.engine.dispose()
    assert verdict.broken is None and verdict.rows == 5
    assert seqs == [1, 2, 3, 4, 5]
