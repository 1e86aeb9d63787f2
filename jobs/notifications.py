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


def send_digest(recipient_id: int, notification_type: str) -> dict:
    """Send one recipient's digest of pending notifications of one type (the job of a
    notification schedule's job queue entry). Returns the report of
    :func:`portal.notifications.digest.send_digest`; raises RuntimeError when the
    digest could not be sent (the job queue retries it; the entries wait)."""
    from portal.extensions import db
    from portal.notifications.digest import send_digest as send

    with app_context():
        try:
            report = send(db.session, int(recipient_id), str(notification_type))
        finally:
            db.session.remove()
    if report.get("error"):
        raise RuntimeError(f"The digest was not sent: {report['error']}")
    return report
