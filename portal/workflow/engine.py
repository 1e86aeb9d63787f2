"""The workflow engine: raise events into the outbox, match them to workflows, run
step instances and their responses.

Rules (from Business Central's workflow engine):
- A workflow's steps form a tree: the entry-point event, its responses in a chain
  (each response's ``previous_step_id`` is the step before it), then follow-up events
  (alternatives, in ``sequence_no`` order) whose ``previous_step_id`` is the last
  response.
- An event on a record first advances an Active event step of a running instance for
  that record whose conditions match (approval events and instant-flow runs name
  their instance in the payload); if none, it starts a new instance of each enabled
  workflow whose entry point matches.
- Executing an event step completes it, ignores its Active siblings and runs the
  responses after it; then the events after the last response become Active. A
  response with ``next_step_id`` jumps: the follow-up events of that step become
  Active again (a loop) without re-running it.
- An instance with no Active step left is Completed.
- Events raised while responses run are written to the outbox and handled after the
  current chain, in order.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.util import read_memo, utcnow
from portal.workflow import conditions
from portal.workflow.catalog import ID_FREE, KEEPS_RECORD, RECORD_TYPES, RUN_FAILED_HANDLERS, RUN_FAILED_WATCHERS, VALUE_PROVIDERS
from portal.workflow.models import (
    ACTIVE,
    COMPLETED,
    IGNORED,
    INACTIVE,
    OUTBOX_PENDING,
    OUTBOX_PROCESSING,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_QUEUED,
    RUN_RUNNING,
    STEP_EVENT,
    STEP_RESPONSE,
    OutboxEvent,
    Workflow,
    WorkflowInstance,
    WorkflowStep,
    WorkflowStepInstance,
    WorkflowStepRun,
)

log = logging.getLogger(__name__)


class ResponseError(Exception):
    """A response can't be carried out for a business reason (clear message for the
    user); the event's changes are rolled back and the run is recorded as failed."""


# ---------------------------------------------------------------- raising events

def raise_event(
    session: Session,
    code: str,
    record_type: str | None,
    record_id: int | None,
    payload: dict | None = None,
    user_id: int | None = None,
) -> OutboxEvent:
    """Add an outbox row for event ``code`` to ``session`` (committed with the caller's
    change). After the commit the dispatcher job is enqueued. Returns the row."""
    ev = OutboxEvent(
        event_code=code, record_type=record_type, record_id=record_id, payload=payload or {}, user_id=user_id
    )
    session.add(ev)
    if not session.info.get("in_dispatcher"):  # the dispatcher's loop picks follow-ups up itself
        enqueue_after_commit(session, "jobs.outbox.dispatch_outbox")
    return ev


def enqueue_after_commit(session: Session, job: str) -> None:
    """Enqueue RQ job ``job`` (dotted path) once after ``session`` commits: a burst of
    changes in one transaction costs one enqueue; a rollback enqueues nothing."""
    session.info.setdefault("after_commit_jobs", set()).add(job)


@sa_event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    from portal.queue import enqueue_once

    _forget_transaction(session)
    for job in sorted(session.info.pop("after_commit_jobs", ())):
        enqueue_once(job)


@sa_event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("after_commit_jobs", None)
    _forget_transaction(session)


def _forget_transaction(session: Session) -> None:
    """What was known only for the transaction that just ended."""
    for key in ("new_instances", "instances_with_effects", "batch_cache", "pending_step_runs", "unsaved_step_instances",
                "effects_awaiting_step"):
        session.info.pop(key, None)


# ---------------------------------------------------------------- context

@dataclass
class StepContext:
    """What a response sees: the session, the instance and step instance being run,
    the event that triggered it, the record (or None), its record type, the user who
    raised the event, and the step's options."""

    session: Session
    instance: WorkflowInstance
    step: WorkflowStepInstance
    event: OutboxEvent
    record: Any
    record_type: Any  # the registered record type, or None
    user_id: int | None
    options: dict = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    shared: dict = field(default_factory=dict)  # shared by the responses of one chain

    def raise_event(self, code: str, **payload: Any) -> OutboxEvent:
        """Raise a follow-up event on this record (handled after the current chain)."""
        payload.setdefault("instance_id", self.instance.id)
        return raise_event(self.session, code, self.instance.record_type, self.instance.record_id, payload, self.user_id)


def load_record(session: Session, record_type: str | None, record_id: int | None, lock: bool = False):
    """The record's ORM object, or None. ``lock`` takes a row lock (SELECT ... FOR
    UPDATE where the database has one) so that events of one record are handled one
    at a time even with many workers."""
    if not record_type or record_id is None or record_type not in RECORD_TYPES:
        return None
    held = session.info.get("batch_records", {}).get((record_type, record_id))
    if held is not None and held in session and held not in session.deleted:
        return held  # prefetched for the batch: no query (and so no autoflush)
    model = RECORD_TYPES[record_type].model
    if lock and (record_type, record_id) not in session.info.get("locked_records", ()):
        # lock the row alone (FOR UPDATE can't cover the eager-loaded outer joins)
        session.execute(select(model.id).where(model.id == record_id).with_for_update())
    return session.get(model, record_id)


def prefetch(session: Session, events: list[OutboxEvent]) -> None:
    """Before a batch of events runs: lock and load their records (one query per
    record type, rows locked in id order), load their running instances with their
    step instances (one query per record type) and check the workflow cache once.
    :func:`handle_event` then finds them without further queries. Undo with
    :func:`forget_prefetch` when the batch ends."""
    from sqlalchemy.orm import selectinload

    by_type: dict[str, set[int]] = {}
    for ev in events:
        if ev.record_type in RECORD_TYPES and ev.record_id is not None:
            by_type.setdefault(ev.record_type, set()).add(ev.record_id)
    locked: set[tuple[str, int]] = set()
    held: dict[tuple[str, int], object] = {}  # strong references: the identity map's are weak
    running: dict[tuple[str, int], list[WorkflowInstance]] = {}
    for record_type, ids in by_type.items():
        model = RECORD_TYPES[record_type].model
        ordered = sorted(ids)
        session.execute(select(model.id).where(model.id.in_(ordered)).order_by(model.id).with_for_update())
        for obj in session.scalars(select(model).where(model.id.in_(ordered))).unique():
            held[(record_type, obj.id)] = obj
        locked |= {(record_type, i) for i in ordered}
        codes = {ev.event_code for ev in events if ev.record_type == record_type}
        for inst in session.scalars(
            select(WorkflowInstance)
            .where(WorkflowInstance.record_type == record_type, WorkflowInstance.record_id.in_(ordered),
                   WorkflowInstance.status.in_([RUN_RUNNING, RUN_QUEUED]), _waits_for(codes))
            .options(selectinload(WorkflowInstance.step_instances))
            .order_by(WorkflowInstance.id)
        ).unique():
            running.setdefault((record_type, inst.record_id), []).append(inst)
    lock_instances(session, [inst for group in running.values() for inst in group])
    enabled_workflows(session)
    session.info.update(locked_records=locked, running_instances=running, workflows_checked=True, batch_records=held)
    session.info["prefetched"] = {(t, i) for t, ids in by_type.items() for i in ids}


def lock_instances(session: Session, instances: list[WorkflowInstance]) -> None:
    """Lock the instances' rows (in id order, so two workers never wait on each other
    in a circle) and re-read their status and result: the dispatcher advancing an
    instance and a delivery worker recording its last effect then take turns, so one
    of them always sees the other's change and the run is finished exactly once.
    (PostgreSQL ``SELECT … FOR UPDATE``; SQLite's single writer needs nothing.)"""
    ids = sorted({inst.id for inst in instances if inst.id is not None})
    if not ids or session.get_bind().dialect.name != "postgresql":
        return
    session.flush()  # (a refresh must not drop changes made earlier in this transaction)
    session.execute(select(WorkflowInstance.id).where(WorkflowInstance.id.in_(ids)).order_by(WorkflowInstance.id).with_for_update())
    for inst in instances:
        session.refresh(inst, attribute_names=["status", "result", "error", "ended_at", "archived_at"])


def _waits_for(codes: set[str]):
    """SQL condition: the instance has an Active event step for one of ``codes`` (an
    instance only waiting for its effects, or for other events, isn't a candidate)."""
    from sqlalchemy import exists

    return exists().where(
        WorkflowStepInstance.instance_id == WorkflowInstance.id,
        WorkflowStepInstance.status == ACTIVE,
        WorkflowStepInstance.type == STEP_EVENT,
        WorkflowStepInstance.function_name.in_(sorted(codes)),
    )


def forget_prefetch(session: Session) -> None:
    """Drop what :func:`prefetch` cached for the batch (and the batch's caches)."""
    for key in ("locked_records", "running_instances", "workflows_checked", "prefetched", "batch_cache", "batch_records"):
        session.info.pop(key, None)


def batch_cache(session: Session) -> dict:
    """A dict that lives as long as the current batch of events (or the session's
    next commit outside a batch): responses keep look-ups here (e.g. users by name)."""
    return session.info.setdefault("batch_cache", {})


def event_values(session: Session, ev: OutboxEvent, record) -> dict[str, Any]:
    """The values conditions are evaluated against: the record's fields (typed), its
    ``lines`` (a list of dicts of line fields), the event's ``new_values`` for fields
    the record no longer has and, for approval events, ``pending_approvals`` (entries of the
    same instance still Created or Open)."""
    values: dict[str, Any] = {}
    if record is not None and ev.record_type in RECORD_TYPES:
        rt = RECORD_TYPES[ev.record_type]
        values.update(rt.values(record))
        if rt.line_fields:
            values["lines"] = [{f.name: f.value(line) for f in rt.line_fields} for line in getattr(record, "lines", [])]
    for name, value in (ev.payload.get("new_values") or {}).items():
        values.setdefault(name, value)  # the record's own (typed) values win
    for provider in VALUE_PROVIDERS:  # e.g. approvals: pending_approvals, comment
        provider(session, ev, values)
    return values


# ---------------------------------------------------------------- instances

def create_instance(
    session: Session,
    workflow,
    record_type: str | None,
    record_id: int | None,
    trigger: str,
    inputs: dict | None = None,
    started_by_id: int | None = None,
    status: str = RUN_RUNNING,
    flush: bool = True,
    unsaved_steps: bool = False,
) -> WorkflowInstance:
    """Start an instance of ``workflow`` (a :class:`Workflow` or a cached
    :class:`WorkflowDef`): copy its steps (with options and conditions) into step
    instances, the entry point Active and the rest Inactive. Returns the instance,
    flushed unless ``flush`` is False (the engine flushes when it needs the ids).

    ``unsaved_steps`` (with ``flush`` False): the step instances are kept out of the
    unit of work and inserted by :func:`save_step_instances` in one multi-row INSERT
    once the instance's first chain has run (see :func:`steps_done`) — the ORM's
    bookkeeping for thousands of step instances a batch cost more than the database
    did. Only for a chain of responses that need no ids (:func:`chain_is_id_free`)."""
    from sqlalchemy.orm.attributes import set_committed_value

    record = load_record(session, record_type, record_id)
    rt = RECORD_TYPES.get(record_type or "")
    inst = WorkflowInstance(
        workflow_id=workflow.id,
        workflow_code=workflow.code,
        record_type=record_type,
        record_id=record_id,
        record_title=rt.title(record) if (rt and record is not None) else None,
        status=status,
        trigger=trigger,
        inputs=inputs or {},
        started_by_id=started_by_id,
        started_at=utcnow() if status == RUN_RUNNING else None,
    )
    steps = [
        WorkflowStepInstance(
            step_id=step.step_id,
            description=step.description,
            entry_point=step.entry_point,
            previous_step_id=step.previous_step_id,
            next_step_id=step.next_step_id,
            sequence_no=step.sequence_no,
            type=step.type,
            function_name=step.function_name,
            options=dict(step.options or {}),
            conditions=list(step.conditions or []),
            status=ACTIVE if step.entry_point else INACTIVE,
            record_type=record_type,
            record_id=record_id,
        )
        for step in workflow.steps
    ]
    session.add(inst)
    if unsaved_steps and not flush:
        # added after the instance and without history: neither the add's cascade nor the unit of work sees them
        set_committed_value(inst, "step_instances", steps)
        session.info.setdefault("unsaved_step_instances", {})[inst] = False  # (True once its chain has run)
    else:
        inst.step_instances.extend(steps)
    session.info.setdefault("new_instances", set()).add(inst)
    if flush:
        session.flush()
    return inst


def is_unsaved(step: WorkflowStepInstance) -> bool:
    """True for a step instance of a new instance started with ``unsaved_steps`` that
    isn't inserted yet (its ``id`` is None and no session tracks it): a row that links
    to it gets its id later (see :func:`link_when_saved`)."""
    from sqlalchemy import inspect as sa_inspect

    return step.id is None and sa_inspect(step).transient


def link_when_saved(session: Session, row, column: str, step: WorkflowStepInstance) -> None:
    """Set ``row.<column>`` (an ORM object's foreign key to a step instance) to the id
    of the unsaved step instance ``step`` once it is inserted, in the same
    transaction (one UPDATE per batch)."""
    session.info.setdefault("effects_awaiting_step", []).append((row, column, step))


def steps_done(session: Session, inst: WorkflowInstance) -> None:
    """The first chain of ``inst`` has run: its unsaved step instances have their
    statuses for this transaction and are inserted with the next flush."""
    pending = session.info.get("unsaved_step_instances")
    if pending is not None and inst in pending:
        pending[inst] = True


def save_step_instances(session: Session) -> None:
    """Insert the step instances of the new instances whose first chain has run (and
    whose row is inserted), in one multi-row INSERT … RETURNING id, give the objects
    their ids, and set the links waiting for them (:func:`link_when_saved`)."""
    from sqlalchemy import bindparam, insert, update
    from sqlalchemy.orm.attributes import set_committed_value

    pending = session.info.get("unsaved_step_instances")
    if not pending:
        return
    ready = [inst for inst, done in pending.items() if done and inst.id is not None]
    if not ready:
        return
    table = WorkflowStepInstance.__table__
    now = utcnow()
    steps = [s for inst in ready for s in inst.step_instances]
    rows = [{"instance_id": inst.id, "step_id": s.step_id, "description": s.description, "entry_point": s.entry_point,
             "previous_step_id": s.previous_step_id, "next_step_id": s.next_step_id, "sequence_no": s.sequence_no,
             "type": s.type, "function_name": s.function_name, "options": s.options, "conditions": s.conditions,
             "status": s.status, "record_type": s.record_type, "record_id": s.record_id, "last_modified_at": now}
            for inst in ready for s in inst.step_instances]
    ids = session.connection().execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    for inst in ready:
        del pending[inst]
    for step, row, new_id in zip(steps, rows, ids):
        set_committed_value(step, "id", new_id)
        set_committed_value(step, "instance_id", row["instance_id"])
    waiting = session.info.get("effects_awaiting_step")
    if waiting:
        later, by_table = [], {}
        for obj, column, step in waiting:
            if step.id is not None and obj.id is not None:
                by_table.setdefault((obj.__table__, column), []).append({"b_id": obj.id, "b_step": step.id})
                set_committed_value(obj, column, step.id)
            else:
                later.append((obj, column, step))
        for (tbl, column), params in by_table.items():
            session.connection().execute(
                update(tbl).where(tbl.c.id == bindparam("b_id")).values({column: bindparam("b_step")}), params)
        session.info["effects_awaiting_step"] = later


def entry_step(workflow):
    """The entry-point step of ``workflow`` (a :class:`Workflow` or a cached
    :class:`WorkflowDef`), or None."""
    for step in workflow.steps:
        if step.entry_point:
            return step
    return None


@dataclass(frozen=True)
class StepDef:
    """A workflow step as plain data (cached): the fields a step instance copies."""

    step_id: int
    description: str | None
    entry_point: bool
    previous_step_id: int | None
    next_step_id: int | None
    sequence_no: int
    type: str
    function_name: str
    options: dict
    conditions: list


@dataclass(frozen=True)
class WorkflowDef:
    """An enabled workflow as plain data (cached per process until a workflow is
    added, enabled, disabled, edited or deleted): what matching and starting an
    instance need, without loading the workflow for each event."""

    id: int
    code: str
    description: str
    record_type: str | None
    steps: tuple[StepDef, ...]


_cache: dict[str, Any] = {"key": None, "workflows": ()}


def _cache_key(session: Session) -> tuple:
    """What changes whenever a workflow is added, enabled, disabled, edited (its
    ``modified_at``, bumped for step edits too) or deleted: (count, max modified)."""
    row = read_memo(session, ("workflow_cache_key",),
                    lambda: tuple(session.execute(select(func.count(Workflow.id), func.max(Workflow.modified_at))).one()))
    return (row[0], row[1])


def enabled_workflows(session: Session) -> tuple[WorkflowDef, ...]:
    """The enabled, non-template workflows as cached :class:`WorkflowDef` rows, ordered
    by code. One cheap query checks the cache (once per batch of events); it is
    rebuilt only after a change."""
    if session.info.get("workflows_checked") and _cache["key"] is not None:
        return _cache["workflows"]
    key = _cache_key(session)
    if _cache["key"] != key:
        rows = session.scalars(
            select(Workflow).where(Workflow.enabled.is_(True), Workflow.template.is_(False)).order_by(Workflow.code)
        ).unique().all()
        _cache["workflows"] = tuple(
            WorkflowDef(
                wf.id, wf.code, wf.description, wf.record_type,
                tuple(
                    StepDef(st.step_id, st.description, st.entry_point, st.previous_step_id, st.next_step_id, st.sequence_no,
                            st.type, st.function_name, dict(st.options or {}), list(st.conditions or []))
                    for st in wf.steps
                ),
            )
            for wf in rows
        )
        _cache["key"] = key
    return _cache["workflows"]


@sa_event.listens_for(Session, "before_flush")
def _touch_edited_workflows(session: Session, _context, _instances) -> None:
    """A step added, changed or removed marks its workflow modified, so every
    process's cache of enabled workflows (:func:`enabled_workflows`) sees the edit."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, WorkflowStep):
            wf = obj.workflow if obj.workflow is not None else (session.get(Workflow, obj.workflow_id) if obj.workflow_id else None)
            if wf is not None and wf not in session.deleted:
                wf.modified_at = utcnow()


def matching_workflows(session: Session, code: str, record_type: str | None, values: dict, old_values: dict | None = None) -> list[WorkflowDef]:
    """Enabled, non-template workflows whose entry-point event is ``code`` on
    ``record_type`` and whose entry conditions hold for ``values`` (old values for
    field-change rules). Returns cached :class:`WorkflowDef` rows (``id``, ``code``,
    ``description``, ``record_type``, ``steps``)."""
    found = []
    for wf in enabled_workflows(session):
        step = entry_step(wf)
        if step is None or step.type != STEP_EVENT or step.function_name != code:
            continue
        if wf.record_type and record_type and wf.record_type != record_type:
            continue
        if conditions.matches(step.conditions, values, old_values):
            found.append(wf)
    return found


def _children(inst: WorkflowInstance, step_id: int) -> list[WorkflowStepInstance]:
    return _children_in(inst.step_instances, step_id)


def _children_in(steps, step_id: int) -> list:
    return sorted((s for s in steps if s.previous_step_id == step_id), key=lambda s: (s.sequence_no, s.step_id))


def _by_step_id(inst: WorkflowInstance, step_id: int) -> WorkflowStepInstance:
    for s in inst.step_instances:
        if s.step_id == step_id:
            return s
    raise ResponseError(f"Workflow {inst.workflow_code} has no step {step_id}")


def _activate_followups(inst: WorkflowInstance, step: WorkflowStepInstance) -> None:
    for child in _children(inst, step.step_id):
        if child.type == STEP_EVENT:
            child.status = ACTIVE


def event_stamp(ev: OutboxEvent) -> str:
    """The event's id with its creation time to the microsecond: unique for ever (an
    id can be reused after old events are deleted; the stamp can't)."""
    return f"{ev.id}-{ev.created_at:%Y%m%d%H%M%S%f}"


def step_run_key(inst: WorkflowInstance, step: WorkflowStepInstance, ev: OutboxEvent) -> str:
    """The idempotency key of running ``step`` of ``inst`` for ``ev``: the event, the
    workflow and the step (one instance of a workflow handles an event at most once).
    Known before anything is flushed, so a new instance's rows go in together."""
    return f"{event_stamp(ev)}:{inst.workflow_id}:{step.step_id}"


def _log_run(session: Session, inst, step, ev, outcome, message=None, error=None, started=None) -> None:
    """Record that ``step`` of ``inst`` ran for ``ev`` (a step run: the run history row
    and the step's idempotency key). The row is written with the transaction's next
    flush, all of them in one multi-row INSERT (:func:`_write_step_runs`): a batch of
    flow runs writes thousands, and the ORM's bookkeeping per object cost more than the
    database did."""
    now = utcnow()
    session.info.setdefault("pending_step_runs", []).append((inst, step, {
        "key": step_run_key(inst, step, ev), "event_id": ev.id, "function_name": step.function_name, "outcome": outcome,
        "message": message.replace("\x00", "") if message else message, "error": error,
        "started_at": started or now, "ended_at": now}))


@sa_event.listens_for(Session, "after_flush")
def _write_step_runs(session: Session, _context=None) -> None:
    """Insert the step runs :func:`_log_run` kept, now that their instances and step
    instances have ids (after the flush that inserted them), in the same transaction."""
    save_step_instances(session)
    pending = session.info.pop("pending_step_runs", None)
    if pending:
        ready = [(inst, step, row) for inst, step, row in pending if step.id is not None and inst.id is not None]
        if len(ready) < len(pending):  # (an unsaved step instance: written with it, at a later flush)
            session.info["pending_step_runs"] = [p for p in pending if p[1].id is None or p[0].id is None]
        if ready:
            session.connection().execute(WorkflowStepRun.__table__.insert(), [
                {**row, "instance_id": inst.id, "step_instance_id": step.id} for inst, step, row in ready])


@sa_event.listens_for(Session, "before_commit")
def _write_step_runs_before_commit(session: Session) -> None:
    """A transaction whose last change was a step run or an unsaved step instance
    (nothing else left to flush, so no flush would write it) writes it before it
    commits."""
    if session.info.get("pending_step_runs") or session.info.get("unsaved_step_instances"):
        session.flush()
        _write_step_runs(session)


def execute_event_step(session: Session, inst: WorkflowInstance, step: WorkflowStepInstance, ev: OutboxEvent,
                       new_instance: bool = False) -> None:
    """Complete the event step ``step``, ignore its Active siblings, run the responses
    that follow it and activate the next events; the instance is Completed when no
    step is Active and none of its effects is still to be done (see
    :func:`finish_if_done`). ``new_instance``: just created for ``ev`` (it can't have
    run yet). A ``response_observer`` in ``session.info`` (an object with
    ``before(ctx)`` and ``after(ctx, message)``) is told about each response run (a
    dry run reports them). Raises :class:`ResponseError`."""
    from portal.workflow.responses import run_response  # the engine's own module

    if not new_instance and session.scalar(select(WorkflowStepRun.id).where(WorkflowStepRun.key == step_run_key(inst, step, ev))):
        return  # already done for this event (a retried job)
    if new_instance and not _chain_is_id_free(inst, step):
        session.flush()  # responses that link rows to the instance need its ids
    if not new_instance and (inst.record_type, inst.record_id) not in session.info.get("prefetched", ()):
        lock_instances(session, [inst])  # (a batch locked its instances up front)
    if inst.status == RUN_QUEUED:
        inst.status = RUN_RUNNING
        inst.started_at = utcnow()
    for sibling in _children(inst, step.previous_step_id) if step.previous_step_id is not None else []:
        if sibling is not step and sibling.type == STEP_EVENT and sibling.status == ACTIVE:
            sibling.status = IGNORED
    step.status = COMPLETED
    _log_run(session, inst, step, ev, "Completed", message=f"Event {ev.event_code}")

    record = load_record(session, inst.record_type, inst.record_id)
    rt = RECORD_TYPES.get(inst.record_type or "")
    current = step
    messages: list[str] = []
    shared: dict = {}  # one chain's cache (e.g. the record's template values, built once)
    while True:
        if current.type == STEP_RESPONSE and current.next_step_id is not None:
            _activate_followups(inst, _by_step_id(inst, current.next_step_id))
            break
        children = _children(inst, current.step_id)
        responses = [c for c in children if c.type == STEP_RESPONSE]
        if responses:
            nxt = responses[0]
            started = utcnow()
            ctx = StepContext(session, inst, nxt, ev, record, rt, ev.user_id, dict(nxt.options or {}), shared=shared)
            observer = session.info.get("response_observer")  # a dry run watches each response (portal.flows)
            if observer is not None:
                observer.before(ctx)
            message = run_response(ctx)
            if observer is not None:
                observer.after(ctx, message)
            if nxt.function_name not in KEEPS_RECORD:
                shared.pop("template_values", None)  # the record may have changed
                shared.pop("template_values_plain", None)
            nxt.status = COMPLETED
            shared.setdefault("outputs", {})[f"step_{nxt.step_id}"] = message or ""  # for later steps' templates
            if message:
                messages.append(message)
            _log_run(session, inst, nxt, ev, "Completed", message=message, started=started)
            current = nxt
            continue
        for child in children:
            if child.type == STEP_EVENT:
                child.status = ACTIVE
        break
    if messages:  # the run's outcome so far, chain after chain
        inst.result = "\n".join(([inst.result] if inst.result else []) + messages)
    finish_if_done(session, inst)


def _chain_is_id_free(inst: WorkflowInstance, step: WorkflowStepInstance) -> bool:
    """True when every response that follows ``step`` (up to the next event) is one
    that needs no database ids (:data:`portal.workflow.catalog.ID_FREE`): the new
    instance and its rows are then inserted with the batch's other rows."""
    return chain_is_id_free(inst.step_instances, step)


def chain_is_id_free(steps, step) -> bool:
    """:func:`_chain_is_id_free` over a list of steps (step instances, or a cached
    workflow's :class:`StepDef` rows before an instance exists)."""
    current = step
    while True:
        responses = [c for c in _children_in(steps, current.step_id) if c.type == STEP_RESPONSE]
        if not responses:
            return True
        if responses[0].function_name not in ID_FREE:
            return False
        current = responses[0]
        if current.next_step_id is not None:
            return True


def finish_if_done(session: Session, inst: WorkflowInstance, effect_states: set[str] | None = None,
                   has_active_step: bool | None = None) -> bool:
    """Complete a running instance that has no Active step left and no effect still
    to be done (an e-mail or webhook call waiting for delivery keeps it Running); an
    instance one of whose effects failed for good is Failed with that error. Its
    step instances are then archived. ``effect_states``: the statuses of its effects
    when the caller has them; ``has_active_step``: whether one of its steps is Active,
    when the caller has looked (else its step instances are read). Returns True if
    the instance ended."""
    from portal.workflow.models import EFFECT_FAILED, EFFECT_PENDING, EFFECT_UNFINISHED, Effect

    if has_active_step is None:
        has_active_step = any(s.status == ACTIVE for s in inst.step_instances)
    if inst.status not in (RUN_RUNNING, RUN_QUEUED) or has_active_step:
        return False
    if effect_states is not None:  # the caller already knows (a batch of effects)
        states = effect_states
    elif inst in session.info.get("new_instances", ()):  # started in this transaction: its effects are all new
        states = {EFFECT_PENDING} if inst in session.info.get("instances_with_effects", ()) else set()
    else:
        session.flush()
        states = set(session.scalars(select(Effect.status).where(Effect.instance_id == inst.id).distinct()))
    if states & set(EFFECT_UNFINISHED):
        return False
    if EFFECT_FAILED in states:
        inst.status = RUN_FAILED
        errors = session.scalars(select(Effect.error).where(Effect.instance_id == inst.id, Effect.status == EFFECT_FAILED)).all()
        inst.error = "\n".join(e for e in errors if e) or "An effect of this run failed."
    else:
        inst.status = RUN_COMPLETED
    inst.ended_at = inst.archived_at = utcnow()  # finished: its step instances are archived
    if inst.status == RUN_FAILED:
        _watch_failure(session, inst)
    return True


def handle_event(session: Session, ev: OutboxEvent) -> list[WorkflowInstance]:
    """Match ``ev`` to running instances or enabled workflows and execute it.
    Returns the instances it ran in (empty if nothing matched)."""
    session.info.pop("event_instance_id", None)  # (set below while a running instance handles it)
    record = load_record(session, ev.record_type, ev.record_id, lock=True)
    values = event_values(session, ev, record)
    old_values = ev.payload.get("old_values")

    instance_id = ev.payload.get("instance_id")
    if instance_id:
        candidates = [session.get(WorkflowInstance, instance_id)]
    elif (ev.record_type, ev.record_id) in session.info.get("prefetched", ()):
        candidates = session.info["running_instances"].get((ev.record_type, ev.record_id), [])
    elif ev.record_type and ev.record_id is not None:
        candidates = session.scalars(
            select(WorkflowInstance)
            .where(
                WorkflowInstance.record_type == ev.record_type,
                WorkflowInstance.record_id == ev.record_id,
                WorkflowInstance.status.in_([RUN_RUNNING, RUN_QUEUED]),
                _waits_for({ev.event_code}),
            )
            .order_by(WorkflowInstance.id)
        ).unique().all()
    else:
        candidates = []
    for inst in candidates:
        if inst is None or inst.status not in (RUN_RUNNING, RUN_QUEUED):
            continue
        active = sorted(
            (s for s in inst.step_instances if s.status == ACTIVE and s.type == STEP_EVENT and s.function_name == ev.event_code),
            key=lambda s: (s.sequence_no, s.step_id),
        )
        for step in active:
            if conditions.matches(step.conditions, values, old_values):
                session.info["event_instance_id"] = inst.id  # a failure from here on fails this run (record_failure)
                execute_event_step(session, inst, step, ev)
                return [inst]
    if instance_id:
        return []

    started = []
    for wf in matching_workflows(session, ev.event_code, ev.record_type, values, old_values):
        unsaved = chain_is_id_free(wf.steps, entry_step(wf))
        inst = create_instance(session, wf, ev.record_type, ev.record_id, ev.event_code, ev.payload.get("inputs"), ev.user_id,
                               flush=False, unsaved_steps=unsaved)
        step = next(s for s in inst.step_instances if s.entry_point)
        execute_event_step(session, inst, step, ev, new_instance=True)
        steps_done(session, inst)
        started.append(inst)
    return started


# ---------------------------------------------------------------- failures

def record_failure(session: Session, ev: OutboxEvent, error: str) -> None:
    """Keep a failed run visible: mark the event's instance Failed, or, for an event
    that would have started a workflow, a Failed instance of each matching workflow;
    the failure handlers (e.g. a notification to the user) are told. The event's
    instance is the one its payload names or, for an event a running instance was
    waiting for (e.g. a later change of the record), the one handling it when it
    failed (remembered across the rollback)."""
    instance_id = ev.payload.get("instance_id") or session.info.pop("event_instance_id", None)
    inst = session.get(WorkflowInstance, instance_id) if instance_id else None
    if inst is None:
        record = load_record(session, ev.record_type, ev.record_id)
        values = event_values(session, ev, record)
        for wf in matching_workflows(session, ev.event_code, ev.record_type, values, ev.payload.get("old_values")):
            inst = create_instance(session, wf, ev.record_type, ev.record_id, ev.event_code, ev.payload.get("inputs"), ev.user_id, status=RUN_FAILED)
            inst.error = error
            inst.ended_at = inst.archived_at = utcnow()
            _notify_failure(session, inst, ev)
        return
    inst.status = RUN_FAILED
    inst.error = error
    inst.ended_at = inst.archived_at = utcnow()
    _notify_failure(session, inst, ev)


def _notify_failure(session: Session, inst: WorkflowInstance, ev: OutboxEvent) -> None:
    for handler in RUN_FAILED_HANDLERS:  # e.g. notifications: tell the user who raised it
        handler(session, inst, ev)
    _watch_failure(session, inst)


def _watch_failure(session: Session, inst: WorkflowInstance) -> None:
    for watcher in RUN_FAILED_WATCHERS:  # e.g. flows: flag a flow that keeps failing
        watcher(session, inst)


def pending_count(session: Session, record_type: str | None = None, record_id: int | None = None) -> int:
    """Outbox events not yet handled (pending or being processed): all of them, or
    (with ``record_type``) the record's (:func:`events_in_flight`)."""
    if record_type:
        return len(events_in_flight(session, record_type, record_id))
    return session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.status.in_([OUTBOX_PENDING, OUTBOX_PROCESSING]))) or 0


def events_in_flight(session: Session, record_type: str, record_id: int | None) -> list[str]:
    """The event codes of the record's outbox events not yet handled (pending or being
    processed), one per event. Read once per request while nothing changes
    (:func:`portal.util.read_memo`): a record page asks it for its "being processed"
    state and for each action an event under way blocks."""
    return read_memo(session, ("events_in_flight", record_type, record_id), lambda: list(session.scalars(
        select(OutboxEvent.event_code).where(OutboxEvent.record_type == record_type, OutboxEvent.record_id == record_id,
                                             OutboxEvent.status.in_([OUTBOX_PENDING, OUTBOX_PROCESSING])))))


# The dispatcher lives in :mod:`portal.workflow.dispatch`; its entry points are also
# reachable from here (older callers and tests).
_DISPATCH_NAMES = ("claim", "dispatch_pending", "process_event", "requeue_stale")


def __getattr__(name: str):
    """``engine.dispatch_pending`` etc. (PEP 562): loaded on first use, so the
    dispatcher, which imports the engine, can be imported first."""
    if name in _DISPATCH_NAMES:
        from portal.workflow import dispatch

        return getattr(dispatch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
