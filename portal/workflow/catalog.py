"""The event catalog and the response catalog.

Events name what happened (Business Central's workflow events); responses name what
to do (workflow responses). Codes are stable identifiers stored in workflow steps.

The engine knows no area: areas register with it here, as blueprints register routes
(see :func:`portal.areas.register`):

- :data:`RECORD_TYPES`: record types (``portal.records.registry`` fills it);
- :data:`IMPLEMENTATIONS`: response code → function, through :func:`implements`;
- :data:`VALUE_PROVIDERS`: extra values conditions see for some events (approvals);
- :data:`CONTEXT_PROVIDERS`: extra template values per record type (records);
- :data:`OPTION_VALIDATORS`: response-specific option checks (approvals);
- :data:`RUN_FAILED_HANDLERS`: told when a run fails (notifications tells the user);
- :data:`RUN_CANCELED_HANDLERS`: told when a run is canceled by hand (approvals cancel
  its approval entries, records reopen the document it left pending approval);
- :data:`RUN_FAILED_WATCHERS`: told when a run ends Failed for any cause (flows);
- :data:`EFFECT_PERFORMERS`: effect kind → the function that performs it after commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable


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
    kind: str = "text"  # text, int, choice, user, template, bool, url, field, headers, secret
    # "secret": stored encrypted (:mod:`portal.workflow.vault`), never shown back
    required: bool = False
    choices: tuple[str, ...] = ()
    default: object = None


@dataclass(frozen=True)
class ResponseDef:
    """A response: ``record_types`` it fits (empty = any record type; the editor
    offers a response only on workflows of a record type it fits)."""

    code: str
    description: str
    options: tuple[OptionDef, ...] = field(default_factory=tuple)
    record_types: tuple[str, ...] = ()


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
        EventDef("document_released", "A document is released", ("sales_header", "purchase_header", "gen_journal_batch")),
        EventDef("purchase_document_approval_requested", "Approval of a purchase document is requested", ("purchase_header",)),
        EventDef("purchase_document_approval_canceled", "An approval request for a purchase document is canceled", ("purchase_header",)),
        EventDef("general_journal_batch_approval_requested", "Approval of a general journal batch is requested", ("gen_journal_batch",)),
        EventDef("general_journal_batch_approval_canceled", "An approval request for a general journal batch is canceled", ("gen_journal_batch",)),
        EventDef("general_journal_line_approval_requested", "Approval of a general journal line is requested", ("gen_journal_line",)),
        EventDef("general_journal_line_approval_canceled", "An approval request for a general journal line is canceled", ("gen_journal_line",)),
        EventDef("document_posted", "A document is posted", ("sales_header", "purchase_header"), ("posted_record_type", "posted_record_id", "posted_no")),
        EventDef("run_from_automate", "A user runs the flow from the Automate menu"),
        EventDef("http_request_received", "An HTTP request is received"),
        EventDef("schedule_fired", "A schedule fires"),
        EventDef("overdue_approvals_job_ran", "The overdue approval requests job is run"),
        EventDef("customer_approval_requested", "Approval of a customer is requested", ("customer",)),
        EventDef("customer_approval_canceled", "An approval request for a customer is canceled", ("customer",)),
        EventDef("vendor_approval_requested", "Approval of a vendor is requested", ("vendor",)),
        EventDef("vendor_approval_canceled", "An approval request for a vendor is canceled", ("vendor",)),
        EventDef("item_approval_requested", "Approval of an item is requested", ("item",)),
        EventDef("item_approval_canceled", "An approval request for an item is canceled", ("item",)),
        EventDef("general_journal_line_created", "A general journal line is created", ("gen_journal_batch",),
                 ("line_no", "line_account_type", "line_account_no", "line_amount", "line_document_type")),
        EventDef("general_journal_batch_balanced", "The general journal batch is balanced", ("gen_journal_batch",)),
        EventDef("general_journal_batch_not_balanced", "The general journal batch is not balanced", ("gen_journal_batch",)),
        EventDef("customer_credit_limit_exceeded", "The customer's credit limit is exceeded", ("sales_header",)),
        EventDef("customer_credit_limit_not_exceeded", "The customer's credit limit is not exceeded", ("sales_header",)),
    )
}

APPROVER_TYPES = ("Salesperson/Purchaser", "Approver", "Workflow User Group")
GROUP_APPROVAL_CHOICES = ("As set on the group", "Any one suffices", "All must approve")
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
                OptionDef("group_approval", "Group Members Sharing a Sequence No.", "choice", False, GROUP_APPROVAL_CHOICES, "As set on the group"),
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
        ResponseDef(
            "create_and_approve_approval_request",
            "Create an approval request for the record and approve it automatically",
        ),
        ResponseDef(
            "approve_approval_request",
            "Approve the approval request for the record",
            (OptionDef("notify_sender", "Notify Sender", "bool", default=False),),
        ),
        ResponseDef("check_customer_credit_limit", "Check the customer's credit limit"),
        ResponseDef("create_overdue_notifications", "Create notifications for overdue approval requests"),
        ResponseDef(
            "create_record",
            "Create a document",
            (
                OptionDef("document", "Document", "choice", True,
                          ("Purchase Order", "Purchase Quote", "Purchase Invoice", "Sales Order", "Sales Quote", "Sales Invoice"),
                          "Purchase Order"),
                OptionDef("partner_no", "Customer / Vendor No. (template)", "text", True, default="{{ record.vendor_no }}"),
                OptionDef("item_no", "Item No. of a line (template)", "text", default="{{ record.no }}"),
                OptionDef("quantity", "Quantity of the line (template)", "text", default="1"),
            ),
        ),
        ResponseDef("check_journal_batch_balanced", "Check that the general journal batch is balanced"),
        ResponseDef(
            "create_payment_journal_line",
            "Create a payment journal line for the posted purchase invoice",
            (
                OptionDef("journal_template", "General Journal Template", "text", True, default="PAYMENT"),
                OptionDef("journal_batch", "General Journal Batch", "text", True, default="DEFAULT"),
            ),
        ),
        ResponseDef("revert_field_value", "Revert the changed field's value", (OptionDef("field", "Field", "field", True),)),
        ResponseDef("apply_new_values", "Apply the new values"),
        ResponseDef("discard_new_values", "Discard the new values"),
        ResponseDef(
            "create_notification",
            "Create a notification",
            (
                OptionDef("recipient", "Recipient", "choice", True, ("Sender", "Approver", "Specific User", "Salesperson/Purchaser"),
                          "Sender"),
                OptionDef("user", "Specific User", "user"),
                OptionDef("notification_type", "Notification Type", "choice", True, ("New Record", "Approval", "Overdue"), "New Record"),
                OptionDef("link", "Custom Link", "url"),
                OptionDef("message", "Message", "text"),
            ),
        ),
        ResponseDef(
            "update_field",
            "Update a field of the record",
            (OptionDef("field", "Field", "field", True), OptionDef("value", "New Value (template)", "text")),
        ),
        ResponseDef(
            "call_webhook",
            "Call an HTTP webhook",
            (
                OptionDef("url", "URL", "url", True),
                OptionDef("method", "Method", "choice", True, ("POST", "PUT", "PATCH", "GET"), "POST"),
                OptionDef("headers", "Headers (one Name: value per line)", "headers"),
                OptionDef("body", "Body (template)", "text", default='{"record": "{{ record.title }}"}'),
                OptionDef("bearer_token", "Bearer token (secret)", "secret"),
                OptionDef("basic_username", "Basic authentication: user name", "text"),
                OptionDef("basic_password", "Basic authentication: password (secret)", "secret"),
                OptionDef("secret_headers", "Secret headers (one Name: value per line)", "secret"),
                OptionDef("timeout", "Timeout (seconds)", "int", default=10),
                OptionDef("retries", "Retries", "int", default=2),
            ),
        ),
        ResponseDef("remove_record_restriction", "Remove the record restriction"),
    )
}


# Which record types each response fits (not listed: any record type), set on the
# definitions above: approval responses on the record types that have approvals,
# document responses on documents, checks on their own record type.
APPROVABLE = ("customer", "vendor", "item", "sales_header", "purchase_header", "gen_journal_batch", "gen_journal_line")
RELEASABLE = ("sales_header", "purchase_header", "gen_journal_batch")
_FITS: dict[str, tuple[str, ...]] = {
    "set_status_pending_approval": RELEASABLE, "release_document": RELEASABLE, "reopen_document": RELEASABLE,
    "post_document": ("sales_header", "purchase_header"),
    "create_approval_requests": APPROVABLE, "send_approval_request": APPROVABLE, "reject_all_approval_requests": APPROVABLE,
    "cancel_all_approval_requests": APPROVABLE, "approve_approval_request": APPROVABLE,
    "create_and_approve_approval_request": APPROVABLE,
    "check_customer_credit_limit": ("sales_header",), "check_journal_batch_balanced": ("gen_journal_batch",),
    "create_payment_journal_line": ("purchase_header",),
}
for _code, _types in _FITS.items():
    RESPONSES[_code] = replace(RESPONSES[_code], record_types=_types)

#: The event that starts a flow of each trigger kind (an instant flow is run from the
#: Automate menu, a scheduled flow by its schedule).
TRIGGER_EVENTS = {"instant": "run_from_automate", "scheduled": "schedule_fired"}


def fits(definition: EventDef | ResponseDef, record_type: str | None) -> bool:
    """True if an event or response applies to workflows of ``record_type``: it names
    no record type (any), or names this one. A workflow without a record type takes
    only those that name none."""
    if not definition.record_types:
        return True
    return record_type in definition.record_types


def events_for(record_type: str | None, trigger_kind: str | None = None) -> dict[str, EventDef]:
    """The events a workflow of ``record_type`` (and ``trigger_kind``) can use, the
    most fitting first: the trigger kind's own event (instant, scheduled), then the
    record type's own events (its approval request first), then events of any record
    type — catalog order within each group. Another trigger kind's own event is left
    out (no "A schedule fires" in an instant flow)."""
    own = TRIGGER_EVENTS.get(trigger_kind or "")
    others = set(TRIGGER_EVENTS.values()) - {own} if trigger_kind else set()
    ordered = sorted((e for e in EVENTS.values() if fits(e, record_type) and e.code not in others),
                     key=lambda e: (e.code != own, not e.record_types, not e.code.endswith("approval_requested")))
    return {e.code: e for e in ordered}


def responses_for(record_type: str | None) -> dict[str, ResponseDef]:
    """The responses that fit workflows of ``record_type``, in catalog order."""
    return {r.code: r for r in RESPONSES.values() if fits(r, record_type)}


# Responses that leave the record as it is: the record's template values built for
# one of them are reused by the next response of the chain (others rebuild them).
KEEPS_RECORD = frozenset({"do_nothing", "show_message", "create_notification", "send_email", "call_webhook"})

# Responses that need no database ids of the new instance (they write rows that refer
# to the record only, or to the instance through the effect key): a chain of these
# lets the engine insert a new instance with the rest of the batch, in one go.
ID_FREE = KEEPS_RECORD | {"update_field"}


# ---------------------------------------------------------------- registries (filled by the areas)

RECORD_TYPES: dict[str, Any] = {}
"""Record type key → record type (``portal.records.registry.RecordType``: ``model``,
``values(record)``, ``title(record)``, ``amount``, ``line_fields``, ``field_names()``)."""

IMPLEMENTATIONS: dict[str, Callable[[Any], str | None]] = {}
"""Response code → function taking a ``StepContext`` and returning an outcome message."""

VALUE_PROVIDERS: list[Callable[[Any, Any, dict], None]] = []
"""``fn(session, outbox_event, values)`` adds event-specific values for conditions."""

CONTEXT_PROVIDERS: dict[str, Any] = {}
"""Record type key → :class:`ContextProvider` adding extra template values."""

RUN_FAILED_HANDLERS: list[Callable[[Any, Any, Any], None]] = []
"""``fn(session, instance, outbox_event)`` called in the transaction that marks a run Failed."""

RUN_CANCELED_HANDLERS: list[Callable[[Any, Any, Any], None]] = []
"""``fn(session, instance, user_id)`` called in the transaction that cancels a run by
hand (:func:`portal.workflow.service.cancel_instance`): what the run left half done
is undone there."""

RUN_FAILED_WATCHERS: list[Callable[[Any, Any], None]] = []
"""``fn(session, instance)`` called in the transaction that marks a run Failed, for any
cause (a response or an effect failed): e.g. flows flags a flow that keeps failing."""

OPTION_VALIDATORS: dict[str, Callable[[Any, dict, dict], None]] = {}
"""Response code → ``fn(session_or_None, options, errors)`` adding ``{option: message}``
for rules beyond each option's kind (e.g. approvals: a group code must exist)."""

EFFECT_PERFORMERS: dict[str, Callable[..., Any]] = {}
"""Effect kind (``email``, ``webhook``) → performer; see :mod:`portal.workflow.effects`."""


@dataclass(frozen=True)
class ContextProvider:
    """Extra template values for a record type: ``fn(session, record)`` returns a dict
    with the keys ``names`` (computed only for templates that mention one of them)."""

    names: tuple[str, ...]
    fn: Callable[[Any, Any], dict]

    def __call__(self, session, record) -> dict:
        return self.fn(session, record)


def implements(code: str):
    """Decorator: register ``fn`` as the implementation of response ``code``.
    Raises ``KeyError`` when the response catalog has no such code."""
    if code not in RESPONSES:
        raise KeyError(f"{code} is not in the response catalog")

    def register(fn):
        IMPLEMENTATIONS[code] = fn
        return fn

    return register
