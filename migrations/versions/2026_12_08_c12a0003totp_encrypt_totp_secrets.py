"""encrypt TOTP secrets: a wider users.totp_secret, and the plain secrets encrypted

Revision ID: c12a0003totp
Revises: c12a0002tokn
Create Date: 2026-12-08 02:00:00

The key comes from SALVE_TOTP_KEY (salve.auth.totp_keys); production refuses to start, and so
to migrate, without it. The downgrade decrypts the secrets again before narrowing the column.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c12a0003totp'
down_revision = 'c12a0002tokn'
branch_labels = None
depends_on = None

_users = sa.table('users', sa.column('id', sa.Integer), sa.column('totp_secret', sa.String))


def _rewrite(change):
    """Store ``change(secret)`` for every user's secret that ``change`` returns a new value for."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_users.c.id, _users.c.totp_secret).where(_users.c.totp_secret.is_not(None))
    ).all()
    for user_id, secret in rows:
        new = change(secret)
        if new != secret:
            connection.execute(
                sa.update(_users).where(_users.c.id == user_id).values(totp_secret=new)
            )


def upgrade():
    from salve.auth import totp_keys

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)
    _rewrite(lambda secret: secret if totp_keys.is_sealed(secret) else totp_keys.seal(secret))


def downgrade():
    from salve.auth import totp_keys

    _rewrite(totp_keys.unseal)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)
