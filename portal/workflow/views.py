"""Workflows pages: the list grouped by category (enable / disable, copy, delete,
export selected, import), a workflow's card with its steps, and the read-only
Workflow Templates page with "New workflow from template"."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.audit.service import record_audit
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.util import column_errors, db_int, loads_json, local_path, page_no
from portal.workflow.catalog import RECORD_TYPES
from portal.workflow import service
from portal.workflow.catalog import EVENTS, RESPONSES, events_for, responses_for
from portal.workflow.library import TEMPLATE_CATEGORIES
from portal.workflow.models import Workflow
from portal.versioning import Conflict, check_version, form_version
from portal.workflow.vault import MASK

bp = Blueprint("workflows", __name__, url_prefix="/workflows")
MAKERS = ("admin", "flow_maker")
EDITED_MEANWHILE = ("Someone else changed this workflow since you opened it. Nothing was changed: the editor "
                    "now shows the saved workflow; make your change again if it is still needed.")


def _grouped(workflows: list[Workflow]) -> list[tuple[str, list[Workflow]]]:
    order = {c: i for i, c in enumerate(TEMPLATE_CATEGORIES)}
    groups: dict[str, list[Workflow]] = {}
    for wf in workflows:
        groups.setdefault(wf.category or "Other", []).append(wf)
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))


def step_lines(wf) -> list[dict]:
    """Rows for a read-only step table (a workflow or an instance): each editor line's
    event ("When …", with its conditions in words) then its responses ("Then …"), with
    depth, options in words (``(label, value)``), the step in codes for a tooltip
    (``tech``) and, for an instance, the status."""
    from portal.workflow import describe as words
    from portal.workflow.editor import describe, lines_of

    record_type = getattr(wf, "record_type", None)
    rows = []
    for line in lines_of(wf.steps if hasattr(wf, "steps") else wf.step_instances):
        for s in [line.event, *line.responses]:
            is_event = s is line.event
            rows.append({
                "step": s, "depth": line.indent, "kind": "When" if is_event else "Then", "text": words.lower_first(describe(s)),
                "conditions": words.describe_conditions(s.conditions, record_type) if is_event else "",
                "options": [] if is_event else words.describe_options(s.function_name, s.options, record_type),
                "tech": words.technical(s), "status": getattr(s, "status", None),
            })
    return rows


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
    from portal.workflow.editor import diagram

    from portal.workflow import flow_setup, inputs

    return render_template("workflows/card.html", wf=wf, lines=step_lines(wf), problems=problems, record_types=RECORD_TYPES,
                           http=_http_panel(wf), mask=MASK,
                           running=service.running_instances(db.session, wf), may_change=current_user.has_role(*MAKERS),
                           d=diagram(wf.steps, wf.record_type), input_fields=inputs.definitions(wf), input_types=inputs.INPUT_TYPES,
                           may_edit_inputs=flow_setup.may_create_flow(db.session, current_user, "instant"))


#: What each editor operation did, in words (the audit trail's detail of an edit).
EDIT_WORDS = {
    "add-event": "event line added", "set-event": "event or conditions changed", "move": "event line moved",
    "indent": "event line indented or outdented", "delete-line": "event line deleted", "add-response": "response added",
    "set-response": "response options changed", "move-response": "response moved", "delete-response": "response deleted",
}


def _audit(action: str, wf: Workflow, detail: str | None = None) -> None:
    """Audit a change of ``wf`` by the signed-in user, in the current transaction."""
    if wf.id is None:
        db.session.flush()
    record_audit(db.session, "workflow", action, user_id=current_user.id, record_type="workflow", record_id=wf.id,
                 record_title=f"Workflow {wf.code} — {wf.description or ''}".rstrip(" —"), detail=detail)


@bp.route("/<code>/<any(enable, disable):action>", methods=["POST"])
@require_role(*MAKERS)
def toggle(code: str, action: str):
    wf = _workflow(code)
    try:
        service.set_enabled(db.session, wf, action == "enable")
        _audit(action, wf)
        db.session.commit()
        flash(f"Workflow {wf.code} is {'enabled' if wf.enabled else 'disabled'}.")
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(f"Workflow {code} can't be {action}d:", "error")
        for p in exc.problems:
            flash(p, "error")
    return redirect(local_path(request.form.get("next"), url_for("workflows.card", code=code)))


@bp.route("/<code>/copy", methods=["POST"])
@require_role(*MAKERS)
def copy(code: str):
    from portal.workflow.flow_setup import may_create_flow

    source = _workflow(code)
    if not may_create_flow(db.session, current_user, source.trigger_kind):
        flash(f"You are not permitted to create {source.trigger_kind} flows.", "error")
        return redirect(request.referrer or url_for("workflows.card", code=code))
    try:
        wf = service.copy(db.session, source, request.form.get("new_code") or None, owner_id=current_user.id)
        _audit("copy", wf, f"Copied from {source.code}")
        db.session.commit()
        flash(f"Workflow {wf.code} created from {source.code}. It is disabled: check it, then enable it.")
        return redirect(url_for("workflows.card", code=wf.code))
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("workflows.card", code=source.code))


@bp.route("/<code>/delete", methods=["POST"])
@require_role(*MAKERS)
def delete(code: str):
    wf = _workflow(code)
    try:
        _audit("delete", wf)
        service.delete(db.session, wf)
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
        data = loads_json(upload.read().decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or nested too deeply
        flash(f"Nothing was imported: {upload.filename} is not a valid workflow export file ({exc}).", "error")
        return redirect(url_for("workflows.list_page"))
    try:
        codes = service.import_workflows(db.session, data, owner_id=current_user.id)
        for wf in db.session.scalars(select(Workflow).where(Workflow.code.in_(codes))).unique():
            _audit("import", wf, f"Imported from {upload.filename[:200]}")
        db.session.commit()
        flash(f"Imported {len(codes)} workflow(s): {', '.join(codes)}.")
    except service.WorkflowError as exc:
        db.session.rollback()
        flash(f"Nothing was imported: {len(exc.problems)} problem(s) in {upload.filename}.", "error")
        for p in exc.problems[:50]:
            flash(p, "error")
    return redirect(url_for("workflows.list_page"))


# ---------------------------------------------------------------- editor

def _editor_context(wf: Workflow, errors: list[str] | None = None, reopen: dict | None = None) -> dict:
    from portal.notifications.models import NotificationTemplate
    from portal.workflow import describe as words
    from portal.workflow import editor

    rt = RECORD_TYPES.get(wf.record_type or "")
    fields = [(f.name, f.label) for f in rt.fields] + [(f"lines.{f.name}", f"Any line: {f.label}") for f in rt.line_fields] if rt else []
    return dict(
        wf=wf, lines=editor.lines_of(wf.steps), errors=errors or [], all_events=EVENTS, all_responses=RESPONSES,
        events=events_for(wf.record_type, wf.trigger_kind), responses=responses_for(wf.record_type),
        fields=fields, operators=list(words.OPERATOR_WORDS.items()), words=words,
        template_codes=db.session.scalars(select(NotificationTemplate.code).distinct().order_by(NotificationTemplate.code)).all(),
        problems=service.enable_problems(db.session, wf) if not (wf.enabled or wf.template) else [],
        step_ids=sorted(s.step_id for s in wf.steps), step_names={s.step_id: editor.describe(s) for s in wf.steps},
        describe=editor.describe, condition_text=editor.condition_text,
        record_types=RECORD_TYPES, value_choices=editor.value_choices, mask=MASK, http=_http_panel(wf),
        reopen=reopen or {},
    )


def _http_panel(wf: Workflow) -> dict | None:
    from portal.workflow import http_in

    return http_in.panel(db.session, wf, request.host_url)


@bp.route("/<code>/http-secret", methods=["POST"])
@require_role(*MAKERS)
def http_secret(code: str):
    """Make the flow's address (once) and a new signing secret, and show the secret
    this one time with signing examples (the page is not cached)."""
    from portal.workflow import http_in

    wf = _workflow(code)
    if wf.template or not http_in.uses_http_trigger(wf):
        flash("Only a flow that starts with “An HTTP request is received” has an address and a secret.", "error")
        return redirect(url_for("workflows.card", code=code))
    secret = http_in.new_secret(db.session, wf)
    _audit("http_secret", wf, "New signing secret for the HTTP trigger")
    db.session.commit()
    panel = _http_panel(wf)
    response = Response(render_template("workflows/http_secret.html", wf=wf, http=panel, secret=secret,
                                        examples=http_in.examples(panel["url"], secret),
                                        headers=(http_in.TIMESTAMP_HEADER, http_in.SIGNATURE_HEADER)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _options_from_form(function: str) -> dict:
    """The response options from the step form (``opt_<name>``). A secret left blank
    is left out (the stored one is kept; ``clear_<name>`` removes it)."""
    options = {}
    for opt in RESPONSES[function].options:
        if opt.kind == "secret":
            value = request.form.get(f"opt_{opt.name}") or ""
            if value.strip():
                options[opt.name] = value
        elif opt.kind == "bool":
            options[opt.name] = request.form.get(f"opt_{opt.name}") in ("on", "true", "1")
        else:
            value = (request.form.get(f"opt_{opt.name}") or "").strip()
            if value != "":
                options[opt.name] = int(value) if opt.kind == "int" and value.lstrip("-").isdigit() else value
    return options


def _conditions_from_form() -> list[dict]:
    """The conditions editor's rows: ``cond_field``, ``cond_operator`` and, by
    ``cond_compare`` ("value", the default, or "field"), ``cond_value`` or
    ``cond_value_field`` (compare with another field of the record). Rows without a
    field are dropped."""
    form = request.form
    fields = form.getlist("cond_field")
    n = len(fields)

    def column(name: str, default: str = "") -> list[str]:
        values = form.getlist(name)
        return values + [default] * (n - len(values))

    rows = []
    for f, o, how, v, vf in zip(fields, column("cond_operator", "="), column("cond_compare", "value"), column("cond_value"),
                                column("cond_value_field")):
        if not f:
            continue
        if how == "field":
            rows.append({"field": f, "operator": o or "=", "value_field": vf})
        else:
            rows.append({"field": f, "operator": o or "=", "value": v})
    return rows


@bp.route("/new", methods=["GET", "POST"])
@require_role(*MAKERS)
def new():
    """A new, empty, disabled workflow (code, description, record type, trigger). GET
    shows the form (the Automate menu's "Create a flow" fills in the record type and
    the instant trigger)."""
    from portal.workflow.flow_setup import creatable_kinds

    kinds = creatable_kinds(db.session, current_user)
    if not kinds:
        abort(403, description="You are not permitted to create flows.")
    if request.method == "GET":
        wanted = request.args.get("trigger_kind") or "automated"
        return render_template("workflows/new.html", record_types=RECORD_TYPES, kinds=kinds,
                               record_type=request.args.get("record_type") or "",
                               trigger_kind=wanted if wanted in kinds else kinds[0])
    code = (request.form.get("code") or "").strip().upper()
    description = (request.form.get("description") or "").strip()
    record_type = request.form.get("record_type") or None
    trigger = request.form.get("trigger_kind") or "automated"
    problems = []
    if not service.CODE_RE.match(code):
        problems.append("A code is 1 to 20 letters, digits, '-' or '_'.")
    elif db.session.scalar(select(Workflow.id).where(Workflow.code == code)):
        problems.append(f"A workflow with code {code} already exists.")
    if not description:
        problems.append("Description must have a value.")
    problems += column_errors(Workflow, {"description": description, "category": request.form.get("category") or None},
                              {"description": "Description", "category": "Category"}).values()
    if record_type and record_type not in RECORD_TYPES:
        problems.append("Choose a record type from the list.")
    if trigger not in ("automated", "scheduled", "instant"):
        problems.append("Choose a trigger: automated, scheduled or instant.")
    elif trigger not in kinds:
        problems.append(f"You are not permitted to create {trigger} flows.")
    if problems:
        return render_template("workflows/new.html", record_types=RECORD_TYPES, record_type=record_type or "", kinds=kinds,
                               trigger_kind=trigger, problems=problems, form=request.form), 422
    wf = Workflow(code=code, description=description, record_type=record_type, trigger_kind=trigger, enabled=False,
                  owner_id=current_user.id,
                  category=request.form.get("category") or None,
                  input_fields=[{"name": "message", "caption": "Message", "type": "long_text", "required": False, "default": "",
                                 "help": "", "choices": [], "record_type": ""}] if trigger == "instant" else [])
    db.session.add(wf)
    _audit("create", wf)
    db.session.commit()
    return redirect(url_for("workflows.edit", code=code))


@bp.route("/<code>/edit")
@require_role(*MAKERS)
def edit(code: str):
    wf = _workflow(code)
    try:
        service.check_editable(wf)
    except service.WorkflowError as exc:
        flash(str(exc), "error")
        return redirect(url_for("workflows.card", code=code))
    return render_template("workflows/edit.html", **_editor_context(wf))


def _typed_back(wf: Workflow, op: str, step_id: int | None, errors: list[str]) -> dict | None:
    """A refused event or response dialog opens again with what the user typed and the
    messages inside it (nothing typed is lost): ``{"op", "step_id", "function",
    "conditions" | "options", "next_step_id", "errors"}``, or None for other operations."""
    if op == "set-event":
        return {"op": op, "step_id": step_id, "function": request.form.get("function", ""),
                "conditions": _conditions_from_form(), "errors": errors}
    if op == "set-response":
        step = next((s for s in wf.steps if s.step_id == step_id and s.type == "response"), None)
        if step is not None:
            return {"op": op, "step_id": step_id, "options": _options_from_form(step.function_name),
                    "next_step_id": request.form.get("next_step_id", type=db_int), "errors": errors}
    return None


@bp.route("/<code>/edit/<op>", methods=["POST"])
@require_role(*MAKERS)
def edit_op(code: str, op: str):
    """One editor operation; answers with the re-rendered editor (htmx) or a redirect."""
    from portal.workflow import editor

    wf = _workflow(code)
    f = request.form
    step_id = f.get("step_id", type=db_int)
    errors: list[str] = []
    try:
        try:
            check_version(wf, form_version(f))
        except Conflict:
            raise service.WorkflowError(EDITED_MEANWHILE) from None
        if op == "add-event":
            editor.add_event(wf, f.get("function", ""), f.get("after", type=db_int))
        elif op == "set-event":
            editor.set_event(wf, step_id, f.get("function", ""), _conditions_from_form())
        elif op == "move":
            editor.move(wf, step_id, f.get("delta", type=db_int) or 0)
        elif op == "indent":
            editor.indent(wf, step_id, f.get("delta", type=db_int) or 0)
        elif op == "delete-line":
            editor.delete_line(wf, step_id)
        elif op == "add-response":
            editor.add_response(wf, step_id, f.get("function", ""))
        elif op == "set-response":
            step = next((s for s in wf.steps if s.step_id == step_id and s.type == "response"), None)
            if step is None:
                raise service.WorkflowError(f"There is no response step {step_id}.")
            editor.set_response(wf, step_id, _options_from_form(step.function_name), f.get("next_step_id", type=db_int), db.session,
                                clear_secrets={name[len("clear_"):] for name in f if name.startswith("clear_")})
        elif op == "move-response":
            editor.move_response(wf, step_id, f.get("delta", type=db_int) or 0)
        elif op == "delete-response":
            editor.delete_response(wf, step_id)
        else:
            abort(404)
        _audit("edit", wf, f"Steps: {EDIT_WORDS[op]}" + (f" (step {step_id})" if step_id else ""))
        db.session.commit()
    except service.WorkflowError as exc:
        db.session.rollback()
        errors = exc.problems
        wf = _workflow(code)
        reopen = _typed_back(wf, op, step_id, errors)
    else:
        reopen = None
    if request.headers.get("HX-Request"):
        return render_template("workflows/_editor.html", **_editor_context(wf, errors, reopen))
    for e in errors:
        flash(e, "error")
    return redirect(url_for("workflows.edit", code=code))


@bp.route("/archive")
@require_role(*MAKERS)
def archive():
    """Archived workflow step instances: the steps of finished (completed or failed)
    workflow instances, newest first, filtered by workflow code."""
    from portal.workflow.models import WorkflowInstance, WorkflowStepInstance

    code = request.args.get("workflow") or ""
    q = (
        select(WorkflowStepInstance, WorkflowInstance)
        .join(WorkflowInstance, WorkflowStepInstance.instance_id == WorkflowInstance.id)
        .where(WorkflowInstance.archived_at.is_not(None))
        .order_by(WorkflowInstance.archived_at.desc(), WorkflowInstance.id.desc(), WorkflowStepInstance.step_id)
    )
    if code:
        q = q.where(WorkflowInstance.workflow_code == code)
    page = max(request.args.get("page", 1, type=page_no), 1)
    rows = db.session.execute(q.limit(101).offset((page - 1) * 100)).unique().all()
    codes = db.session.scalars(select(Workflow.code).where(Workflow.template.is_(False)).order_by(Workflow.code)).all()
    from portal.records.registry import SLUG_OF
    from portal.workflow.editor import describe

    return render_template("workflows/archive.html", rows=rows[:100], more=len(rows) > 100, page=page, code=code, codes=codes,
                           describe=describe, slugs=SLUG_OF)
