"""second factor: TOTP secrets, recovery codes, recent re-authentication

Revision ID: 7a1c2e9d4b10
Revises: 861d071c5817
Create Date: 2026-11-24 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = '7a1c2e9d4b10'
down_revision = '861d071c5817'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', salve.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second_factor_at', salve.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reauthenticated_at', salve.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table('recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', salve.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', salve.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_column('reauthenticated_at')
        batch_op.drop_column('second_factor_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')
