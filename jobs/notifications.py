"""Job: send due notification entries."""
from __future__ import annotations

from jobs import app_context


def send_notifications() -> dict:
    """Send notification entries that are due. Returns ``{"sent", "failed"}``."""
    from portal.extensions import db
    from portal.notifications.service import send_due
    from portal.queue import JOB_SLICE_SECONDS, job_started

    with app_context():
        job_started("jobs.notifications.send_notifications")
        try:
            return send_due(db.session, max_seconds=JOB_SLICE_SECONDS)
        finally:
            db.session.remove()
