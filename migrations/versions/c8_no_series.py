"""number series (No. Series, No. Series Line) and the import log

Revision ID: c8_no_series
Revises: c7_approval_controls

The series rows themselves are created on first use (portal.records.numbering.
ensure_series, also run by `flask up` / `flask import-northwind`), continuing after the
highest number of their format in use, posted documents included.
"""
from alembic import op
import sqlalchemy as sa


revision = "c8_no_series"
down_revision = "c7_approval_controls"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('no_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_no_series')),
    sa.UniqueConstraint('code', name=op.f('uq_no_series_code'))
    )
    op.create_table('no_series_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series_code', sa.String(length=20), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('starting_date', sa.Date(), nullable=True),
    sa.Column('starting_no', sa.String(length=20), nullable=False),
    sa.Column('ending_no', sa.String(length=20), nullable=True),
    sa.Column('increment_by', sa.Integer(), nullable=False),
    sa.Column('last_no_used', sa.String(length=20), nullable=True),
    sa.Column('last_date_used', sa.Date(), nullable=True),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['series_code'], ['no_series.code'], name=op.f('fk_no_series_line_series_code_no_series'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_no_series_line')),
    sa.UniqueConstraint('series_code', 'line_no', name=op.f('uq_no_series_line_series_code_line_no'))
    )
    op.create_table('import_log_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('file', sa.String(length=60), nullable=False),
    sa.Column('source_key', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_log_entry')),
    sa.UniqueConstraint('source', 'file', 'source_key', name=op.f('uq_import_log_entry_source_file_source_key'))
    )


def downgrade():
    op.drop_table('import_log_entry')
    op.drop_table('no_series_line')
    op.drop_table('no_series')
