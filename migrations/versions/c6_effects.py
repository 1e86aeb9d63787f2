"""engine: effect rows, outbox leases

Revision ID: c6_effects
Revises: c5_approvals
"""
from alembic import op
import sqlalchemy as sa


revision = "c6_effects"
down_revision = "c5_approvals"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
