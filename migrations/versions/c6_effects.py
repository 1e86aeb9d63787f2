"""engine: effect rows; leases on outbox events and notification entries

Revision ID: c6_effects
Revises: c5_approvals
"""
from alembic import op
import sqlalchemy as sa


revision = "c6_effects"
down_revision = "c5_approvals"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "workflow_effect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("step_instance_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], name=op.f("fk_workflow_effect_instance_id_workflow_instance"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["step_instance_id"], ["workflow_step_instance.id"], name=op.f("fk_workflow_effect_step_instance_id_workflow_step_instance"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_effect")),
        sa.UniqueConstraint("key", name=op.f("uq_workflow_effect_key")),
    )
    with op.batch_alter_table("workflow_effect", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_effect_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index("ix_workflow_effect_status_due", ["status", "next_attempt_at"], unique=False)
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_outbox_event_unfinished_record", ["record_type", "record_id", "id"], unique=False,
                              postgresql_where=sa.text("status IN ('pending', 'processing')"),
                              sqlite_where=sa.text("status IN ('pending', 'processing')"))
    with op.batch_alter_table("notification_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("notification_entry", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_unfinished_record")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("workflow_effect", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_effect_status_due")
        batch_op.drop_index(batch_op.f("ix_workflow_effect_instance_id"))
    op.drop_table("workflow_effect")
