"""workflow row version: the workflow editor refuses an edit made on a stale page
(SQLAlchemy version_id_col)

Revision ID: e6_workflow_version
Revises: e1_audit_trail
"""
from alembic import op
import sqlalchemy as sa


revision = "e6_workflow_version"
down_revision = "e1_audit_trail"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_column("version")
