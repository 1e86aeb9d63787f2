"""purchase documents, general journals, posted documents, record restrictions

Revision ID: c3_records
Revises: c4_job_queue
"""
from alembic import op
import sqlalchemy as sa


revision = "c3_records"
down_revision = "c4_job_queue"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('gen_journal_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journal_template_name', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=10), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('modified_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gen_journal_batch')),
    sa.UniqueConstraint('journal_template_name', 'name', name=op.f('uq_gen_journal_batch_journal_template_name_name'))
    )
    op.create_table('gen_journal_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('posting_date', sa.Date(), nullable=True),
    sa.Column('document_type', sa.String(length=20), nullable=False),
    sa.Column('document_no', sa.String(length=20), nullable=True),
    sa.Column('account_type', sa.String(length=20), nullable=False),
    sa.Column('account_no', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('bal_account_type', sa.String(length=20), nullable=False),
    sa.Column('bal_account_no', sa.String(length=20), nullable=True),
    sa.Column('currency_code', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['gen_journal_batch.id'], name=op.f('fk_gen_journal_line_batch_id_gen_journal_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gen_journal_line')),
    sa.UniqueConstraint('batch_id', 'line_no', name=op.f('uq_gen_journal_line_batch_id_line_no'))
    )
    with op.batch_alter_table('gen_journal_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gen_journal_line_batch_id'), ['batch_id'], unique=False)

    op.create_table('posted_approval_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('posted_record_type', sa.String(length=40), nullable=False),
    sa.Column('posted_record_id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('original_entry_id', sa.Integer(), nullable=True),
    sa.Column('document_type', sa.String(length=20), nullable=True),
    sa.Column('document_no', sa.String(length=20), nullable=True),
    sa.Column('record_title', sa.String(length=200), nullable=True),
    sa.Column('sequence_no', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('approver_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('approval_type', sa.String(length=40), nullable=True),
    sa.Column('limit_type', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency_code', sa.String(length=10), nullable=False),
    sa.Column('date_time_sent', sa.DateTime(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('delegation_date', sa.Date(), nullable=True),
    sa.Column('last_modified_at', sa.DateTime(), nullable=True),
    sa.Column('last_modified_by_id', sa.Integer(), nullable=True),
    sa.Column('workflow_instance_id', sa.Integer(), nullable=True),
    sa.Column('posted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['approver_id'], ['user.id'], name=op.f('fk_posted_approval_entry_approver_id_user')),
    sa.ForeignKeyConstraint(['last_modified_by_id'], ['user.id'], name=op.f('fk_posted_approval_entry_last_modified_by_id_user')),
    sa.ForeignKeyConstraint(['sender_id'], ['user.id'], name=op.f('fk_posted_approval_entry_sender_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posted_approval_entry'))
    )
    with op.batch_alter_table('posted_approval_entry', schema=None) as batch_op:
        batch_op.create_index('ix_posted_approval_entry_posted_record', ['posted_record_type', 'posted_record_id'], unique=False)

    op.create_table('posted_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('no', sa.String(length=20), nullable=False),
    sa.Column('source_document_type', sa.String(length=20), nullable=False),
    sa.Column('order_no', sa.String(length=20), nullable=True),
    sa.Column('pre_assigned_no', sa.String(length=20), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('partner_no', sa.String(length=20), nullable=False),
    sa.Column('partner_name', sa.String(length=100), nullable=False),
    sa.Column('salesperson_purchaser_code', sa.String(length=20), nullable=True),
    sa.Column('vendor_invoice_no', sa.String(length=35), nullable=True),
    sa.Column('order_date', sa.Date(), nullable=True),
    sa.Column('posting_date', sa.Date(), nullable=False),
    sa.Column('currency_code', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('posted_at', sa.DateTime(), nullable=False),
    sa.Column('posted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_posted_document_customer_id_customer')),
    sa.ForeignKeyConstraint(['posted_by_id'], ['user.id'], name=op.f('fk_posted_document_posted_by_id_user')),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], name=op.f('fk_posted_document_vendor_id_vendor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posted_document')),
    sa.UniqueConstraint('kind', 'no', name=op.f('uq_posted_document_kind_no'))
    )
    with op.batch_alter_table('posted_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posted_document_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_posted_document_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_posted_document_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('purchase_header',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('purchaser_code', sa.String(length=20), nullable=True),
    sa.Column('expected_receipt_date', sa.Date(), nullable=True),
    sa.Column('vendor_invoice_no', sa.String(length=35), nullable=True),
    sa.Column('document_type', sa.String(length=20), nullable=False),
    sa.Column('no', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('order_date', sa.Date(), nullable=True),
    sa.Column('currency_code', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('modified_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], name=op.f('fk_purchase_header_vendor_id_vendor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_header')),
    sa.UniqueConstraint('document_type', 'no', name=op.f('uq_purchase_header_document_type_no'))
    )
    with op.batch_alter_table('purchase_header', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_header_purchaser_code'), ['purchaser_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_header_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('record_restriction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('details', sa.String(length=250), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_record_restriction_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_restriction'))
    )
    with op.batch_alter_table('record_restriction', schema=None) as batch_op:
        batch_op.create_index('ix_record_restriction_record', ['record_type', 'record_id'], unique=False)

    op.create_table('posted_approval_comment_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('posted_record_type', sa.String(length=40), nullable=False),
    sa.Column('posted_record_id', sa.Integer(), nullable=False),
    sa.Column('posted_approval_entry_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['posted_approval_entry_id'], ['posted_approval_entry.id'], name=op.f('fk_posted_approval_comment_line_posted_approval_entry_id_posted_approval_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_posted_approval_comment_line_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posted_approval_comment_line'))
    )
    with op.batch_alter_table('posted_approval_comment_line', schema=None) as batch_op:
        batch_op.create_index('ix_posted_approval_comment_line_posted_record', ['posted_record_type', 'posted_record_id'], unique=False)

    op.create_table('posted_document_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('line_discount_pct', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('line_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['posted_document.id'], name=op.f('fk_posted_document_line_document_id_posted_document'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_posted_document_line_item_id_item')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posted_document_line')),
    sa.UniqueConstraint('document_id', 'line_no', name=op.f('uq_posted_document_line_document_id_line_no'))
    )
    with op.batch_alter_table('posted_document_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posted_document_line_document_id'), ['document_id'], unique=False)

    op.create_table('purchase_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('header_id', sa.Integer(), nullable=False),
    sa.Column('direct_unit_cost', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('line_discount_pct', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('line_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['header_id'], ['purchase_header.id'], name=op.f('fk_purchase_line_header_id_purchase_header'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_purchase_line_item_id_item')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_line')),
    sa.UniqueConstraint('header_id', 'line_no', name=op.f('uq_purchase_line_header_id_line_no'))
    )
    with op.batch_alter_table('purchase_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_line_header_id'), ['header_id'], unique=False)


def downgrade():
    with op.batch_alter_table('purchase_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_line_header_id'))

    op.drop_table('purchase_line')
    with op.batch_alter_table('posted_document_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posted_document_line_document_id'))

    op.drop_table('posted_document_line')
    with op.batch_alter_table('posted_approval_comment_line', schema=None) as batch_op:
        batch_op.drop_index('ix_posted_approval_comment_line_posted_record')

    op.drop_table('posted_approval_comment_line')
    with op.batch_alter_table('record_restriction', schema=None) as batch_op:
        batch_op.drop_index('ix_record_restriction_record')

    op.drop_table('record_restriction')
    with op.batch_alter_table('purchase_header', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_header_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_purchase_header_purchaser_code'))

    op.drop_table('purchase_header')
    with op.batch_alter_table('posted_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posted_document_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_posted_document_kind'))
        batch_op.drop_index(batch_op.f('ix_posted_document_customer_id'))

    op.drop_table('posted_document')
    with op.batch_alter_table('posted_approval_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_posted_approval_entry_posted_record')

    op.drop_table('posted_approval_entry')
    with op.batch_alter_table('gen_journal_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gen_journal_line_batch_id'))

    op.drop_table('gen_journal_line')
    op.drop_table('gen_journal_batch')
