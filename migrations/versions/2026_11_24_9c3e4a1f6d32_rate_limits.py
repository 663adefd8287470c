"""rate limits shared across workers

Revision ID: 9c3e4a1f6d32
Revises: 8b2d3f0e5c21
Create Date: 2026-11-24 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = '9c3e4a1f6d32'
down_revision = '8b2d3f0e5c21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_counters',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('window_start', salve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('expires_at', salve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('hits >= 0', name=op.f('ck_rate_limit_counters_hits_not_negative')),
    sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_limit_counters'))
    )
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_counters_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_counters_expires_at'))

    op.drop_table('rate_limit_counters')
