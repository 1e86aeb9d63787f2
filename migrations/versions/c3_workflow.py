"""workflow engine additions (archive, templates)

Revision ID: c3_workflow
Revises: c3_records
"""
from alembic import op
import sqlalchemy as sa


revision = "c3_workflow"
down_revision = "c3_records"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "workflow_record_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], name=op.f("fk_workflow_record_change_instance_id_workflow_instance"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_record_change")),
    )
    with op.batch_alter_table("workflow_record_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_record_change_instance_id"), ["instance_id"], unique=False)
    with op.batch_alter_table("workflow_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_workflow_instance_archived_at"), ["archived_at"], unique=False)


def downgrade():
    with op.batch_alter_table("workflow_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_instance_archived_at"))
        batch_op.drop_column("archived_at")
    with op.batch_alter_table("workflow_record_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_record_change_instance_id"))
    op.drop_table("workflow_record_change")
