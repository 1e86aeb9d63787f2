"""HTTP-triggered flows: each flow's address and signing secret

Revision ID: e2_http_flows
Revises: e6_workflow_version

- ``workflow_http_trigger``: per flow started by "An HTTP request is received" the
  unguessable token of its address (``/hooks/<token>``), the encrypted signing secret
  and counters of accepted and refused requests. (Webhook secrets live encrypted in
  the step options, which are JSON: no schema change.)
"""
from alembic import op
import sqlalchemy as sa


revision = "e2_http_flows"
down_revision = "e6_workflow_version"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "workflow_http_trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("secret_set_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_count", sa.Integer(), nullable=False),
        sa.Column("last_accepted_at", sa.DateTime(), nullable=True),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("last_rejected_at", sa.DateTime(), nullable=True),
        sa.Column("last_rejected_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], name=op.f("fk_workflow_http_trigger_workflow_id_workflow"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_http_trigger")),
        sa.UniqueConstraint("token", name=op.f("uq_workflow_http_trigger_token")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_workflow_http_trigger_workflow_id")),
    )


def downgrade():
    op.drop_table("workflow_http_trigger")
