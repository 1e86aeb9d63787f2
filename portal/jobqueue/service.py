"""Job queue logic as plain functions over a session: saving entries (with
validation), the actions of the job queue pages, the scheduler's steps (lease,
catch-up, claiming due entries, enqueueing runs, reconciling runs whose worker died)
and the worker's side of a run (start, run the target, record the outcome with
retries, Error state and the owner's notification).

Times are naive UTC datetimes; durations are seconds.

How a run goes:

1. The active scheduler *claims* a due Ready entry with a conditional UPDATE (status
   Ready → In Process, only if it is still Ready and due; for an entry with a
   category, only if the category's lock row is free), adds a *log entry* (Queued)
   whose (entry, due time, attempt) is unique, commits, and enqueues
   ``jobs.jobqueue.run_entry`` on RQ with the entry's timeout.
2. The worker marks the log entry In Process (only if still Queued) and keeps a
   *lease* on it (``lease_expires_at``, renewed by a thread), runs the target, then
   records the outcome (only if the log entry is still open) in the same
   transaction as a scheduled flow's workflow instances.
3. Success: a one-time entry becomes Finished; a recurring one Ready with its next
   due time. Failure: Ready again after the rerun delay while attempts remain, else
   Error, with a notification to the owner.
4. The scheduler *reconciles* open log entries: Queued ones whose RQ job vanished
   (Redis restarted) are enqueued again; In Process ones whose lease expired (worker
   died), whose RQ job failed, or that overran their timeout are recorded as failed
   and retried per the entry's policy.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.auth.models import User, UserRole
from portal.jobqueue import recurrence as rec_mod
from portal.jobqueue.models import (
    CATCH_UP_RUN_ONCE,
    CATCH_UP_SKIP,
    ERROR,
    FINISHED,
    IN_PROCESS,
    LOG_ERROR,
    LOG_IN_PROCESS,
    LOG_QUEUED,
    LOG_SKIPPED,
    LOG_SUCCESS,
    ON_HOLD,
    PRIORITIES,
    READY,
    RECURRENCE_KINDS,
    TARGET_SYSTEM_JOB,
    TARGET_WORKFLOW,
    JobQueueCategory,
    JobQueueEntry,
    JobQueueLogEntry,
    SchedulerLease,
)
from portal.jobqueue.recurrence import Recurrence, first_due, next_due, to_local, to_utc
from portal.jobqueue.system_jobs import SYSTEM_JOBS
from portal.util import column_errors, utcnow

log = logging.getLogger(__name__)

RUNNER = "jobs.jobqueue.run_entry"
LEASE_NAME = "scheduler"
NOTIFICATION_TYPE = "Job Queue"
SCHEDULE_EVENT = "schedule_fired"

#: Defaults of the tunables (seconds); each can be set in the app config or the
#: environment under the same name.
DEFAULTS = {
    "SCHEDULER_LEASE_SECONDS": 5.0,  # an active scheduler that stops renewing is replaced after this
    "JOB_QUEUE_RUN_LEASE_SECONDS": 20.0,  # a running job that stops renewing its lease this long is failed
    "JOB_QUEUE_TIMEOUT_GRACE_SECONDS": 30.0,  # beyond the entry's timeout before an In Process run is failed
    "JOB_QUEUE_CATCH_UP_GRACE_SECONDS": 10.0,  # due this recently before a scheduler took over: not "missed"
    "JOB_QUEUE_REQUEUE_AFTER_SECONDS": 30.0,  # a Queued run whose RQ job is gone this long is enqueued again
}


def setting(name: str) -> float:
    """A tunable (seconds): the app config, else the environment, else :data:`DEFAULTS`."""
    try:
        value = current_app.config.get(name)
    except RuntimeError:
        value = None
    if value is None:
        value = os.environ.get(name)
    return float(value) if value not in (None, "") else DEFAULTS[name]


class JobQueueError(Exception):
    """An action can't be done (message for the user)."""


class EntryErrors(JobQueueError):
    """A job queue entry can't be saved: ``errors`` maps form field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class JobError(Exception):
    """A run's target can't be carried out (a clear message, recorded as the error)."""


# ---------------------------------------------------------------- describing entries

def recurrence_of(entry: JobQueueEntry) -> Recurrence:
    return Recurrence.of(entry)


def describe_recurrence(entry: JobQueueEntry) -> str:
    """The entry's recurrence in words ("At 09:00, Monday through Friday"), with its
    time zone when that isn't UTC."""
    text = rec_mod.describe(recurrence_of(entry))
    if entry.recurring and entry.time_zone and entry.time_zone != "UTC":
        text += f" ({entry.time_zone})"
    return text


def describe_target(entry: JobQueueEntry, workflow_names: dict[int, str] | None = None) -> str:
    """What the entry runs, in words."""
    if entry.target_type == TARGET_WORKFLOW:
        name = (workflow_names or {}).get(entry.workflow_id) if workflow_names else None
        if name is None and entry.workflow_id is not None:
            from portal.extensions import db
            from portal.workflow.models import Workflow

            wf = db.session.get(Workflow, entry.workflow_id)
            name = f"{wf.code} — {wf.description}" if wf else f"workflow {entry.workflow_id} (deleted)"
        return f"Workflow {name}"
    job = SYSTEM_JOBS.get(entry.system_job or "")
    return f"System job: {job.description}" if job else f"System job {entry.system_job} (not registered)"


def local_time(value: datetime | None, zone: str | None) -> str:
    """A naive UTC instant shown in ``zone`` ("2024-05-13 09:00 CEST"); "" for None."""
    if value is None:
        return ""
    try:
        loc = to_local(value, rec_mod.ZoneInfo(zone or "UTC"))
    except Exception:  # noqa: BLE001 - an unknown zone shows UTC
        loc = to_local(value, rec_mod.ZoneInfo("UTC"))
    return loc.strftime("%Y-%m-%d %H:%M:%S %Z")


# ---------------------------------------------------------------- saving entries

ENTRY_FIELDS = (
    "description", "target", "parameters", "earliest_start_local", "expires_local", "recurrence_kind",
    "minutes_between_runs", "run_on_weekdays", "starting_time", "ending_time", "cron_expression",
    "next_run_date_formula", "time_zone", "max_attempts", "rerun_delay_seconds", "timeout_seconds",
    "category_code", "priority", "catch_up", "owner_id",
)


@dataclass
class EntryData:
    """The editable fields of a job queue entry as the form gives them. ``target``:
    ``system_job:<code>`` or ``workflow:<id>``; ``recurrence_kind``: None (one-time),
    ``minutes``, ``cron`` or ``formula``; ``earliest_start_local`` / ``expires_local``:
    naive date/times in ``time_zone``; ``run_on_weekdays``: seven 0/1 characters,
    Monday first; seconds for the delays and the timeout."""

    description: str = ""
    target: str = ""
    parameters: dict = field(default_factory=dict)
    earliest_start_local: datetime | None = None
    expires_local: datetime | None = None
    recurrence_kind: str | None = None
    minutes_between_runs: int | None = None
    run_on_weekdays: str = rec_mod.ALL_DAYS
    starting_time: time | None = None
    ending_time: time | None = None
    cron_expression: str | None = None
    next_run_date_formula: str | None = None
    time_zone: str = "UTC"
    max_attempts: int = 3
    rerun_delay_seconds: int = 60
    timeout_seconds: int = 3600
    category_code: str | None = None
    priority: int = 2
    catch_up: str = CATCH_UP_RUN_ONCE
    owner_id: int | None = None

    @classmethod
    def of(cls, entry: JobQueueEntry) -> "EntryData":
        """The form values of an existing entry (date/times in its time zone)."""
        tz = rec_mod.ZoneInfo(entry.time_zone or "UTC")
        target = f"workflow:{entry.workflow_id}" if entry.target_type == TARGET_WORKFLOW else f"system_job:{entry.system_job}"
        return cls(
            description=entry.description, target=target, parameters=dict(entry.parameters or {}),
            earliest_start_local=to_local(entry.earliest_start_at, tz).replace(tzinfo=None) if entry.earliest_start_at else None,
            expires_local=to_local(entry.expires_at, tz).replace(tzinfo=None) if entry.expires_at else None,
            recurrence_kind=entry.recurrence_kind if entry.recurring else None,
            minutes_between_runs=entry.minutes_between_runs, run_on_weekdays=entry.run_on_weekdays or rec_mod.ALL_DAYS,
            starting_time=entry.starting_time, ending_time=entry.ending_time, cron_expression=entry.cron_expression,
            next_run_date_formula=entry.next_run_date_formula, time_zone=entry.time_zone or "UTC",
            max_attempts=entry.max_attempts, rerun_delay_seconds=entry.rerun_delay_seconds,
            timeout_seconds=entry.timeout_seconds, category_code=entry.category_code, priority=entry.priority,
            catch_up=entry.catch_up, owner_id=entry.owner_id,
        )


def target_choices(session: Session) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for "What to run": registered system jobs, then workflows with a
    schedule trigger (``(group label, [(value, label)])``)."""
    from portal.workflow.models import TRIGGER_SCHEDULED, Workflow

    jobs = [(f"system_job:{code}", job.description) for code, job in SYSTEM_JOBS.items() if job.register]
    flows = [
        (f"workflow:{wf.id}", f"{wf.code} — {wf.description}{'' if wf.enabled else ' (disabled)'}")
        for wf in session.scalars(
            select(Workflow).where(Workflow.trigger_kind == TRIGGER_SCHEDULED, Workflow.template.is_(False)).order_by(Workflow.code)
        ).unique()
    ]
    return [("System jobs", jobs), ("Scheduled flows", flows)]


def _check_target(session: Session, target: str) -> tuple[str, str | None, int | None, str | None]:
    """(target_type, system_job, workflow_id, error)."""
    from portal.workflow.engine import entry_step
    from portal.workflow.models import Workflow

    kind, _, value = (target or "").partition(":")
    if kind == TARGET_SYSTEM_JOB:
        if value not in SYSTEM_JOBS:
            return kind, value, None, "Choose a registered system job."
        return kind, value, None, None
    if kind == TARGET_WORKFLOW and value.isdigit():
        wf = session.get(Workflow, int(value))
        if wf is None:
            return kind, None, None, "That workflow does not exist."
        step = entry_step(wf)
        if step is None or step.function_name != SCHEDULE_EVENT:
            return kind, None, wf.id, f"Workflow {wf.code} doesn't start with the event “A schedule fires”, so a schedule can't run it."
        return kind, None, wf.id, None
    return TARGET_SYSTEM_JOB, None, None, "Choose what to run: a system job or a scheduled flow."


def validate_entry(session: Session, data: EntryData, now: datetime | None = None) -> dict[str, str]:
    """Problems with ``data`` as ``{field: message}``: the target, the numbers, the
    category code and the recurrence (see :func:`portal.jobqueue.recurrence.validate`)."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    if not (data.description or "").strip():
        errors["description"] = "Enter a description."
    elif len(data.description) > 250:
        errors["description"] = "The description can be at most 250 characters."
    *_, target_error = _check_target(session, data.target)
    if target_error:
        errors["target"] = target_error
    if not isinstance(data.parameters, dict):
        errors["parameters"] = "Parameters must be a JSON object, e.g. {\"older_than_days\": 30}."
    if data.recurrence_kind not in (None, *RECURRENCE_KINDS):
        errors["recurrence_kind"] = "Choose how the entry recurs."
    if not (1 <= (data.max_attempts or 0) <= 100):
        errors["max_attempts"] = "Maximum attempts must be between 1 and 100."
    if not (0 <= (data.rerun_delay_seconds if data.rerun_delay_seconds is not None else -1) <= 7 * 86400):
        errors["rerun_delay_seconds"] = "The rerun delay must be between 0 and 604,800 seconds (one week)."
    if not (1 <= (data.timeout_seconds or 0) <= 7 * 86400):
        errors["timeout_seconds"] = "The job timeout must be between 1 and 604,800 seconds (one week)."
    if data.category_code and (len(data.category_code) > 20 or not data.category_code.replace("-", "").replace("_", "").isalnum()):
        errors["category_code"] = "A category code has at most 20 letters, digits, - or _."
    if data.priority not in PRIORITIES:
        errors["priority"] = "Choose a priority."
    if data.catch_up not in (CATCH_UP_RUN_ONCE, CATCH_UP_SKIP):
        errors["catch_up"] = "Choose what happens to runs missed while no scheduler was running."
    tz_problem = rec_mod.time_zone_error(data.time_zone or "")
    if tz_problem:
        errors["time_zone"] = tz_problem
        return errors
    # what fits the columns: lengths, NUL bytes, whole numbers within range
    typed = {name: getattr(data, name) for name in ("description", "cron_expression", "next_run_date_formula", "time_zone",
                                                    "category_code", "minutes_between_runs")}
    for name, message in column_errors(JobQueueEntry, typed).items():
        errors.setdefault(name, message)
    if errors:
        return errors
    rec = _recurrence_from(data)
    for name, message in rec_mod.validate(rec, now).items():
        errors.setdefault({"expires_at": "expires_local"}.get(name, name), message)
    return errors


def _recurrence_from(data: EntryData) -> Recurrence:
    tz = rec_mod.ZoneInfo(data.time_zone)
    formula = data.next_run_date_formula
    if data.recurrence_kind == rec_mod.KIND_FORMULA and formula:
        try:
            formula = rec_mod.normalize_formula(formula)
        except rec_mod.RecurrenceError:
            pass  # reported by validate()
    return Recurrence(
        kind=data.recurrence_kind,
        minutes=data.minutes_between_runs,
        weekdays=data.run_on_weekdays or rec_mod.ALL_DAYS,
        starting_time=data.starting_time,
        ending_time=data.ending_time,
        cron=(data.cron_expression or "").strip() or None,
        formula=formula,
        time_zone=data.time_zone,
        earliest_start=to_utc(data.earliest_start_local, tz) if data.earliest_start_local else None,
        expires=to_utc(data.expires_local, tz) if data.expires_local else None,
    )


def ensure_category(session: Session, code: str | None) -> None:
    """Create category ``code`` when it doesn't exist yet (codes are kept upper-case)."""
    if code and session.get(JobQueueCategory, code) is None:
        session.add(JobQueueCategory(code=code))
        session.flush()


def save_entry(session: Session, entry: JobQueueEntry | None, data: EntryData, user: User | None, now: datetime | None = None) -> JobQueueEntry:
    """Create (``entry`` None) or update a job queue entry from ``data``. Raises
    :class:`EntryErrors`. A new entry is Ready with its first due time; editing a
    Ready entry reschedules it; an In Process one keeps running and uses the new
    settings from its next run; other statuses keep theirs. The caller commits."""
    now = now or utcnow()
    data.category_code = (data.category_code or "").strip().upper() or None
    data.description = (data.description or "").strip()
    errors = validate_entry(session, data, now)
    if errors:
        raise EntryErrors(errors)
    target_type, system_job, workflow_id, _ = _check_target(session, data.target)
    rec = _recurrence_from(data)
    ensure_category(session, data.category_code)
    is_new = entry is None
    if is_new:
        entry = JobQueueEntry(status=READY, owner_id=data.owner_id or (user.id if user else None))
        session.add(entry)
    entry.description = data.description
    entry.target_type, entry.system_job, entry.workflow_id = target_type, system_job, workflow_id
    entry.parameters = dict(data.parameters or {})
    entry.recurring = rec.kind is not None
    entry.recurrence_kind = rec.kind
    entry.minutes_between_runs = data.minutes_between_runs if rec.kind == rec_mod.KIND_MINUTES else None
    entry.run_on_weekdays = rec.weekdays
    entry.starting_time, entry.ending_time = data.starting_time, data.ending_time
    entry.cron_expression = rec.cron if rec.kind == rec_mod.KIND_CRON else None
    entry.next_run_date_formula = rec.formula if rec.kind == rec_mod.KIND_FORMULA else None
    entry.time_zone = data.time_zone
    entry.earliest_start_at, entry.expires_at = rec.earliest_start, rec.expires
    entry.max_attempts, entry.rerun_delay_seconds, entry.timeout_seconds = data.max_attempts, data.rerun_delay_seconds, data.timeout_seconds
    entry.category_code, entry.priority, entry.catch_up = data.category_code, data.priority, data.catch_up
    if data.owner_id:
        entry.owner_id = data.owner_id
    if is_new:
        due = first_due(rec, now)
        entry.next_run_at = entry.due_at = due
        entry.attempt = 0
        if due is None:
            entry.status = FINISHED
        session.flush()
    else:
        session.flush()
        if entry.status == READY:
            due = first_due(rec, now)
            session.execute(
                update(JobQueueEntry)
                .where(JobQueueEntry.id == entry.id, JobQueueEntry.status == READY)
                .values(next_run_at=due, due_at=due, attempt=0, status=READY if due else FINISHED)
            )
            session.expire(entry)
    return entry


# ---------------------------------------------------------------- actions

def _transition(session: Session, entry: JobQueueEntry, allowed: tuple[str, ...], refused: str, **values) -> None:
    """Conditional status change: only from the status the entry has now (and one of
    ``allowed``), so a scheduler claiming it at the same moment wins cleanly."""
    session.refresh(entry)
    if entry.status not in allowed:
        raise JobQueueError(refused.format(status=entry.status))
    res = session.execute(
        update(JobQueueEntry).where(JobQueueEntry.id == entry.id, JobQueueEntry.status == entry.status).values(**values)
    )
    if res.rowcount != 1:
        session.rollback()
        raise JobQueueError("The entry changed at the same moment (a run may have started); look again and retry.")
    session.expire(entry)


def set_ready(session: Session, entry: JobQueueEntry, user: User | None = None, now: datetime | None = None) -> str:
    """Set Status to Ready: attempts cleared; the next run stays when it is still in
    the future, else it is the first due time from now. Returns a message."""
    now = now or utcnow()
    session.refresh(entry)
    due = entry.next_run_at if (entry.next_run_at and entry.next_run_at > now and entry.status == ON_HOLD) else first_due(recurrence_of(entry), now)
    if due is None:
        raise JobQueueError("The entry has expired: it has no run left. Change its expiration date/time first.")
    _transition(session, entry, (ON_HOLD, ERROR, FINISHED), "The entry is {status}; only On Hold, Error and Finished entries can be set to Ready.",
                status=READY, next_run_at=due, due_at=due, attempt=0, last_error=None)
    return f"Ready; next run {local_time(due, entry.time_zone)}."


def set_on_hold(session: Session, entry: JobQueueEntry, user: User | None = None) -> str:
    """Set On Hold: the scheduler leaves the entry alone until it is set to Ready."""
    _transition(session, entry, (READY, ERROR, FINISHED), "The entry is {status}; wait for the run to end before putting it on hold.", status=ON_HOLD)
    return "On hold."


def restart(session: Session, entry: JobQueueEntry, user: User | None = None, now: datetime | None = None) -> str:
    """Restart: compute the first due time from now (as after editing the
    recurrence), clear the attempts and the error, and set Ready."""
    now = now or utcnow()
    session.refresh(entry)
    due = first_due(recurrence_of(entry), now)
    if due is None:
        raise JobQueueError("The entry has expired: it has no run left. Change its expiration date/time first.")
    _transition(session, entry, (READY, ON_HOLD, ERROR, FINISHED), "The entry is {status}; wait for the run to end before restarting it.",
                status=READY, next_run_at=due, due_at=due, attempt=0, last_error=None)
    return f"Restarted; next run {local_time(due, entry.time_zone)}."


def run_now(session: Session, entry: JobQueueEntry, user: User | None = None, now: datetime | None = None) -> str:
    """Run now: the entry is due at once (the scheduler starts it within about a
    second, after the running entry of its category if any); afterwards a recurring
    entry continues with its regular next due time, a one-time one is Finished."""
    now = now or utcnow()
    _transition(session, entry, (READY, ON_HOLD, ERROR, FINISHED), "The entry is {status}; it is running already.",
                status=READY, next_run_at=now, due_at=now, attempt=0, run_requested_by_id=user.id if user else None)
    return "Queued to run now."


def delete_entry(session: Session, entry: JobQueueEntry) -> None:
    """Delete an entry and its log entries, unless it is running: one conditional
    DELETE (the log entries go with it: ON DELETE CASCADE), so a scheduler claiming
    it at the same moment wins cleanly."""
    entry_id = entry.id
    res = session.execute(delete(_ENTRY).where(_ENTRY.c.id == entry_id, _ENTRY.c.status != IN_PROCESS))
    if res.rowcount != 1:
        session.rollback()
        raise JobQueueError("The entry is running; wait for the run to end before deleting it.")
    session.execute(_CATEGORY.update().where(_CATEGORY.c.running_entry_id == entry_id).values(running_entry_id=None))
    session.expunge(entry)


def last_failure(session: Session, entry: JobQueueEntry) -> JobQueueLogEntry | None:
    """The entry's most recent failed log entry (for Show Error)."""
    return session.scalar(
        select(JobQueueLogEntry).where(JobQueueLogEntry.entry_id == entry.id, JobQueueLogEntry.status == LOG_ERROR).order_by(JobQueueLogEntry.id.desc()).limit(1)
    )


def status_counts(session: Session) -> dict[str, int]:
    """Entries per status (for the list's cues)."""
    return dict(session.execute(select(JobQueueEntry.status, func.count()).group_by(JobQueueEntry.status)).all())


# ---------------------------------------------------------------- system jobs, scheduled workflows

def ensure_job_failed_template(session: Session) -> bool:
    """Create the ``job_failed`` notification template (used to tell an entry's owner
    it is in Error) when it is missing. Returns True if created. Commits."""
    from portal.notifications.defaults import DEFAULT_TEMPLATES
    from portal.notifications.models import METHOD_EMAIL, NotificationTemplate

    if session.scalar(select(NotificationTemplate.id).where(NotificationTemplate.code == "job_failed",
                                                            NotificationTemplate.method == METHOD_EMAIL)):
        session.rollback()
        return False
    template = next(t for t in DEFAULT_TEMPLATES if t["code"] == "job_failed")
    session.add(NotificationTemplate(method=METHOD_EMAIL, **template))
    session.commit()
    return True


def default_owner_id(session: Session) -> int | None:
    """The ``admin`` user, else the first user with the admin role, else None."""
    uid = session.scalar(select(User.id).where(User.user_name == "admin"))
    if uid is None:
        uid = session.scalar(select(UserRole.user_id).where(UserRole.role == "admin").order_by(UserRole.user_id).limit(1))
    return uid


def ensure_system_jobs(session: Session, now: datetime | None = None) -> list[str]:
    """Register each system job of :data:`SYSTEM_JOBS` that has no job queue entry yet
    (Ready, owned by the administrator). Returns the codes registered. Commits."""
    now = now or utcnow()
    existing = set(session.scalars(select(JobQueueEntry.system_job).where(JobQueueEntry.target_type == TARGET_SYSTEM_JOB)))
    added = []
    for code, job in SYSTEM_JOBS.items():
        if code in existing or not job.register:
            continue
        values = {"recurrence_kind": None, **job.recurrence}
        data = EntryData(description=job.description, target=f"system_job:{code}", parameters=dict(job.parameters),
                         owner_id=default_owner_id(session), max_attempts=3, rerun_delay_seconds=60, timeout_seconds=600,
                         **{k: v for k, v in values.items() if k in EntryData.__dataclass_fields__})
        save_entry(session, None, data, None, now)
        added.append(code)
    session.commit()
    return added


def sync_workflow_schedules(session: Session, now: datetime | None = None) -> list[str]:
    """Give each scheduled workflow (trigger kind ``scheduled``, not a template) that
    has a ``schedule`` and no job queue entry yet an entry built from it: Ready when
    the workflow is enabled, else On Hold. The ``schedule`` JSON holds the entry's
    recurrence fields, e.g. ``{"recurrence_kind": "cron", "cron_expression":
    "0 8 * * 1", "time_zone": "Europe/Berlin"}`` (also ``minutes_between_runs``,
    ``run_on_weekdays``, ``starting_time``/``ending_time`` as "HH:MM",
    ``next_run_date_formula``, ``parameters``, ``category_code``). Afterwards the
    entry is the schedule (edit it on the job queue pages). Returns the workflow
    codes given an entry; a schedule that isn't valid is logged and skipped. Commits."""
    from portal.workflow.models import TRIGGER_SCHEDULED, Workflow

    now = now or utcnow()
    have = set(session.scalars(select(JobQueueEntry.workflow_id).where(JobQueueEntry.workflow_id.is_not(None))))
    added = []
    for wf in session.scalars(
        select(Workflow).where(Workflow.trigger_kind == TRIGGER_SCHEDULED, Workflow.template.is_(False), Workflow.schedule.is_not(None))
    ).unique():
        if wf.id in have or not isinstance(wf.schedule, dict) or not wf.schedule:
            continue
        s = dict(wf.schedule)
        try:
            data = EntryData(
                description=f"Scheduled flow {wf.code}: {wf.description}"[:250], target=f"workflow:{wf.id}",
                parameters=dict(s.get("parameters") or {}), recurrence_kind=s.get("recurrence_kind"),
                minutes_between_runs=s.get("minutes_between_runs"), run_on_weekdays=s.get("run_on_weekdays") or rec_mod.ALL_DAYS,
                starting_time=time.fromisoformat(s["starting_time"]) if s.get("starting_time") else None,
                ending_time=time.fromisoformat(s["ending_time"]) if s.get("ending_time") else None,
                cron_expression=s.get("cron_expression"), next_run_date_formula=s.get("next_run_date_formula"),
                time_zone=s.get("time_zone") or "UTC", category_code=s.get("category_code"), owner_id=default_owner_id(session),
            )
            entry = save_entry(session, None, data, None, now)
            if not wf.enabled:
                entry.status = ON_HOLD
            session.commit()
            added.append(wf.code)
        except (EntryErrors, ValueError, TypeError) as exc:
            session.rollback()
            log.warning("workflow %s: schedule %r can't be used: %s", wf.code, wf.schedule, exc)
    return added


# ---------------------------------------------------------------- the scheduler lease

@dataclass
class LeaseState:
    """Result of :func:`hold_lease`: ``active`` if this holder is the active scheduler,
    ``took_over`` on the pass that made it active, ``gap_start`` the previous holder's
    last renewal (None when there was none): due times after it were missed."""

    active: bool
    took_over: bool = False
    gap_start: datetime | None = None


def new_holder_id() -> str:
    """A holder id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:120]


def hold_lease(session: Session, holder: str, now: datetime | None = None, ttl: float | None = None) -> LeaseState:
    """Take or renew the single-active-scheduler lease for ``ttl`` seconds with a
    conditional UPDATE (or the first INSERT): renewed if ``holder`` has it, taken
    over if it expired, else refused (stand by). Works the same on SQLite and
    PostgreSQL. Commits."""
    now = now or utcnow()
    ttl = ttl if ttl is not None else setting("SCHEDULER_LEASE_SECONDS")
    until = now + timedelta(seconds=ttl)
    row = session.execute(
        select(SchedulerLease.holder, SchedulerLease.expires_at, SchedulerLease.renewed_at).where(SchedulerLease.name == LEASE_NAME)
    ).first()
    if row is None:
        session.add(SchedulerLease(name=LEASE_NAME, holder=holder, acquired_at=now, renewed_at=now, expires_at=until))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return LeaseState(False)
        return LeaseState(True, took_over=True, gap_start=None)
    if row.holder == holder and row.expires_at and row.expires_at > now:
        res = session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder)
            .values(renewed_at=now, expires_at=until)
        )
        session.commit()
        return LeaseState(res.rowcount == 1)
    if row.expires_at is None or row.expires_at <= now:
        res = session.execute(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == LEASE_NAME,
                SchedulerLease.holder == row.holder if row.holder is not None else SchedulerLease.holder.is_(None),
                SchedulerLease.expires_at == row.expires_at if row.expires_at is not None else SchedulerLease.expires_at.is_(None),
            )
            .values(holder=holder, acquired_at=now, renewed_at=now, expires_at=until)
        )
        session.commit()
        if res.rowcount == 1:
            return LeaseState(True, took_over=True, gap_start=row.renewed_at)
        return LeaseState(False)
    session.rollback()
    return LeaseState(False)


def release_lease(session: Session, holder: str, now: datetime | None = None) -> None:
    """Give the lease up (a clean stop): a standby takes over on its next pass."""
    session.execute(
        update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder).values(expires_at=now or utcnow())
    )
    session.commit()


def lease_holder(session: Session) -> SchedulerLease | None:
    return session.get(SchedulerLease, LEASE_NAME)


# ---------------------------------------------------------------- catch-up

def catch_up(session: Session, gap_start: datetime | None, now: datetime | None = None) -> dict[str, int]:
    """Apply the catch-up policy to runs missed while no scheduler was active: Ready
    entries due after ``gap_start`` (the last renewal of the previous scheduler; None
    = ever) and more than ``JOB_QUEUE_CATCH_UP_GRACE_SECONDS`` before ``now``.
    ``run_once`` entries are left due: they run once now, and their next run is
    computed from now, so missed runs never come as a burst. ``skip`` entries
    (recurring ones; a one-time entry always runs) move to their next due time after
    now, with a Skipped log entry. Returns ``{"run_once": n, "skipped": n}``. Commits."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=setting("JOB_QUEUE_CATCH_UP_GRACE_SECONDS"))
    q = select(JobQueueEntry).where(JobQueueEntry.status == READY, JobQueueEntry.next_run_at <= cutoff)
    if gap_start is not None:
        q = q.where(JobQueueEntry.next_run_at > gap_start)
    counts = {"run_once": 0, "skipped": 0}
    for entry in session.scalars(q).unique().all():
        if entry.catch_up != CATCH_UP_SKIP or not entry.recurring or entry.attempt > 0:
            counts["run_once"] += 1
            continue
        missed = entry.due_at or entry.next_run_at
        nxt = next_due(recurrence_of(entry), missed, now)
        res = session.execute(
            update(JobQueueEntry)
            .where(JobQueueEntry.id == entry.id, JobQueueEntry.status == READY, JobQueueEntry.next_run_at == entry.next_run_at)
            .values(next_run_at=nxt, due_at=nxt, attempt=0, status=READY if nxt else FINISHED)
        )
        if res.rowcount == 1:
            session.add(JobQueueLogEntry(
                entry_id=entry.id, description=entry.description, due_at=missed, attempt=0, status=LOG_SKIPPED,
                started_by="Scheduler (catch-up policy: skip)", enqueued_at=now, ended_at=now,
                result=f"Missed: no scheduler was running at the due time; skipped. Next run {local_time(nxt, entry.time_zone) or 'none'}.",
            ))
            counts["skipped"] += 1
    session.commit()
    return counts


# ---------------------------------------------------------------- claiming due entries

@dataclass(frozen=True)
class ClaimedRun:
    """A run the scheduler claimed: enqueue ``jobs.jobqueue.run_entry(entry_id,
    log_entry_id)`` as RQ job ``rq_job_id`` with ``timeout`` seconds."""

    entry_id: int
    log_entry_id: int
    rq_job_id: str
    timeout: int
    due_at: datetime


def _rq_job_id(entry_id: int, due_at: datetime, attempt: int) -> str:
    return f"jobqueue-{entry_id}-{due_at.strftime('%Y%m%dT%H%M%S%f')}-{attempt}"


def finish_expired(session: Session, now: datetime | None = None) -> int:
    """Ready entries past their expiration date/time become Finished (not run)."""
    now = now or utcnow()
    res = session.execute(
        update(JobQueueEntry)
        .where(JobQueueEntry.status == READY, JobQueueEntry.expires_at.is_not(None), JobQueueEntry.expires_at < now)
        .values(status=FINISHED, next_run_at=None)
    )
    session.commit()
    return res.rowcount


def claim_due(session: Session, now: datetime | None = None, limit: int = 1000) -> list[ClaimedRun]:
    """Claim up to ``limit`` Ready entries due at ``now``, in priority order (then due
    time): each becomes In Process with a Queued log entry, in one transaction
    (commits). Safe with several schedulers: each claim is a conditional UPDATE
    (still Ready and due), an entry in a category first takes the category's lock row
    (free only while none of its entries runs; one entry per category at a time),
    and the log entry's (entry, due time, attempt) is unique."""
    now = now or utcnow()
    rows = session.execute(
        select(JobQueueEntry.id, JobQueueEntry.category_code)
        .where(JobQueueEntry.status == READY, JobQueueEntry.next_run_at <= now)
        .order_by(JobQueueEntry.priority, JobQueueEntry.next_run_at, JobQueueEntry.id)
        .limit(limit)
    ).all()
    if not rows:
        session.rollback()
        return []
    free_ids = [r.id for r in rows if r.category_code is None]
    first_of_category: dict[str, int] = {}
    for r in rows:
        if r.category_code is not None:
            first_of_category.setdefault(r.category_code, r.id)
    claimed_values = dict(status=IN_PROCESS, attempt=JobQueueEntry.attempt + 1, last_started_at=now,
                          due_at=func.coalesce(JobQueueEntry.due_at, JobQueueEntry.next_run_at))
    returning = (JobQueueEntry.id, JobQueueEntry.due_at, JobQueueEntry.attempt, JobQueueEntry.description,
                 JobQueueEntry.timeout_seconds, JobQueueEntry.run_requested_by_id, JobQueueEntry.max_attempts)
    won = []
    for start in range(0, len(free_ids), 500):
        chunk = free_ids[start:start + 500]
        won += session.execute(
            update(JobQueueEntry)
            .where(JobQueueEntry.id.in_(chunk), JobQueueEntry.status == READY, JobQueueEntry.next_run_at <= now)
            .values(**claimed_values)
            .returning(*returning),
            execution_options={"synchronize_session": False},
        ).all()
    for code, entry_id in first_of_category.items():
        got = session.execute(
            update(JobQueueCategory)
            .where(JobQueueCategory.code == code, JobQueueCategory.running_entry_id.is_(None))
            .values(running_entry_id=entry_id)
        )
        if got.rowcount != 1:
            continue  # an entry of this category is running: the others wait their turn
        row = session.execute(
            update(JobQueueEntry)
            .where(JobQueueEntry.id == entry_id, JobQueueEntry.status == READY, JobQueueEntry.next_run_at <= now)
            .values(**claimed_values)
            .returning(*returning),
            execution_options={"synchronize_session": False},
        ).first()
        if row is None:
            session.execute(update(JobQueueCategory).where(JobQueueCategory.code == code, JobQueueCategory.running_entry_id == entry_id).values(running_entry_id=None))
            continue
        won.append(row)
    names = {}
    requesters = {r.run_requested_by_id for r in won if r.run_requested_by_id}
    if requesters:
        names = dict(session.execute(select(User.id, User.full_name).where(User.id.in_(requesters))).all())
    runs, logs = [], []
    for r in won:
        if r.run_requested_by_id:
            by = f"Run now by {names.get(r.run_requested_by_id, 'a user')}"
        elif r.attempt > 1:
            by = f"Scheduler (retry, attempt {r.attempt} of {r.max_attempts})"
        else:
            by = "Scheduler"
        rq_id = _rq_job_id(r.id, r.due_at, r.attempt)
        logs.append(JobQueueLogEntry(entry_id=r.id, description=r.description, due_at=r.due_at, attempt=r.attempt, status=LOG_QUEUED,
                                     started_by=by, user_id=r.run_requested_by_id, enqueued_at=now, rq_job_id=rq_id))
        runs.append((r, rq_id))
    session.add_all(logs)
    session.flush()
    session.commit()
    return [ClaimedRun(r.id, lg.id, rq_id, r.timeout_seconds, r.due_at) for (r, rq_id), lg in zip(runs, logs)]


def enqueue_runs(runs: list[ClaimedRun]) -> int:
    """Put claimed runs on RQ (one pipeline per 1,000). Returns how many were
    enqueued; on a Redis error the rest stay Queued in the database and
    :func:`reconcile` enqueues them again once Redis answers."""
    from portal.queue import get_queue

    if not runs:
        return 0
    queue = get_queue()
    done = 0
    try:
        for start in range(0, len(runs), 1000):
            chunk = runs[start:start + 1000]
            queue.enqueue_many([
                queue.prepare_data(RUNNER, args=(r.entry_id, r.log_entry_id), timeout=r.timeout, job_id=r.rq_job_id,
                                   result_ttl=600, failure_ttl=7 * 86400)
                for r in chunk
            ])
            done += len(chunk)
    except Exception as exc:  # noqa: BLE001 - Redis down: reconcile retries
        log.warning("could not enqueue %d job queue run(s): %s", len(runs) - done, exc)
    return done


# ---------------------------------------------------------------- the worker's side

def _worker_name() -> str:
    try:
        from rq import get_current_job

        job = get_current_job()
        if job is not None and job.worker_name:
            return f"{job.worker_name} (pid {os.getpid()})"[:120]
    except Exception:  # noqa: BLE001
        pass
    return f"{socket.gethostname()} (pid {os.getpid()})"[:120]


class LeaseKeeper:
    """Renews the leases (``lease_expires_at``) of the runs in progress in this
    process every third of the lease, on its own connection and thread, so the
    scheduler can tell a live run from one whose worker died. One thread per process
    (started on first use, again after a fork); a run registers with :meth:`hold`
    and leaves with :meth:`release`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, float] = {}  # log entry id → lease seconds
        self._pid: int | None = None
        self._engine = None
        self._wake = threading.Event()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """In a forked child: the parent's runs and thread don't exist here."""
        self._lock = threading.Lock()
        self._runs = {}
        self._pid = None

    def hold(self, engine, log_entry_id: int, seconds: float) -> None:
        with self._lock:
            self._engine = engine
            self._runs[log_entry_id] = seconds
            if self._pid != os.getpid():  # first use in this process (or a forked work horse)
                self._pid = os.getpid()
                self._wake = threading.Event()
                threading.Thread(target=self._loop, daemon=True, name="jobqueue-lease-keeper").start()

    def release(self, log_entry_id: int) -> None:
        with self._lock:
            self._runs.pop(log_entry_id, None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                runs, engine = dict(self._runs), self._engine
            seconds = min(runs.values(), default=setting_default("JOB_QUEUE_RUN_LEASE_SECONDS"))
            self._wake.wait(seconds / 3)
            with self._lock:
                due = {i: sec for i, sec in self._runs.items() if i in runs}
            for log_entry_id, sec in due.items():
                try:
                    with engine.begin() as conn:
                        conn.execute(
                            _LOG.update()
                            .where(_LOG.c.id == log_entry_id, _LOG.c.status == LOG_IN_PROCESS)
                            .values(lease_expires_at=utcnow() + timedelta(seconds=sec))
                        )
                except Exception as exc:  # noqa: BLE001 - try again next time
                    log.warning("could not renew the lease of job queue run %s: %s", log_entry_id, exc)


LEASES = LeaseKeeper()


def setting_default(name: str) -> float:
    """A tunable from the environment or :data:`DEFAULTS` (no app context needed)."""
    value = os.environ.get(name)
    return float(value) if value else DEFAULTS[name]


_LOG = JobQueueLogEntry.__table__
_ENTRY = JobQueueEntry.__table__
_CATEGORY = JobQueueCategory.__table__
_RUN_COLUMNS = (
    _LOG.c.attempt.label("log_attempt"), _LOG.c.due_at.label("run_due_at"),
    _ENTRY.c.id, _ENTRY.c.description, _ENTRY.c.target_type, _ENTRY.c.system_job, _ENTRY.c.workflow_id, _ENTRY.c.parameters,
    _ENTRY.c.recurring, _ENTRY.c.recurrence_kind, _ENTRY.c.minutes_between_runs, _ENTRY.c.run_on_weekdays, _ENTRY.c.starting_time,
    _ENTRY.c.ending_time, _ENTRY.c.cron_expression, _ENTRY.c.next_run_date_formula, _ENTRY.c.time_zone, _ENTRY.c.earliest_start_at,
    _ENTRY.c.expires_at, _ENTRY.c.max_attempts, _ENTRY.c.rerun_delay_seconds, _ENTRY.c.category_code, _ENTRY.c.owner_id,
)


def _run_row(session: Session, log_entry_id: int):
    """The log entry's attempt and due time with its entry's settings (one query:
    the worker's hot path uses plain rows, not ORM objects)."""
    return session.execute(select(*_RUN_COLUMNS).join(_ENTRY, _ENTRY.c.id == _LOG.c.entry_id).where(_LOG.c.id == log_entry_id)).first()


def start_run(session: Session, log_entry_id: int, now: datetime | None = None) -> bool:
    """Mark the log entry In Process (only if it is still Queued) with a lease.
    Returns False when it isn't Queued any more (already run or given up). Commits."""
    now = now or utcnow()
    res = session.execute(
        _LOG.update()
        .where(_LOG.c.id == log_entry_id, _LOG.c.status == LOG_QUEUED)
        .values(status=LOG_IN_PROCESS, started_at=now, worker=_worker_name(),
                lease_expires_at=now + timedelta(seconds=setting("JOB_QUEUE_RUN_LEASE_SECONDS")))
    )
    session.commit()
    return res.rowcount == 1


def _call_system_job(entry) -> str | None:
    job = SYSTEM_JOBS.get(entry.system_job or "")
    if job is None:
        raise JobError(f"System job {entry.system_job!r} is not registered.")
    module, _, name = job.func.rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    params = dict(job.parameters)
    params.update(entry.parameters or {})
    result = fn(**params)
    return None if result is None else (json.dumps(result, default=str) if isinstance(result, (dict, list)) else str(result))


def start_scheduled_runs(session: Session, entry: JobQueueEntry, log_entry: JobQueueLogEntry) -> str:
    """A schedule fired for a workflow: queue one workflow instance per record of the
    workflow's record type that matches the entry point's event conditions (or one
    instance without a record when the workflow has no record type), each with a
    ``schedule_fired`` outbox event naming it, like instant flows do. The entry's
    parameters are the instances' inputs. Nothing is committed here (the caller
    commits with the run's outcome, so a retried run never starts them twice).
    The records are looked up with the conditions compiled to SQL
    (:func:`portal.workflow.conditions.sql_filter`, e.g. ``item.inventory <
    item.reorder_point`` for a comparison of two fields) and each one found is
    checked with the Python evaluation (:func:`portal.workflow.conditions.matches`).
    Returns the result text. Raises :class:`JobError`."""
    from portal.records.registry import RECORD_TYPES
    from portal.workflow import conditions
    from portal.workflow.engine import create_instance, entry_step, raise_event
    from portal.workflow.models import RUN_QUEUED, Workflow

    wf = session.get(Workflow, entry.workflow_id) if entry.workflow_id else None
    if wf is None:
        raise JobError("The workflow this entry runs no longer exists.")
    if not wf.enabled:
        return f"Workflow {wf.code} is disabled: no run started."
    step = entry_step(wf)
    if step is None or step.function_name != SCHEDULE_EVENT:
        raise JobError(f"Workflow {wf.code} doesn't start with the event “A schedule fires”.")
    inputs = dict(entry.parameters or {})
    payload = {"inputs": inputs, "job_queue_entry_id": entry.id, "job_queue_log_entry_id": log_entry.id, "due_at": log_entry.due_at.isoformat()}
    started = []
    if wf.record_type:
        rt = RECORD_TYPES.get(wf.record_type)
        if rt is None:
            raise JobError(f"Workflow {wf.code} names an unknown record type {wf.record_type!r}.")
        try:
            # SQL narrows the records down (e.g. inventory < reorder_point); each one found is checked in Python too
            q = select(rt.model).order_by(rt.model.id)
            where = conditions.sql_filter(step.conditions, rt)
            if where is not None:
                q = q.where(where)
            for record in session.scalars(q).unique():
                if conditions.matches(step.conditions, rt.values(record)):
                    started.append(record.id)
        except conditions.ConditionError as exc:
            raise JobError(f"Workflow {wf.code}: {exc}") from exc
        for record_id in started:
            inst = create_instance(session, wf, wf.record_type, record_id, SCHEDULE_EVENT, inputs, entry.owner_id, status=RUN_QUEUED)
            raise_event(session, SCHEDULE_EVENT, wf.record_type, record_id, {**payload, "instance_id": inst.id}, entry.owner_id)
        label = RECORD_TYPES[wf.record_type].plural.lower()
        return f"Started {len(started)} run(s) of {wf.code}, one per matching record ({label})."
    inst = create_instance(session, wf, None, None, SCHEDULE_EVENT, inputs, entry.owner_id, status=RUN_QUEUED)
    raise_event(session, SCHEDULE_EVENT, None, None, {**payload, "instance_id": inst.id}, entry.owner_id)
    return f"Started 1 run of {wf.code} (instance {inst.id})."


def execute_run(session: Session, log_entry_id: int) -> str:
    """The worker's side of a run: start it (skipped when the log entry isn't Queued
    any more), keep its lease, run the target, record the outcome. Returns the log
    entry's final status (or "skipped")."""
    from portal.extensions import db

    if not start_run(session, log_entry_id):
        log.info("job queue run %s is not queued any more; skipped", log_entry_id)
        return "skipped"
    LEASES.hold(db.engine, log_entry_id, setting("JOB_QUEUE_RUN_LEASE_SECONDS"))
    try:
        run = _run_row(session, log_entry_id)
        if run.target_type == TARGET_WORKFLOW:
            result = start_scheduled_runs(session, session.get(JobQueueEntry, run.id), session.get(JobQueueLogEntry, log_entry_id))
        else:
            result = _call_system_job(run)
        return finish_run(session, log_entry_id, ok=True, result=result)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried per the policy
        session.rollback()
        message = str(exc) if isinstance(exc, JobError) else f"{exc.__class__.__name__}: {exc}"
        if exc.__class__.__name__ == "JobTimeoutException":
            message = f"The run exceeded the job timeout ({exc})."
        return finish_run(session, log_entry_id, ok=False, error=message, tb=traceback.format_exc())
    finally:
        LEASES.release(log_entry_id)


def finish_run(session: Session, log_entry_id: int, ok: bool, result: str | None = None, error: str | None = None,
               tb: str | None = None, now: datetime | None = None) -> str:
    """Record a run's outcome (only if its log entry is still open: a run already
    given up by :func:`reconcile` is not recorded twice; pending changes of the
    session, such as a scheduled flow's instances, are then rolled back) and move the
    entry on: success → next due time (recurring, Ready) or Finished (one-time, or
    past the expiration); failure → Ready after the rerun delay while attempts remain,
    else Error and a notification to the owner. Releases the category. Commits.
    Returns the log entry's new status, or "already recorded"."""
    now = now or utcnow()
    res = session.execute(
        _LOG.update()
        .where(_LOG.c.id == log_entry_id, _LOG.c.status.in_([LOG_QUEUED, LOG_IN_PROCESS]))
        .values(status=LOG_SUCCESS if ok else LOG_ERROR, ended_at=now, started_at=func.coalesce(_LOG.c.started_at, now),
                result=result, error_message=None if ok else error, error_traceback=None if ok else tb, lease_expires_at=None)
    )
    if res.rowcount != 1:
        session.rollback()
        return "already recorded"
    run = _run_row(session, log_entry_id)
    if run.category_code is not None:
        session.execute(_CATEGORY.update().where(_CATEGORY.c.running_entry_id == run.id).values(running_entry_id=None))
    values: dict[str, Any] = {"last_ended_at": now, "run_requested_by_id": None}
    if ok:
        nxt = next_due(Recurrence.of(run), run.run_due_at, now) if run.recurring else None
        values.update(attempt=0, last_error=None, next_run_at=nxt, due_at=nxt, status=READY if nxt else FINISHED)
    elif run.log_attempt < run.max_attempts:
        retry_at = now + timedelta(seconds=run.rerun_delay_seconds)
        values.update(last_error=error, next_run_at=retry_at, status=READY)  # due_at kept: a retry of the same due time
    else:
        values.update(last_error=error, next_run_at=None, status=ERROR)
        _notify_owner(session, run, error)
    session.execute(_ENTRY.update().where(_ENTRY.c.id == run.id, _ENTRY.c.status == IN_PROCESS).values(**values))
    session.commit()
    return LOG_SUCCESS if ok else LOG_ERROR


def _notify_owner(session: Session, run, error: str | None) -> None:
    """Tell the entry's owner (else the administrator) that it is in Error."""
    from portal.notifications.service import create_notification

    recipient = run.owner_id or default_owner_id(session)
    if recipient is None:
        log.error("job queue entry %s failed and has no owner to notify: %s", run.id, error)
        return
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else "unknown error"
    create_notification(
        session, recipient_id=recipient, type_=NOTIFICATION_TYPE, template_code="job_failed",
        custom_message=f"{run.description} — failed {run.log_attempt} of {run.max_attempts} attempt(s): {first_line}",
        link=f"/job-queue/{run.id}",
    )


# ---------------------------------------------------------------- reconciling

def _job_failure_text(job) -> str:
    try:
        latest = job.latest_result()
        if latest is not None and latest.exc_string:
            return latest.exc_string.strip().splitlines()[-1].rstrip(";. ")
    except Exception:  # noqa: BLE001
        pass
    return "the RQ job failed"


def reconcile(session: Session, now: datetime | None = None, limit: int = 1000,
              requeue_after: float | None = None) -> dict[str, int]:
    """Find runs that will never report back and settle them (commits):

    - Queued runs enqueued more than ``requeue_after`` seconds ago (default
      ``JOB_QUEUE_REQUEUE_AFTER_SECONDS``) whose RQ job is gone (Redis restarted or
      was unreachable, or the scheduler died between claiming and enqueuing) are
      enqueued again; those whose job failed before starting are recorded as failed.
      A scheduler taking over passes ``requeue_after=0``: the previous holder no
      longer enqueues, so a claimed run without an RQ job would wait for nothing.
    - In Process runs whose lease expired (the worker died: killed, out of memory,
      host lost), whose RQ job failed (e.g. the work horse was killed), or that
      overran their timeout by ``JOB_QUEUE_TIMEOUT_GRACE_SECONDS`` are recorded as
      failed; the entry's retry policy then applies.
    - Category locks held by an entry that isn't In Process are released.

    Returns counts: ``{"requeued", "failed", "released"}``."""
    from rq.job import Job, JobStatus

    from portal.queue import get_redis

    now = now or utcnow()
    counts = {"requeued": 0, "failed": 0, "released": 0}
    if requeue_after is None:
        requeue_after = setting("JOB_QUEUE_REQUEUE_AFTER_SECONDS")
    requeue_before = now - timedelta(seconds=requeue_after)
    grace = timedelta(seconds=setting("JOB_QUEUE_TIMEOUT_GRACE_SECONDS"))
    rows = session.execute(
        select(JobQueueLogEntry.id, JobQueueLogEntry.entry_id, JobQueueLogEntry.status, JobQueueLogEntry.rq_job_id,
               JobQueueLogEntry.enqueued_at, JobQueueLogEntry.started_at, JobQueueLogEntry.lease_expires_at,
               JobQueueLogEntry.due_at, JobQueueEntry.timeout_seconds)
        .join(JobQueueEntry, JobQueueEntry.id == JobQueueLogEntry.entry_id)
        .where(or_(
            and_(JobQueueLogEntry.status == LOG_QUEUED, JobQueueLogEntry.enqueued_at < requeue_before),
            and_(JobQueueLogEntry.status == LOG_IN_PROCESS, JobQueueLogEntry.started_at < now - timedelta(seconds=1)),
        ))
        .order_by(JobQueueLogEntry.id)
        .limit(limit)
    ).all()
    session.rollback()
    jobs: dict[str, Any] = {}
    if rows:
        try:
            ids = [r.rq_job_id for r in rows if r.rq_job_id]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for job_id, job in zip(chunk, Job.fetch_many(chunk, connection=get_redis())):
                    jobs[job_id] = job
        except Exception as exc:  # noqa: BLE001 - Redis down: only the database rules apply now
            log.warning("reconcile: Redis unreachable (%s)", exc)
            jobs = None
    to_requeue = []
    for r in rows:
        job = jobs.get(r.rq_job_id) if jobs is not None else "unknown"
        status = job.get_status(refresh=False) if job not in (None, "unknown") else None
        if r.status == LOG_QUEUED:
            if jobs is None:
                continue
            if job is None:
                to_requeue.append(ClaimedRun(r.entry_id, r.id, r.rq_job_id, r.timeout_seconds, r.due_at))
            elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                if finish_run(session, r.id, ok=False, error=f"The run failed before it started: {_job_failure_text(job)}.", now=now) != "already recorded":
                    counts["failed"] += 1
            continue
        error = None
        if r.lease_expires_at is not None and r.lease_expires_at < now:
            error = f"The worker running this job stopped responding (its lease expired at {r.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC): it died or was killed."
            if status == JobStatus.FAILED:
                error += f" RQ: {_job_failure_text(job)}."
        elif status in (JobStatus.FAILED, JobStatus.STOPPED):
            error = f"The worker running this job failed: {_job_failure_text(job)}."
        elif r.started_at + timedelta(seconds=r.timeout_seconds) + grace < now:
            error = f"The run exceeded its job timeout of {r.timeout_seconds} s (and {grace.total_seconds():.0f} s grace) without reporting back."
        if error and finish_run(session, r.id, ok=False, error=error, now=now) != "already recorded":
            counts["failed"] += 1
    if to_requeue:
        counts["requeued"] = enqueue_runs(to_requeue)
        session.execute(
            update(JobQueueLogEntry).where(JobQueueLogEntry.id.in_([r.log_entry_id for r in to_requeue[:counts["requeued"]]])).values(enqueued_at=now)
        )
    res = session.execute(
        update(JobQueueCategory)
        .where(JobQueueCategory.running_entry_id.is_not(None),
               ~select(JobQueueEntry.id).where(JobQueueEntry.id == JobQueueCategory.running_entry_id, JobQueueEntry.status == IN_PROCESS).exists())
        .values(running_entry_id=None)
    )
    counts["released"] = res.rowcount
    session.commit()
    return counts


def next_due_at(session: Session) -> datetime | None:
    """The earliest next run time of a Ready entry (the scheduler sleeps until then,
    at most a second)."""
    value = session.scalar(select(func.min(JobQueueEntry.next_run_at)).where(JobQueueEntry.status == READY))
    session.rollback()
    return value


# ---------------------------------------------------------------- archive clean-up

def archive_cleanup(session: Session, older_than_days: int = 30, now: datetime | None = None) -> dict[str, int]:
    """Delete what no one needs any more, older than ``older_than_days`` days:
    outbox events handled successfully (status ``done``; the workflow step runs that
    point at them keep their outcome and idempotency key, their event link is
    cleared) and job queue log entries that succeeded or were skipped (failed runs
    are kept). Returns ``{"outbox_events", "log_entries"}`` deleted. Commits."""
    from portal.workflow.models import OUTBOX_DONE, OutboxEvent, WorkflowStepRun

    if older_than_days < 1:
        raise JobError("older_than_days must be 1 or more.")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    old_events = select(OutboxEvent.id).where(OutboxEvent.status == OUTBOX_DONE, OutboxEvent.created_at < cutoff)
    session.execute(update(WorkflowStepRun).where(WorkflowStepRun.event_id.in_(old_events)).values(event_id=None),
                    execution_options={"synchronize_session": False})
    events = session.execute(delete(OutboxEvent).where(OutboxEvent.status == OUTBOX_DONE, OutboxEvent.created_at < cutoff),
                             execution_options={"synchronize_session": False}).rowcount
    logs = session.execute(
        delete(JobQueueLogEntry).where(JobQueueLogEntry.status.in_([LOG_SUCCESS, LOG_SKIPPED]),
                                       func.coalesce(JobQueueLogEntry.ended_at, JobQueueLogEntry.enqueued_at) < cutoff),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.commit()
    return {"outbox_events": events, "log_entries": logs}
