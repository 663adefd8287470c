"""The migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from salve.extensions import db


def test_migrations_match_the_models(app):
    """What `flask db check` checks: no table, column, index or constraint left to migrate."""
    connection = db.session.connection()  # the test's own: SQLite allows one writer
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    differences = compare_metadata(context, db.metadata)
    assert differences == []
