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


def upgrade():
    pass


def downgrade():
    pass
