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
    pass


def downgrade():
    pass
