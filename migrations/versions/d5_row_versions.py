"""row versions: optimistic locking for record cards, document headers, approval user
setup and job queue entries (SQLAlchemy version_id_col)

Revision ID: d5_row_versions
Revises: d3_flow_inputs
"""
from alembic import op
import sqlalchemy as sa


revision = "d5_row_versions"
down_revision = "d3_flow_inputs"
branch_labels = None
depends_on = None

TABLES = ("customer", "vendor", "item", "sales_header", "purchase_header", "approval_user_setup", "job_queue_entry")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
