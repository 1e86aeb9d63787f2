"""Workflow definitions shipped with the portal, as data: the Sales Order Approval
workflow (after Business Central's MS-SOAPW template) and the customer statement
instant flow. :func:`install_demo_workflows` creates them (enabled) if missing."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.workflow.models import STEP_EVENT, STEP_RESPONSE, TRIGGER_AUTOMATED, TRIGGER_INSTANT, Workflow, WorkflowStep

E, R = STEP_EVENT, STEP_RESPONSE

SALES_ORDER_APPROVAL = {
    "code": "SO-APPROVAL",
    "description": "Sales Order Approval Workflow",
    "category": "Sales documents",
    "record_type": "sales_header",
    "trigger_kind": TRIGGER_AUTOMATED,
    "steps": [
        # id, previous, next, seq, type, function, options, conditions
        (1, None, None, 1, E, "sales_document_approval_requested", {},
         [{"field": "document_type", "operator": "=", "value": "Order"}, {"field": "status", "operator": "=", "value": "Open"}]),
        (2, 1, None, 1, R, "set_status_pending_approval", {}, []),
        (3, 2, None, 1, R, "create_approval_requests",
         {"approver_type": "Salesperson/Purchaser", "limit_type": "Approver Chain", "due_date_days": 2}, []),
        (4, 3, None, 1, R, "send_approval_request", {"notification_template": "approval_request"}, []),
        # follow-up events of step 4, alternatives by priority
        (5, 4, None, 1, E, "approval_request_approved", {}, [{"field": "pending_approvals", "operator": ">", "value": "0"}]),
        (6, 5, 4, 1, R, "send_approval_request", {"notification_template": "approval_request"}, []),
        (7, 4, None, 2, E, "approval_request_approved", {}, [{"field": "pending_approvals", "operator": "=", "value": "0"}]),
        (8, 7, None, 1, R, "release_document", {}, []),
        (9, 4, None, 3, E, "approval_request_rejected", {}, []),
        (10, 9, None, 1, R, "reject_all_approval_requests", {"notify_sender": True}, []),
        (11, 10, None, 1, R, "reopen_document", {}, []),
        (12, 4, None, 4, E, "sales_document_approval_canceled", {}, []),
        (13, 12, None, 1, R, "cancel_all_approval_requests", {"notify_sender": False}, []),
        (14, 13, None, 1, R, "reopen_document", {}, []),
        (15, 4, None, 5, E, "approval_request_delegated", {}, []),
        (16, 15, 4, 1, R, "send_approval_request", {"notification_template": "approval_request"}, []),
    ],
}

CUSTOMER_STATEMENT_FLOW = {
    "code": "CUST-STATEMENT",
    "description": "Email the customer a statement of open orders",
    "category": "Sales and marketing",
    "record_type": "customer",
    "trigger_kind": TRIGGER_INSTANT,
    "input_fields": [
        {"name": "message", "caption": "Message", "type": "long_text", "required": False, "default": "",
         "help": "A personal note placed at the top of the email.", "choices": [], "record_type": ""},
    ],
    "steps": [
        (1, None, None, 1, E, "run_from_automate", {}, []),
        (2, 1, None, 1, R, "send_email", {"template": "customer_statement", "to_field": "email"}, []),
    ],
}

def overdue_approval_requests(code: str, description: str = "Overdue Approval Requests Workflow") -> dict:
    """The overdue approvals job has run → notify the approver, the approver's approver
    and the sender of every Open approval entry past its due date (Business Central's
    overdue approval requests template; the job is the ``overdue_approvals`` system
    job queue entry)."""
    return {"code": code, "description": description, "category": "Administration", "record_type": None,
            "trigger_kind": TRIGGER_AUTOMATED, "steps": [
                (1, None, None, 1, E, "overdue_approvals_job_ran", {}, []),
                (2, 1, None, 1, R, "create_overdue_notifications", {}, []),
            ]}


OVERDUE_APPROVALS = overdue_approval_requests("OVERDUE-APPROVALS", "Notify about overdue approval requests")

DEMO_WORKFLOWS = [SALES_ORDER_APPROVAL, CUSTOMER_STATEMENT_FLOW, OVERDUE_APPROVALS]


def build_workflow(definition: dict, enabled: bool = True) -> Workflow:
    """A new :class:`Workflow` (not added to a session) from a definition dict."""
    wf = Workflow(
        code=definition["code"],
        description=definition["description"],
        category=definition.get("category"),
        record_type=definition.get("record_type"),
        trigger_kind=definition.get("trigger_kind", TRIGGER_AUTOMATED),
        input_fields=definition.get("input_fields", []),
        enabled=enabled,
    )
    for step_id, prev, nxt, seq, type_, fn, options, conds in definition["steps"]:
        wf.steps.append(
            WorkflowStep(
                step_id=step_id, previous_step_id=prev, next_step_id=nxt, sequence_no=seq, type=type_,
                function_name=fn, options=options, conditions=conds, entry_point=prev is None,
            )
        )
    return wf


def install_demo_workflows(session: Session) -> list[str]:
    """Create the shipped workflows (enabled) that don't exist yet. Returns new codes."""
    existing = set(session.scalars(select(Workflow.code)))
    created = []
    for definition in DEMO_WORKFLOWS:
        if definition["code"] not in existing:
            session.add(build_workflow(definition))
            created.append(definition["code"])
    session.flush()
    return created


class _Tree:
    """Builds a step list: ``add`` returns the new step's ID."""

    def __init__(self) -> None:
        self.steps: list[tuple] = []

    def add(self, prev, type_, fn, options=None, conditions=None, seq=1, next_=None) -> int:
        step_id = len(self.steps) + 1
        self.steps.append((step_id, prev, next_, seq, type_, fn, options or {}, conditions or []))
        return step_id

    def chain(self, prev: int, responses: list[tuple[str, dict]]) -> int:
        for fn, options in responses:
            prev = self.add(prev, R, fn, options)
        return prev


PENDING_MORE = [{"field": "pending_approvals", "operator": ">", "value": "0"}]
PENDING_NONE = [{"field": "pending_approvals", "operator": "=", "value": "0"}]
SEND = ("send_approval_request", {"notification_template": "approval_request"})


def _approval_followups(t: _Tree, wait: int, approved: list, rejected: list, canceled_event: str | None, canceled: list) -> None:
    """The branches after a request is sent (``wait`` is the send step): approved with
    more pending → send to the next (back to ``wait``); approved, none pending →
    ``approved``; rejected → ``rejected``; canceled → ``canceled``; delegated → send
    to the new approver (back to ``wait``)."""
    more = t.add(wait, E, "approval_request_approved", conditions=PENDING_MORE, seq=1)
    t.add(more, R, *SEND, next_=wait)
    done = t.add(wait, E, "approval_request_approved", conditions=PENDING_NONE, seq=2)
    t.chain(done, approved)
    rej = t.add(wait, E, "approval_request_rejected", seq=3)
    t.chain(rej, rejected)
    if canceled_event:
        can = t.add(wait, E, canceled_event, seq=4)
        t.chain(can, canceled)
    dele = t.add(wait, E, "approval_request_delegated", seq=5)
    t.add(dele, R, *SEND, next_=wait)


def document_approval(code: str, description: str, category: str, record_type: str, requested: str, canceled: str,
                      conditions: list[dict], approver_type: str = "Salesperson/Purchaser") -> dict:
    """The standard document approval tree (Business Central's approval templates):
    requested → Pending Approval → create requests → send; then approved with more
    pending → send to the next (loop); approved, none pending → release; rejected →
    reject all, reopen; delegated → send to the new approver (loop); canceled →
    cancel all, reopen."""
    t = _Tree()
    entry = t.add(None, E, requested, conditions=conditions)
    wait = t.chain(entry, [
        ("set_status_pending_approval", {}),
        ("create_approval_requests", {"approver_type": approver_type, "limit_type": "Approver Chain", "due_date_days": 2}),
        SEND,
    ])
    _approval_followups(
        t, wait,
        approved=[("release_document", {})],
        rejected=[("reject_all_approval_requests", {"notify_sender": True}), ("reopen_document", {})],
        canceled_event=canceled,
        canceled=[("cancel_all_approval_requests", {"notify_sender": False}), ("reopen_document", {})],
    )
    return {"code": code, "description": description, "category": category, "record_type": record_type,
            "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def credit_limit_checked_approval(code: str, doc_type: str) -> dict:
    """Sales document approval with a customer credit limit check first: over the
    limit → the approval tree; within it → approved automatically and released."""
    t = _Tree()
    entry = t.add(None, E, "sales_document_approval_requested",
                  conditions=[{"field": "document_type", "operator": "=", "value": doc_type},
                              {"field": "status", "operator": "=", "value": "Open"}])
    check = t.add(entry, R, "check_customer_credit_limit")
    over = t.add(check, E, "customer_credit_limit_exceeded", seq=1)
    wait = t.chain(over, [
        ("set_status_pending_approval", {}),
        ("create_approval_requests", {"approver_type": "Salesperson/Purchaser", "limit_type": "Approver Chain", "due_date_days": 2}),
        SEND,
    ])
    _approval_followups(
        t, wait,
        approved=[("release_document", {})],
        rejected=[("reject_all_approval_requests", {"notify_sender": True}), ("reopen_document", {})],
        canceled_event="sales_document_approval_canceled",
        canceled=[("cancel_all_approval_requests", {"notify_sender": False}), ("reopen_document", {})],
    )
    within = t.add(check, E, "customer_credit_limit_not_exceeded", seq=2)
    t.chain(within, [("create_and_approve_approval_request", {}), ("release_document", {})])
    return {"code": code, "description": f"Sales {doc_type} Approval Workflow with Credit Limit Check",
            "category": "Sales documents", "record_type": "sales_header", "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def field_change_approval(code: str, description: str, category: str, record_type: str, field: str) -> dict:
    """Approval of an increase of ``field`` (Business Central's change approvals): the
    change is reverted at once and held; after the last approval it is applied — only if
    the field still holds the old value; rejected → the new value is discarded."""
    t = _Tree()
    entry = t.add(None, E, "record_modified", conditions=[{"field": field, "operator": "increased"}])
    wait = t.chain(entry, [
        ("revert_field_value", {"field": field}),
        ("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": 2}),
        SEND,
    ])
    _approval_followups(
        t, wait,
        approved=[("apply_new_values", {})],
        rejected=[("discard_new_values", {}), ("reject_all_approval_requests", {"notify_sender": True})],
        canceled_event=None,
        canceled=[],
    )
    return {"code": code, "description": description, "category": category, "record_type": record_type,
            "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def _sales(code: str, doc_type: str) -> dict:
    return document_approval(
        code, f"Sales {doc_type} Approval Workflow", "Sales documents", "sales_header",
        "sales_document_approval_requested", "sales_document_approval_canceled",
        [{"field": "document_type", "operator": "=", "value": doc_type}, {"field": "status", "operator": "=", "value": "Open"}],
    )


def _purchase(code: str, doc_type: str) -> dict:
    return document_approval(
        code, f"Purchase {doc_type} Approval Workflow", "Purchase documents", "purchase_header",
        "purchase_document_approval_requested", "purchase_document_approval_canceled",
        [{"field": "document_type", "operator": "=", "value": doc_type}, {"field": "status", "operator": "=", "value": "Open"}],
        approver_type="Approver",
    )


def purchase_group_approval(code: str, doc_type: str) -> dict:
    """Purchase document approval by a workflow user group (members in sequence; those
    sharing a number in parallel). Ships without a group: a copy can't be enabled
    until its Create approval requests response names one."""
    definition = document_approval(
        code, f"Purchase {doc_type} Approval Workflow (workflow user group)", "Purchase documents", "purchase_header",
        "purchase_document_approval_requested", "purchase_document_approval_canceled",
        [{"field": "document_type", "operator": "=", "value": doc_type}, {"field": "status", "operator": "=", "value": "Open"}],
        approver_type="Workflow User Group",
    )
    return definition


def journal_batch_approval(code: str) -> dict:
    """General journal batch approval: check the batch is balanced first; unbalanced →
    a message to the sender; balanced → the approval tree (released when approved)."""
    t = _Tree()
    entry = t.add(None, E, "general_journal_batch_approval_requested", conditions=[{"field": "status", "operator": "=", "value": "Open"}])
    check = t.add(entry, R, "check_journal_batch_balanced")
    ok = t.add(check, E, "general_journal_batch_balanced", seq=1)
    wait = t.chain(ok, [
        ("set_status_pending_approval", {}),
        ("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": 2}),
        SEND,
    ])
    _approval_followups(
        t, wait,
        approved=[("release_document", {})],
        rejected=[("reject_all_approval_requests", {"notify_sender": True}), ("reopen_document", {})],
        canceled_event="general_journal_batch_approval_canceled",
        canceled=[("cancel_all_approval_requests", {"notify_sender": False}), ("reopen_document", {})],
    )
    not_ok = t.add(check, E, "general_journal_batch_not_balanced", seq=2)
    t.add(not_ok, R, "show_message", {"message": "{{ record.title }} is not balanced, so it was not sent for approval. Balance it and send it again."})
    return {"code": code, "description": "General Journal Batch Approval Workflow", "category": "Finance",
            "record_type": "gen_journal_batch", "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def purchase_invoice_post_and_pay(code: str) -> dict:
    """Purchase invoice released → post it → a payment journal line → notify the user."""
    t = _Tree()
    entry = t.add(None, E, "document_released", conditions=[{"field": "document_type", "operator": "=", "value": "Invoice"}])
    post = t.add(entry, R, "post_document", {"in_background": True})
    posted = t.add(post, E, "document_posted")
    t.chain(posted, [
        ("create_payment_journal_line", {"journal_template": "PAYMENT", "journal_batch": "DEFAULT"}),
        ("create_notification", {"recipient": "Sender", "notification_type": "New Record",
                                 "message": "The purchase invoice was posted and a payment line is ready in the PAYMENT journal."}),
    ])
    return {"code": code, "description": "Purchase Invoice Workflow: post and create a payment line",
            "category": "Purchases and payables", "record_type": "purchase_header", "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def restricted_record_approval(code: str, description: str, category: str, record_type: str, requested: str,
                               canceled: str) -> dict:
    """Approval of a record without a status (Business Central's record approval
    templates: customer, vendor, item, general journal line): the record is
    restricted (it can't be modified, released or posted) while the request is under
    way; approved with more pending → send to the next approver (loop); approved,
    none pending → the restriction is lifted (nothing is released: the record has no
    status); rejected → reject all, lift the restriction (the sender is told and can
    change the record and send it again); canceled → cancel all, lift the
    restriction; delegated → send to the new approver (loop). Approvers: the sender's
    approver chain (Approver type Approver, limit type Approver Chain)."""
    t = _Tree()
    entry = t.add(None, E, requested)
    wait = t.chain(entry, [
        ("add_record_restriction", {}),
        ("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": 2}),
        SEND,
    ])
    _approval_followups(
        t, wait,
        approved=[("remove_record_restriction", {})],
        rejected=[("reject_all_approval_requests", {"notify_sender": True}), ("remove_record_restriction", {})],
        canceled_event=canceled,
        canceled=[("cancel_all_approval_requests", {"notify_sender": False}), ("remove_record_restriction", {})],
    )
    return {"code": code, "description": description, "category": category, "record_type": record_type,
            "trigger_kind": TRIGGER_AUTOMATED, "steps": t.steps}


def master_data_approval(code: str, label: str, category: str, record_type: str) -> dict:
    """Approval of a customer, vendor or item (Business Central's master data approval
    templates): see :func:`restricted_record_approval`."""
    return restricted_record_approval(code, f"{label} Approval Workflow", category, record_type,
                                      f"{record_type}_approval_requested", f"{record_type}_approval_canceled")


def journal_line_approval(code: str) -> dict:
    """General journal line approval (Business Central's MS-GJLAPW): the line is
    restricted while its request is under way, so it can't be changed or removed and
    its batch can't be released; see :func:`restricted_record_approval`."""
    return restricted_record_approval(code, "General Journal Line Approval Workflow", "Finance", "gen_journal_line",
                                      "general_journal_line_approval_requested", "general_journal_line_approval_canceled")


# The read-only template library (codes as in Business Central where it has one).
# Templates whose record types or responses arrive with later parts of the engine are
# added with them.
TEMPLATES = [
    _sales("MS-SQAPW", "Quote"),
    _sales("MS-SOAPW", "Order"),
    _sales("MS-SIAPW", "Invoice"),
    _sales("MS-SCMAPW", "Credit Memo"),
    credit_limit_checked_approval("MS-SOCLAPW", "Order"),
    credit_limit_checked_approval("MS-SICLAPW", "Invoice"),
    field_change_approval("MS-CCLCAPW", "Customer Credit Limit Change Approval Workflow", "Sales and marketing", "customer", "credit_limit"),
    field_change_approval("MS-IUPCAPW", "Item Unit Price Change Approval Workflow", "Purchases and payables", "item", "unit_price"),
    _purchase("MS-PQAPW", "Quote"),
    _purchase("MS-POAPW", "Order"),
    _purchase("MS-PIAPW", "Invoice"),
    _purchase("MS-PCMAPW", "Credit Memo"),
    purchase_group_approval("MS-PIUGAPW", "Invoice"),
    journal_batch_approval("MS-GJBAPW"),
    journal_line_approval("MS-GJLAPW"),
    master_data_approval("MS-CUSTAPW", "Customer", "Sales and marketing", "customer"),
    master_data_approval("MS-VENDAPW", "Vendor", "Purchases and payables", "vendor"),
    master_data_approval("MS-ITEMAPW", "Item", "Purchases and payables", "item"),
    purchase_invoice_post_and_pay("MS-PIW"),
    overdue_approval_requests("MS-OVERDUEAPW"),
]

TEMPLATE_CATEGORIES = (
    "Purchase documents", "Sales documents", "Sales and marketing", "Purchases and payables", "Finance", "Administration",
)


def install_templates(session: Session) -> list[str]:
    """Create the template library rows (``template=True``, never enabled), replacing
    older versions of shipped templates so an upgrade refreshes them. Returns the codes
    created for the first time."""
    created = []
    for definition in TEMPLATES:
        existing = session.scalar(select(Workflow).where(Workflow.code == definition["code"]))
        if existing is not None and not existing.template:
            continue  # a user's own workflow holds the code: leave it alone
        if existing is not None:
            session.delete(existing)
            session.flush()
        else:
            created.append(definition["code"])
        wf = build_workflow(definition, enabled=False)
        wf.template = True
        session.add(wf)
    session.flush()
    return created
