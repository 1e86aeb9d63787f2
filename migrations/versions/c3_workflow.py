"""workflow engine additions (archive, templates)

Revision ID: c3_workflow
Revises: c3_records
"""
from alembic import op
import sqlalchemy as sa


revision = "c3_workflow"
down_revision = "c3_records"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
