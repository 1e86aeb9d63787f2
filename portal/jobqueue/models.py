"""Job queue tables: job queue entries (what to run and when), job queue categories
(entries in one category run one at a time), job queue log entries (one per run) and
the scheduler lease (which ``flask scheduler`` process is the active one).

All date/times are stored in UTC without a zone (the project's convention, see
:func:`portal.util.utcnow`); an entry's ``time_zone`` only says how its recurrence's
times of day and weekdays are read. Durations are in seconds.
"""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.extensions import db
from portal.versioning import Versioned
from portal.util import utcnow

# Entry statuses (Business Central's Job Queue Entry statuses)
READY = "Ready"
IN_PROCESS = "In Process"
ERROR = "Error"
ON_HOLD = "On Hold"
FINISHED = "Finished"
ENTRY_STATUSES = (READY, IN_PROCESS, ERROR, ON_HOLD, FINISHED)

# Log entry statuses: Queued (on RQ, not started), In Process, Success, Error, and
# Skipped (a missed run dropped by the "skip" catch-up policy).
LOG_QUEUED = "Queued"
LOG_IN_PROCESS = "In Process"
LOG_SUCCESS = "Success"
LOG_ERROR = "Error"
LOG_SKIPPED = "Skipped"
LOG_STATUSES = (LOG_QUEUED, LOG_IN_PROCESS, LOG_SUCCESS, LOG_ERROR, LOG_SKIPPED)

TARGET_SYSTEM_JOB = "system_job"
TARGET_WORKFLOW = "workflow"

KIND_MINUTES = "minutes"
KIND_CRON = "cron"
KIND_FORMULA = "formula"
RECURRENCE_KINDS = (KIND_MINUTES, KIND_CRON, KIND_FORMULA)

CATCH_UP_RUN_ONCE = "run_once"
CATCH_UP_SKIP = "skip"

PRIORITIES = {1: "High", 2: "Normal", 3: "Low"}


class JobQueueCategory(db.Model):
    """A job queue category: entries that share one run one at a time, in priority
    order. ``running_entry_id`` is the entry currently running (the category's lock,
    taken and released with conditional UPDATEs), or None."""

    __tablename__ = "job_queue_category"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(100))
    running_entry_id: Mapped[int | None]


class JobQueueEntry(Versioned, db.Model):
    """What to run (a registered system job, or a workflow with a schedule trigger),
    with which ``parameters``, and when.

    Recurrence: one-time (``recurring`` false: runs once at ``earliest_start_at`` or
    as soon as possible) or recurring by ``recurrence_kind``:

    - ``minutes``: every ``minutes_between_runs`` minutes of elapsed time, counted
      from ``starting_time`` (midnight when empty) on each day marked in
      ``run_on_weekdays`` (seven 0/1 characters, Monday first) and not after
      ``ending_time``;
    - ``cron``: ``cron_expression`` (five fields, read in ``time_zone``);
    - ``formula``: ``next_run_date_formula`` (a date formula such as ``CM+1D`` = the
      first day of next month) applied to the previous run's date, at
      ``starting_time``.

    ``next_run_at`` is when the scheduler starts the next run; ``due_at`` is the due
    time that run is for (a retry keeps the original due time) and ``attempt`` the
    attempts already made for it. ``catch_up``: ``run_once`` (a run missed while no
    scheduler was active runs once, late) or ``skip`` (it is skipped)."""

    __tablename__ = "job_queue_entry"
    __table_args__ = (Index("ix_job_queue_entry_status_next_run", "status", "next_run_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(String(250))
    target_type: Mapped[str] = mapped_column(String(20), default=TARGET_SYSTEM_JOB)
    system_job: Mapped[str | None] = mapped_column(String(60), index=True)
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    recurring: Mapped[bool] = mapped_column(default=False)
    recurrence_kind: Mapped[str | None] = mapped_column(String(10))
    minutes_between_runs: Mapped[int | None]
    run_on_weekdays: Mapped[str] = mapped_column(String(7), default="1111111")
    starting_time: Mapped[time | None]
    ending_time: Mapped[time | None]
    cron_expression: Mapped[str | None] = mapped_column(String(120))
    next_run_date_formula: Mapped[str | None] = mapped_column(String(60))
    time_zone: Mapped[str] = mapped_column(String(60), default="UTC")
    earliest_start_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    max_attempts: Mapped[int] = mapped_column(default=3)
    rerun_delay_seconds: Mapped[int] = mapped_column(default=60)
    timeout_seconds: Mapped[int] = mapped_column(default=3600)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("job_queue_category.code"), index=True)
    priority: Mapped[int] = mapped_column(default=2)
    catch_up: Mapped[str] = mapped_column(String(10), default=CATCH_UP_RUN_ONCE)
    status: Mapped[str] = mapped_column(String(20), default=ON_HOLD)
    next_run_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_started_at: Mapped[datetime | None]
    last_ended_at: Mapped[datetime | None]
    run_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    category: Mapped[JobQueueCategory | None] = relationship(lazy="joined")


class JobQueueLogEntry(db.Model):
    """One run of a job queue entry (or one skipped missed run): its due time, attempt
    number, when it was enqueued, started and ended, its status, error message and
    traceback, the RQ job id, the worker, and who or what started it. The unique
    (entry, due time, attempt) key makes a second run of the same due time impossible."""

    __tablename__ = "job_queue_log_entry"
    __table_args__ = (
        UniqueConstraint("entry_id", "due_at", "attempt"),
        Index("ix_job_queue_log_entry_status", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("job_queue_entry.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(250))
    due_at: Mapped[datetime]
    attempt: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default=LOG_QUEUED)
    started_by: Mapped[str] = mapped_column(String(120), default="Scheduler")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    rq_job_id: Mapped[str | None] = mapped_column(String(80))
    worker: Mapped[str | None] = mapped_column(String(120))
    result: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    entry: Mapped[JobQueueEntry] = relationship()

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end (None while not ended)."""
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


class SchedulerLease(db.Model):
    """The single-active-scheduler lock: one row per lease ``name``. ``holder`` (host,
    process id and a random suffix) owns it until ``expires_at``; it renews it every
    pass with a conditional UPDATE; a standby takes it over once it has expired."""

    __tablename__ = "scheduler_lease"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    acquired_at: Mapped[datetime | None]
    renewed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


__all__ = ["JobQueueCategory", "JobQueueEntry", "JobQueueLogEntry", "SchedulerLease"]
