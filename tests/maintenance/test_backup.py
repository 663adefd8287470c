"""The backup and restore drill (SECURITY.md item 27), on SQLite and on PostgreSQL.

A seeded database is backed up with ``salve backup`` and restored with ``salve restore`` into an
empty database: every table has the same rows, the schema is at the head revision, and the copy
is readable by its owner only. A backup taken while another connection writes still restores;
a failing backup leaves no file and says why; a restore never touches a database with data.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from salve.audit import chain
from salve.audit.models import AuditEvent
from salve.db import utcnow
from salve.extensions import db
from salve.maintenance import backup, postgres
from salve.maintenance.backup import MAIN_TABLES, BackupError, backup_database
from tests.maintenance.conftest import make_app, table_counts, table_rows
from tests.support.live_server import BIN, ROOT

#: Tables whose every value is compared, not only counted.
COMPARED = ("students", "incidents", "incident_parties", "alerts", "cases", "case_follow_ups")
SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".dump"}


def head_revision() -> str:
    """Return the newest migration's revision."""
    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def invoke(url: str, *args: str, **options):
    """Run ``flask salve ARGS`` on the database at ``url``; return the result."""
    app = make_app(url)
    try:
        return app.test_cli_runner().invoke(args=list(args), **options)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def printed_counts(output: str) -> dict[str, int]:
    """Read the row counts a backup or a restore printed."""
    counts = {}
    for line in output.splitlines():
        found = re.fullmatch(r"\s+(\w+)\s+([\d,]+)", line)
        if found and found.group(1) in MAIN_TABLES:
            counts[found.group(1)] = int(found.group(2).replace(",", ""))
    return counts


def test_a_backup_restores_into_an_empty_database_with_every_row(databases, source, tmp_path):
    before = table_counts(source)
    rows_before = {table: table_rows(source, table) for table in COMPARED}
    assert before["incidents"] >= 6 and before["alerts"] >= 3 and before["cases"] == 1
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"

    made = invoke(source, "salve", "backup", "--output", str(file))
    assert made.exit_code == 0, made.output
    assert f"Copia de seguridad: {file}" in made.output
    assert f"({file.stat().st_size:,} bytes)" in made.output
    assert printed_counts(made.output) == {table: before[table] for table in MAIN_TABLES}
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [file.name]  # no temporary file left behind

    target = databases.empty()
    restored = invoke(target, "salve", "restore", str(file), "--yes")
    assert restored.exit_code == 0, restored.output
    assert printed_counts(restored.output) == printed_counts(made.output)
    after = table_counts(target)
    # The restore records itself in the restored audit log: one row more there, none elsewhere.
    assert after == {**before, "audit_events": before["audit_events"] + 1}
    for table in COMPARED:
        assert table_rows(target, table) == rows_before[table], table
    app = make_app(target)
    with app.app_context():
        last = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "backup.restore"
        db.session.remove()
        db.engine.dispose()
    # The hash chain survives the trip, and the restore's own row is linked onto it.
    verified = invoke(target, "salve", "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert f"{after['audit_events']:,} filas encadenadas, OK" in verified.output

    current = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "db", "current"],
        cwd=ROOT,
        env={**os.environ, "SALVE_DATABASE_URL": target, "SALVE_SECRET_KEY": "s" * 32},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (head)" in current.stdout


def test_a_restore_refuses_a_database_that_holds_data(databases, source, tmp_path):
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"
    assert invoke(source, "salve", "backup", "--output", str(file)).exit_code == 0
    before = table_counts(source)

    refused = invoke(source, "salve", "restore", str(file), "--yes")
    assert refused.exit_code == 1
    assert "La base de destino no está vacía" in refused.output
    assert table_counts(source) == before


def test_a_restore_asks_first_and_stops_on_no(databases, source, tmp_path):
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"
    assert invoke(source, "salve", "backup", "--output", str(file)).exit_code == 0
    target = databases.empty()
    answered = invoke(target, "salve", "restore", str(file), input="n\n")
    assert answered.exit_code == 1
    assert "¿Restaurar" in answered.output
    assert table_counts(target) == {}


def test_a_file_that_is_no_backup_of_this_kind_is_refused(databases, tmp_path):
    target = databases.empty()
    text = tmp_path / "notas.txt"
    text.write_text("no es una copia")
    refused = invoke(target, "salve", "restore", str(text), "--yes")
    assert refused.exit_code == 1
    assert "no es una copia de SALVE" in refused.output

    other = "postgresql" if databases.backend == "sqlite" else "sqlite"
    foreign = tmp_path / f"otra{SUFFIX[other]}"
    magic = backup.SQLITE_MAGIC if other == "sqlite" else backup.POSTGRES_MAGIC
    foreign.write_bytes(magic + bytes(100))
    mismatched = invoke(target, "salve", "restore", str(foreign), "--yes")
    assert mismatched.exit_code == 1
    assert f"es una copia de {other} y la base configurada es {databases.backend}" in (
        mismatched.output
    )
    assert table_counts(target) == {}


def test_a_damaged_backup_restores_nothing(databases, source, tmp_path):
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"
    assert invoke(source, "salve", "backup", "--output", str(file)).exit_code == 0
    data = file.read_bytes()
    damaged = tmp_path / f"dañada{SUFFIX[databases.backend]}"
    damaged.write_bytes(data[: len(data) // 2])
    target = databases.empty()

    refused = invoke(target, "salve", "restore", str(damaged), "--yes")
    assert refused.exit_code == 1
    assert "La restauración falló" in refused.output
    assert table_counts(target) == {}


class Writer(threading.Thread):
    """Insert audit events through a connection of its own, committing each, until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        self.stop = threading.Event()
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.engine.connect() as connection:
                while not self.stop.is_set():
                    with connection.begin():
                        # Linked into the hash chain, as every writer must.
                        chain.append(
                            connection,
                            occurred_at=utcnow(),
                            action="test.write",
                            object_id=str(self.written),
                        )
                    self.written += 1
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            self.engine.dispose()


def test_a_backup_taken_while_another_connection_writes_still_restores(databases, source, tmp_path):
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"
    writer = Writer(source)
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while writer.written < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        written_before = writer.written
        app = make_app(source)
        with app.app_context():
            result = backup_database(str(file))
            db.session.remove()
            db.engine.dispose()
        written_after = writer.written
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert written_after > written_before >= 20  # it really wrote during the backup

    target = databases.empty()
    restored = invoke(target, "salve", "restore", str(file), "--yes")
    assert restored.exit_code == 0, restored.output
    counts = table_counts(target)
    # Exactly what the backup said it holds (plus the restore's own audit event).
    assert counts["audit_events"] == result.snapshot.counts["audit_events"] + 1
    assert {t: counts[t] for t in MAIN_TABLES if t != "audit_events"} == {
        t: n for t, n in result.snapshot.counts.items() if t != "audit_events"
    }
    engine = sa.create_engine(target, poolclass=sa.NullPool)
    with engine.connect() as connection:
        kept = connection.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "test.write")
        )
    engine.dispose()
    assert written_before <= kept <= written_after
    verified = invoke(target, "salve", "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_a_backup_into_a_folder_that_cannot_be_made_leaves_nothing_and_says_why(source, tmp_path):
    blocker = tmp_path / "no-carpeta"
    blocker.write_text("un archivo, no una carpeta")
    failed = invoke(source, "salve", "backup", "--output", f"{blocker}/copias/")
    assert failed.exit_code == 1
    assert "La copia de seguridad falló: No se pudo crear la carpeta" in failed.output
    assert "no es una carpeta" in failed.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-carpeta"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_backup_into_a_read_only_folder_leaves_nothing_and_says_why(source, tmp_path):
    folder = tmp_path / "solo-lectura"
    folder.mkdir(mode=0o500)
    failed = invoke(source, "salve", "backup", "--output", f"{folder}/")
    assert failed.exit_code == 1
    assert "permiso denegado" in failed.output
    assert list(folder.iterdir()) == []


def test_a_backup_that_fails_halfway_leaves_no_partial_file(
    databases, source, tmp_path, monkeypatch
):
    folder = tmp_path / "copias"
    if databases.backend == "sqlite":
        # The copy is written, then the disk fills up while it is checked.
        def full(_connection):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(backup, "_sqlite_snapshot", full)
        expected = "SQLite no pudo hacer la copia: database or disk is full"
    else:
        # A pg_dump that writes half an archive, complains and fails.
        bindir = tmp_path / "bin"
        bindir.mkdir()
        fake = bindir / "pg_dump"
        fake.write_text(
            "#!/bin/sh\nprintf 'PGDMP a medias'\necho 'pg_dump: error: sin espacio' >&2\nexit 1\n"
        )
        fake.chmod(0o700)
        monkeypatch.setenv("SALVE_POSTGRES_BIN_DIR", str(bindir))
        expected = "pg_dump falló: pg_dump: error: sin espacio"
    failed = invoke(source, "salve", "backup", "--output", f"{folder}/")
    assert failed.exit_code == 1
    assert expected in failed.output
    assert list(folder.iterdir()) == []


def test_postgres_gets_the_password_through_the_environment_only(
    databases, source, tmp_path, monkeypatch, caplog
):
    if databases.backend != "postgresql":
        pytest.skip("SQLite has no password")
    password = "Clave-De-Prueba-9731"  # the test server trusts local users: it is not checked
    url = source.replace("postgres@", f"postgres:{password}@")
    seen = []
    real_run = postgres.subprocess.run

    def spy(command, **options):
        seen.append((command, options["env"]))
        return real_run(command, **options)

    monkeypatch.setattr(postgres.subprocess, "run", spy)
    caplog.set_level(logging.DEBUG)
    file = tmp_path / "copia.dump"
    made = invoke(url, "salve", "backup", "--output", str(file))
    assert made.exit_code == 0, made.output
    assert [Path(command[0]).name for command, _env in seen] == ["pg_dump", "pg_restore"]
    for command, environment in seen:
        assert not any(password in argument for argument in command)
        assert environment["PGPASSWORD"] == password
    assert password not in made.output
    assert password not in caplog.text


def test_a_sqlite_backup_is_one_file_that_passes_the_integrity_check(databases, source, tmp_path):
    if databases.backend != "sqlite":
        pytest.skip("SQLite only")
    made = invoke(source, "salve", "backup", "--output", f"{tmp_path}/")
    assert made.exit_code == 0, made.output
    [file] = tmp_path.iterdir()
    assert re.fullmatch(r"salve-\d{8}T\d{6}Z\.sqlite3", file.name)
    assert "PRAGMA integrity_check: ok" in made.output
    copy = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()


def test_an_existing_file_is_never_overwritten(databases, source, tmp_path):
    file = tmp_path / f"copia{SUFFIX[databases.backend]}"
    file.write_text("una copia anterior")
    refused = invoke(source, "salve", "backup", "--output", str(file))
    assert refused.exit_code == 1
    assert "una copia nunca se sobrescribe" in refused.output
    assert file.read_text() == "una copia anterior"


def test_the_partial_file_is_removed_when_the_disk_is_full(tmp_path):
    path = tmp_path / "copia.sqlite3"
    with pytest.raises(OSError), backup.partial_file(path) as (descriptor, _temporary):
        os.write(descriptor, b"medio archivo")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_reasons_are_said_in_spanish():
    assert backup.reason(OSError(errno.ENOSPC, "x")) == "no queda espacio en el disco"
    with pytest.raises(BackupError, match="solo en memoria"):
        backup._sqlite_path(sa.make_url("sqlite://"))


def test_a_file_that_appears_while_the_backup_is_written_is_not_replaced(tmp_path):
    path = tmp_path / "copia.sqlite3"
    with (
        pytest.raises(BackupError, match="una copia nunca se sobrescribe"),
        backup.partial_file(path) as (descriptor, _temporary),
    ):
        os.write(descriptor, b"la copia nueva")
        path.write_text("otra copia, escrita mientras tanto")
    assert path.read_text() == "otra copia, escrita mientras tanto"
    assert [p.name for p in tmp_path.iterdir()] == ["copia.sqlite3"]
