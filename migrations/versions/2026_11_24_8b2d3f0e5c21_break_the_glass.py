"""break the glass: time-limited access to identities with a stated reason

Revision ID: 8b2d3f0e5c21
Revises: 7a1c2e9d4b10
Create Date: 2026-11-24 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = '8b2d3f0e5c21'
down_revision = '7a1c2e9d4b10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('break_glass_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('reason_category', sa.String(length=20), nullable=False),
        sa.Column('reason_text', sa.String(length=1000), nullable=False),
        sa.Column('record_type', sa.String(length=10), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('granted_at', salve.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', salve.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', salve.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("reason_category IN ('emergencia', 'caso', 'referencia', 'traslado', 'verificacion', 'otro')", name=op.f('ck_break_glass_grants_reason_category')),
        sa.CheckConstraint("record_type IN ('', 'student', 'alert', 'incident')", name=op.f('ck_break_glass_grants_record_type')),
        sa.CheckConstraint('length(reason_text) >= 20', name=op.f('ck_break_glass_grants_reason_text')),
        sa.CheckConstraint('expires_at > granted_at', name=op.f('ck_break_glass_grants_period')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_break_glass_grants_department_id_departments')),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_break_glass_grants_school_id_schools')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_break_glass_grants_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_grants'))
    )
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.create_index('ix_break_glass_grants_department_granted', ['department_id', 'granted_at'], unique=False)
        batch_op.create_index('ix_break_glass_grants_user_school', ['user_id', 'school_id', 'expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_break_glass_grants_user_school')
        batch_op.drop_index('ix_break_glass_grants_department_granted')
    op.drop_table('break_glass_grants')
