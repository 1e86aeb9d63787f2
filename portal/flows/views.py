"""The Automate menu's Run flow pane, run status polling and run history."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.auth.permissions import require_role
from portal.extensions import db
from portal.flows import service
from portal.records.registry import RECORD_TYPES, SLUG_OF
from portal.workflow.models import RUN_COMPLETED, RUN_FAILED, Workflow, WorkflowInstance, WorkflowStepRun

bp = Blueprint("flows", __name__, url_prefix="/flows")


def _ids() -> list[int]:
    """Record or run ids from ``ids`` parameters (repeated, or comma-separated)."""
    raw = [part for value in request.values.getlist("ids") for part in value.split(",")]
    return [int(i) for i in raw if i.strip().isdigit()]


@bp.route("/<code>/run", methods=["GET", "POST"])
@login_required
def run(code: str):
    """GET: the Run flow pane (input fields) for the selected record(s). POST
    (Continue): queue the runs and return the progress fragment, or re-render the
    pane with field errors."""
    try:
        wf = service.get_instant_flow(db.session, code, current_user)
    except service.FlowError as exc:
        return render_template("flows/_pane_error.html", message=str(exc)), 403
    ids = _ids()
    rt = RECORD_TYPES[wf.record_type]
    records = [r for r in (db.session.get(rt.model, i) for i in ids) if r is not None]
    ctx = dict(wf=wf, rt=rt, records=records, ids=ids, values={}, errors={})
    if request.method == "POST":
        try:
            inputs = service.validate_inputs(wf, request.form)
            runs = service.start_runs(db.session, wf, ids, inputs, current_user)
            db.session.commit()
            return render_template("flows/_progress.html", runs=runs, wf=wf)
        except service.InputErrors as exc:
            db.session.rollback()
            ctx.update(values=request.form.to_dict(), errors=exc.errors)
            return render_template("flows/_pane.html", **ctx), 422
        except service.FlowError as exc:
            db.session.rollback()
            ctx.update(values=request.form.to_dict(), errors={"_": str(exc)})
            return render_template("flows/_pane.html", **ctx), 422
    return render_template("flows/_pane.html", **ctx)


@bp.route("/runs/status")
@login_required
def run_status():
    runs = service.runs(db.session, _ids())
    runs = [r for r in runs if r.started_by_id == current_user.id or current_user.has_role("admin")]
    if not runs:
        abort(404)
    wf = runs[0].workflow
    return render_template("flows/_progress.html", runs=runs, wf=wf)


@bp.route("/history")
@require_role("admin", "flow_maker")
def history():
    """Run history: workflow instances filtered by workflow, status and record."""
    q = select(WorkflowInstance).order_by(WorkflowInstance.id.desc())
    code = request.args.get("workflow") or ""
    status = request.args.get("status") or ""
    if code:
        q = q.where(WorkflowInstance.workflow_code == code)
    if status:
        q = q.where(WorkflowInstance.status == status)
    pagination = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=50, error_out=False)
    codes = db.session.scalars(select(Workflow.code).order_by(Workflow.code)).all()
    return render_template("flows/history.html", pagination=pagination, code=code, status=status, codes=codes,
                           statuses=("Queued", "Running", RUN_COMPLETED, RUN_FAILED, "Canceled"), slugs=SLUG_OF)


@bp.route("/history/<int:instance_id>")
@require_role("admin", "flow_maker")
def run_detail(instance_id: int):
    inst = db.session.get(WorkflowInstance, instance_id) or abort(404)
    step_runs = db.session.scalars(select(WorkflowStepRun).where(WorkflowStepRun.instance_id == inst.id).order_by(WorkflowStepRun.id)).all()
    from portal.approvals.models import ApprovalEntry
    from portal.workflow.editor import diagram
    from portal.workflow.views import step_lines

    entries = db.session.scalars(select(ApprovalEntry).where(ApprovalEntry.workflow_instance_id == inst.id).order_by(ApprovalEntry.sequence_no)).unique().all()
    return render_template("flows/run_detail.html", inst=inst, step_runs=step_runs, slugs=SLUG_OF, lines=step_lines(inst),
                           d=diagram(inst.step_instances), entries=entries)
