"""audit trail: kind of change, one row per changed field, record title, typed sign-in name

Revision ID: e1_audit_trail
Revises: d2_notification_mail

``audit_entry`` gains ``kind`` (record, approval, workflow, flow_run, approval_setup,
sign_in; existing rows are sorted into them by their action), ``record_title``,
``field_name`` / ``old_value`` / ``new_value`` (a record field's change) and
``user_name`` (who, kept should the user be deleted: the FK now sets NULL; on a failed
sign-in the name typed), with indexes for the per-record
Changes page and the Audit page's filters.
"""
from alembic import op
import sqlalchemy as sa


revision = "e1_audit_trail"
down_revision = "d2_notification_mail"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=30), server_default="record", nullable=False))
        batch_op.add_column(sa.Column("record_title", sa.String(length=250), nullable=True))
        batch_op.add_column(sa.Column("field_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("old_value", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("new_value", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("user_name", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_entry_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_audit_entry_record", ["record_type", "record_id", "id"], unique=False)
        # a deleted user's rows stay (and keep their user_name)
        batch_op.drop_constraint("fk_audit_entry_user_id_user", type_="foreignkey")
        batch_op.create_foreign_key(batch_op.f("fk_audit_entry_user_id_user"), "user", ["user_id"], ["id"], ondelete="SET NULL")
    audit = sa.table("audit_entry", sa.column("kind", sa.String), sa.column("action", sa.String), sa.column("record_type", sa.String))
    op.execute(audit.update().where(audit.c.action.in_(
        ["send_approval_request", "cancel_approval_request", "approved", "rejected", "delegate"])).values(kind="approval"))
    op.execute(audit.update().where(audit.c.action.in_(
        ["run_flow", "retry_run", "cancel_run", "accept_automation_notice"])).values(kind="flow_run"))
    op.execute(audit.update().where(audit.c.record_type == "workflow").values(kind="workflow"))
    op.execute(audit.update().where(audit.c.record_type.in_(["approval_user_setup", "workflow_user_group"])).values(kind="approval_setup"))
    users = sa.table("user", sa.column("id", sa.Integer), sa.column("user_name", sa.String))
    audit_user = sa.table("audit_entry", sa.column("user_id", sa.Integer), sa.column("user_name", sa.String))
    op.execute(audit_user.update().where(audit_user.c.user_id.isnot(None)).values(
        user_name=sa.select(users.c.user_name).where(users.c.id == audit_user.c.user_id).scalar_subquery()))


def downgrade():
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_entry_user_id_user", type_="foreignkey")
        batch_op.create_foreign_key("fk_audit_entry_user_id_user", "user", ["user_id"], ["id"])
        batch_op.drop_index("ix_audit_entry_record")
        batch_op.drop_index(batch_op.f("ix_audit_entry_user_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_kind"))
        batch_op.drop_column("user_name")
        batch_op.drop_column("new_value")
        batch_op.drop_column("old_value")
        batch_op.drop_column("field_name")
        batch_op.drop_column("record_title")
        batch_op.drop_column("kind")
