"""job queue entries, log entries, scheduler lease

Revision ID: c4_job_queue
Revises: b8f60c543834
"""
from alembic import op
import sqlalchemy as sa


revision = "c4_job_queue"
down_revision = "b8f60c543834"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
