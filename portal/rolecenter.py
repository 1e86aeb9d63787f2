"""The home page's role center (Business Central's cues): per role a group of count
tiles, each with a caption, a colour when it asks for attention and a link to the list
filtered to what it counts.

- business user: my open sales orders and quotes, my sales orders pending approval
  (documents whose salesperson is the user's Salesperson/Purchaser code in Approval User
  Setup), my flow runs and my failed ones;
- approver: Requests to Approve, the overdue ones, those delegated to me;
- flow makers and admins: failed flow runs, flows that keep failing (Manage flows'
  rule); admins also job queue entries in Error.

Counts stay cheap (the page-speed rules): each is a bounded count, up to
:data:`portal.util.COUNT_CAP` (shown "1,000+" beyond), over an indexed filter."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.util import COUNT_CAP

#: cue styles (Business Central's cue styles): how a non-zero count is shown
ATTENTION, UNFAVORABLE = "attention", "unfavorable"


@dataclass
class Cue:
    """One tile: ``caption``, ``count`` (up to COUNT_CAP + 1), ``url`` of the filtered
    list and ``style`` (:data:`ATTENTION` / :data:`UNFAVORABLE` / "") used when the
    count isn't zero."""

    caption: str
    count: int
    url: str
    style: str = ""

    @property
    def shown(self) -> str:
        """The count as shown: "12", "1,000+"."""
        return f"{COUNT_CAP:,}+" if self.count > COUNT_CAP else f"{self.count:,}"

    @property
    def css(self) -> str:
        """The tile's class: ``cue-zero`` or ``cue-<style>``."""
        if not self.count:
            return "cue-zero"
        return f"cue-{self.style}" if self.style else ""


def bounded_count(session: Session, query) -> int:
    """How many rows ``query`` (a SELECT) has, counted up to COUNT_CAP + 1 (no
    ``count(*)`` over a whole table)."""
    return session.scalar(select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())) or 0


def salesperson_code(session: Session, user) -> str | None:
    """The user's Salesperson/Purchaser code (Approval User Setup), or None."""
    from portal.approvals.models import ApprovalUserSetup

    return session.scalar(select(ApprovalUserSetup.salespers_purch_code).where(ApprovalUserSetup.user_id == user.id)) or None


def _sales_cues(session: Session, user) -> list[Cue]:
    from portal.records.models import STATUS_OPEN, STATUS_PENDING_APPROVAL, SalesHeader

    code = salesperson_code(session, user)
    if not code:
        return []

    def mine(doc_type: str, status: str):
        return select(SalesHeader.id).where(SalesHeader.salesperson_code == code, SalesHeader.document_type == doc_type,
                                            SalesHeader.status == status)

    return [
        Cue("My open sales orders", bounded_count(session, mine("Order", STATUS_OPEN)),
            url_for("records.list_page", slug="sales-orders", status=STATUS_OPEN, mine=1)),
        Cue("My open sales quotes", bounded_count(session, mine("Quote", STATUS_OPEN)),
            url_for("records.list_page", slug="sales-quotes", status=STATUS_OPEN, mine=1)),
        Cue("My sales orders pending approval", bounded_count(session, mine("Order", STATUS_PENDING_APPROVAL)),
            url_for("records.list_page", slug="sales-orders", status=STATUS_PENDING_APPROVAL, mine=1), ATTENTION),
    ]


def _my_run_cues(session: Session, user) -> list[Cue]:
    from portal.workflow.models import RUN_FAILED, WorkflowInstance

    mine = select(WorkflowInstance.id).where(WorkflowInstance.started_by_id == user.id)
    return [
        Cue("My flow runs", bounded_count(session, mine), url_for("flows.my_runs")),
        Cue("My failed flow runs", bounded_count(session, mine.where(WorkflowInstance.status == RUN_FAILED)),
            url_for("flows.my_runs", status="failed"), UNFAVORABLE),
    ]


def _approver_cues(session: Session, user, requests_to_approve: int | None) -> list[Cue]:
    from portal.approvals.models import OPEN, ApprovalEntry

    mine = select(ApprovalEntry.id).where(ApprovalEntry.approver_id == user.id, ApprovalEntry.status == OPEN)
    if requests_to_approve is None:
        requests_to_approve = bounded_count(session, mine)
    today = user.local_date()
    return [
        Cue("Requests to Approve", requests_to_approve, url_for("approvals.requests_to_approve"), ATTENTION),
        Cue("Overdue requests to approve", bounded_count(session, mine.where(ApprovalEntry.due_date <= today)),
            url_for("approvals.requests_to_approve", overdue=1), UNFAVORABLE),
        Cue("Delegated to me", bounded_count(session, mine.where(ApprovalEntry.delegation_date.is_not(None))),
            url_for("approvals.requests_to_approve", delegated=1), ATTENTION),
    ]


def _automation_cues(session: Session) -> list[Cue]:
    from portal.flows.manage import failing_flow_ids
    from portal.workflow.models import RUN_FAILED, WorkflowInstance

    failed = select(WorkflowInstance.id).where(WorkflowInstance.status == RUN_FAILED)
    return [
        Cue("Failed flow runs", bounded_count(session, failed), url_for("flows.history", status="failed"), UNFAVORABLE),
        Cue("Flows that keep failing", len(failing_flow_ids(session)), url_for("flows.manage", failing=1), UNFAVORABLE),
    ]


def _admin_cues(session: Session) -> list[Cue]:
    from portal.jobqueue.models import ERROR, JobQueueEntry

    return [Cue("Job queue entries in Error", bounded_count(session, select(JobQueueEntry.id).where(JobQueueEntry.status == ERROR)),
                url_for("jobqueue.list_page", status=ERROR), UNFAVORABLE)]


def cue_groups(session: Session, user, requests_to_approve: int | None = None) -> list[tuple[str, list[Cue]]]:
    """The role center of ``user``: ``(heading, cues)`` per role they hold, in the
    order business user, approver, automation (flow makers, admins), administration
    (admins); groups without cues are left out. ``requests_to_approve``: the header's
    count, when it was counted already."""
    groups: list[tuple[str, list[Cue]]] = []
    if user.has_role("business_user"):
        sales = _sales_cues(session, user)
        groups.append(("Sales and flows" if sales else "My flow runs", sales + _my_run_cues(session, user)))
    if user.has_role("approver"):
        groups.append(("Approvals", _approver_cues(session, user, requests_to_approve)))
    if user.has_role("admin", "flow_maker"):
        groups.append(("Automation", _automation_cues(session)))
    if user.has_role("admin"):
        groups.append(("Administration", _admin_cues(session)))
    return [(heading, cues) for heading, cues in groups if cues]
