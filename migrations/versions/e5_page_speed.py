"""page speed: a stored natural sort key for document nos., list indexes, and search
indexes per database kind

Revision ID: e5_page_speed
Revises: e3_manage_flows

- ``sales_header.no_sort`` / ``purchase_header.no_sort``: ``natural_sort_key(no)``
  (the length as two digits, then the no.), filled here for existing rows and by the
  models on insert and update; indexed with the document type, as is the amount;
- PostgreSQL: the ``pg_trgm`` extension and GIN trigram indexes on ``lower(column)``
  for the searched columns of customers and sales documents (``ILIKE``/``lower() LIKE
  '%x%'`` uses them);
- ``approval_entry``: the approver/status index also holds the due date and id, so
  Requests to Approve pages through an approver's Open entries from the index;
- SQLite: FTS5 tables with the ``trigram`` tokenizer (``customer_fts``,
  ``sales_header_fts``; external content, kept by triggers) that answer the same
  case-insensitive substring search for 3 characters or more.

The search indexes are not in the models (autogenerate skips them:
``portal.extensions.include_object``). A later SQLite batch migration that copies
``customer`` or ``sales_header`` drops the triggers: it must create them again
(:func:`create_sqlite_search`).
"""
from alembic import op
import sqlalchemy as sa


revision = "e5_page_speed"
down_revision = "e3_manage_flows"
branch_labels = None
depends_on = None

#: the searched columns with a search index, per table
SEARCH_COLUMNS = {
    "customer": ("no", "name", "city", "country", "contact"),
    "sales_header": ("no", "salesperson_code", "status"),
}


def create_sqlite_search(table: str) -> None:
    """The FTS5 trigram table ``<table>_fts`` over the table's searched columns, its
    triggers, and its content (rebuilt from the table)."""
    cols = SEARCH_COLUMNS[table]
    names = ", ".join(cols)
    new = ", ".join(f"new.{c}" for c in cols)
    old = ", ".join(f"old.{c}" for c in cols)
    fts = f"{table}_fts"
    op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', tokenize='trigram')")
    op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
               f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")
    op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END")
    op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
               f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")
    op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def upgrade():
    for table in ("sales_header", "purchase_header"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("no_sort", sa.String(length=22), nullable=False, server_default=""))
        # natural_sort_key(no): the length as two digits, then the no.
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"UPDATE {table} SET no_sort = lpad(length(no)::text, 2, '0') || no")
        else:
            op.execute(f"UPDATE {table} SET no_sort = printf('%02d', length(no)) || no")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("no_sort", server_default=None)
            batch_op.create_index(f"ix_{table}_type_no_sort", ["document_type", "no_sort", "id"], unique=False)
            batch_op.create_index(f"ix_{table}_type_amount", ["document_type", "amount", "id"], unique=False)
    with op.batch_alter_table("approval_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_entry_approver_status")
        batch_op.create_index("ix_approval_entry_approver_status_due", ["approver_id", "status", "due_date", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, cols in SEARCH_COLUMNS.items():
            for col in cols:
                op.execute(f"CREATE INDEX ix_{table}_{col}_trgm ON {table} USING gin (lower({col}) gin_trgm_ops)")
    else:
        for table in SEARCH_COLUMNS:
            create_sqlite_search(table)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, cols in SEARCH_COLUMNS.items():
            for col in cols:
                op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_trgm")
    else:
        for table in SEARCH_COLUMNS:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    with op.batch_alter_table("approval_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_entry_approver_status_due")
        batch_op.create_index("ix_approval_entry_approver_status", ["approver_id", "status"], unique=False)
    for table in ("sales_header", "purchase_header"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_type_amount")
            batch_op.drop_index(f"ix_{table}_type_no_sort")
            batch_op.drop_column("no_sort")
