"""The rights of the application's PostgreSQL role: ordinary work, but the audit log only grows.

In production the app connects as a role that owns nothing (``SALVE_DATABASE_URL``) and the
migrations run as the owner (``SALVE_MIGRATION_DATABASE_URL``). Not owning ``audit_events``, the
app cannot TRUNCATE it, disable or drop its triggers; with only SELECT and INSERT on it, it
cannot UPDATE or DELETE either, triggers or not.
"""

from __future__ import annotations

import sqlalchemy as sa

#: Tables the app may only read and append to.
APPEND_ONLY = ("audit_events",)
#: Tables the app may only read (the migrations write them).
READ_ONLY = ("alembic_version",)


class GrantError(Exception):
    """The grants cannot be given; the message says why, in Spanish."""


def owner_engine(app) -> sa.Engine:
    """Return an engine on the owner's URL (``MIGRATION_DATABASE_URL``, else the app's)."""
    return sa.create_engine(app.config["MIGRATION_DATABASE_URI"], poolclass=sa.NullPool)


def grant_app_role(connection: sa.Connection, role: str) -> dict[str, int]:
    """Give ``role`` exactly what the app needs, through the owner's ``connection``.

    Every other table: SELECT, INSERT, UPDATE, DELETE; ``APPEND_ONLY``: SELECT, INSERT;
    ``READ_ONLY``: SELECT; sequences: USAGE, SELECT. Anything granted before is revoked first.
    Return how many tables and sequences got which rights.
    """
    if connection.dialect.name != "postgresql":
        raise GrantError("Los permisos por rol solo existen en PostgreSQL.")
    exists = connection.scalar(
        sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}
    )
    if not exists:
        raise GrantError(f"No existe el rol «{role}» en el servidor (créelo con CREATE ROLE).")
    if role == connection.scalar(sa.text("SELECT current_user")):
        raise GrantError(
            f"«{role}» es el rol con el que se conecta este comando (el dueño); la aplicación "
            "necesita otro rol, sin propiedad sobre las tablas."
        )
    quote = connection.dialect.identifier_preparer.quote
    schema = connection.scalar(sa.text("SELECT current_schema()"))
    inspector = sa.inspect(connection)
    tables = inspector.get_table_names(schema=schema)
    sequences = inspector.get_sequence_names(schema=schema)
    grantee, where = quote(role), quote(schema)
    counts = {"tables_read_write": 0, "tables_append_only": 0, "tables_read_only": 0}
    connection.execute(sa.text(f"GRANT USAGE ON SCHEMA {where} TO {grantee}"))
    for table in tables:
        name = f"{where}.{quote(table)}"
        connection.execute(sa.text(f"REVOKE ALL ON {name} FROM {grantee}"))
        if table in APPEND_ONLY:
            rights, kind = "SELECT, INSERT", "tables_append_only"
        elif table in READ_ONLY:
            rights, kind = "SELECT", "tables_read_only"
        else:
            rights, kind = "SELECT, INSERT, UPDATE, DELETE", "tables_read_write"
        connection.execute(sa.text(f"GRANT {rights} ON {name} TO {grantee}"))
        counts[kind] += 1
    for sequence in sequences:
        name = f"{where}.{quote(sequence)}"
        connection.execute(sa.text(f"REVOKE ALL ON SEQUENCE {name} FROM {grantee}"))
        connection.execute(sa.text(f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {grantee}"))
    counts["sequences"] = len(sequences)
    return counts
