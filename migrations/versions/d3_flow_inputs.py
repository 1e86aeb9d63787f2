"""flow inputs and flow setup: typed input fields, the Automate switch and flow roles

Revision ID: d3_flow_inputs
Revises: d4_session_version

- ``flow_setup``: one row of admin settings (Automate on / off for everyone, the roles
  that may run flows, create instant flows, create automated and scheduled flows).
- ``workflow.input_fields`` keeps its JSON column; its items move to the typed shape
  (``caption`` instead of ``label``, type ``long_text`` instead of ``textarea``, with
  ``default``, ``help``, ``choices``, ``record_type``): the single "Message" input of
  the existing instant flows becomes one long text input.
"""
import json

from alembic import op
import sqlalchemy as sa


revision = "d3_flow_inputs"
down_revision = "d4_session_version"
branch_labels = None
depends_on = None

_workflow = sa.table("workflow", sa.column("id", sa.Integer), sa.column("input_fields", sa.JSON))


def _typed(field: dict) -> dict:
    kind = {"textarea": "long_text"}.get(field.get("type") or "text", field.get("type") or "text")
    return {
        "name": field.get("name") or "",
        "caption": field.get("caption") or field.get("label") or field.get("name") or "",
        "type": kind,
        "required": bool(field.get("required")),
        "default": field.get("default") or "",
        "help": field.get("help") or "",
        "choices": list(field.get("choices") or []),
        "record_type": field.get("record_type") or "",
    }


def _old(field: dict) -> dict:
    kind = {"long_text": "textarea"}.get(field.get("type") or "text", field.get("type") or "text")
    out = {"name": field.get("name") or "", "label": field.get("caption") or field.get("name") or "", "type": kind,
           "required": bool(field.get("required"))}
    if field.get("help"):
        out["help"] = field["help"]
    return out


def _convert(fn) -> None:
    conn = op.get_bind()
    for row_id, fields in conn.execute(sa.select(_workflow.c.id, _workflow.c.input_fields)).all():
        if isinstance(fields, str):
            fields = json.loads(fields)
        if not fields:
            continue
        conn.execute(_workflow.update().where(_workflow.c.id == row_id).values(input_fields=[fn(f) for f in fields]))


def upgrade():
    op.create_table(
        "flow_setup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automate_enabled", sa.Boolean(), nullable=False),
        sa.Column("run_roles", sa.JSON(), nullable=False),
        sa.Column("instant_roles", sa.JSON(), nullable=False),
        sa.Column("automated_roles", sa.JSON(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=False),
        sa.Column("modified_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["modified_by_id"], ["user.id"], name=op.f("fk_flow_setup_modified_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_setup")),
    )
    _convert(_typed)


def downgrade():
    _convert(_old)
    op.drop_table("flow_setup")
