"""PostgreSQL backups and restores through ``pg_dump -Fc`` and ``pg_restore``.

``pg_dump`` runs inside a snapshot exported from a read-only transaction in which the rows are
also counted, so the counts printed describe exactly what the file holds; the archive is then
read back with ``pg_restore --list``. The password reaches both programs through their
environment (``PGPASSWORD``), never their command line, and is masked in what they say.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from salve.extensions import db
from salve.maintenance.backup import (
    BackupError,
    Snapshot,
    count_tables,
    not_empty,
    partial_file,
    reason,
)

#: URL query parameters that libpq also reads from the environment.
LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def postgres_binary(name: str) -> str:
    """Return the path of ``pg_dump`` or ``pg_restore``: the configured folder, else the newest."""
    configured = current_app.config.get("POSTGRES_BIN_DIR")
    candidates = [Path(configured) / name] if configured else []
    candidates += [
        Path(folder) / name
        for folder in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda folder: [int(p) for p in Path(folder).parent.name.split(".") if p.isdigit()],
            reverse=True,
        )
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(
        f"No se encontró {name}. Instale el cliente de PostgreSQL (apt-get install "
        "postgresql-client) o indique su carpeta en SALVE_POSTGRES_BIN_DIR."
    )


def postgres_environment(url: sa.URL) -> dict[str, str]:
    """Return the environment that points libpq at ``url``: the password goes here, never argv."""
    environment = dict(os.environ)
    for part, variable in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("username", "PGUSER"),
        ("password", "PGPASSWORD"),
        ("database", "PGDATABASE"),
    ):
        value = getattr(url, part)
        if value is not None:
            environment[variable] = str(value)
    for key, value in url.query.items():
        if key in LIBPQ_ENVIRONMENT:
            environment[LIBPQ_ENVIRONMENT[key]] = value if isinstance(value, str) else value[0]
    return environment


def _run(command: list[str], url: sa.URL, **options) -> subprocess.CompletedProcess:
    """Run a PostgreSQL client program on ``url``'s server; never with a password in argv."""
    try:
        return subprocess.run(  # noqa: S603 - a fixed program and arguments, no shell
            command,
            env=postgres_environment(url),
            stdin=subprocess.DEVNULL,
            check=False,
            umask=0o077,
            **options,
        )
    except OSError as error:
        raise BackupError(f"No se pudo ejecutar {command[0]}: {reason(error)}.") from error


def _said(process: subprocess.CompletedProcess, url: sa.URL) -> str:
    """Return the last lines a client program wrote to stderr, with any password masked."""
    text = process.stderr.decode(errors="replace") if process.stderr else ""
    if url.password:
        text = text.replace(str(url.password), "***")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[-3:]) or f"código de salida {process.returncode}"


def backup(url: sa.URL, path: Path) -> tuple[Snapshot, str]:
    pg_dump, pg_restore = postgres_binary("pg_dump"), postgres_binary("pg_restore")
    with db.engine.connect() as connection:
        connection = connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        with connection.begin():
            snapshot_id = connection.scalar(sa.text("SELECT pg_export_snapshot()"))
            snapshot = count_tables(connection)
            with partial_file(path) as (descriptor, temporary):
                dumped = _run(
                    [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot_id}"],
                    url,
                    stdout=descriptor,
                    stderr=subprocess.PIPE,
                )
                if dumped.returncode != 0:
                    raise BackupError(f"pg_dump falló: {_said(dumped, url)}")
                listed = _run(
                    [pg_restore, "--list", str(temporary)],
                    url,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                if listed.returncode != 0:
                    raise BackupError(f"La copia no se puede leer: {_said(listed, url)}")
    return snapshot, "pg_restore --list: legible"


def _tables() -> list[str]:
    with db.engine.connect() as connection:
        return list(
            connection.scalars(
                sa.text(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    " ORDER BY table_name"
                )
            )
        )


def restore(url: sa.URL, file: Path) -> None:
    pg_restore = postgres_binary("pg_restore")
    listed = _run(
        [pg_restore, "--list", str(file)], url, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if listed.returncode != 0:
        raise BackupError(f"{file} no se puede leer: {_said(listed, url)}")
    tables = _tables()
    if tables:
        raise not_empty(len(tables), tables[0])
    db.engine.dispose()
    restored = _run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",  # a failure leaves the database as empty as it was
            "--no-password",
            f"--dbname={url.database}",
            str(file),
        ],
        url,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if restored.returncode != 0:
        raise BackupError(f"pg_restore falló y no restauró nada: {_said(restored, url)}")
