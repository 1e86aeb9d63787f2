"""approval controls: user time zone

Revision ID: c7_approval_controls
Revises: c6_effects
"""
from alembic import op
import sqlalchemy as sa


revision = "c7_approval_controls"
down_revision = "c6_effects"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
