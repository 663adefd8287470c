"""Backups and restores of the whole database (SECURITY.md item 27).

- **SQLite**: Python's ``sqlite3`` backup API copies the database in one step from a read
  snapshot, so the copy is consistent while the app keeps writing (WAL); the copy is then
  switched to a single self-contained file and checked with ``PRAGMA integrity_check``.
- **PostgreSQL**: ``pg_dump -Fc`` and ``pg_restore`` (``salve.maintenance.postgres``).

A backup is written under a temporary name created with mode 0600, in the destination folder,
and linked to its final name only once complete and checked; on any failure nothing is left.
A restore goes only into an empty database (no tables at all): it never mixes a backup with
data already there, nor drops anything.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from salve.db import utcnow
from salve.extensions import db

logger = logging.getLogger(__name__)

#: The tables whose row counts a backup and a restore print.
MAIN_TABLES = ("schools", "students", "incidents", "alerts", "cases", "audit_events", "users")
SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".dump"
#: How each kind of file begins.
SQLITE_MAGIC = b"SQLite format 3\x00"
POSTGRES_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that failed or was refused; the message says why, in Spanish."""


@dataclass(frozen=True)
class Snapshot:
    """What a backup file holds, or what a restore put back."""

    #: Rows per table of ``MAIN_TABLES``.
    counts: dict[str, int]
    #: The Alembic revision of the schema (None when it has none).
    revision: str | None


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, how big, what it holds and how it was checked."""

    path: Path
    size: int
    snapshot: Snapshot
    #: How the file was checked, in Spanish.
    check: str


def reason(error: OSError) -> str:
    """Say in Spanish why a file operation failed."""
    reasons = {
        errno.EACCES: "permiso denegado",
        errno.EPERM: "operación no permitida",
        errno.ENOSPC: "no queda espacio en el disco",
        errno.EROFS: "el sistema de archivos es de solo lectura",
        errno.ENOTDIR: "una parte de la ruta no es una carpeta",
        errno.ENOENT: "no existe",
        errno.EEXIST: "ya existe",
        errno.EDQUOT: "se agotó la cuota de disco",
    }
    return reasons.get(error.errno, error.strerror or type(error).__name__)


# --- Files ---------------------------------------------------------------------------------------


def default_name(suffix: str, now: datetime) -> str:
    """Return a backup's file name, e.g. ``salve-20261124T230000Z.sqlite3`` (UTC)."""
    return f"salve-{now:%Y%m%dT%H%M%SZ}{suffix}"


def _destination(output: str | None, folder: Path, suffix: str, now: datetime) -> Path:
    """Return where to write: ``output``, in it if it is a folder or ends with "/", or in
    ``folder`` under a new name."""
    name = default_name(suffix, now)
    if output is None:
        path = folder / name
    elif output.endswith(os.sep) or Path(output).is_dir():
        path = Path(output) / name
    else:
        path = Path(output)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(
            f"No se pudo crear la carpeta {path.parent}: {reason(error)}. No se escribió nada."
        ) from error
    if path.exists():
        raise BackupError(f"Ya existe {path}; una copia nunca se sobrescribe. Indique otro nombre.")
    return path


@contextlib.contextmanager
def partial_file(path: Path) -> Iterator[tuple[int, Path]]:
    """Yield (descriptor, temporary path) of a new 0600 file next to ``path``.

    On success the file gets its final name (refusing to replace one that appeared meanwhile);
    on any failure, the temporary file and whatever SQLite left beside it are removed.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise BackupError(
            f"No se pudo escribir en la carpeta {path.parent}: {reason(error)}. "
            "No se escribió nada."
        ) from error
    try:
        try:
            yield descriptor, temporary
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        _publish(temporary, path)
    except BaseException:
        for end in ("", "-journal", "-wal", "-shm"):
            Path(f"{temporary}{end}").unlink(missing_ok=True)
        raise


def _publish(temporary: Path, path: Path) -> None:
    """Give the finished file its name, never replacing a file that appeared meanwhile."""
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise BackupError(f"Ya existe {path}; una copia nunca se sobrescribe.") from error
    except OSError:  # a file system without hard links: a rename, after one more look
        if path.exists():
            raise BackupError(f"Ya existe {path}; una copia nunca se sobrescribe.") from None
        os.rename(temporary, path)
        return
    temporary.unlink()


def file_kind(path: Path) -> str:
    """Return "sqlite" or "postgresql" from a backup file's first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"No se pudo leer {path}: {reason(error)}.") from error
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(POSTGRES_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path} no es una copia de SALVE: ni una base SQLite ni un archivo de pg_dump -Fc."
    )


# --- SQLite --------------------------------------------------------------------------------------


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("La base de datos está solo en memoria: no hay nada que copiar.")
    return Path(url.database).resolve()


def _sqlite_snapshot(connection: sqlite3.Connection) -> Snapshot:
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    counts = {
        table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608 - fixed names
        for table in MAIN_TABLES
        if table in tables
    }
    revision = None
    if "alembic_version" in tables:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return Snapshot(counts, revision)


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def _backup_sqlite(url: sa.URL, path: Path) -> tuple[Snapshot, str]:
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"No existe la base de datos {source_path}.")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        with partial_file(path) as (_descriptor, temporary):
            copy = sqlite3.connect(temporary)
            try:
                # pages=-1: the whole database in one step, from one read snapshot.
                source.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                result = [row[0] for row in copy.execute("PRAGMA integrity_check")]
                if result != ["ok"]:
                    raise BackupError(
                        "La copia no pasó PRAGMA integrity_check: " + "; ".join(result[:5])
                    )
                snapshot = _sqlite_snapshot(copy)
            except sqlite3.Error as error:
                raise BackupError(f"SQLite no pudo hacer la copia: {error}.") from error
            finally:
                copy.close()
    finally:
        source.close()
    return snapshot, "PRAGMA integrity_check: ok"


def _restore_sqlite(url: sa.URL, file: Path) -> None:
    target_path = _sqlite_path(url)
    source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        try:
            result = [row[0] for row in source.execute("PRAGMA integrity_check")]
        except sqlite3.Error as error:
            raise BackupError(f"{file} no se puede leer como base SQLite: {error}.") from error
        if result != ["ok"]:
            raise BackupError(f"{file} no pasó PRAGMA integrity_check: " + "; ".join(result[:5]))
        db.engine.dispose()
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            tables = _sqlite_tables(target)
            if tables:
                raise not_empty(len(tables), tables[0])
            source.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode=WAL")  # what the app runs with
        except sqlite3.Error as error:
            raise BackupError(f"SQLite no pudo restaurar la copia: {error}.") from error
        finally:
            target.close()
    finally:
        source.close()


# --- Both ----------------------------------------------------------------------------------------


def count_tables(connection: sa.Connection) -> Snapshot:
    """Return the rows of each main table and the schema revision, through ``connection``."""
    present = set(sa.inspect(connection).get_table_names())
    counts = {
        table: connection.scalar(sa.select(sa.func.count()).select_from(sa.table(table)))
        for table in MAIN_TABLES
        if table in present
    }
    revision = None
    if "alembic_version" in present:
        revision = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return Snapshot(counts, revision)


def not_empty(count: int, example: str) -> BackupError:
    """Return the refusal to restore into a database that has tables."""
    return BackupError(
        f"La base de destino no está vacía: tiene {count} tabla(s), p. ej. «{example}». "
        "Solo se restaura en una base vacía, para no mezclar ni borrar datos: cree una nueva "
        "(PostgreSQL: createdb) o apunte SALVE_DATABASE_URL a un archivo nuevo (SQLite)."
    )


def backup_database(output: str | None = None, *, now: datetime | None = None) -> BackupResult:
    """Copy the app's database to ``output`` (a file or folder; default instance/backups/)."""
    url = db.engine.url
    now = now or utcnow()
    output = None if output is None else str(output)
    folder = Path(current_app.instance_path) / "backups"
    if url.get_backend_name() == "sqlite":
        path = _destination(output, folder, SQLITE_SUFFIX, now)
        snapshot, check = _backup_sqlite(url, path)
    elif url.get_backend_name() == "postgresql":
        path = _destination(output, folder, POSTGRES_SUFFIX, now)
        from salve.maintenance import postgres

        snapshot, check = postgres.backup(url, path)
    else:
        raise BackupError(f"No se sabe copiar una base {url.get_backend_name()}.")
    size = path.stat().st_size
    logger.info("backup written: %s (%d bytes)", path, size)
    return BackupResult(path, size, snapshot, check)


def restore_database(file: Path) -> Snapshot:
    """Put backup ``file`` into the app's database, which must be empty; return what it holds."""
    url = db.engine.url
    backend = url.get_backend_name()
    if not file.is_file():
        raise BackupError(f"No existe el archivo {file}.")
    kind = file_kind(file)
    if kind != backend:
        raise BackupError(
            f"{file} es una copia de {kind} y la base configurada es {backend}: "
            "se restaura en una base del mismo tipo."
        )
    if backend == "sqlite":
        _restore_sqlite(url, file)
    else:
        from salve.maintenance import postgres

        postgres.restore(url, file)
    db.engine.dispose()
    with db.engine.connect() as connection:
        snapshot = count_tables(connection)
    logger.info("backup restored from %s", file)
    return snapshot
