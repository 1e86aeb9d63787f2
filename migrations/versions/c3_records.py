"""purchase documents, general journals, posted documents, record restrictions

Revision ID: c3_records
Revises: c4_job_queue
"""
from alembic import op
import sqlalchemy as sa


revision = "c3_records"
down_revision = "c4_job_queue"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
