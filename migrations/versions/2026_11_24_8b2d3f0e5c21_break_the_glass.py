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
    pass


def downgrade():
    pass
