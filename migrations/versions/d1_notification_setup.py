"""notification setup (method per user and type, with a default), notification
schedules (digests), read state and digest size of sent notification entries

Revision ID: d1_notification_setup
Revises: d5_row_versions

The default notification setup (no user) is created here with method Email for each
notification type, so it exists from the start (Business Central: a recipient without
their own setup gets the default's method).
"""
from alembic import op
import sqlalchemy as sa


revision = "d1_notification_setup"
down_revision = "d5_row_versions"
branch_labels = None
depends_on = None

TYPES = ("New Record", "Approval", "Overdue")


def upgrade():
    setup = op.create_table('notification_setup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('notification_type', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_setup_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_setup')),
    sa.UniqueConstraint('user_id', 'notification_type', name=op.f('uq_notification_setup_user_id_notification_type'))
    )
    with op.batch_alter_table('notification_setup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_setup_user_id'), ['user_id'], unique=False)

    op.create_table('notification_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notification_type', sa.String(length=20), nullable=False),
    sa.Column('recurrence', sa.String(length=10), nullable=False),
    sa.Column('time', sa.Time(), nullable=False),
    sa.Column('daily_frequency', sa.String(length=20), nullable=False),
    sa.Column('weekdays', sa.String(length=7), nullable=False),
    sa.Column('monthly_date', sa.String(length=20), nullable=False),
    sa.Column('date_of_month', sa.Integer(), nullable=False),
    sa.Column('job_queue_entry_id', sa.Integer(), nullable=True),
    sa.Column('modified_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_queue_entry_id'], ['job_queue_entry.id'], name=op.f('fk_notification_schedule_job_queue_entry_id_job_queue_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_schedule_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_schedule')),
    sa.UniqueConstraint('user_id', 'notification_type', name=op.f('uq_notification_schedule_user_id_notification_type'))
    )
    with op.batch_alter_table('notification_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_schedule_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('sent_notification_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_count', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('read_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_sent_notification_entry_recipient_read', ['recipient_id', 'read_at'], unique=False)

    op.bulk_insert(setup, [{"user_id": None, "notification_type": t, "method": "Email"} for t in TYPES])


def downgrade():
    with op.batch_alter_table('sent_notification_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_sent_notification_entry_recipient_read')
        batch_op.drop_column('read_at')
        batch_op.drop_column('entry_count')

    with op.batch_alter_table('notification_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_schedule_user_id'))
    op.drop_table('notification_schedule')

    with op.batch_alter_table('notification_setup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_setup_user_id'))
    op.drop_table('notification_setup')
