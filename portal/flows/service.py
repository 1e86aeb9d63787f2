"""Instant flows: the flows an Automate menu offers and starting runs of them.

A run is a workflow instance (status Queued) plus a ``run_from_automate`` outbox event
naming it; the dispatcher job on RQ runs it and the Run flow pane polls its status."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.models import AuditEntry, User
from portal.records.registry import RECORD_TYPES
from portal.workflow.engine import create_instance, load_record, raise_event
from portal.workflow.models import RUN_QUEUED, TRIGGER_INSTANT, Workflow, WorkflowInstance

RUN_ROLES = ("business_user", "flow_maker")


class FlowError(Exception):
    """A flow can't be started (message for the user)."""


class InputErrors(FlowError):
    """Input fields with errors: ``errors`` maps field name → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def may_run_flows(user: User) -> bool:
    return user.has_role(*RUN_ROLES)


def instant_flows(session: Session, record_type: str, user: User) -> list[Workflow]:
    """Enabled instant flows for ``record_type`` that ``user`` may run."""
    if not may_run_flows(user):
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


def get_instant_flow(session: Session, code: str, user: User) -> Workflow:
    """The enabled instant flow ``code``. Raises :class:`FlowError`."""
    wf = session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None or wf.trigger_kind != TRIGGER_INSTANT:
        raise FlowError(f"There is no instant flow {code!r}.")
    if not wf.enabled:
        raise FlowError(f"The flow “{wf.description}” is disabled.")
    if not may_run_flows(user):
        raise FlowError("You are not permitted to run flows.")
    return wf


def validate_inputs(wf: Workflow, form: dict) -> dict[str, str]:
    """The flow's input values from ``form`` (text, stripped). Raises
    :class:`InputErrors` for missing required inputs or text over 2,000 characters."""
    values, errors = {}, {}
    for f in wf.input_fields or []:
        value = (form.get(f["name"]) or "").strip()
        if f.get("required") and not value:
            errors[f["name"]] = f"{f['label']} is required."
        elif len(value) > 2000:
            errors[f["name"]] = f"{f['label']} is too long (at most 2,000 characters)."
        values[f["name"]] = value
    if errors:
        raise InputErrors(errors)
    return values


def start_runs(session: Session, wf: Workflow, record_ids: list[int], inputs: dict, user: User) -> list[WorkflowInstance]:
    """Queue one run of ``wf`` per record; returns the queued instances. The caller
    commits (which enqueues the dispatcher). Raises :class:`FlowError` when no record
    is selected or a record doesn't exist."""
    if not record_ids:
        raise FlowError("Select at least one record to run the flow on.")
    runs = []
    for record_id in record_ids:
        if load_record(session, wf.record_type, record_id) is None:
            raise FlowError(f"{RECORD_TYPES[wf.record_type].label} {record_id} does not exist.")
        inst = create_instance(session, wf, wf.record_type, record_id, "run_from_automate", inputs, user.id, status=RUN_QUEUED)
        raise_event(session, "run_from_automate", wf.record_type, record_id, {"instance_id": inst.id, "inputs": inputs}, user.id)
        session.add(AuditEntry(user_id=user.id, action="run_flow", record_type=wf.record_type, record_id=record_id, detail=wf.code))
        runs.append(inst)
    return runs


def runs(session: Session, ids: list[int]) -> list[WorkflowInstance]:
    return [r for r in (session.get(WorkflowInstance, i) for i in ids) if r is not None]
