"""number series

Revision ID: c8_no_series
Revises: c7_approval_controls
"""
from alembic import op
import sqlalchemy as sa


revision = "c8_no_series"
down_revision = "c7_approval_controls"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
