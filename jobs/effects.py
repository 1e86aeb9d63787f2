"""Job: perform the external effects (e-mails, webhook calls) that are due."""
from __future__ import annotations

from jobs import app_context


def deliver_effects() -> dict:
    """Claim, perform and record due effects (see :mod:`portal.workflow.effects`).
    Returns counts ``{"done", "retry", "failed"}``."""
    from portal.extensions import db
    from portal.queue import JOB_SLICE_SECONDS, job_started
    from portal.workflow.effects import DELIVERY_JOB
    from portal.workflow.effects import deliver_effects as deliver

    with app_context():
        job_started(DELIVERY_JOB)
        try:
            return deliver(db.session, max_seconds=JOB_SLICE_SECONDS)
        finally:
            db.session.remove()
