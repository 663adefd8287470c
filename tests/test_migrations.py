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


def test_tokens_existing_before_lifetimes_keep_working_for_ninety_days(tmp_path):
    """The upgrade gives every existing token 90 days and read-write, its powers until then."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from salve import create_app
    from salve.db import UTCDateTime

    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}",
        }
    )
    plain = ("id", "username", "display_name", "email", "password_hash", "language")
    users = sa.table(
        "users",
        *(sa.column(name) for name in (*plain, "is_enabled", "is_demo")),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    tokens = sa.table(
        "api_tokens", sa.column("id"), sa.column("user_id"), sa.column("token_hash"),
        sa.column("name"), sa.column("created_at", UTCDateTime()),
    )  # fmt: skip
    with app.app_context():
        upgrade(revision="ad4f5b2a7e43")
        long_ago = datetime(2026, 1, 5, tzinfo=UTC)
        with db.engine.begin() as connection:
            connection.execute(
                users.insert().values(
                    id=1, username="docente", display_name="Docente", email="", password_hash="x",
                    language="es_SV", is_enabled=True, is_demo=False, created_at=long_ago,
                    updated_at=long_ago,
                )
            )  # fmt: skip
            connection.execute(
                tokens.insert().values(
                    id=7, user_id=1, token_hash="a" * 64, name="app", created_at=long_ago
                )
            )
        upgrade()
        before = datetime.now(UTC)
        with db.engine.connect() as connection:
            scope, expires_at = connection.execute(
                sa.select(sa.column("scope"), sa.column("expires_at", UTCDateTime())).select_from(
                    sa.table("api_tokens")
                )
            ).one()
        db.engine.dispose()
    assert scope == "read-write"
    assert before + timedelta(days=89) < expires_at <= before + timedelta(days=90, minutes=1)
