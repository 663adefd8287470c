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
    pass


def downgrade():
    pass
