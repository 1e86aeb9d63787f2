"""The approvals area's workflow responses (create, send, approve, reject, cancel
approval requests; overdue notifications) and the values approval events offer to
conditions. Registered with the engine on import (:func:`portal.areas.register`)."""
from __future__ import annotations

from portal.approvals import service as approvals
from portal.workflow.catalog import IMPLEMENTATIONS, OPTION_VALIDATORS, RUN_CANCELED_HANDLERS, VALUE_PROVIDERS, implements
from portal.workflow.engine import ResponseError, StepContext

IMPLEMENTATIONS["create_approval_requests"] = approvals.create_requests
IMPLEMENTATIONS["send_approval_request"] = approvals.send_requests
IMPLEMENTATIONS["reject_all_approval_requests"] = approvals.reject_all
IMPLEMENTATIONS["cancel_all_approval_requests"] = approvals.cancel_all
IMPLEMENTATIONS["create_overdue_notifications"] = approvals.create_overdue_notifications_response
RUN_CANCELED_HANDLERS.append(approvals.cancel_entries_of_canceled_run)


@implements("create_and_approve_approval_request")
def create_and_approve_approval_request(ctx: StepContext) -> str:
    """One approval entry with the sender as approver, approved at once (the record
    needs no one's approval, but its history shows it went through the workflow)."""
    from portal.approvals.models import APPROVED, ApprovalCommentLine, ApprovalEntry

    if ctx.record is None or ctx.user_id is None:
        raise ResponseError("Approving automatically needs a record and the user who sent it.")
    rt = ctx.record_type
    entry = ApprovalEntry(
        record_type=rt.key, record_id=ctx.record.id, document_type=getattr(ctx.record, "document_type", None),
        document_no=getattr(ctx.record, "no", None), record_title=approvals._entry_title(rt, ctx.record), sequence_no=1,
        sender_id=ctx.user_id, approver_id=ctx.user_id, status=APPROVED, approval_type="Approver", limit_type="Direct Approver",
        amount=rt.amount(ctx.record) if rt.amount else 0, currency_code=getattr(ctx.record, "currency_code", "") or "",
        workflow_instance_id=ctx.instance.id, workflow_step_instance_id=ctx.step.id,
    )
    ctx.session.add(entry)
    ctx.session.flush()
    ctx.session.add(ApprovalCommentLine(record_type=rt.key, record_id=ctx.record.id, approval_entry_id=entry.id,
                                        user_id=ctx.user_id, comment="Approved automatically by the workflow."))
    return f"{rt.title(ctx.record)} approved automatically"


@implements("approve_approval_request")
def approve_approval_request(ctx: StepContext) -> str:
    """Approve the instance's Open entries (and notify the sender if asked)."""
    from portal.approvals.models import APPROVED, OPEN

    n = approvals._close_all(ctx, [OPEN], APPROVED, bool(ctx.options.get("notify_sender")), "approval_approved")
    return f"{n} approval request(s) approved"


def approval_event_values(session, ev, values: dict) -> None:
    """For approval events (``approval_request_*``): ``pending_approvals`` (entries of
    the same instance still Created or Open) and the decision's ``comment``."""
    if ev.event_code.startswith("approval_request_"):
        values["pending_approvals"] = approvals.pending_approvals(session, ev.record_type, ev.record_id, ev.payload.get("instance_id"))
        values["comment"] = ev.payload.get("comment")


VALUE_PROVIDERS.append(approval_event_values)


def check_create_requests_options(session, options: dict, errors: dict) -> None:
    """Option rules of *Create approval requests*: Specific Approver needs an approver
    ID; Workflow User Group needs the code of an existing group. Adds
    ``{option: message}`` to ``errors``."""
    limit = options.get("limit_type")
    approver_type = options.get("approver_type")
    if limit == "Specific Approver" and not options.get("specific_approver"):
        errors["specific_approver"] = "The Specific Approver limit type needs an approver ID."
    if approver_type == "Workflow User Group" and not options.get("workflow_user_group"):
        errors["workflow_user_group"] = "The Workflow User Group approver type needs a workflow user group code."
    elif approver_type == "Workflow User Group" and session is not None:
        if approvals.group_by_code(session, str(options.get("workflow_user_group"))) is None:
            errors["workflow_user_group"] = f"There is no workflow user group {options.get('workflow_user_group')!r}."


OPTION_VALIDATORS["create_approval_requests"] = check_create_requests_options
