"""notification mail: templates per code and method, used one-click approval links

Revision ID: d2_notification_mail
Revises: d1_notification_setup

- ``notification_template``: unique per (code, method) instead of per code, so each
  message has an Email (HTML) and a Note (text) template;
- ``approval_link_use``: the one-click approval links that were used (single use).
"""
from alembic import op
import sqlalchemy as sa


revision = "d2_notification_mail"
down_revision = "d1_notification_setup"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification_template", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notification_template_code", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_notification_template_code_method"), ["code", "method"])
    op.create_table(
        "approval_link_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=40), nullable=False),
        sa.Column("approval_entry_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_approval_link_use_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_link_use")),
        sa.UniqueConstraint("jti", name=op.f("uq_approval_link_use_jti")),
    )
    with op.batch_alter_table("approval_link_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_link_use_approval_entry_id"), ["approval_entry_id"], unique=False)


def downgrade():
    with op.batch_alter_table("approval_link_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_link_use_approval_entry_id"))
    op.drop_table("approval_link_use")
    with op.batch_alter_table("notification_template", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notification_template_code_method"), type_="unique")
        batch_op.create_unique_constraint("uq_notification_template_code", ["code"])
