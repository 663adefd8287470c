"""``salve audit verify`` and ``salve db grant-app-role``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from salve.audit.grants import GrantError, grant_app_role, owner_engine
from salve.audit.operations import chain_verdict

audit_group = AppGroup("audit", help="The audit log.")
db_group = AppGroup("db", help="Database roles.")


@audit_group.command("verify")
def verify_command():
    """Walk the audit log's hash chain; name the first row changed, removed or out of order."""
    verdict = chain_verdict()
    if verdict.broken is not None:
        raise click.ClickException(
            f"La cadena del registro de auditoría está rota: {verdict.broken.message} "
            f"(se revisaron {verdict.rows:,} filas hasta ahí)."
        )
    seq, row_hash = verdict.head
    click.echo(f"Registro de auditoría íntegro: {verdict.rows:,} filas encadenadas, OK.")
    click.echo(f"Última fila: seq={seq}, huella {row_hash}")


@db_group.command("grant-app-role")
@click.argument("role", required=False)
def grant_app_role_command(role: str | None):
    """Give the app's PostgreSQL role its rights, as the owner (default: the app URL's user)."""
    role = role or sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).username
    if not role:
        raise click.ClickException("Indique el rol de la aplicación.")
    engine = owner_engine(current_app)
    try:
        with engine.begin() as connection:
            counts = grant_app_role(connection, role)
    except GrantError as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    click.echo(
        f"Permisos del rol «{role}»: lectura y escritura en {counts['tables_read_write']} tablas, "
        f"solo lectura e inserción en {counts['tables_append_only']} (auditoría), solo lectura "
        f"en {counts['tables_read_only']}, uso de {counts['sequences']} secuencias."
    )


def grant_after_migration(echo=click.echo) -> None:
    """Re-grant the app's role after migrations when it is not the owner (``salve init``)."""
    app_url = sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    owner_url = sa.make_url(current_app.config["MIGRATION_DATABASE_URI"])
    if app_url.get_backend_name() != "postgresql" or app_url.username == owner_url.username:
        return
    engine = owner_engine(current_app)
    try:
        with engine.begin() as connection:
            grant_app_role(connection, app_url.username)
    except GrantError as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    echo(f"Permisos del rol de la aplicación «{app_url.username}» actualizados.")


def register(group) -> None:
    """Add the audit and database-role commands to ``group``."""
    group.add_command(audit_group)
    group.add_command(db_group)
