"""Workflows pages: the list grouped by category (enable / disable, copy, delete,
export selected, import), a workflow's card with its steps, and the read-only
Workflow Templates page with "New workflow from template"."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.auth.models import AuditEntry
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.records.registry import RECORD_TYPES
from portal.workflow import service
from portal.workflow.catalog import EVENTS, RESPONSES
from portal.workflow.library import TEMPLATE_CATEGORIES
from portal.workflow.models import Workflow

bp = Blueprint("workflows", __name__, url_prefix="/workflows")
MAKERS = ("admin", "flow_maker")


def _grouped(workflows: list[Workflow]) -> list[tuple[str, list[Workflow]]]:
    order = {c: i for i, c in enumerate(TEMPLATE_CATEGORIES)}
    groups: dict[str, list[Workflow]] = {}
    for wf in workflows:
        groups.setdefault(wf.category or "Other", []).append(wf)
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))


def step_lines(wf) -> list[dict]:
    """The steps as indented lines: depth, "When …" / "Then …" text, condition text,
    and the step it jumps to. Children follow their parent in sequence order."""
    steps = list(wf.steps if hasattr(wf, "steps") else wf.step_instances)
    children: dict[int | None, list] = {}
    for s in steps:
        children.setdefault(s.previous_step_id, []).append(s)
    for v in children.values():
        v.sort(key=lambda s: (s.sequence_no, s.step_id))
    lines: list[dict] = []

    def walk(parent, depth):
        for s in children.get(parent, []):
            is_event = s.type == "event"
            catalog = EVENTS if is_event else RESPONSES
            text = catalog[s.function_name].description if s.function_name in catalog else s.function_name
            conds = " and ".join(
                f"{c.get('field')} {c.get('operator', '=')} {c.get('value', '')}".strip() for c in (s.conditions or [])
            )
            lines.append({
                "step": s, "depth": depth, "kind": "When" if is_event else "Then", "text": text, "conditions": conds,
                "options": {k: v for k, v in (s.options or {}).items() if v not in (None, "")},
                "status": getattr(s, "status", None),
            })
            # responses chain one under another at the same indent; events indent
            walk(s.step_id, depth + 1 if not is_event and children.get(s.step_id) and children[s.step_id][0].type == "event" else depth)

    walk(None, 0)
    return lines


@bp.route("/")
@login_required
def list_page():
    record_type = request.args.get("record_type") or None
    q = select(Workflow).where(Workflow.template.is_(False)).order_by(Workflow.code)
    if record_type:
        q = q.where(Workflow.record_type == record_type)
    workflows = db.session.scalars(q).unique().all()
    return render_template("workflows/list.html", groups=_grouped(workflows), record_type=record_type,
                           record_types=RECORD_TYPES, may_change=current_user.has_role(*MAKERS))


@bp.route("/templates")
@login_required
def templates_page():
    templates = db.session.scalars(select(Workflow).where(Workflow.template.is_(True)).order_by(Workflow.code)).unique().all()
    return render_template("workflows/templates.html", groups=_grouped(templates), record_types=RECORD_TYPES,
                           may_change=current_user.has_role(*MAKERS))


def _workflow(code: str) -> Workflow:
    wf = db.session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None:
        abort(404, description=f"There is no workflow {code}.")
    return wf


@bp.route("/<code>")
@login_required
def card(code: str):
    wf = _workflow(code)
    problems = [] if (wf.enabled or wf.template) else service.enable_problems(db.session, wf)
    return render_template("workflows/card.html", wf=wf, lines=step_lines(wf), problems=problems, record_types=RECORD_TYPES,
                           running=service.running_instances(db.session, wf), may_change=current_user.has_role(*MAKERS))


def _audit(action: str, wf_code: str) -> None:
    db.session.add(AuditEntry(user_id=current_user.id, action=action, record_type="workflow", detail=wf_code))


@bp.route("/<code>/<any(enable, disable):action>", methods=["POST"])
@require_role(*MAKERS)
def toggle(code: str, action: str):
    wf = _workflow(code)
    try:
        service.set_enabled(db.session, wf, action == "enable")
        _audit(action, wf.code)
        db.session.commit()
        flash(f"Workflow {wf.code} is {'enabled' if wf.enabled else 'disabled'}.")
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(f"Workflow {code} can't be {action}d:", "error")
        for p in exc.problems:
            flash(p, "error")
    return redirect(request.form.get("next") or url_for("workflows.card", code=code))


@bp.route("/<code>/copy", methods=["POST"])
@require_role(*MAKERS)
def copy(code: str):
    source = _workflow(code)
    try:
        wf = service.copy(db.session, source, request.form.get("new_code") or None)
        _audit("copy", f"{source.code} → {wf.code}")
        db.session.commit()
        flash(f"Workflow {wf.code} created from {source.code}. It is disabled: check it, then enable it.")
        return redirect(url_for("workflows.card", code=wf.code))
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(request.referrer or url_for("workflows.list_page"))


@bp.route("/<code>/delete", methods=["POST"])
@require_role(*MAKERS)
def delete(code: str):
    wf = _workflow(code)
    try:
        service.delete(db.session, wf)
        _audit("delete", code)
        db.session.commit()
        flash(f"Workflow {code} deleted.")
        return redirect(url_for("workflows.list_page"))
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("workflows.card", code=code))


@bp.route("/export", methods=["POST"])
@require_role(*MAKERS)
def export():
    codes = request.form.getlist("code")
    workflows = db.session.scalars(select(Workflow).where(Workflow.code.in_(codes)).order_by(Workflow.code)).unique().all()
    if not workflows:
        flash("Select the workflows to export.", "error")
        return redirect(url_for("workflows.list_page"))
    body = json.dumps(service.export_workflows(workflows), indent=2, ensure_ascii=False)
    name = workflows[0].code if len(workflows) == 1 else "workflows"
    return Response(body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


@bp.route("/import", methods=["POST"])
@require_role(*MAKERS)
def import_():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a workflow export file (.json) to import.", "error")
        return redirect(url_for("workflows.list_page"))
    try:
        data = json.loads(upload.read().decode("utf-8"))
        codes = service.import_workflows(db.session, data)
        _audit("import", ", ".join(codes))
        db.session.commit()
        flash(f"Imported {len(codes)} workflow(s): {', '.join(codes)}.")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        flash(f"The file is not valid JSON: {exc}", "error")
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(f"Nothing was imported: {len(exc.problems)} problem(s) in {upload.filename}.", "error")
        for p in exc.problems[:50]:
            flash(p, "error")
    return redirect(url_for("workflows.list_page"))
