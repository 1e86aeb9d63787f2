"""Notification setup (how a user is told: Email or Note) and notification schedules
(when: instantly, or in a Daily / Weekly / Monthly digest), with the job queue entries
that send them.

Business Central's rules (table "Notification Setup", table "Notification Schedule",
codeunit "Notification Entry Dispatcher"):

- The method for a recipient and type is found in this order: the recipient's own
  setup → the default setup (no user) → a default created with Email
  (:func:`notification_method`).
- No schedule row means Instantly: instant notifications share **one** dispatcher job
  queue entry (the system job ``notification_dispatch``), reused and set back to Ready
  when it had failed (:func:`ensure_dispatch_entry`).
- A Daily / Weekly / Monthly schedule has **one** job queue entry per recipient and
  type (system job ``notification_digest`` with ``recipient_id`` and
  ``notification_type`` as its parameters), reused when the schedule changes and
  removed with the schedule (:func:`save_schedule`, :func:`delete_schedule`). The
  entry runs once at the schedule's next time and is armed again for the following
  time whenever new notifications are waiting (:func:`arm_schedule`,
  :func:`rearm_waiting_schedules`).

Services are plain functions over a session; the caller commits unless said.
Date/times are naive UTC.
"""
from __future__ import annotations

import time as time_mod
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from portal.auth.models import User
from portal.jobqueue.models import ERROR, IN_PROCESS, READY, TARGET_SYSTEM_JOB, JobQueueEntry
from portal.notifications import schedule as sched
from portal.notifications.models import (
    METHOD_EMAIL,
    METHODS,
    NOTIFICATION_TYPES,
    NotificationEntry,
    NotificationSchedule,
    NotificationSetup,
)
from portal.util import utcnow
from portal.workflow.engine import batch_cache

DISPATCH_JOB = "notification_dispatch"
DIGEST_JOB = "notification_digest"
_DISPATCH_CHECK_SECONDS = 30.0  # how often one process looks at the dispatcher entry


class SettingsError(ValueError):
    """A setup or schedule value can't be used. ``errors``: ``{field: message}``."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# ---------------------------------------------------------------- setup (method)

def ensure_default_setup(session: Session) -> int:
    """Create the default setup row (no user, method Email) of each notification type
    that has none. Returns the number created. The caller commits."""
    have = set(session.scalars(select(NotificationSetup.notification_type).where(NotificationSetup.user_id.is_(None))))
    n = 0
    for type_ in NOTIFICATION_TYPES:
        if type_ not in have:
            session.add(NotificationSetup(user_id=None, notification_type=type_, method=METHOD_EMAIL))
            n += 1
    session.flush()
    return n


def notification_method(session: Session, user_id: int | None, type_: str) -> str:
    """The method (``"Email"`` or ``"Note"``) by which ``user_id`` gets notifications
    of type ``type_``: their own setup, else the default setup (no user), else a
    default setup created now with Email (Business Central's order in the
    notification entry dispatcher). Other types (e.g. the job queue's notices) use a
    setup row of their own name when there is one, else Email (nothing is created).
    Flushes a created default; the caller commits."""
    rows = {r.user_id: r.method for r in session.scalars(
        select(NotificationSetup).where(NotificationSetup.notification_type == type_,
                                        (NotificationSetup.user_id == user_id) | NotificationSetup.user_id.is_(None)))}
    if user_id is not None and user_id in rows:
        return rows[user_id]
    if None in rows:
        return rows[None]
    if type_ in NOTIFICATION_TYPES:  # (other types, e.g. job queue notices, have no setup page: Email)
        session.add(NotificationSetup(user_id=None, notification_type=type_, method=METHOD_EMAIL))
        session.flush()
    return METHOD_EMAIL


def notification_methods(session: Session, keys) -> dict[tuple[int | None, str], str]:
    """:func:`notification_method` for many ``(user_id, type)`` pairs at once (a batch
    of notification entries): one query for all of them. Returns ``{(user_id, type):
    "Email" | "Note"}``; a missing default setup is created as there."""
    keys = set(keys)
    if not keys:
        return {}
    users = {u for u, _ in keys if u is not None}
    rows = session.execute(select(NotificationSetup.user_id, NotificationSetup.notification_type, NotificationSetup.method).where(
        NotificationSetup.notification_type.in_({t for _, t in keys}),
        NotificationSetup.user_id.in_(users) | NotificationSetup.user_id.is_(None))).all()
    found = {(u, t): m for u, t, m in rows}
    return {(u, t): found.get((u, t)) or found.get((None, t)) or notification_method(session, u, t) for u, t in keys}


def setup_methods(session: Session, user_id: int | None) -> dict[str, str | None]:
    """``{type: method or None}`` of ``user_id``'s own setup rows (None: no own row,
    the default applies); with ``user_id`` None, the default setup's rows."""
    rows = {r.notification_type: r.method for r in session.scalars(
        select(NotificationSetup).where(NotificationSetup.user_id.is_(None) if user_id is None else NotificationSetup.user_id == user_id))}
    return {t: rows.get(t) for t in NOTIFICATION_TYPES}


def save_setup(session: Session, user_id: int | None, methods: dict[str, str | None]) -> None:
    """Set ``user_id``'s method per type (``{type: "Email" | "Note" | None}``; None or
    "" = no own row, the default applies). ``user_id`` None edits the default setup
    (None there means Email). Raises :class:`SettingsError` for an unknown type or
    method. The caller commits."""
    errors = {}
    for type_, method in methods.items():
        if type_ not in NOTIFICATION_TYPES:
            errors[type_] = f"“{type_}” is not a notification type."
        elif method and method not in METHODS:
            errors[type_] = f"Choose Email or Note for {type_} notifications."
    if errors:
        raise SettingsError(errors)
    where = NotificationSetup.user_id.is_(None) if user_id is None else NotificationSetup.user_id == user_id
    rows = {r.notification_type: r for r in session.scalars(select(NotificationSetup).where(where))}
    for type_, method in methods.items():
        row = rows.get(type_)
        if not method and user_id is not None:
            if row is not None:
                session.delete(row)
            continue
        method = method or METHOD_EMAIL
        if row is None:
            session.add(NotificationSetup(user_id=user_id, notification_type=type_, method=method))
        else:
            row.method = method
    session.flush()


# ---------------------------------------------------------------- schedules

@dataclass
class ScheduleData:
    """A schedule as entered (the settings form): ``recurrence`` one of
    :data:`portal.notifications.schedule.RECURRENCES`; ``at`` a local time of day;
    ``weekdays`` seven 0/1 characters (Monday first); the rest as in
    :class:`portal.notifications.schedule.ScheduleSpec`."""

    recurrence: str = sched.INSTANTLY
    at: time = sched.DEFAULT_TIME
    daily_frequency: str = sched.WORKING_DAYS
    weekdays: str = sched.WORKING_WEEK
    monthly_date: str = sched.FIRST_WORKING_DAY
    date_of_month: int = 1


def validate_schedule(data: ScheduleData) -> dict[str, str]:
    """``{field: message}`` for what can't be used (empty when fine)."""
    errors = {}
    if data.recurrence not in sched.RECURRENCES:
        errors["recurrence"] = "Choose Instantly, Daily, Weekly or Monthly."
    if data.recurrence == sched.DAILY and data.daily_frequency not in sched.DAILY_FREQUENCIES:
        errors["daily_frequency"] = "Choose working days or every day."
    if data.recurrence == sched.WEEKLY and "1" not in (data.weekdays or ""):
        errors["weekdays"] = "Choose at least one weekday."
    if data.recurrence == sched.MONTHLY:
        if data.monthly_date not in sched.MONTHLY_DATES:
            errors["monthly_date"] = "Choose the first working day, the last working day or a day of the month."
        elif data.monthly_date == sched.CHOSEN_DAY and not (1 <= int(data.date_of_month or 0) <= 31):
            errors["date_of_month"] = "Enter a day of the month from 1 to 31."
    return errors


def schedules_of(session: Session, user_id: int) -> dict[str, NotificationSchedule | None]:
    """``{type: schedule row or None (Instantly)}`` of a user."""
    rows = {s.notification_type: s for s in session.scalars(
        select(NotificationSchedule).where(NotificationSchedule.user_id == user_id)).unique()}
    return {t: rows.get(t) for t in NOTIFICATION_TYPES}


def spec_of(schedule: NotificationSchedule, user: User | None = None) -> sched.ScheduleSpec:
    """The timing of a schedule row, read in its user's time zone."""
    user = user or schedule.user
    return sched.ScheduleSpec.of(schedule, user.time_zone if user else None)


def save_schedule(session: Session, user: User, type_: str, data: ScheduleData, now: datetime | None = None) -> NotificationSchedule | None:
    """Set ``user``'s schedule for ``type_``. Instantly deletes the schedule (and its job
    queue entry: :func:`delete_schedule`); any other recurrence creates or updates the
    row and arms its job queue entry for the next time (the same entry is reused).
    Raises :class:`SettingsError`. Returns the row (None for Instantly). The caller
    commits."""
    if type_ not in NOTIFICATION_TYPES:
        raise SettingsError({"notification_type": f"“{type_}” is not a notification type."})
    errors = validate_schedule(data)
    if errors:
        raise SettingsError(errors)
    row = session.scalar(select(NotificationSchedule).where(
        NotificationSchedule.user_id == user.id, NotificationSchedule.notification_type == type_))
    if data.recurrence == sched.INSTANTLY:
        if row is not None:
            delete_schedule(session, row)
        return None
    if row is None:
        row = NotificationSchedule(user_id=user.id, notification_type=type_)
        session.add(row)
    row.recurrence = data.recurrence
    row.time = data.at
    row.daily_frequency = data.daily_frequency
    row.weekdays = (data.weekdays or sched.WORKING_WEEK).ljust(7, "0")[:7]
    row.monthly_date = data.monthly_date
    row.date_of_month = min(31, max(1, int(data.date_of_month or 1)))
    row.user = user
    session.flush()
    arm_schedule(session, row, now, force=True)
    return row


def delete_schedule(session: Session, row: NotificationSchedule) -> None:
    """Delete a schedule and its job queue entry (its notifications go out instantly
    from now on: the instant dispatcher is enqueued after the commit). Raises
    :class:`portal.jobqueue.service.JobQueueError` while its digest is being sent.
    The caller commits."""
    from portal.jobqueue.service import delete_entry
    from portal.workflow.engine import enqueue_after_commit

    entry = session.get(JobQueueEntry, row.job_queue_entry_id) if row.job_queue_entry_id else None
    if entry is not None:
        delete_entry(session, entry)
    session.delete(row)
    session.flush()
    from portal.notifications.service import SEND_JOB

    enqueue_after_commit(session, SEND_JOB)


def _digest_description(user: User, type_: str) -> str:
    return f"Notification digest: {type_} notifications for {user.full_name}"[:250]


def schedule_entry(session: Session, row: NotificationSchedule) -> JobQueueEntry | None:
    """The job queue entry that sends ``row``'s digest (None if it has none yet)."""
    return session.get(JobQueueEntry, row.job_queue_entry_id) if row.job_queue_entry_id else None


def arm_schedule(session: Session, row: NotificationSchedule, now: datetime | None = None, force: bool = False) -> JobQueueEntry:
    """Make ``row``'s job queue entry Ready to run at the schedule's next time
    (:func:`portal.notifications.schedule.next_run` in the user's time zone), creating
    it the first time (system job ``notification_digest``, parameters
    ``{"recipient_id", "notification_type"}``, owned by the administrator) and reusing
    it afterwards. An entry already Ready for a later time is left as it is unless
    ``force`` (the schedule changed); one that is running is left alone (the instant
    dispatcher's sweep arms it again afterwards). Returns the entry. The caller commits."""
    from portal.jobqueue.service import default_owner_id

    now = now or utcnow()
    user = row.user or session.get(User, row.user_id)
    due = sched.next_run(spec_of(row, user), now)
    entry = schedule_entry(session, row)
    params = {"recipient_id": row.user_id, "notification_type": row.notification_type}
    if entry is None:
        entry = JobQueueEntry(
            description=_digest_description(user, row.notification_type), target_type=TARGET_SYSTEM_JOB,
            system_job=DIGEST_JOB, parameters=params, recurring=False, time_zone=user.time_zone or "UTC",
            owner_id=default_owner_id(session), max_attempts=3, rerun_delay_seconds=60, timeout_seconds=600,
            status=READY, earliest_start_at=due, next_run_at=due, due_at=due, attempt=0,
        )
        session.add(entry)
        session.flush()
        row.job_queue_entry_id = entry.id
        session.flush()
        return entry
    if entry.status == IN_PROCESS or (not force and entry.status == READY and entry.next_run_at and entry.next_run_at > now):
        return entry
    session.execute(
        update(JobQueueEntry).where(JobQueueEntry.id == entry.id, JobQueueEntry.status != IN_PROCESS)
        .values(status=READY, recurring=False, earliest_start_at=due, next_run_at=due, due_at=due, attempt=0,
                last_error=None, parameters=params, time_zone=user.time_zone or "UTC",
                description=_digest_description(user, row.notification_type))
        .execution_options(synchronize_session=False)
    )
    session.expire(entry)
    return entry


def scheduled(session: Session, recipient_id: int, type_: str) -> NotificationSchedule | None:
    """The recipient's Daily / Weekly / Monthly schedule for ``type_`` (None =
    Instantly). Looked up once per recipient and type per transaction (a batch of
    flow runs notifying one user asks once), without flushing what the caller has
    pending: a flush per notification cost a batch of runs one round trip per row."""
    cache = batch_cache(session).setdefault("notification_schedules", {})
    key = (recipient_id, type_)
    if key not in cache:
        with session.no_autoflush:
            cache[key] = session.scalar(select(NotificationSchedule).where(
                NotificationSchedule.user_id == recipient_id, NotificationSchedule.notification_type == type_))
    return cache[key]


def rearm_waiting_schedules(session: Session, now: datetime | None = None) -> int:
    """Arm the job queue entry of every schedule that has notifications waiting but
    whose entry is not Ready or running (it finished before they came, failed, or is
    missing). Run by the instant dispatcher. Returns how many were armed. The caller
    commits."""
    now = now or utcnow()
    waiting = exists().where(NotificationEntry.recipient_id == NotificationSchedule.user_id,
                             NotificationEntry.type == NotificationSchedule.notification_type)
    armed = 0
    for row in session.scalars(select(NotificationSchedule).where(waiting)).unique():
        entry = schedule_entry(session, row)
        if entry is None or entry.status not in (READY, IN_PROCESS):
            arm_schedule(session, row, now)
            armed += 1
    return armed


# ---------------------------------------------------------------- the instant dispatcher's entry

def ensure_dispatch_entry(session: Session, now: datetime | None = None) -> JobQueueEntry | None:
    """The one job queue entry of the instant notification dispatcher (system job
    ``notification_dispatch``, registered by the scheduler when it becomes active:
    :func:`portal.jobqueue.service.ensure_system_jobs`), reused: set back to Ready
    when it is in Error, otherwise left as it is (an admin's On Hold stays). Looked
    at once per ``_DISPATCH_CHECK_SECONDS`` per session. Returns the entry (None when
    it was looked at recently or is not registered yet: commits still enqueue the
    dispatcher on RQ directly). The caller commits."""
    checked = session.info.get("notification_dispatch_checked")
    if checked is not None and time_mod.monotonic() - checked < _DISPATCH_CHECK_SECONDS:
        return None
    session.info["notification_dispatch_checked"] = time_mod.monotonic()
    now = now or utcnow()
    entry = session.scalar(select(JobQueueEntry).where(JobQueueEntry.target_type == TARGET_SYSTEM_JOB,
                                                       JobQueueEntry.system_job == DISPATCH_JOB).order_by(JobQueueEntry.id).limit(1))
    if entry is not None and entry.status == ERROR:
        session.execute(update(JobQueueEntry).where(JobQueueEntry.id == entry.id, JobQueueEntry.status == ERROR)
                        .values(status=READY, next_run_at=now, due_at=now, attempt=0, last_error=None)
                        .execution_options(synchronize_session=False))
        session.expire(entry)
    return entry


# ---------------------------------------------------------------- the settings page

def save_settings(session: Session, user: User | None, methods: dict[str, str | None],
                  schedules: dict[str, ScheduleData] | None = None, now: datetime | None = None) -> None:
    """Save a settings page at once: ``user``'s method per type (:func:`save_setup`;
    ``user`` None = the default setup) and, for a user, their schedule per type
    (:func:`save_schedule`). Everything is checked first: raises
    :class:`SettingsError` with ``{"<type>.<field>": message}`` and changes nothing.
    The caller commits."""
    errors: dict[str, str] = {}
    for type_, method in methods.items():
        if type_ not in NOTIFICATION_TYPES:
            errors[f"{type_}.method"] = f"“{type_}” is not a notification type."
        elif method and method not in METHODS:
            errors[f"{type_}.method"] = "Choose Email or Note."
    for type_, data in (schedules or {}).items():
        for field, message in validate_schedule(data).items():
            errors[f"{type_}.{field}"] = message
    if errors:
        raise SettingsError(errors)
    save_setup(session, user.id if user else None, methods)
    if user is not None:
        for type_, data in (schedules or {}).items():
            save_schedule(session, user, type_, data, now)
