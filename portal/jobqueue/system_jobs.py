"""The registry of system jobs: the portal's own periodic work, each registered as a
job queue entry the first time a scheduler becomes active (and then editable like
any entry: recurrence, parameters, On Hold ...).

Add a job by adding a line to :data:`SYSTEM_JOBS`: its code, the dotted path of an RQ
entry point under ``jobs.`` (called with the entry's parameters as keyword
arguments, inside an app context; its return value is shown as the run's result),
a description and the default recurrence (the job queue entry's recurrence fields)
and parameters. Only registered codes can be run: an entry never names a Python
function itself.
"""
from __future__ import annotations

from typing import NamedTuple


class SystemJob(NamedTuple):
    """``func``: dotted path of the job function; ``recurrence``: default values of the
    entry's recurrence fields; ``parameters``: default keyword arguments;
    ``register``: False for jobs whose entries are made by their area, one per use
    (e.g. a notification digest per recipient and type), rather than once at start."""

    func: str
    description: str
    recurrence: dict
    parameters: dict = {}
    register: bool = True


SYSTEM_JOBS: dict[str, SystemJob] = {
    "notification_dispatch": SystemJob(
        "jobs.notifications.send_notifications",
        "Send due notification entries",
        {"recurrence_kind": "minutes", "minutes_between_runs": 1},
    ),
    "notification_digest": SystemJob(
        "jobs.notifications.send_digest",
        "Send one recipient's digest of pending notifications of one type (made per notification schedule)",
        {},
        register=False,
    ),
    "outbox_sweep": SystemJob(
        "jobs.outbox.sweep_outbox",
        "Outbox sweep: hand events left behind (Redis down, worker died) to the workflow engine",
        {"recurrence_kind": "minutes", "minutes_between_runs": 1},
    ),
    "overdue_approvals": SystemJob(
        "jobs.approvals.overdue_approvals",
        "Overdue approvals: notify approvers, their approvers and senders of approval requests past their due date",
        {"recurrence_kind": "cron", "cron_expression": "0 7 * * *"},
    ),
    "delegate_approval_requests": SystemJob(
        "jobs.approvals.delegate_approval_requests",
        "Delegate approval requests whose delegation date has come (substitute, else approver, else approval administrator)",
        {"recurrence_kind": "minutes", "minutes_between_runs": 60},
    ),
    "archive_cleanup": SystemJob(
        "jobs.jobqueue.archive_cleanup",
        "Archive clean-up: delete handled outbox events and successful job queue log entries older than N days",
        {"recurrence_kind": "cron", "cron_expression": "30 3 * * *"},
        {"older_than_days": 30},
    ),
    "search_index_maintenance": SystemJob(
        "jobs.records.search_index_maintenance",
        "Search index maintenance: merge the list pages' search indexes (SQLite: FTS5 optimize; PostgreSQL: GIN pending lists)",
        {"recurrence_kind": "cron", "cron_expression": "45 3 * * *"},
    ),
}
