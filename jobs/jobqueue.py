"""Jobs of the job queue: the runner that executes one claimed run of a job queue
entry, and the archive clean-up system job."""
from __future__ import annotations

from jobs import app_context


def run_entry(entry_id: int, log_entry_id: int) -> str:
    """Run job queue entry ``entry_id`` for its log entry ``log_entry_id`` (claimed
    and enqueued by the scheduler): marks the run In Process, runs the target (a
    system job or a scheduled flow), records success or failure with its traceback
    and applies the entry's retry policy. Returns the run's final status."""
    from portal.extensions import db
    from portal.jobqueue.service import execute_run

    with app_context():
        try:
            return execute_run(db.session, log_entry_id)
        finally:
            db.session.remove()


def archive_cleanup(older_than_days: int = 30) -> dict:
    """System job: delete handled outbox events and successful or skipped job queue
    log entries older than ``older_than_days`` days. Returns the counts deleted."""
    from portal.extensions import db
    from portal.jobqueue.service import archive_cleanup as cleanup

    with app_context():
        return cleanup(db.session, int(older_than_days))
