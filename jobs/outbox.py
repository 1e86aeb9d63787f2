"""Job: dispatch pending outbox events to the workflow engine."""
from __future__ import annotations

from jobs import app_context


def dispatch_outbox() -> int:
    """Process pending outbox events (and those they raise). Returns the count."""
    from portal.extensions import db
    from portal.queue import JOB_SLICE_SECONDS, job_started
    from portal.workflow.dispatch import dispatch_pending

    with app_context():
        job_started("jobs.outbox.dispatch_outbox")
        try:
            return dispatch_pending(db.session, max_seconds=JOB_SLICE_SECONDS)
        finally:
            db.session.remove()


def sweep_outbox() -> int:
    """Requeue events whose worker died (their lease ran out), then dispatch."""
    from portal.extensions import db
    from portal.workflow.dispatch import dispatch_pending, requeue_stale

    with app_context():
        try:
            requeue_stale(db.session)
            return dispatch_pending(db.session)
        finally:
            db.session.remove()
