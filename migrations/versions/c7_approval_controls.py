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
    # Each user's time zone (IANA name): an approval entry is overdue once its due date
    # is today or earlier in the approver's time zone.
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC"))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
