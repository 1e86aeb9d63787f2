"""Manage flows: every flow with its owner, trigger kind, record type, whether it is
on, its last run and its runs and failures of the last 24 hours; turn on / off,
copy, delete, export / import (the workflow export format, see
:mod:`portal.workflow.service`); flows that keep failing; a dry run ("Test") of a
flow against a chosen record; and the gallery of starter flows.

**A flow that keeps failing**: its last :data:`FAILING_STREAK` (3) finished runs all
failed, i.e. at least 3 failed runs since its last succeeded one (canceled and
unfinished runs don't count either way). Such a flow is flagged on the Manage flows
page and its owner gets one notification per failing streak (a succeeded run ends
the streak; the next streak notifies again). It is never turned off by this.

**Dry run**: the flow's entry event is evaluated against the record (conditions
shown one by one), then a run is carried out for real in the database transaction
of the request — templates rendered in the sandbox, responses run, the records they
change, the notification entries, e-mails and webhook calls they would make written
as rows — and everything is rolled back at the end. E-mails and webhook calls are
only performed by :mod:`portal.workflow.effects` after a commit, so the rollback
drops them; nothing is sent and nothing is changed."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

from sqlalchemy import and_, case, event as sa_event, func, inspect as sa_inspect, or_, select, update
from sqlalchemy.orm import Session, aliased

from portal.audit.service import record_audit
from portal.auth.models import User
from portal.records.registry import RECORD_TYPES
from portal.util import utcnow
from portal.workflow import conditions as cond
from portal.workflow import flow_setup
from portal.workflow import service as workflow_service
from portal.workflow.catalog import EVENTS, RUN_FAILED_WATCHERS
from portal.workflow.engine import ResponseError, create_instance, entry_step, event_values, execute_event_step, load_record
from portal.workflow.models import (
    COMPLETED,
    IGNORED,
    RUN_COMPLETED,
    RUN_FAILED,
    TRIGGER_AUTOMATED,
    TRIGGER_INSTANT,
    TRIGGER_SCHEDULED,
    Effect,
    OutboxEvent,
    Workflow,
    WorkflowInstance,
)
from portal.workflow.rendering import TemplateRenderError

FAILING_STREAK = 3
MANAGERS = ("admin", "flow_maker")
TRIGGER_WORDS = {TRIGGER_INSTANT: "Instant", TRIGGER_AUTOMATED: "Automated", TRIGGER_SCHEDULED: "Scheduled"}
RUN_WORDS = {"Queued": "Queued", "Running": "Running", "Completed": "Succeeded", "Failed": "Failed", "Canceled": "Canceled"}


class ManageError(Exception):
    """A flow can't be managed or tested as asked (message for the user)."""


def may_manage(user: User) -> bool:
    """Flow makers and admins manage flows (the workflow pages' rule)."""
    return user.has_role(*MANAGERS)


# ---------------------------------------------------------------- the list

def flow_rows(session: Session, record_type: str | None = None, now=None) -> list[dict]:
    """Every flow (not the read-only templates), optionally of one ``record_type``, by
    description: dicts with ``wf``, ``owner`` (full name or ""), ``trigger`` and
    ``record_type`` in words, ``enabled``, ``last_status`` (word or ""),
    ``last_at`` (UTC datetime of the last run's end, else its start / creation),
    ``runs_24h``, ``failures_24h`` (runs created in the 24 hours before ``now``) and
    ``failing`` (see the module: a failing streak was noticed and no run has
    succeeded since). The run figures come from one grouped query."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    q = select(Workflow).where(Workflow.template.is_(False)).order_by(Workflow.description, Workflow.code)
    if record_type:
        q = q.where(Workflow.record_type == record_type)
    workflows = session.scalars(q).unique().all()
    stats = run_stats(session, [wf.id for wf in workflows], since)
    owners = dict(session.execute(select(User.id, User.full_name).where(
        User.id.in_({wf.owner_id for wf in workflows if wf.owner_id}))).all()) if any(wf.owner_id for wf in workflows) else {}
    rows = []
    for wf in workflows:
        s = stats.get(wf.id, {})
        rt = RECORD_TYPES.get(wf.record_type or "")
        rows.append({
            "wf": wf, "owner": owners.get(wf.owner_id, ""), "trigger": TRIGGER_WORDS.get(wf.trigger_kind, wf.trigger_kind),
            "record_type": rt.label if rt else "", "enabled": wf.enabled,
            "last_status": RUN_WORDS.get(s.get("last_status") or "", s.get("last_status") or ""),
            "last_at": s.get("last_at"), "runs_24h": s.get("runs", 0), "failures_24h": s.get("failures", 0),
            "failing": bool(wf.failure_notice_run_id) and (s.get("last_success_id") or 0) < wf.failure_notice_run_id,
        })
    return rows


def failing_flow_ids(session: Session) -> set[int]:
    """The ids of the flows that keep failing (the ``failing`` of :func:`flow_rows`:
    a failing streak was noticed and no run has succeeded since), without reading every
    flow's run figures: only flows with a failure notice are looked at, each by one
    indexed look-up for a later succeeded run."""
    wi = WorkflowInstance.__table__
    later_success = (select(wi.c.id).where(wi.c.workflow_id == Workflow.id, wi.c.status == RUN_COMPLETED,
                                           wi.c.id > Workflow.failure_notice_run_id).exists())
    return set(session.scalars(select(Workflow.id).where(Workflow.template.is_(False), Workflow.failure_notice_run_id.is_not(None),
                                                         ~later_success)))


def run_stats(session: Session, workflow_ids: list[int], since) -> dict[int, dict]:
    """``{workflow id: {"runs", "failures", "last_status", "last_at",
    "last_success_id"}}`` for workflows with runs: runs and failed runs created since
    ``since`` (UTC), the last run's status and time, the id of the last succeeded run
    — one grouped query joined to the last run."""
    if not workflow_ids:
        return {}
    wi = WorkflowInstance.__table__
    recent = wi.c.created_at >= since
    agg = (select(wi.c.workflow_id, func.max(wi.c.id).label("last_id"),
                  func.sum(case((recent, 1), else_=0)).label("runs"),
                  func.sum(case((and_(recent, wi.c.status == RUN_FAILED), 1), else_=0)).label("failures"),
                  func.max(case((wi.c.status == RUN_COMPLETED, wi.c.id), else_=None)).label("last_success_id"))
           .where(wi.c.workflow_id.in_(workflow_ids)).group_by(wi.c.workflow_id).subquery())
    last = aliased(wi)
    q = select(agg.c.workflow_id, agg.c.runs, agg.c.failures, agg.c.last_success_id, last.c.status,
               func.coalesce(last.c.ended_at, last.c.started_at, last.c.created_at)).join(last, last.c.id == agg.c.last_id)
    return {row[0]: {"runs": int(row[1] or 0), "failures": int(row[2] or 0), "last_success_id": row[3],
                     "last_status": row[4], "last_at": row[5]} for row in session.execute(q)}


# ---------------------------------------------------------------- failing flows

def watch_failed_run(session: Session, inst: WorkflowInstance) -> None:
    """Told by the engine when ``inst`` ended Failed (in that transaction): if its
    flow now has a failing streak (:data:`FAILING_STREAK` failed runs since the last
    succeeded one) not yet notified, remember the streak and notify the flow's owner
    once (a notification entry through the notifications area's service). A
    compare-and-set update makes sure two workers failing runs of the same flow at
    once notify only once. The flow stays as it is (on)."""
    session.flush()
    wi = WorkflowInstance.__table__
    last_ok = session.scalar(select(func.max(wi.c.id)).where(wi.c.workflow_id == inst.workflow_id,
                                                             wi.c.status == RUN_COMPLETED)) or 0
    failed = session.scalars(select(wi.c.id).where(wi.c.workflow_id == inst.workflow_id, wi.c.status == RUN_FAILED,
                                                   wi.c.id > last_ok).order_by(wi.c.id).limit(FAILING_STREAK)).all()
    if len(failed) < FAILING_STREAK:
        return
    start = failed[0]
    wt = Workflow.__table__
    claimed = session.execute(update(wt).where(wt.c.id == inst.workflow_id, or_(
        wt.c.failure_notice_run_id.is_(None), wt.c.failure_notice_run_id != start)).values(failure_notice_run_id=start))
    if claimed.rowcount != 1:
        return
    wf = session.get(Workflow, inst.workflow_id)
    session.refresh(wf, ["failure_notice_run_id"])
    from portal.jobqueue.service import default_owner_id

    recipient = wf.owner_id or default_owner_id(session)  # a shipped flow has no owner: the administrator is told
    if recipient:
        from portal.notifications.service import create_notification

        create_notification(
            session, recipient_id=recipient, type_="New Record", template_code="workflow_notification",
            custom_message=(f"Your flow “{wf.description}” ({wf.code}) has failed {FAILING_STREAK} times in a row. "
                            f"It is still on. Last error: {(inst.error or 'unknown')[:500]}"),
            link=f"/flows/manage?code={wf.code}",
        )


RUN_FAILED_WATCHERS.append(watch_failed_run)


# ---------------------------------------------------------------- actions

def _audit(session: Session, user: User, action: str, wf: Workflow, detail: str | None = None) -> None:
    """An audit trail row for ``wf`` by ``user`` (the caller's transaction)."""
    if wf.id is None:
        session.flush()
    record_audit(session, "workflow", action, user_id=user.id, record_type="workflow", record_id=wf.id,
                 record_title=f"Workflow {wf.code} — {wf.description or ''}".rstrip(" —"), detail=detail)


def get_flow(session: Session, code: str) -> Workflow:
    """The flow ``code`` (not a template). Raises :class:`ManageError`."""
    wf = session.scalar(select(Workflow).where(Workflow.code == code, Workflow.template.is_(False)))
    if wf is None:
        raise ManageError(f"There is no flow {code}.")
    return wf


def set_enabled(session: Session, wf: Workflow, on: bool, user: User) -> None:
    """Turn the flow on or off (the enable rules of :func:`portal.workflow.service.set_enabled`;
    a scheduled flow's job queue entry on hold is set to Ready), audited. The caller commits. Raises :class:`ManageError` listing every problem."""
    try:
        workflow_service.set_enabled(session, wf, on)
    except workflow_service.WorkflowError as exc:
        raise ManageError(f"{wf.code} can't be turned {'on' if on else 'off'}: " + " ".join(exc.problems)) from exc
    if on and wf.trigger_kind == TRIGGER_SCHEDULED:
        _ready_schedule(session, wf, user)
    _audit(session, user, "enable" if on else "disable", wf)


def _ready_schedule(session: Session, wf: Workflow, user: User) -> None:
    """A scheduled flow turned on: its job queue entry, if it was put On Hold while the
    flow was off, is set to Ready (the job queue's own rule for its next due time).
    A flow without an entry yet gets one, Ready, from the scheduler's next sync."""
    from portal.jobqueue import service as jobs
    from portal.jobqueue.models import ON_HOLD, JobQueueEntry

    for entry in session.scalars(select(JobQueueEntry).where(JobQueueEntry.workflow_id == wf.id, JobQueueEntry.status == ON_HOLD)):
        jobs.set_ready(session, entry, user)


def copy_flow(session: Session, wf: Workflow, user: User, description: str | None = None) -> Workflow:
    """A disabled copy of ``wf`` owned by ``user`` (code: the source's + "-01", …),
    audited. Raises :class:`ManageError` when the user may not create flows of that
    trigger kind."""
    if not flow_setup.may_create_flow(session, user, wf.trigger_kind):
        raise ManageError(f"You are not permitted to create {TRIGGER_WORDS.get(wf.trigger_kind, '').lower()} flows.")
    try:
        new = workflow_service.copy(session, wf, description=description, owner_id=user.id)
    except workflow_service.WorkflowError as exc:
        raise ManageError(str(exc)) from exc
    _audit(session, user, "copy", new, f"Copied from {wf.code}")
    return new


def delete_flow(session: Session, wf: Workflow, user: User) -> None:
    """Delete the flow (disabled, without run history), audited. Raises :class:`ManageError`."""
    try:
        workflow_service.delete(session, wf)
    except workflow_service.WorkflowError as exc:
        raise ManageError(str(exc)) from exc
    _audit(session, user, "delete", wf)


def import_flows(session: Session, data: Any, user: User) -> list[str]:
    """Import a workflow export file (parsed JSON, see
    :func:`portal.workflow.service.import_workflows`; new flows owned by ``user``),
    audited. Raises :class:`portal.workflow.service.WorkflowError` listing every
    problem (nothing imported)."""
    codes = workflow_service.import_workflows(session, data, owner_id=user.id)
    for wf in session.scalars(select(Workflow).where(Workflow.code.in_(codes))).unique():
        _audit(session, user, "import", wf, "Imported on Manage flows")
    return codes


# ---------------------------------------------------------------- dry run

_BOOKKEEPING = {"WorkflowInstance", "WorkflowStepInstance", "WorkflowStepRun", "AuditEntry", "Effect", "OutboxEvent",
                "NotificationEntry", "NotificationDispatch", "JobQueueEntry", "RecordVersion"}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _plain(html: str, limit: int = 600) -> str:
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<(style|script)[^>]*>.*?</\1>|<[^>]+>", " ", html or "", flags=re.S))).strip()
    return text if len(text) <= limit else text[:limit] + "…"


class _Observer:
    """Collects, per response step, the rows a dry run's responses add and the record
    fields they change (a ``before_flush`` listener, flushing around each response)."""

    def __init__(self, session: Session):
        self.session = session
        self.step_id: int | None = None
        self.added: dict[int | None, list] = {}
        self.changed: dict[int | None, dict] = {}

    def before_flush(self, session, _context, _instances) -> None:
        self.added.setdefault(self.step_id, []).extend(session.new)
        bucket = self.changed.setdefault(self.step_id, {})
        for obj in session.dirty:
            if obj.__class__.__name__ in _BOOKKEEPING or not session.is_modified(obj):
                continue
            state = sa_inspect(obj)
            for attr in state.mapper.column_attrs:
                hist = state.attrs[attr.key].history
                if hist.has_changes() and attr.key not in ("modified_at", "version_id", "row_version"):
                    old = hist.deleted[0] if hist.deleted else None
                    bucket.setdefault((obj, attr.key), old)

    def before(self, ctx) -> None:
        self.session.flush()
        self.step_id = ctx.step.step_id

    def after(self, ctx, _message) -> None:
        self.session.flush()
        self.step_id = None


def _record_label(obj) -> tuple[str, Any] | None:
    for rt in RECORD_TYPES.values():
        if isinstance(obj, rt.model):
            return rt.title(obj), rt
    return None


def _describe_added(obj, session: Session) -> str | None:
    name = obj.__class__.__name__
    if isinstance(obj, Effect):
        p = obj.payload or {}
        if obj.kind == "email":
            return f"Would send an e-mail to {p.get('to')}: subject “{p.get('subject')}”; text: {_plain(p.get('html', ''))}"
        if obj.kind == "webhook":
            return (f"Would call {p.get('method', 'POST')} {p.get('url')} (timeout {p.get('timeout', '')} s) "
                    f"with the body: {(p.get('body') or '')[:600]}")
        return f"Would do: {obj.description}"
    if isinstance(obj, OutboxEvent):
        ev = EVENTS.get(obj.event_code)
        return f"Would raise the event “{ev.description if ev else obj.event_code}” (handled after the run)"
    if name == "NotificationEntry":
        who = session.get(User, obj.recipient_id)
        message = f": “{obj.custom_message}”" if getattr(obj, "custom_message", None) else ""
        return f"Would create a notification for {who.full_name if who else 'a user'}{message}"
    if name in _BOOKKEEPING:
        return None
    label = _record_label(obj)
    if label:
        return f"Would create {label[0]}"
    return None


def _field_label(rt, key: str) -> str:
    for f in getattr(rt, "fields", ()):
        if f.name == key:
            return f.label
    return key.replace("_", " ").capitalize()


def _condition_rows(step, values: dict, record_type: str | None = None) -> list[dict]:
    from portal.workflow import describe as words

    rows = []
    for c in step.conditions or []:
        field = c.get("field")
        actual = "(one per line)" if str(field).startswith("lines.") else _text(values.get(field))
        try:
            met = cond.matches([c], values, None)
        except cond.ConditionError as exc:
            met, actual = False, str(exc)
        rows.append({"text": words.describe_condition(c, record_type), "tech": words.technical_conditions([c]),
                     "actual": actual, "met": met})
    return rows


def dry_run(session: Session, wf: Workflow, record_id: int | None, user: User, inputs: dict | None = None) -> dict:
    """Test ``wf`` against record ``record_id`` (None for a flow without a record type)
    as ``user`` — changing and sending nothing: the run happens in the session's
    transaction, which is **rolled back** at the end (call it with no unsaved changes
    in ``session``). ``inputs``: an instant flow's input values (default: the fields'
    defaults). Returns the result in words::

        {"flow", "record", "starts": bool, "event", "conditions": [{"text", "actual", "met"}],
         "steps": [{"kind": "When"/"Then", "caption", "depth", "status", "output", "effects": [str]}],
         "error": str, "summary": str}

    Field-change rules (changed / increased / decreased) are evaluated as if the record
    were saved unchanged. Raises :class:`ManageError` (no such record, no entry event)."""
    from portal.workflow import inputs as flow_inputs
    from portal.workflow.editor import lines_of

    rt = RECORD_TYPES.get(wf.record_type or "")
    record = None
    if rt is not None:
        if record_id is None:
            raise ManageError(f"Choose a {rt.label.lower()} to test the flow with.")
        record = load_record(session, rt.key, record_id)
        if record is None:
            raise ManageError(f"{rt.label} {record_id} does not exist.")
    entry = entry_step(wf)
    if entry is None:
        raise ManageError(f"The flow {wf.code} has no steps to test.")
    if inputs is None:
        inputs = {f["name"]: f.get("default") for f in flow_inputs.definitions(wf)}
    event = EVENTS.get(entry.function_name)
    result = {"flow": wf.description, "code": wf.code, "record": rt.title(record) if record is not None else "",
              "event": event.description if event else entry.function_name, "steps": [], "error": "", "starts": False}
    observer = _Observer(session)
    raw = session() if callable(session) and not isinstance(session, Session) else session
    try:
        ev = OutboxEvent(event_code=entry.function_name, record_type=wf.record_type, record_id=record_id,
                         payload={"inputs": inputs, "dry_run": True}, user_id=user.id, created_at=utcnow())
        session.add(ev)
        session.flush()
        values = event_values(session, ev, record)
        result["conditions"] = _condition_rows(entry, values, wf.record_type)
        result["starts"] = all(c["met"] for c in result["conditions"])
        if not result["starts"]:
            result["summary"] = "The flow would not start for this record: not every condition of its trigger is met."
            return result
        sa_event.listen(raw, "before_flush", observer.before_flush)
        raw.info["response_observer"] = observer
        inst = create_instance(session, wf, wf.record_type, record_id, entry.function_name, inputs, user.id)
        start = next(s for s in inst.step_instances if s.entry_point)
        try:
            execute_event_step(session, inst, start, ev, new_instance=True)
            session.flush()
        except (ResponseError, TemplateRenderError) as exc:
            result["error"] = str(exc)
        result["steps"] = _step_rows(session, inst, observer, lines_of, rt, result["error"])
        done = sum(1 for s in result["steps"] if s["kind"] == "Then" and s["status"] == "Would run")
        result["summary"] = (f"The flow would fail: {result['error']}" if result["error"] else
                             f"The flow would start and run {done} action(s). Nothing was changed or sent.")
        return result
    finally:
        raw.info.pop("response_observer", None)
        if sa_event.contains(raw, "before_flush", observer.before_flush):
            sa_event.remove(raw, "before_flush", observer.before_flush)
        session.rollback()


def _step_rows(session: Session, inst: WorkflowInstance, observer: _Observer, lines_of, rt, error: str) -> list[dict]:
    from portal.workflow import describe as words
    from portal.workflow.models import WorkflowStepRun

    messages = {r.step_instance_id: r.message for r in session.scalars(
        select(WorkflowStepRun).where(WorkflowStepRun.instance_id == inst.id))}
    failed_next = bool(error)
    rows = []
    for line in lines_of(inst.step_instances):
        for s in [line.event, *line.responses]:
            is_event = s is line.event
            caption = words.lower_first(words.step_text(s))
            effects: list[str] = []
            if s.status == COMPLETED:
                status = "Met: the flow starts" if s.entry_point else ("Would happen" if is_event else "Would run")
            elif s.status == IGNORED:
                status = "Would be skipped: another branch runs"
            elif is_event and s.status == "Active":
                status = "The run would then wait for this event"
            elif failed_next and not is_event and s.status != COMPLETED:
                status, failed_next = f"Would fail: {error}", False
            else:
                status = "Not reached in this test"
            if not is_event and s.status == COMPLETED:
                for obj in observer.added.get(s.step_id, []):
                    text = _describe_added(obj, session)
                    if text:
                        effects.append(text)
                for (obj, key), old in observer.changed.get(s.step_id, {}).items():
                    label = _record_label(obj)
                    if label:
                        effects.append(f"Would change {_field_label(label[1], key)} of {label[0]} "
                                       f"from {_text(old)} to {_text(getattr(obj, key))}")
            rows.append({"kind": "When" if is_event else "Then", "caption": caption, "depth": line.indent,
                         "conditions": words.describe_conditions(s.conditions, inst.record_type) if is_event else "",
                         "options": "" if is_event else words.options_text(s.function_name, s.options, inst.record_type),
                         "tech": words.technical(s), "step_id": s.step_id, "status": status,
                         "output": (messages.get(s.id) or "") if not is_event else "", "effects": effects})
    return rows


def record_choices(session: Session, wf: Workflow, limit: int = 200) -> list[tuple[int, str]]:
    """``(id, title)`` of the records a flow can be tested with (its record type's
    first ``limit`` records by id); empty for a flow without a record type."""
    rt = RECORD_TYPES.get(wf.record_type or "")
    if rt is None:
        return []
    return [(r.id, rt.title(r)) for r in session.scalars(select(rt.model).order_by(rt.model.id).limit(limit)).unique()]
