"""role center: indexes on a run's starter (My runs and the home page's "My flow runs"
cues count a user's runs without reading every run) and on an approval entry's sender
(Sent for Approval and the home page's latest requests)

Revision ID: f2_nav
Revises: f3_search
"""
from alembic import op

revision = "f2_nav"
down_revision = "f3_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workflow_instance", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_instance_started_by", ["started_by_id", "status", "id"], unique=False)
    with op.batch_alter_table("approval_entry", schema=None) as batch_op:
        batch_op.create_index("ix_approval_entry_sender", ["sender_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("approval_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_entry_sender")
    with op.batch_alter_table("workflow_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_instance_started_by")
