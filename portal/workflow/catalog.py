"""The event catalog and the response catalog.

Events name what happened (Business Central's workflow events); responses name what
to do (workflow responses) and are implemented in :mod:`portal.workflow.responses`.
Codes are stable identifiers stored in workflow steps."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventDef:
    """An event: ``record_types`` it can happen on (empty = any); ``extra_fields``
    are event data usable in conditions besides the record's fields."""

    code: str
    description: str
    record_types: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptionDef:
    name: str
    label: str
    kind: str = "text"  # text, int, choice, user, template, bool, url
    required: bool = False
    choices: tuple[str, ...] = ()
    default: object = None


@dataclass(frozen=True)
class ResponseDef:
    code: str
    description: str
    options: tuple[OptionDef, ...] = field(default_factory=tuple)


APPROVAL_EVENT_FIELDS = ("pending_approvals", "approver", "sender", "comment")

EVENTS: dict[str, EventDef] = {
    e.code: e
    for e in (
        EventDef("record_created", "A record is created"),
        EventDef("record_modified", "A record is modified"),
        EventDef("record_deleted", "A record is deleted"),
        EventDef("sales_document_approval_requested", "Approval of a sales document is requested", ("sales_header",)),
        EventDef("sales_document_approval_canceled", "An approval request for a sales document is canceled", ("sales_header",)),
        EventDef("approval_request_approved", "An approval request is approved", (), APPROVAL_EVENT_FIELDS),
        EventDef("approval_request_rejected", "An approval request is rejected", (), APPROVAL_EVENT_FIELDS),
        EventDef("approval_request_delegated", "An approval request is delegated", (), APPROVAL_EVENT_FIELDS),
        EventDef("document_released", "A document is released", ("sales_header",)),
        EventDef("run_from_automate", "A user runs the flow from the Automate menu"),
    )
}

APPROVER_TYPES = ("Salesperson/Purchaser", "Approver", "Workflow User Group")
LIMIT_TYPES = ("Approver Chain", "Direct Approver", "First Qualified Approver", "Specific Approver")

RESPONSES: dict[str, ResponseDef] = {
    r.code: r
    for r in (
        ResponseDef("do_nothing", "Do nothing"),
        ResponseDef("set_status_pending_approval", "Set document status to Pending Approval"),
        ResponseDef(
            "create_approval_requests",
            "Create approval requests for the record",
            (
                OptionDef("approver_type", "Approver Type", "choice", True, APPROVER_TYPES, "Salesperson/Purchaser"),
                OptionDef("limit_type", "Approver Limit Type", "choice", True, LIMIT_TYPES, "Approver Chain"),
                OptionDef("specific_approver", "Approver ID", "user"),
                OptionDef("workflow_user_group", "Workflow User Group Code", "text"),
                OptionDef("due_date_days", "Due Date Formula (days)", "int", default=0),
                OptionDef("delegate_after_days", "Delegate After (days)", "int"),
            ),
        ),
        ResponseDef(
            "send_approval_request",
            "Send approval request for the record and create a notification",
            (OptionDef("notification_template", "Notification Template", "template", default="approval_request"),),
        ),
        ResponseDef("release_document", "Release the document"),
        ResponseDef("reopen_document", "Reopen the document"),
        ResponseDef(
            "reject_all_approval_requests",
            "Reject the approval request for the record and create a notification",
            (OptionDef("notify_sender", "Notify Sender", "bool", default=True),),
        ),
        ResponseDef(
            "cancel_all_approval_requests",
            "Cancel all approval requests for the record",
            (OptionDef("notify_sender", "Notify Sender", "bool", default=False),),
        ),
        ResponseDef(
            "send_email",
            "Send an email using a notification template",
            (
                OptionDef("template", "Notification Template", "template", True),
                OptionDef("to_field", "Send To (record field)", "text", True, default="email"),
            ),
        ),
        ResponseDef("show_message", "Show a message", (OptionDef("message", "Message", "text", True),)),
        ResponseDef(
            "post_document",
            "Post the document",
            (OptionDef("in_background", "Post in the background", "bool", default=False),),
        ),
        ResponseDef("add_record_restriction", "Add a record restriction"),
        ResponseDef("remove_record_restriction", "Remove the record restriction"),
    )
}
