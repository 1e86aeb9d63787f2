"""search: the documents of a customer by type and natural no. (ix_sales_header_customer_type_no_sort)

A sales documents search finds the documents of the matching customers; this index
gives their ids with the document type and the list's sort key, so the list sorts
them without reading each row. Plain CREATE INDEX (no batch: recreating the table on
SQLite would drop the FTS5 triggers of e5_page_speed).

Revision ID: f3_search
Revises: e5_page_speed
"""
from alembic import op


revision = "f3_search"
down_revision = "e5_page_speed"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_sales_header_customer_type_no_sort", "sales_header", ["customer_id", "document_type", "no_sort", "id"],
                    unique=False)


def downgrade():
    op.drop_index("ix_sales_header_customer_type_no_sort", table_name="sales_header")
