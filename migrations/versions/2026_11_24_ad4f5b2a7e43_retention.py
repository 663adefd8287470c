"""retention: legal holds and anonymisation marks

Revision ID: ad4f5b2a7e43
Revises: 9c3e4a1f6d32
Create Date: 2026-11-24 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = 'ad4f5b2a7e43'
down_revision = '9c3e4a1f6d32'
branch_labels = None
depends_on = None

#: The tables whose rows retention anonymises in place.
ANONYMISED = ("students", "incidents", "cases")


def upgrade():
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_type', sa.String(length=10), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=False),
    sa.Column('placed_at', salve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', salve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("target_type IN ('student', 'incident', 'case', 'school')", name=op.f('ck_legal_holds_target_type')),
    sa.CheckConstraint('(released_at IS NULL) = (released_by_id IS NULL)', name=op.f('ck_legal_holds_release_complete')),
    sa.ForeignKeyConstraint(['placed_by_id'], ['users.id'], name=op.f('fk_legal_holds_placed_by_id_users')),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], name=op.f('fk_legal_holds_released_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_legal_holds_target', ['target_type', 'target_id'], unique=False)

    for table in ANONYMISED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('anonymised_at', salve.db.UTCDateTime(timezone=True), nullable=True)
            )


def downgrade():
    for table in reversed(ANONYMISED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('anonymised_at')

    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_holds_target')

    op.drop_table('legal_holds')
