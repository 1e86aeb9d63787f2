"""Workflow tables: workflows and their steps, running instances and their step
instances, the response execution log, and the outbox of domain events.

One engine serves approval workflows and flows (automated, scheduled, instant). The
step shape follows Business Central's Workflow Step table: an ``entry_point`` event,
``previous_step_id`` links forming a tree, an optional ``next_step_id`` (a jump back),
``type`` event/response, a ``function_name`` from the event or response catalog, and
``options`` (response options) / ``conditions`` (event conditions) kept as JSON data.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.util import utcnow
from portal.versioning import Versioned

STEP_EVENT = "event"
STEP_RESPONSE = "response"

TRIGGER_AUTOMATED = "automated"
TRIGGER_SCHEDULED = "scheduled"
TRIGGER_INSTANT = "instant"

# Step instance statuses (Business Central: Inactive, Active, Processing, Completed, Ignored)
INACTIVE = "Inactive"
ACTIVE = "Active"
PROCESSING = "Processing"
COMPLETED = "Completed"
IGNORED = "Ignored"

# Workflow instance statuses
RUN_QUEUED = "Queued"
RUN_RUNNING = "Running"
RUN_COMPLETED = "Completed"
RUN_FAILED = "Failed"
RUN_CANCELED = "Canceled"


class Workflow(Versioned, db.Model):
    """A workflow or flow definition. ``trigger_kind``: automated, scheduled or instant.
    ``input_fields`` (instant flows): list of ``{"name", "caption", "type", "required",
    "default", "help", "choices", "record_type"}`` (see :mod:`portal.workflow.inputs`).
    ``owner_id``: the user who created, copied or imported it (None for shipped ones);
    ``failure_notice_run_id``: see :mod:`portal.flows.manage` (failing flows)."""

    __tablename__ = "workflow"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(40))
    record_type: Mapped[str | None] = mapped_column(String(40), index=True)
    trigger_kind: Mapped[str] = mapped_column(String(20), default=TRIGGER_AUTOMATED)
    enabled: Mapped[bool] = mapped_column(default=False)
    template: Mapped[bool] = mapped_column(default=False)
    input_fields: Mapped[list] = mapped_column(JSON, default=list)
    schedule: Mapped[dict | None] = mapped_column(JSON)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # who created / copied / imported it
    failure_notice_run_id: Mapped[int | None]  # first failed run of the failing streak the owner was told about
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    steps: Mapped[list["WorkflowStep"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", order_by="WorkflowStep.step_id"
    )


class WorkflowStep(db.Model):
    """One event or response of a workflow. ``step_id`` is unique within the workflow;
    ``previous_step_id`` / ``next_step_id`` refer to other ``step_id`` values."""

    __tablename__ = "workflow_step"
    __table_args__ = (UniqueConstraint("workflow_id", "step_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int]
    description: Mapped[str | None] = mapped_column(String(200))
    entry_point: Mapped[bool] = mapped_column(default=False)
    previous_step_id: Mapped[int | None]
    next_step_id: Mapped[int | None]
    sequence_no: Mapped[int] = mapped_column(default=0)
    type: Mapped[str] = mapped_column(String(10))
    function_name: Mapped[str] = mapped_column(String(80))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    workflow: Mapped[Workflow] = relationship(back_populates="steps")


class WorkflowInstance(db.Model):
    """A run of a workflow for one record (or none, for a scheduled flow without a filter)."""

    __tablename__ = "workflow_instance"
    __table_args__ = (Index("ix_workflow_instance_record", "record_type", "record_id", "status"),
                      Index("ix_workflow_instance_started_by", "started_by_id", "status", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"), index=True)
    workflow_code: Mapped[str] = mapped_column(String(20))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    record_title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=RUN_RUNNING, index=True)
    trigger: Mapped[str | None] = mapped_column(String(80))
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None] = mapped_column(index=True)
    workflow: Mapped[Workflow] = relationship(lazy="joined")
    step_instances: Mapped[list["WorkflowStepInstance"]] = relationship(
        back_populates="instance", cascade="all, delete-orphan", order_by="WorkflowStepInstance.step_id"
    )


class WorkflowStepInstance(db.Model):
    """A copy of a workflow step inside a running instance, so later edits of the
    workflow don't change runs under way. Status: Inactive, Active, Processing,
    Completed, Ignored."""

    __tablename__ = "workflow_step_instance"
    __table_args__ = (UniqueConstraint("instance_id", "step_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int]
    description: Mapped[str | None] = mapped_column(String(200))
    entry_point: Mapped[bool] = mapped_column(default=False)
    previous_step_id: Mapped[int | None]
    next_step_id: Mapped[int | None]
    sequence_no: Mapped[int] = mapped_column(default=0)
    type: Mapped[str] = mapped_column(String(10))
    function_name: Mapped[str] = mapped_column(String(80), index=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=INACTIVE, index=True)
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    last_modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    instance: Mapped[WorkflowInstance] = relationship(back_populates="step_instances")


class WorkflowStepRun(db.Model):
    """One execution of a step instance for one event: the run history row and the
    idempotency key (``key``: the event, its workflow and the step, see
    :func:`portal.workflow.engine.step_run_key`) that stops a retried job from running
    the same response twice."""

    __tablename__ = "workflow_step_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), index=True)
    step_instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_step_instance.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_event.id"))
    function_name: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    instance: Mapped["WorkflowInstance"] = relationship()
    step_instance: Mapped["WorkflowStepInstance"] = relationship()


# Outbox statuses
OUTBOX_PENDING = "pending"
OUTBOX_PROCESSING = "processing"
OUTBOX_DONE = "done"
OUTBOX_FAILED = "failed"


class OutboxEvent(db.Model):
    """A domain event written in the same transaction as the change that raised it.
    ``payload`` holds the event's data: old and new values for record changes, the
    approval entry id for approval events, inputs for instant flows."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_status_id", "status", "id"),
        # unfinished events per record (a small partial index: the dispatcher's "no earlier
        # unfinished event of this record" check stays cheap however long the history)
        Index("ix_outbox_event_unfinished_record", "record_type", "record_id", "id",
              postgresql_where=text("status IN ('pending', 'processing')"),
              sqlite_where=text("status IN ('pending', 'processing')")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_code: Mapped[str] = mapped_column(String(80))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(20), default=OUTBOX_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]  # a claim whose lease ran out is taken over
    processed_at: Mapped[datetime | None]


class WorkflowRecordChange(db.Model):
    """A field change held back by a workflow (Business Central's Workflow Record
    Change): "revert the changed field's value" stores the old and new values (as
    text) and puts the old value back; "apply the new values" writes the new value
    only if the field still holds the old one; "discard the new values" drops it."""

    __tablename__ = "workflow_record_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), index=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="Pending")  # Pending, Applied, Not Applied, Discarded
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


# Effect statuses
EFFECT_PENDING = "pending"
EFFECT_IN_PROGRESS = "in_progress"
EFFECT_DONE = "done"
EFFECT_FAILED = "failed"
EFFECT_UNFINISHED = (EFFECT_PENDING, EFFECT_IN_PROGRESS)


class Effect(db.Model):
    """An external effect of a response (send an e-mail, call a webhook), written in
    the transaction that ran the response and performed after the commit, outside
    any transaction, by a delivery worker.

    ``key`` is the idempotency key (instance, step instance, event): webhooks send it
    as ``Idempotency-Key``, e-mails carry a ``Message-ID`` made from it. A worker
    claims an effect (``in_progress`` with ``claimed_by`` and ``lease_until``, renewed
    while it works), performs it and records the outcome; a claim whose lease ran out
    is taken over. What is ``done`` is never performed again. ``payload`` holds what
    to do, rendered when the response ran (to/subject/body, or url/method/headers/
    body/timeout)."""

    __tablename__ = "workflow_effect"
    __table_args__ = (Index("ix_workflow_effect_status_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), index=True)
    step_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_step_instance.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=EFFECT_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    instance: Mapped["WorkflowInstance | None"] = relationship()
    step_instance: Mapped["WorkflowStepInstance | None"] = relationship()


#: Roles that may run flows / create instant flows / create automated and scheduled
#: flows when an admin has not said otherwise (admins always may).
DEFAULT_FLOW_ROLES = {
    "run": ["business_user", "flow_maker"],
    "instant": ["flow_maker"],
    "automated": ["flow_maker"],
}


class FlowSetup(db.Model):
    """The admin's settings for flows (one row, created on first use):
    ``automate_enabled`` turns the Automate menu on or off for everyone; the role
    lists say who may run flows (``run_roles``), create instant flows
    (``instant_roles``) and create automated and scheduled flows
    (``automated_roles``). Admins may do everything while Automate is on."""

    __tablename__ = "flow_setup"
    id: Mapped[int] = mapped_column(primary_key=True)
    automate_enabled: Mapped[bool] = mapped_column(default=True)
    run_roles: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_FLOW_ROLES["run"]))
    instant_roles: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_FLOW_ROLES["instant"]))
    automated_roles: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_FLOW_ROLES["automated"]))
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    modified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class WorkflowHttpTrigger(db.Model):
    """The address and signing secret of a flow started by "An HTTP request is
    received": requests to ``/hooks/<token>`` signed with ``secret`` (encrypted, see
    :mod:`portal.workflow.vault`; shown once when made) start a run. The counters say
    how many requests were accepted and refused (bad or missing signature, replay,
    bad body), with the last refusal's time and reason in words."""

    __tablename__ = "workflow_http_trigger"
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(Text)
    secret_set_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_count: Mapped[int] = mapped_column(default=0)
    last_accepted_at: Mapped[datetime | None]
    rejected_count: Mapped[int] = mapped_column(default=0)
    last_rejected_at: Mapped[datetime | None]
    last_rejected_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    workflow: Mapped[Workflow] = relationship()
