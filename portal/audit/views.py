"""The admin **Audit** page (``/audit``): every audit row, filtered by user, kind of
change, record type, record and date range, newest first, paged. Read-only: the
portal has no route that changes or deletes audit rows. One record's rows are shown
by the records area's **Changes** page with the same table (:func:`table_context`)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.audit.models import KINDS, AuditEntry
from portal.audit.service import AuditFilter, audit_page, local_time
from portal.auth.models import User
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.records.registry import RECORD_TYPES, slug_for
from portal.workflow.models import Workflow

bp = Blueprint("audit", __name__, url_prefix="/audit")


def field_caption(row: AuditEntry) -> str:
    """The changed field's caption: the record type's label for a record field
    ("Credit Limit (LCY)"), "Line 10000 Quantity" for a line's field, else the name
    as kept."""
    name = row.field_name or ""
    rt = RECORD_TYPES.get(row.record_type or "")
    if rt is None:
        return name
    if name.startswith("line ") and "." in name:
        line, _, field = name.partition(".")
        try:
            return f"{line.capitalize()} {rt.line_field(field).label}"
        except KeyError:
            return name
    try:
        return rt.field(name).label
    except KeyError:
        return name


def record_link(row: AuditEntry, workflow_codes: dict[int, str]) -> str | None:
    """The URL of the row's record (its card, document or workflow page), or None."""
    if row.record_id is None:
        return None
    if row.record_type == "workflow":
        code = workflow_codes.get(row.record_id)
        return url_for("workflows.card", code=code) if code else None
    if row.record_type in RECORD_TYPES:
        return url_for("records.record_page", slug=slug_for(row.record_type), record_id=row.record_id)
    return None


def table_context(rows: list[AuditEntry]) -> dict:
    """What ``audit/_table.html`` needs besides the rows: captions, links, the
    viewer's time zone."""
    wf_ids = {r.record_id for r in rows if r.record_type == "workflow" and r.record_id}
    codes = dict(db.session.execute(select(Workflow.id, Workflow.code).where(Workflow.id.in_(wf_ids))).all()) if wf_ids else {}
    zone = current_user.time_zone or "UTC"
    return dict(rows=rows, field_caption=field_caption, record_link=lambda r: record_link(r, codes),
                when=lambda r: local_time(r.at, zone), zone=zone,
                record_type_label=lambda key: RECORD_TYPES[key].label if key in RECORD_TYPES else (key or "").replace("_", " ").capitalize())


def _date(name: str) -> tuple[date | None, str | None]:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, f"“{raw[:40]}” is not a date (YYYY-MM-DD)."


@bp.route("")
@require_role("admin")
def audit_list():
    """The Audit page (admins). Unknown filter values are ignored with a message; a
    page past the end shows no rows."""
    problems = []
    date_from, problem = _date("from")
    problems += [problem] if problem else []
    date_to, problem = _date("to")
    problems += [problem] if problem else []
    kind = request.args.get("kind") or None
    record_type = request.args.get("record_type") or None
    if kind and kind not in KINDS:
        problems.append("Choose a kind of change from the list.")
        kind = None
    record_types = {key: rt.label for key, rt in RECORD_TYPES.items()} | {
        "workflow": "Workflow", "approval_user_setup": "Approval user setup", "workflow_user_group": "Workflow user group"}
    if record_type and record_type not in record_types:
        problems.append("Choose a record type from the list.")
        record_type = None
    user_id = request.args.get("user", type=int)
    if user_id is not None and not 0 < user_id < 2**31:
        user_id = None
    record_id = request.args.get("record_id", type=int)
    if record_id is not None and not 0 < record_id < 2**31:
        record_id = None
    page = request.args.get("page", 1, type=int)
    page = page if 0 < page < 100_000 else 1
    f = AuditFilter(user_id=user_id, kind=kind, record_type=record_type, record=(request.args.get("record") or "").strip()[:100] or None,
                    record_id=record_id, date_from=date_from, date_to=date_to, zone=current_user.time_zone)
    rows, has_more = audit_page(db.session, f, page, current_app.config["PAGE_SIZE"])
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    users = db.session.execute(select(User.id, User.full_name, User.user_name).order_by(User.full_name)).all()
    return render_template("audit/list.html", f=f, args=args, page=page, has_more=has_more, problems=problems,
                           kinds=KINDS, record_types=record_types, users=users, show_record=True, **table_context(rows))
