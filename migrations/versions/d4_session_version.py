"""user session version: signing out ends every session cookie issued before

Revision ID: d4_session_version
Revises: c8_no_series
"""
from alembic import op
import sqlalchemy as sa


revision = "d4_session_version"
down_revision = "c8_no_series"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
