"""The gallery of starter flows: each one click from a working copy — a new flow,
disabled, owned by the user, built from the engine's events and responses. Check it
(and Test it), then turn it on."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.audit.service import record_audit
from portal.auth.models import User
from portal.workflow import flow_setup
from portal.workflow import service as workflow_service
from portal.workflow.library import build_workflow
from portal.workflow.models import STEP_EVENT as E
from portal.workflow.models import STEP_RESPONSE as R
from portal.workflow.models import TRIGGER_AUTOMATED, TRIGGER_INSTANT, TRIGGER_SCHEDULED, Workflow

#: The payments system's webhook address the "call the payments webhook" starter uses
#: until the user changes it (an address of the example domain: it must be set).
PAYMENTS_WEBHOOK_URL = "https://payments.example.com/hooks/purchase-invoice-posted"


@dataclass(frozen=True)
class Starter:
    """A starter flow: ``key`` (URL part), ``title`` and ``what`` (words for the
    gallery card), ``before_on`` (what to check before turning it on) and the
    workflow ``definition`` (see :func:`portal.workflow.library.build_workflow`;
    ``code`` is the base of the copies' codes, ``schedule`` as in
    :func:`portal.jobqueue.service.sync_workflow_schedules`)."""

    key: str
    title: str
    what: str
    before_on: str
    definition: dict


def _steps(event: str, conditions: list[dict], responses: list[tuple[str, dict]]) -> list[tuple]:
    steps = [(1, None, None, 1, E, event, {}, conditions)]
    for n, (fn, options) in enumerate(responses, start=2):
        steps.append((n, n - 1, None, 1, R, fn, options, []))
    return steps


STARTERS: tuple[Starter, ...] = (
    Starter(
        "block-vendor", "Block a vendor and email its contact",
        "Instant flow on vendors: sets Blocked and e-mails the vendor's contact that purchases are on hold.",
        "The vendor needs an e-mail address.",
        {"code": "BLOCK-VENDOR", "description": "Block a vendor and email its contact", "category": "Purchases and payables",
         "record_type": "vendor", "trigger_kind": TRIGGER_INSTANT,
         "input_fields": [{"name": "message", "caption": "Message", "type": "long_text", "required": False, "default": "",
                           "help": "A note for the vendor's contact.", "choices": [], "record_type": ""}],
         "steps": _steps("run_from_automate", [], [
             ("update_field", {"field": "blocked", "value": "true"}),
             ("send_email", {"template": "vendor_blocked", "to_field": "email"}),
         ])},
    ),
    Starter(
        "customer-open-orders", "Email the customer their open orders",
        "Instant flow on customers: e-mails the customer a statement of their open sales orders.",
        "The customer needs an e-mail address.",
        {"code": "OPEN-ORDERS", "description": "Email the customer their open orders", "category": "Sales and marketing",
         "record_type": "customer", "trigger_kind": TRIGGER_INSTANT,
         "input_fields": [{"name": "message", "caption": "Message", "type": "long_text", "required": False, "default": "",
                           "help": "A personal note placed at the top of the email.", "choices": [], "record_type": ""}],
         "steps": _steps("run_from_automate", [], [("send_email", {"template": "customer_statement", "to_field": "email"})])},
    ),
    Starter(
        "big-order", "Notify the salesperson when an order over 5,000 is created",
        "Automated flow on sales documents: when a new order's amount first goes over 5,000 (as its lines are "
        "added), its salesperson gets one notification.",
        "The salesperson needs a user with that salesperson code in Approval User Setup.",
        {"code": "BIG-ORDER", "description": "Notify the salesperson when an order over 5,000 is created",
         "category": "Sales documents", "record_type": "sales_header", "trigger_kind": TRIGGER_AUTOMATED,
         # an order is created without lines (amount 0): the run waits until its amount first goes over
         # 5,000 (then notifies, once), or ends quietly when the order is deleted or posted first
         "steps": [
             (1, None, None, 1, E, "record_created", {}, [{"field": "document_type", "operator": "=", "value": "Order"}]),
             (2, 1, None, 1, R, "do_nothing", {}, []),
             (3, 2, None, 1, E, "record_modified", {}, [{"field": "amount", "operator": ">", "value": "5000"}]),
             (4, 3, None, 1, R, "create_notification", {
                 "recipient": "Salesperson/Purchaser", "notification_type": "New Record",
                 "message": "A new order over 5,000: {{ record.title }} for {{ record.customer_name }}, "
                            "amount {{ record.amount }}."}, []),
             (5, 2, None, 2, E, "record_deleted", {}, []),
             (6, 5, None, 1, R, "do_nothing", {}, []),
             (7, 2, None, 3, E, "document_posted", {}, []),
             (8, 7, None, 1, R, "do_nothing", {}, []),
         ]},
    ),
    Starter(
        "reorder", "Every Monday, create purchase orders for items below their reorder point",
        "Scheduled flow on items, every Monday at 08:00 (UTC): for each item whose inventory is below its reorder "
        "point, a purchase order to the item's vendor for the reorder point's quantity.",
        "Items need a vendor. The schedule is a job queue entry once the flow exists; change it there.",
        {"code": "REORDER", "description": "Every Monday, create purchase orders for items below their reorder point",
         "category": "Purchases and payables", "record_type": "item", "trigger_kind": TRIGGER_SCHEDULED,
         "schedule": {"recurrence_kind": "cron", "cron_expression": "0 8 * * 1", "time_zone": "UTC"},
         "steps": _steps("schedule_fired", [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}], [
             ("create_record", {"document": "Purchase Order", "partner_no": "{{ record.vendor_no }}",
                                "item_no": "{{ record.no }}", "quantity": "{{ record.reorder_point }}"}),
         ])},
    ),
    Starter(
        "payments-webhook", "When a purchase invoice is posted, call the payments webhook",
        "Automated flow on purchase documents: when an invoice is posted, POSTs its number, vendor and amount "
        "to the payments system.",
        "Set the webhook's URL to your payments system's address.",
        {"code": "PAY-WEBHOOK", "description": "When a purchase invoice is posted, call the payments webhook",
         "category": "Purchases and payables", "record_type": "purchase_header", "trigger_kind": TRIGGER_AUTOMATED,
         "steps": _steps("document_posted", [{"field": "document_type", "operator": "=", "value": "Invoice"}], [
             ("call_webhook", {"url": PAYMENTS_WEBHOOK_URL, "method": "POST", "timeout": 10, "retries": 2,
                               "body": '{"invoice": "{{ record.no }}", "vendor": "{{ record.vendor_no }}", '
                                       '"amount": "{{ record.amount }}"}'}),
         ])},
    ),
)
BY_KEY = {s.key: s for s in STARTERS}


class GalleryError(Exception):
    """A starter can't be copied (message for the user)."""


def use_starter(session: Session, key: str, user: User) -> Workflow:
    """A working copy of starter ``key``: a new flow, disabled, owned by ``user``,
    coded after the starter ("BLOCK-VENDOR-01", "-02", …), audited. The caller
    commits. Raises :class:`GalleryError` (no such starter, the user may not create
    flows of its trigger kind)."""
    starter = BY_KEY.get(key)
    if starter is None:
        raise GalleryError(f"There is no starter flow {key!r}.")
    d = starter.definition
    if not flow_setup.may_create_flow(session, user, d["trigger_kind"]):
        raise GalleryError(f"You are not permitted to create {d['trigger_kind']} flows.")
    try:
        code = workflow_service.next_copy_code(session, d["code"])
    except workflow_service.WorkflowError as exc:
        raise GalleryError(str(exc)) from exc
    wf = build_workflow({**d, "code": code, "input_fields": [dict(f) for f in d.get("input_fields", [])],
                         "steps": [(*s[:6], dict(s[6]), [dict(c) for c in s[7]]) for s in d["steps"]]}, enabled=False)
    wf.schedule = dict(d["schedule"]) if d.get("schedule") else None
    wf.owner_id = user.id
    session.add(wf)
    session.flush()
    record_audit(session, "workflow", "create_from_gallery", user_id=user.id, record_type="workflow", record_id=wf.id,
                 record_title=f"Workflow {wf.code} — {wf.description}", detail=f"From the gallery's “{d['description']}”")
    return wf
