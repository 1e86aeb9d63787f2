"""The Automate menu's Run flow pane and Get started, run status polling, My runs,
Flow runs (everyone's, for admins and flow makers), a run's page with Retry and
Cancel, the flow setup (admins) and the input field editor of instant flows."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectMultipleField, widgets

from portal.util import db_int, ids_of, page_no
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.flows import service
from portal.records.registry import RECORD_TYPES, SLUG_OF
from portal.workflow import flow_setup
from portal.workflow import inputs as flow_inputs
from portal.workflow import service as workflow_service
from portal.workflow.models import Workflow, WorkflowInstance

bp = Blueprint("flows", __name__, url_prefix="/flows")


def _ids() -> list[int]:
    """Record or run ids from ``ids`` parameters (repeated, or comma-separated)."""
    raw = [part for value in request.values.getlist("ids") for part in value.split(",")]
    return ids_of(i.strip() for i in raw)


def _safe_next(default: str) -> str:
    target = request.form.get("next") or request.args.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


@bp.route("/<code>/run", methods=["GET", "POST"])
@login_required
def run(code: str):
    """GET: the Run flow pane (typed input fields) for the selected record(s). POST
    (Continue): queue one run per record and return the progress fragment, or
    re-render the pane with a message per field (nothing started)."""
    try:
        wf = service.get_instant_flow(db.session, code, current_user, notice=True)
    except service.FlowError as exc:
        # htmx swaps only 2xx and 422 answers (base.html): the pane must show why
        return render_template("flows/_pane_error.html", message=str(exc)), (200 if request.headers.get("HX-Request") else 403)
    ids = _ids()
    rt = RECORD_TYPES[wf.record_type]
    records = [r for r in (db.session.get(rt.model, i) for i in ids) if r is not None]
    fields = service.input_fields(db.session, wf)
    ctx = dict(wf=wf, rt=rt, records=records, ids=ids, fields=fields, values={f["name"]: f["default"] for f in fields}, errors={})
    if request.method == "POST":
        try:
            inputs = service.validate_inputs(wf, request.form, db.session)
            runs = service.start_runs(db.session, wf, ids, inputs, current_user)
            db.session.commit()
            return render_template("flows/_progress.html", runs=runs, wf=wf, words=service.status_word)
        except service.InputErrors as exc:
            db.session.rollback()
            ctx.update(values=request.form.to_dict(), errors=exc.errors)
            return render_template("flows/_pane.html", **ctx), 422
        except service.FlowError as exc:
            db.session.rollback()
            ctx.update(values=request.form.to_dict(), errors={"_": str(exc)})
            return render_template("flows/_pane.html", **ctx), 422
    return render_template("flows/_pane.html", **ctx)


@bp.route("/get-started", methods=["POST"])
@login_required
def get_started():
    """Get started: the user accepts the automation notice (remembered per user);
    back to the page they were on."""
    service.accept_notice(db.session, current_user)
    db.session.commit()
    flash("Automate is ready: choose a flow from the Automate menu.")
    return redirect(_safe_next(url_for("records.home")))


@bp.route("/runs/status")
@login_required
def run_status():
    """The progress fragment of the given runs (the Run flow pane polls it)."""
    runs = [r for r in service.runs(db.session, _ids()) if service.may_see_run(current_user, r)]
    if not runs:
        abort(404)
    html = render_template("flows/_progress.html", runs=runs, wf=runs[0].workflow, words=service.status_word)
    if all(r.status not in ("Queued", "Running") for r in runs):
        # the runs ended: the page's rows, record state and fact boxes refresh
        return html, {"HX-Trigger": "recordsChanged"}
    return html


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name) or "")
    except ValueError:
        return None


def _runs_page(template: str, user=None):
    f = {k: (request.args.get(k) or "").strip() for k in ("flow", "status", "record", "trigger_kind", "since", "until")}
    q = service.runs_query(user, flow=f["flow"], status=f["status"], record=f["record"], trigger_kind=f["trigger_kind"],
                           since=_date_arg("since"), until=_date_arg("until"))
    pagination = db.paginate(q, page=max(request.args.get("page", 1, type=page_no), 1), per_page=50, error_out=False)
    starters = service.user_names(db.session, {r.started_by_id for r in pagination.items if r.started_by_id})
    return render_template(template, pagination=pagination, f=f, starters=starters, flows=service.filter_flows(db.session),
                           statuses=list(service.STATUS_WORDS.values()), kinds=service.TRIGGER_KINDS, slugs=SLUG_OF,
                           words=service.status_word)


@bp.route("/my-runs")
@login_required
def my_runs():
    """My runs: the runs the signed-in user started, newest first, with status."""
    return _runs_page("flows/my_runs.html", current_user)


@bp.route("/history")
@require_role(*service.RUN_VIEWERS)
def history():
    """Flow runs: everyone's runs, filtered by flow, status, record, trigger kind and time."""
    return _runs_page("flows/history.html")


def _run_or_404(instance_id: int) -> WorkflowInstance:
    inst = db.session.get(WorkflowInstance, instance_id)
    if inst is None:
        abort(404, description=f"There is no run {instance_id}.")
    if not service.may_see_run(current_user, inst):
        abort(403, description="You are not permitted to open this run.")
    return inst


@bp.route("/history/<int:instance_id>")
@login_required
def run_detail(instance_id: int):
    """A run's page: trigger, inputs, each step with start, end, duration, output and
    error in words; Retry / Cancel; approval entries of approval workflows."""
    inst = _run_or_404(instance_id)
    from portal.approvals.models import ApprovalEntry

    entries = db.session.scalars(select(ApprovalEntry).where(ApprovalEntry.workflow_instance_id == inst.id)
                                 .order_by(ApprovalEntry.sequence_no)).unique().all()
    from portal.workflow.editor import diagram

    view = service.run_view(db.session, inst)
    return render_template("flows/run_detail.html", inst=inst, v=view, slugs=SLUG_OF, entries=entries, d=diagram(inst.step_instances, inst.record_type),
                           see_all=service.may_see_all_runs(current_user))


@bp.route("/history/<int:instance_id>/<any(retry, cancel):action>", methods=["POST"])
@login_required
def run_action(instance_id: int, action: str):
    """Retry a failed run from its failed step, or cancel a queued or running one."""
    inst = _run_or_404(instance_id)
    try:
        if action == "retry":
            what = service.retry_run(db.session, inst, current_user)
            db.session.commit()
            flash(f"Run {inst.id} is retried. {what}")
        else:
            service.cancel_run(db.session, inst, current_user)
            db.session.commit()
            flash(f"Run {inst.id} is canceled.")
    except service.FlowError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("flows.run_detail", instance_id=instance_id))


# ---------------------------------------------------------------- flow setup (admins)

class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class FlowSetupForm(FlaskForm):
    automate_enabled = BooleanField("Automate is on for everyone")
    run_roles = _Checkboxes("Who may run flows")
    instant_roles = _Checkboxes("Who may create instant flows")
    automated_roles = _Checkboxes("Who may create automated and scheduled flows")


@bp.route("/setup", methods=["GET", "POST"])
@require_role("admin")
def setup():
    """Flow setup: Automate on / off for everyone and the roles that may run and create flows."""
    current = flow_setup.get_setup(db.session)
    form = FlowSetupForm(data=None if request.method == "POST" else {
        "automate_enabled": current.automate_enabled, "run_roles": current.run_roles,
        "instant_roles": current.instant_roles, "automated_roles": current.automated_roles})
    choices = [(r, flow_setup.ROLE_CAPTIONS.get(r, r)) for r in flow_setup.GRANTABLE_ROLES]
    for field in (form.run_roles, form.instant_roles, form.automated_roles):
        field.choices = choices
    if form.validate_on_submit():
        flow_setup.save_setup(db.session, current_user, form.automate_enabled.data, form.run_roles.data,
                              form.instant_roles.data, form.automated_roles.data)
        db.session.commit()
        flash("Flow setup saved." + ("" if form.automate_enabled.data else " Automate is off for everyone."))
        return redirect(url_for("flows.setup"))
    return render_template("flows/setup.html", form=form), (422 if form.errors else 200)


# ---------------------------------------------------------------- input field editor

@bp.route("/<code>/inputs", methods=["GET", "POST"])
@login_required
def edit_inputs(code: str):
    """The input field editor of an instant flow (disabled flows; for those who may
    create instant flows): add, order, type, required, default, help, choices."""
    wf = db.session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None:
        abort(404, description=f"There is no workflow {code}.")
    if not flow_setup.may_create_flow(db.session, current_user, "instant"):
        abort(403, description="You are not permitted to change instant flows.")
    problems: list[str] = []
    fields = flow_inputs.definitions(wf)
    if request.method == "POST":
        fields = flow_inputs.from_form(request.form)
        try:
            service.save_input_fields(db.session, wf, fields, current_user)
            db.session.commit()
            flash(f"Input fields of {wf.code} saved.")
            return redirect(url_for("workflows.card", code=wf.code))
        except workflow_service.WorkflowError as exc:
            db.session.rollback()
            problems = exc.problems
    else:
        try:
            workflow_service.check_editable(wf)
        except workflow_service.WorkflowError as exc:
            problems = exc.problems
    return render_template("flows/inputs.html", wf=wf, fields=fields, problems=problems, types=flow_inputs.INPUT_TYPES,
                           record_types=RECORD_TYPES), (422 if problems and request.method == "POST" else 200)


@bp.route("/<code>/schedule", methods=["GET", "POST"])
@login_required
def schedule(code: str):
    """When a scheduled flow runs (its job queue entry's recurrence), for those who
    may create scheduled flows; the form re-renders with a message per field."""
    from portal.jobqueue.recurrence import WEEKDAY_NAMES
    from portal.jobqueue.service import EntryErrors, describe_recurrence, local_time

    wf = db.session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None:
        abort(404, description=f"There is no workflow {code}.")
    if not flow_setup.may_create_flow(db.session, current_user, "scheduled"):
        abort(403, description="You are not permitted to change scheduled flows.")
    errors: dict[str, str] = {}
    values = service.schedule_values(db.session, wf)
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in values}
        values["run_on_weekdays"] = "".join("1" if str(i) in request.form.getlist("run_on_weekdays") else "0" for i in range(7))
        try:
            service.save_schedule(db.session, wf, values, current_user)
            db.session.commit()
            flash(f"Schedule of {wf.code} saved.")
            return redirect(url_for("workflows.card", code=wf.code))
        except service.FlowError as exc:
            db.session.rollback()
            errors = {"_": str(exc)}
        except EntryErrors as exc:
            db.session.rollback()
            errors = exc.errors
    entry = service.flow_schedule(db.session, wf)
    return render_template("flows/schedule.html", wf=wf, values=values, errors=errors, kinds=service.SCHEDULE_KINDS,
                           weekdays=WEEKDAY_NAMES, entry=entry, describe=describe_recurrence, local_time=local_time), \
        (422 if errors else 200)


# ---------------------------------------------------------------- manage flows

def _managed_flow(code: str):
    from portal.flows import manage

    try:
        return manage.get_flow(db.session, code)
    except manage.ManageError as exc:
        abort(404, description=str(exc))


def _back() -> str:
    return _safe_next(url_for("flows.manage"))


@bp.route("/manage")
@require_role(*service.RUN_VIEWERS)
def manage():
    """Manage flows: every flow (optionally of one record type, as the Automate
    menu's link asks; ``?failing=1``: only those that keep failing) with owner, trigger, record type, on / off, last run, runs and
    failures in the last 24 hours, flagged when it keeps failing; actions per flow."""
    from portal.flows import manage as m

    record_type = request.args.get("record_type") or None
    if record_type and record_type not in RECORD_TYPES:
        record_type = None
    rows = m.flow_rows(db.session, record_type)
    failing = sum(1 for r in rows if r["failing"])
    only_failing = request.args.get("failing") == "1"  # the role center's "Flows that keep failing" cue
    if only_failing:
        rows = [r for r in rows if r["failing"]]
    return render_template("flows/manage.html", rows=rows, record_type=record_type, record_types=RECORD_TYPES,
                           failing=failing, only_failing=only_failing, highlight=request.args.get("code") or "")


@bp.route("/manage/<code>/<any(on, off, copy, delete):action>", methods=["POST"])
@require_role(*service.RUN_VIEWERS)
def manage_action(code: str, action: str):
    """Turn a flow on / off, copy it (a disabled copy owned by the user) or delete it."""
    from portal.flows import manage as m

    wf = _managed_flow(code)
    try:
        if action in ("on", "off"):
            m.set_enabled(db.session, wf, action == "on", current_user)
            message = f"{wf.description} ({wf.code}) is {action}."
        elif action == "copy":
            new = m.copy_flow(db.session, wf, current_user)
            message = f"{new.code} is a copy of {wf.code}, owned by you and off: check it, test it, then turn it on."
        else:
            m.delete_flow(db.session, wf, current_user)
            message = f"{code} is deleted."
        db.session.commit()
        flash(message)
    except m.ManageError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(_back())


@bp.route("/manage/export", methods=["POST"])
@require_role(*service.RUN_VIEWERS)
def manage_export():
    """The selected flows as a workflow export file (JSON download)."""
    import json

    from flask import Response

    codes = request.form.getlist("code")
    flows = db.session.scalars(select(Workflow).where(Workflow.code.in_(codes), Workflow.template.is_(False))
                               .order_by(Workflow.code)).unique().all()
    if not flows:
        flash("Select the flows to export.", "error")
        return redirect(_back())
    body = json.dumps(workflow_service.export_workflows(flows), indent=2, ensure_ascii=False)
    name = flows[0].code if len(flows) == 1 else "flows"
    return Response(body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


@bp.route("/manage/import", methods=["POST"])
@require_role(*service.RUN_VIEWERS)
def manage_import():
    """Import a workflow export file: all or nothing, each problem listed."""
    import json

    from portal.flows import manage as m

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a workflow export file (.json) to import.", "error")
        return redirect(_back())
    try:
        codes = m.import_flows(db.session, json.loads(upload.read().decode("utf-8")), current_user)
        db.session.commit()
        flash(f"Imported {len(codes)} flow(s), off until you turn them on: {', '.join(codes)}.")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        flash(f"The file is not a workflow export (not valid JSON: {exc}). Nothing was imported.", "error")
    except workflow_service.WorkflowError as exc:
        db.session.rollback()
        flash(f"Nothing was imported: {len(exc.problems)} problem(s) in {upload.filename}.", "error")
        for p in exc.problems[:50]:
            flash(p, "error")
    return redirect(_back())


@bp.route("/<code>/test", methods=["GET", "POST"])
@require_role(*service.RUN_VIEWERS)
def test_flow(code: str):
    """Test a flow against a chosen record: a dry run shown step by step in words
    (conditions, rendered values, what would change or be sent); nothing is changed
    or sent (see :func:`portal.flows.manage.dry_run`)."""
    from portal.flows import manage as m

    wf = _managed_flow(code)
    rt = RECORD_TYPES.get(wf.record_type or "")
    choices = m.record_choices(db.session, wf)
    result, error, status = None, "", 200
    chosen = request.values.get("record_id", type=db_int)
    if request.method == "POST":
        fields = flow_inputs.definitions(wf)
        values, errors = flow_inputs.parse_values(db.session, fields, request.form) if fields else ({}, {})
        if errors:
            error, status = "; ".join(errors.values()), 422
        elif rt is not None and chosen is None:
            error, status = f"Choose a {rt.label.lower()} to test the flow with.", 422
        else:
            try:
                result = m.dry_run(db.session, wf, chosen, current_user, values if fields else None)
            except m.ManageError as exc:
                db.session.rollback()
                error, status = str(exc), 422
    wf = _managed_flow(code)  # (reloaded after the dry run's rollback)
    return render_template("flows/test.html", wf=wf, rt=rt, choices=choices, chosen=chosen, result=result, error=error,
                           fields=service.input_fields(db.session, wf), values=request.form), status


@bp.route("/gallery")
@require_role(*service.RUN_VIEWERS)
def gallery():
    """The gallery of starter flows: each one click from a working copy."""
    from portal.flows.gallery import STARTERS

    return render_template("flows/gallery.html", starters=STARTERS, record_types=RECORD_TYPES,
                           kinds=flow_setup.creatable_kinds(db.session, current_user))


@bp.route("/gallery/<key>", methods=["POST"])
@require_role(*service.RUN_VIEWERS)
def use_starter(key: str):
    """Make a working copy of a starter flow (disabled, owned by the user) and open it."""
    from portal.flows import gallery as g

    try:
        wf = g.use_starter(db.session, key, current_user)
        db.session.commit()
    except g.GalleryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("flows.gallery"))
    flash(f"{wf.code} is your copy of “{wf.description}”. It is off: check it, test it, then turn it on.")
    return redirect(url_for("workflows.card", code=wf.code))
