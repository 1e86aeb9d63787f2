"""Instant flows: the flows an Automate menu offers, starting runs of them with typed
inputs, and the runs themselves (My runs, Flow runs, a run's page in words, retry,
cancel, a record's recent runs).

A run is a workflow instance (status Queued) plus a ``run_from_automate`` outbox event
naming it; the dispatcher job on RQ runs it and the Run flow pane polls its status.
Statuses are shown in words: the engine's Completed is "Succeeded"."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit.service import record_audit
from portal.auth.models import User
from portal.records.registry import RECORD_TYPES
from portal.workflow import flow_setup, inputs as flow_inputs
from portal.workflow import service as workflow_service
from portal.workflow.catalog import EVENTS, RESPONSES
from portal.workflow.engine import create_instance, load_record, raise_event
from portal.workflow.models import (
    ACTIVE,
    COMPLETED,
    EFFECT_FAILED,
    IGNORED,
    RUN_CANCELED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_QUEUED,
    RUN_RUNNING,
    STEP_EVENT,
    TRIGGER_INSTANT,
    Effect,
    Workflow,
    WorkflowInstance,
    WorkflowStepRun,
)

#: Run statuses in words (filter value → engine status, and the caption shown).
STATUS_WORDS = {RUN_QUEUED: "Queued", RUN_RUNNING: "Running", RUN_COMPLETED: "Succeeded", RUN_FAILED: "Failed",
                RUN_CANCELED: "Canceled"}
STATUS_FILTERS = {word.lower(): status for status, word in STATUS_WORDS.items()}
TRIGGER_KINDS = {"instant": "Instant", "automated": "Automated", "scheduled": "Scheduled"}
RUN_VIEWERS = ("admin", "flow_maker")  # see everyone's runs (Flow runs)


class FlowError(Exception):
    """A flow can't be started or a run can't be changed (message for the user)."""


class InputErrors(FlowError):
    """Input fields with errors: ``errors`` maps field name → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def status_word(status: str | None) -> str:
    """A run status in words (``Completed`` → ``Succeeded``)."""
    return STATUS_WORDS.get(status or "", status or "")


# ---------------------------------------------------------------- the Automate menu

def automate_state(session: Session, user: User) -> str:
    """What the Automate menu shows ``user``: ``off`` (an admin turned Automate off),
    ``not_permitted``, ``notice`` (Get started not yet accepted) or ``ready``."""
    if not flow_setup.automate_enabled(session):
        return "off"
    if not flow_setup.may_run_flows(session, user):
        return "not_permitted"
    if not flow_setup.notice_accepted(user):
        return "notice"
    return "ready"


def automate_menu(session: Session, record_type: str, user: User) -> dict:
    """The Automate menu's template values for a page of ``record_type``:
    ``automate_state`` (see :func:`automate_state`), ``flows`` (instant flows the
    user may run there, only when ready), ``may_create_flow`` (instant flows) and
    ``may_run_flows``."""
    state = automate_state(session, user)
    return {
        "automate_state": state,
        "flows": instant_flows(session, record_type, user) if state == "ready" else [],
        "may_run_flows": state in ("ready", "notice"),
        "may_create_flow": flow_setup.may_create_flow(session, user, TRIGGER_INSTANT),
    }


def accept_notice(session: Session, user: User) -> None:
    """``user`` clicked Get started: remembered in the database (and audited). The
    caller commits."""
    if not flow_setup.notice_accepted(user):
        flow_setup.accept_notice(user)
        record_audit(session, "flow_run", "accept_automation_notice", user_id=user.id)


def instant_flows(session: Session, record_type: str, user: User) -> list[Workflow]:
    """Enabled instant flows for ``record_type`` that ``user`` may run (none while
    Automate is off or the user may not run flows)."""
    if not flow_setup.may_run_flows(session, user):
        return []
    return list(
        session.scalars(
            select(Workflow)
            .where(
                Workflow.trigger_kind == TRIGGER_INSTANT,
                Workflow.enabled.is_(True),
                Workflow.template.is_(False),
                Workflow.record_type == record_type,
            )
            .order_by(Workflow.description)
        ).unique()
    )


def get_instant_flow(session: Session, code: str, user: User, notice: bool = False) -> Workflow:
    """The enabled instant flow ``code`` that ``user`` may run now. Raises
    :class:`FlowError` (no such flow, disabled, Automate off, not permitted; with
    ``notice``, as the Run flow pane asks, also while the user has not accepted the
    automation notice: Get started)."""
    wf = session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None or wf.trigger_kind != TRIGGER_INSTANT or wf.template:
        raise FlowError(f"There is no instant flow {code!r}.")
    state = automate_state(session, user)
    if state == "off":
        raise FlowError("Automate is turned off for everyone by an administrator.")
    if state == "not_permitted":
        raise FlowError("You are not permitted to run flows.")
    if state == "notice" and notice:
        raise FlowError("Open Automate and click Get started before you run a flow.")
    if not wf.enabled:
        raise FlowError(f"The flow “{wf.description}” is disabled.")
    return wf


def input_fields(session: Session, wf: Workflow) -> list[dict]:
    """The flow's input field definitions for the Run flow pane, each with
    ``type_caption`` and, for a record picker, ``options`` (``(value, caption)``)."""
    out = []
    for f in flow_inputs.definitions(wf):
        f = dict(f, type_caption=flow_inputs.INPUT_TYPES.get(f["type"], f["type"]))
        if f["type"] == "record":
            f["options"] = flow_inputs.record_choices(session, f["record_type"])
        out.append(f)
    return out


def validate_inputs(wf: Workflow, form, session: Session | None = None) -> dict:
    """The flow's input values from ``form`` (name → text), typed (see
    :mod:`portal.workflow.inputs`). Raises :class:`InputErrors` with a message per
    field: required, text over 2,000 characters, not a whole number / amount / date,
    a choice not in the list, a record that doesn't exist (record pickers need
    ``session``)."""
    values, errors = flow_inputs.parse_values(session, flow_inputs.definitions(wf), form)
    if errors:
        raise InputErrors(errors)
    return values


def start_runs(session: Session, wf: Workflow, record_ids: list[int], inputs: dict, user: User) -> list[WorkflowInstance]:
    """Queue one run of ``wf`` per record (``inputs`` as parsed by
    :func:`validate_inputs`); returns the queued instances. The caller commits
    (which enqueues the dispatcher). Raises :class:`FlowError` when the user may not
    run flows, no record is selected or a record doesn't exist."""
    if not flow_setup.may_run_flows(session, user):
        raise FlowError("You are not permitted to run flows.")
    if not record_ids:
        raise FlowError("Select at least one record to run the flow on.")
    runs = []
    for record_id in record_ids:
        record = load_record(session, wf.record_type, record_id)
        if record is None:
            raise FlowError(f"{RECORD_TYPES[wf.record_type].label} {record_id} does not exist.")
        inst = create_instance(session, wf, wf.record_type, record_id, "run_from_automate", inputs, user.id, status=RUN_QUEUED)
        raise_event(session, "run_from_automate", wf.record_type, record_id, {"instance_id": inst.id, "inputs": inputs}, user.id)
        record_audit(session, "flow_run", "run_flow", user_id=user.id, record_type=wf.record_type, record_id=record_id,
                     record_title=RECORD_TYPES[wf.record_type].title(record),
                     detail=f"{wf.code} — {wf.description} (run {inst.id})" + (f"; inputs: {inputs}" if inputs else ""))
        runs.append(inst)
    return runs


def runs(session: Session, ids: list[int]) -> list[WorkflowInstance]:
    """The runs with ``ids`` that exist, in the given order."""
    return [r for r in (session.get(WorkflowInstance, i) for i in ids) if r is not None]


# ---------------------------------------------------------------- runs

def may_see_all_runs(user: User) -> bool:
    """Admins and flow makers see everyone's runs."""
    return user.has_role(*RUN_VIEWERS)


def may_see_run(user: User, inst: WorkflowInstance) -> bool:
    """The run's starter, admins and flow makers may open a run."""
    return inst.started_by_id == user.id or may_see_all_runs(user)


def runs_query(user: User | None = None, flow: str = "", status: str = "", record: str = "", trigger_kind: str = "",
               since: date | None = None, until: date | None = None):
    """A SELECT of runs, newest first: ``user`` set → only the runs that user started
    (My runs); ``flow`` a workflow code; ``status`` a word (queued, running,
    succeeded, failed, canceled); ``record`` text found in the record's title;
    ``trigger_kind`` instant / automated / scheduled; ``since`` / ``until`` dates
    (UTC, inclusive) of the run's creation. Unknown filter values match nothing."""
    q = select(WorkflowInstance).order_by(WorkflowInstance.id.desc())
    if user is not None:
        q = q.where(WorkflowInstance.started_by_id == user.id)
    if flow:
        q = q.where(WorkflowInstance.workflow_code == flow)
    if status:
        q = q.where(WorkflowInstance.status == STATUS_FILTERS.get(status.lower(), "-"))
    if record:
        q = q.where(func.lower(WorkflowInstance.record_title).contains(record.lower(), autoescape=True))
    if trigger_kind:
        q = q.where(WorkflowInstance.workflow_id.in_(select(Workflow.id).where(Workflow.trigger_kind == trigger_kind)))
    if since:
        q = q.where(WorkflowInstance.created_at >= datetime.combine(since, time.min))
    if until:
        q = q.where(WorkflowInstance.created_at < datetime.combine(until + timedelta(days=1), time.min))
    return q


def filter_flows(session: Session) -> list[tuple[str, str]]:
    """``(code, description)`` of the workflows the Flow runs filter offers: not the
    read-only templates."""
    return session.execute(select(Workflow.code, Workflow.description).where(Workflow.template.is_(False))
                           .order_by(Workflow.description)).all()


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    """``{user id: full name}`` for ``ids``."""
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(sorted(ids)))).all())


def record_runs(session: Session, record_type: str, record_id: int, limit: int = 5) -> list[WorkflowInstance]:
    """The record's most recent runs (newest first), for its Flow runs fact box."""
    return list(session.scalars(
        select(WorkflowInstance).where(WorkflowInstance.record_type == record_type, WorkflowInstance.record_id == record_id)
        .order_by(WorkflowInstance.id.desc()).limit(limit)).unique())


def duration_text(start: datetime | None, end: datetime | None) -> str:
    """``end - start`` in words: "0.4 s", "12 s", "3 min 5 s", "2 h 4 min"; "" if unknown."""
    if start is None or end is None:
        return ""
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _caption(step) -> str:
    catalog = EVENTS if step.type == STEP_EVENT else RESPONSES
    return catalog[step.function_name].description if step.function_name in catalog else step.function_name


def _step_words(step, record_type: str | None) -> dict:
    """A step's ``details`` in words (an event's conditions: "where Document Type is
    Order"; a response's options: "Notify Sender: Yes") and ``tech`` (its codes, for a
    tooltip)."""
    from portal.workflow import describe as words

    if step.type == STEP_EVENT:
        conditions = words.describe_conditions(step.conditions, record_type)
        details = f"where {conditions}" if conditions else ""
    else:
        details = words.options_text(step.function_name, step.options, record_type)
    return {"details": details, "tech": words.technical(step)}


def run_view(session: Session, inst: WorkflowInstance) -> dict:
    """A run in words for its page: ``status`` (word), ``trigger`` (the event's
    caption), ``trigger_kind``, ``inputs`` (``(caption, value)`` pairs), ``steps``
    (rows: ``kind`` When/Then, ``caption``, ``details`` (conditions or options in
    words), ``tech`` (the step in codes, for a tooltip), ``step_id``, ``depth``,
    ``status`` in words, ``started``, ``ended``, ``duration``, ``output`` (and
    ``output_lines``), ``error``), ``result_lines`` / ``error_lines`` (the run's
    result and error, one message per line) and whether it may be retried / canceled."""
    from portal.workflow.describe import lower_first, result_lines
    from portal.workflow.editor import lines_of

    step_runs: dict[int, WorkflowStepRun] = {}
    for r in session.scalars(select(WorkflowStepRun).where(WorkflowStepRun.instance_id == inst.id).order_by(WorkflowStepRun.id)):
        step_runs[r.step_instance_id] = r  # the latest run of each step
    effect_errors: dict[int, str] = {}
    for e in session.scalars(select(Effect).where(Effect.instance_id == inst.id, Effect.status == EFFECT_FAILED)):
        if e.step_instance_id:
            effect_errors[e.step_instance_id] = e.error or f"{e.description}: failed"
    failed_chain = inst.status == RUN_FAILED and not effect_errors
    rows = []
    for line in lines_of(inst.step_instances):
        chain_failed = failed_chain and line.event.status == ACTIVE
        for s in [line.event, *line.responses]:
            run = step_runs.get(s.id)
            error = effect_errors.get(s.id) or (inst.error if (chain_failed and s is line.event) else None)
            if error:
                status = "Failed"
            elif s.status == COMPLETED:
                status = "Done"
            elif s.status == IGNORED:
                status = "Skipped: another branch ran"
            elif chain_failed:
                status = "Not done: the run failed before this step"
            elif s.status == ACTIVE:
                status = "Waiting for this event" if inst.status in (RUN_RUNNING, RUN_QUEUED) else "Not reached"
            else:
                status = "Not reached"
            rows.append({
                "kind": "When" if s is line.event else "Then", "caption": lower_first(_caption(s)), **_step_words(s, inst.record_type),
                "step_id": s.step_id, "depth": line.indent, "status": status,
                "state": s.status.lower(),
                "started": run.started_at if run else None, "ended": run.ended_at if run else None,
                "duration": duration_text(run.started_at, run.ended_at) if run else "",
                "output": (run.message if run and not (s is line.event) else "") or "", "error": error or "",
                "output_lines": result_lines(run.message) if run and s is not line.event else [],
            })
    definitions = {f["name"]: f for f in flow_inputs.definitions(inst.workflow)}
    values = []
    for name, value in (inst.inputs or {}).items():
        f = definitions.get(name)
        values.append((f["caption"] if f else name, flow_inputs.display(f, value) if f else str(value)))
    trigger = EVENTS[inst.trigger].description if inst.trigger in EVENTS else (inst.trigger or "")
    return {
        "status": status_word(inst.status), "trigger": trigger,
        "result_lines": result_lines(inst.result), "error_lines": result_lines(inst.error),
        "trigger_kind": TRIGGER_KINDS.get(inst.workflow.trigger_kind, inst.workflow.trigger_kind),
        "inputs": values, "steps": rows, "duration": duration_text(inst.started_at or inst.created_at, inst.ended_at),
        "may_retry": inst.status == RUN_FAILED, "may_cancel": inst.status in (RUN_QUEUED, RUN_RUNNING),
    }


def retry_run(session: Session, inst: WorkflowInstance, user: User) -> str:
    """Retry the failed run ``inst`` from its failed step (see
    :func:`portal.workflow.service.retry_instance`), audited. The caller commits.
    Returns what happens, in words. Raises :class:`FlowError` (not permitted, not
    failed, nothing to retry)."""
    if not may_see_run(user, inst):
        raise FlowError("You are not permitted to retry this run.")
    try:
        what = workflow_service.retry_instance(session, inst)
    except workflow_service.WorkflowError as exc:
        raise FlowError(str(exc)) from exc
    _audit_run(session, "retry_run", inst, user)
    return what


def cancel_run(session: Session, inst: WorkflowInstance, user: User) -> None:
    """Cancel the queued or running run ``inst`` (see
    :func:`portal.workflow.service.cancel_instance`), audited. The caller commits.
    Raises :class:`FlowError` (not permitted, already ended)."""
    if not may_see_run(user, inst):
        raise FlowError("You are not permitted to cancel this run.")
    try:
        workflow_service.cancel_instance(session, inst, user.id)
    except workflow_service.WorkflowError as exc:
        raise FlowError(str(exc)) from exc
    _audit_run(session, "cancel_run", inst, user)


def _audit_run(session: Session, action: str, inst: WorkflowInstance, user: User) -> None:
    rt = RECORD_TYPES.get(inst.record_type or "")
    record = load_record(session, inst.record_type, inst.record_id) if rt and inst.record_id else None
    record_audit(session, "flow_run", action, user_id=user.id, record_type=inst.record_type, record_id=inst.record_id,
                 record_title=rt.title(record) if record is not None else None, detail=f"{inst.workflow_code} run {inst.id}")


# ---------------------------------------------------------------- input field editor

def save_input_fields(session: Session, wf: Workflow, fields: list[dict], user: User) -> None:
    """Replace the instant flow's input field definitions with ``fields`` (normalized,
    see :func:`portal.workflow.inputs.from_form`). Raises
    :class:`portal.workflow.service.WorkflowError` listing every problem (not
    permitted, not an instant flow, a template or enabled, definitions not valid).
    The caller commits."""
    if not flow_setup.may_create_flow(session, user, TRIGGER_INSTANT):
        raise workflow_service.WorkflowError("You are not permitted to change instant flows.")
    if wf.trigger_kind != TRIGGER_INSTANT:
        raise workflow_service.WorkflowError("Only instant flows have input fields.")
    workflow_service.check_editable(wf)
    problems = flow_inputs.definition_problems(fields)
    if problems:
        raise workflow_service.WorkflowError(problems)
    wf.input_fields = [{k: v for k, v in f.items()} for f in fields]
    record_audit(session, "workflow", "edit_input_fields", user_id=user.id, record_type="workflow", record_id=wf.id,
                 record_title=f"Workflow {wf.code} — {wf.description or ''}".rstrip(" —"),
                 detail="; ".join(f"{f.get('caption') or f.get('name')} ({f.get('type')})" for f in fields))
    session.flush()


# ---------------------------------------------------------------- a scheduled flow's schedule

SCHEDULE_KINDS = {"minutes": "Every N minutes", "cron": "Cron expression (e.g. 0 8 * * 1: Mondays at 08:00)",
                  "formula": "Next run date formula (e.g. 1W, CM+1D)"}


def flow_schedule(session: Session, wf: Workflow):
    """The job queue entry that runs the scheduled flow ``wf`` (None before its
    schedule is set)."""
    from portal.jobqueue.models import JobQueueEntry

    return session.scalar(select(JobQueueEntry).where(JobQueueEntry.workflow_id == wf.id).order_by(JobQueueEntry.id))


def schedule_values(session: Session, wf: Workflow) -> dict:
    """The schedule form's values: the flow's job queue entry's recurrence, or the
    defaults (every Monday at 08:00 in the maker's time zone is not guessed: a
    cron expression left blank)."""
    from portal.jobqueue.service import EntryData

    entry = flow_schedule(session, wf)
    data = EntryData.of(entry) if entry is not None else EntryData(recurrence_kind="cron")
    return {"recurrence_kind": data.recurrence_kind or "cron", "minutes_between_runs": data.minutes_between_runs or "",
            "run_on_weekdays": data.run_on_weekdays, "starting_time": data.starting_time.strftime("%H:%M") if data.starting_time else "",
            "ending_time": data.ending_time.strftime("%H:%M") if data.ending_time else "",
            "cron_expression": data.cron_expression or "", "next_run_date_formula": data.next_run_date_formula or "",
            "time_zone": data.time_zone or "UTC"}


def save_schedule(session: Session, wf: Workflow, values: dict, user: User):
    """Set when the scheduled flow ``wf`` runs — Business Central's job queue
    recurrence (``values``: ``recurrence_kind`` minutes / cron / formula,
    ``minutes_between_runs``, ``run_on_weekdays`` (seven 0/1, Monday first),
    ``starting_time`` / ``ending_time`` "HH:MM", ``cron_expression``,
    ``next_run_date_formula``, ``time_zone``) — on the flow's one job queue entry,
    created the first time with ``user`` as its owner (told when a run fails). While
    the flow is disabled a fire starts nothing (the log says so). Which records each run
    acts on is the entry point's conditions ("for each record matching"). Returns the
    entry. Raises :class:`FlowError` (not a scheduled flow, not permitted) or
    :class:`portal.jobqueue.service.EntryErrors` (field → message). The caller commits."""
    from datetime import time as time_of_day

    from portal.jobqueue.service import EntryData, EntryErrors, save_entry
    from portal.workflow.models import TRIGGER_SCHEDULED

    if wf.trigger_kind != TRIGGER_SCHEDULED or wf.template:
        raise FlowError(f"{wf.code} is not a scheduled flow.")
    if not flow_setup.may_create_flow(session, user, TRIGGER_SCHEDULED):
        raise FlowError("You are not permitted to change scheduled flows.")
    errors: dict[str, str] = {}

    def clock(name: str):
        text = (values.get(name) or "").strip()
        if not text:
            return None
        try:
            return time_of_day.fromisoformat(text)
        except ValueError:
            errors[name] = f"{text!r} is not a time of day (HH:MM)."
            return None

    kind = values.get("recurrence_kind") or ""
    if kind not in SCHEDULE_KINDS:
        errors["recurrence_kind"] = "Choose how often the flow runs."
    minutes_text = str(values.get("minutes_between_runs") or "").strip()
    minutes = int(minutes_text) if minutes_text.isdigit() and len(minutes_text) < 7 else None
    if kind == "minutes" and minutes is None:
        errors["minutes_between_runs"] = "Enter the minutes between runs (a whole number)."
    days = "".join("1" if c == "1" else "0" for c in (values.get("run_on_weekdays") or "")[:7]).ljust(7, "0")
    entry = flow_schedule(session, wf)
    data = EntryData.of(entry) if entry is not None else EntryData(owner_id=user.id)
    data.description = f"Scheduled flow {wf.code}: {wf.description}"[:250]
    data.target = f"workflow:{wf.id}"
    data.recurrence_kind = kind or None
    data.minutes_between_runs = minutes
    data.run_on_weekdays = days
    data.starting_time, data.ending_time = clock("starting_time"), clock("ending_time")
    data.cron_expression = (values.get("cron_expression") or "").strip() or None
    data.next_run_date_formula = (values.get("next_run_date_formula") or "").strip() or None
    data.time_zone = (values.get("time_zone") or "").strip() or "UTC"
    if errors:
        raise EntryErrors(errors)
    entry = save_entry(session, entry, data, user)
    session.flush()
    from portal.jobqueue.service import describe_recurrence

    record_audit(session, "workflow", "flow_schedule", user_id=user.id, record_type="workflow", record_id=wf.id,
                 record_title=f"Workflow {wf.code} — {wf.description or ''}", detail=describe_recurrence(entry))
    return entry
