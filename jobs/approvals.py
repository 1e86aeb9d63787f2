"""System jobs of approvals: the overdue approvals job and the delegate approval
requests job (both registered in :mod:`portal.jobqueue.system_jobs`)."""
from __future__ import annotations

from jobs import app_context


def overdue_approvals() -> str:
    """System job: raise ``overdue_approvals_job_ran`` (no record); enabled workflows
    starting with that event — the Overdue Approval Requests workflow — then create
    overdue notifications for Open approval entries past their due date. Returns a
    summary line."""
    from portal.approvals.service import overdue_entries
    from portal.extensions import db
    from portal.workflow.engine import matching_workflows, raise_event

    with app_context():
        try:
            n = len(overdue_entries(db.session))
            workflows = [wf.code for wf in matching_workflows(db.session, "overdue_approvals_job_ran", None, {})]
            raise_event(db.session, "overdue_approvals_job_ran", None, None, {"overdue_entries": n})
            db.session.commit()
            if not workflows:
                return f"{n} overdue approval entries; no enabled workflow reacts to the overdue approvals job"
            return f"{n} overdue approval entries; handed to {', '.join(workflows)}"
        finally:
            db.session.remove()


def delegate_approval_requests() -> str:
    """System job: delegate every Open approval entry whose delegation date has come
    (to the approver's substitute, else their approver, else the approval
    administrator) and notify the new approver and the sender. Returns a summary."""
    from portal.approvals.service import delegate_due
    from portal.extensions import db

    with app_context():
        try:
            lines = delegate_due(db.session)
            return f"{len(lines)} approval entries due for delegation" + ("".join(f"\n{line}" for line in lines))
        finally:
            db.session.remove()
