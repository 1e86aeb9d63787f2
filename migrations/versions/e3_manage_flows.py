"""manage flows: a flow's owner and the failing streak its owner was told about

Revision ID: e3_manage_flows
Revises: e2_http_flows

- ``workflow.owner_id``: the user who created (copied, imported) the flow; existing
  workflows have none;
- ``workflow.failure_notice_run_id``: the first failed run of the failing streak the
  owner was last notified about (one notification per streak).
"""
from alembic import op
import sqlalchemy as sa


revision = "e3_manage_flows"
down_revision = "e2_http_flows"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failure_notice_run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_workflow_owner_id_user"), "user", ["owner_id"], ["id"])


def downgrade():
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_workflow_owner_id_user"), type_="foreignkey")
        batch_op.drop_column("failure_notice_run_id")
        batch_op.drop_column("owner_id")
