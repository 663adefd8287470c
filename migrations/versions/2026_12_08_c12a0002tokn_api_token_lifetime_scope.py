"""api tokens: a lifetime and a scope

Revision ID: c12a0002tokn
Revises: c12a0001audt
Create Date: 2026-12-08 02:00:00

Tokens created before this revision never expired and could do anything their account can.
They get 90 days from the upgrade and the scope ``read-write``, so that no program using one
stops working at once; administrators replace them with narrower tokens meanwhile.
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = 'c12a0002tokn'
down_revision = 'c12a0001audt'
branch_labels = None
depends_on = None

#: What the tokens existing at the upgrade keep: their old powers, for 90 more days.
EXISTING_TOKENS_LIFETIME = timedelta(days=90)
EXISTING_TOKENS_SCOPE = 'read-write'


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('expires_at', salve.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('scope', sa.String(length=10), nullable=True))

    tokens = sa.table(
        'api_tokens',
        sa.column('expires_at', salve.db.UTCDateTime(timezone=True)),
        sa.column('scope', sa.String(length=10)),
    )
    op.execute(
        tokens.update().values(
            expires_at=datetime.now(timezone.utc) + EXISTING_TOKENS_LIFETIME,
            scope=EXISTING_TOKENS_SCOPE,
        )
    )

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column(
            'expires_at', existing_type=salve.db.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.alter_column('scope', existing_type=sa.String(length=10), nullable=False)
        batch_op.create_check_constraint(
            op.f('ck_api_tokens_scope'), "scope IN ('read', 'read-write')"
        )


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_api_tokens_scope'), type_='check')
        batch_op.drop_column('scope')
        batch_op.drop_column('expires_at')
