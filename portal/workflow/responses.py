"""Response implementations, keyed by the response catalog's codes.

Each takes a :class:`~portal.workflow.engine.StepContext` and returns a short outcome
message (shown in run history and the Run flow pane) or raises
:class:`~portal.workflow.engine.ResponseError`."""
from __future__ import annotations

from decimal import Decimal
from typing import Callable

from portal.approvals import service as approvals
from portal.records import service as records
from portal.records.models import STATUS_PENDING_APPROVAL, GenJournalBatch, PurchaseHeader, SalesHeader
from portal.workflow.catalog import RESPONSES
from portal.workflow.engine import ResponseError, StepContext

IMPLEMENTATIONS: dict[str, Callable[[StepContext], str | None]] = {}


def implements(code: str):
    if code not in RESPONSES:
        raise KeyError(f"{code} is not in the response catalog")

    def register(fn):
        IMPLEMENTATIONS[code] = fn
        return fn

    return register


def run_response(ctx: StepContext) -> str | None:
    """Run the response named by ``ctx.step.function_name``. Raises ResponseError."""
    fn = IMPLEMENTATIONS.get(ctx.step.function_name)
    if fn is None:
        raise ResponseError(f"Response {ctx.step.function_name!r} is not available.")
    return fn(ctx)


DOCUMENT_TYPES = (SalesHeader, PurchaseHeader, GenJournalBatch)


def _document(ctx: StepContext):
    """The record as a document with a status (sales or purchase document, journal
    batch). Raises ResponseError for other records."""
    if not isinstance(ctx.record, DOCUMENT_TYPES):
        raise ResponseError(f"{ctx.step.function_name} needs a document; the record is {ctx.instance.record_type}.")
    return ctx.record


def _title(ctx: StepContext) -> str:
    return ctx.record_type.title(ctx.record)


@implements("do_nothing")
def do_nothing(ctx: StepContext) -> None:
    return None


@implements("show_message")
def show_message(ctx: StepContext) -> str:
    """The rendered ``message`` template becomes the run's result; the user who raised
    the event also gets it as a notification (the Run flow pane shows instant flows'
    results directly)."""
    message = _render(ctx, str(ctx.options.get("message") or ""))
    if ctx.user_id is not None and ctx.event.event_code != "run_from_automate":
        from portal.notifications.service import create_notification

        create_notification(ctx.session, recipient_id=ctx.user_id, type_="New Record", record_type=ctx.instance.record_type,
                            record_id=ctx.instance.record_id, template_code="workflow_notification", custom_message=message)
    return message


@implements("set_status_pending_approval")
def set_status_pending_approval(ctx: StepContext) -> str:
    doc = _document(ctx)
    records.set_status(ctx.session, doc, STATUS_PENDING_APPROVAL, ctx.user_id, by_workflow=True)
    return f"{_title(ctx)} is pending approval"


@implements("release_document")
def release_document(ctx: StepContext) -> str:
    doc = _document(ctx)
    try:
        records.release(ctx.session, doc, ctx.user_id, by_workflow=True)
    except records.RecordError as exc:
        raise ResponseError(str(exc)) from exc
    return f"{_title(ctx)} released"


@implements("reopen_document")
def reopen_document(ctx: StepContext) -> str:
    doc = _document(ctx)
    records.reopen(ctx.session, doc, ctx.user_id, by_workflow=True)
    return f"{_title(ctx)} reopened"


IMPLEMENTATIONS["create_approval_requests"] = approvals.create_requests
IMPLEMENTATIONS["send_approval_request"] = approvals.send_requests
IMPLEMENTATIONS["reject_all_approval_requests"] = approvals.reject_all
IMPLEMENTATIONS["cancel_all_approval_requests"] = approvals.cancel_all
IMPLEMENTATIONS["create_overdue_notifications"] = approvals.create_overdue_notifications_response


@implements("send_email")
def send_email(ctx: StepContext) -> str:
    """Render the notification template for the record and send it to the address in
    the record field ``to_field``."""
    from portal.notifications.service import record_context, render_template_code, send_mail

    if ctx.record is None:
        raise ResponseError("The record no longer exists.")
    to_field = ctx.options.get("to_field") or "email"
    to = getattr(ctx.record, to_field, None)
    if not to:
        raise ResponseError(f"{ctx.record_type.title(ctx.record)} has no value in {to_field!r} to send the email to.")
    context = record_context(ctx.session, ctx.instance.record_type, ctx.record)
    context["inputs"] = ctx.instance.inputs or {}
    context["message"] = (ctx.instance.inputs or {}).get("message", "")
    subject, body = render_template_code(ctx.session, ctx.options.get("template"), context)
    send_mail(to, subject, body)
    return f"Email “{subject}” sent to {to}"


# ---------------------------------------------------------------- approvals

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

    n = approvals._close_all(ctx, [OPEN], APPROVED, bool(ctx.options.get("notify_sender")), "approval_request")
    return f"{n} approval request(s) approved"


# ---------------------------------------------------------------- credit limit

@implements("check_customer_credit_limit")
def check_customer_credit_limit(ctx: StepContext) -> str:
    """Compare the customer's exposure — Released sales orders plus this document's
    amount, in the local currency — with the customer's credit limit (0 = no limit,
    as in Business Central) and raise ``customer_credit_limit_exceeded`` or
    ``customer_credit_limit_not_exceeded`` on the document."""
    from sqlalchemy import func, select

    doc = _document(ctx)
    customer = doc.customer
    released = ctx.session.scalar(
        select(func.coalesce(func.sum(SalesHeader.amount), 0)).where(
            SalesHeader.customer_id == customer.id, SalesHeader.status == "Released", SalesHeader.id != doc.id
        )
    )
    exposure = Decimal(released or 0) + Decimal(doc.amount or 0)
    limit = Decimal(customer.credit_limit or 0)
    exceeded = limit > 0 and exposure > limit
    ctx.raise_event("customer_credit_limit_exceeded" if exceeded else "customer_credit_limit_not_exceeded",
                    exposure=str(exposure), credit_limit=str(limit))
    verdict = "exceeds" if exceeded else "is within"
    return f"Exposure {exposure:,.2f} {verdict} the credit limit of {customer.name} ({'none' if not limit else f'{limit:,.2f}'})"


# ---------------------------------------------------------------- held-back changes

def _coerce_field(rt, field: str, text):
    """A value for ``rt``'s field ``field`` from its text form (None stays None)."""
    from datetime import date

    kind = rt.field(field).kind
    if text is None:
        return None
    if kind in ("money", "decimal"):
        return Decimal(str(text))
    if kind == "int":
        return int(text)
    if kind == "bool":
        return str(text).lower() in ("1", "true", "yes", "on")
    if kind == "date":
        return date.fromisoformat(str(text))
    return str(text)


def _field(ctx: StepContext) -> str:
    field = ctx.options.get("field")
    if ctx.record_type is None or field not in ctx.record_type.field_names():
        raise ResponseError(f"{field!r} is not a field of {ctx.record_type.plural if ctx.record_type else 'the record'}.")
    return field


@implements("revert_field_value")
def revert_field_value(ctx: StepContext) -> str:
    """Hold back the change of ``field`` made by the triggering event: keep old and new
    values as a workflow record change and put the old value back."""
    from portal.workflow.models import WorkflowRecordChange

    field = _field(ctx)
    old_values = ctx.event.payload.get("old_values") or {}
    new_values = ctx.event.payload.get("new_values") or {}
    if field not in old_values:
        return f"{field} did not change: nothing to revert"
    ctx.session.add(WorkflowRecordChange(
        instance_id=ctx.instance.id, record_type=ctx.record_type.key, record_id=ctx.record.id, field=field,
        old_value=None if old_values[field] is None else str(old_values[field]),
        new_value=None if new_values.get(field) is None else str(new_values[field]),
    ))
    setattr(ctx.record, field, _coerce_field(ctx.record_type, field, old_values[field]))
    return f"{field} reverted to {old_values[field]} until the change is approved (new value {new_values.get(field)})"


def _pending_changes(ctx: StepContext):
    from sqlalchemy import select

    from portal.workflow.models import WorkflowRecordChange

    return ctx.session.scalars(
        select(WorkflowRecordChange).where(WorkflowRecordChange.instance_id == ctx.instance.id, WorkflowRecordChange.status == "Pending")
    ).all()


@implements("apply_new_values")
def apply_new_values(ctx: StepContext) -> str:
    """Write the held-back new values — each only if the field still holds the old
    value (someone may have changed it meanwhile; then it is left alone)."""
    from portal.util import utcnow

    done = []
    for change in _pending_changes(ctx):
        current = getattr(ctx.record, change.field)
        expected = _coerce_field(ctx.record_type, change.field, change.old_value)
        if current == expected:
            setattr(ctx.record, change.field, _coerce_field(ctx.record_type, change.field, change.new_value))
            change.status = "Applied"
            done.append(f"{change.field} = {change.new_value}")
        else:
            change.status = "Not Applied"
            done.append(f"{change.field} not applied: it changed meanwhile to {current}")
        change.closed_at = utcnow()
    return "; ".join(done) or "No held-back changes"


@implements("discard_new_values")
def discard_new_values(ctx: StepContext) -> str:
    from portal.util import utcnow

    changes = _pending_changes(ctx)
    for change in changes:
        change.status, change.closed_at = "Discarded", utcnow()
    return f"{len(changes)} held-back change(s) discarded"


# ---------------------------------------------------------------- notifications, fields, webhooks

def _template_context(ctx: StepContext) -> dict:
    from portal.notifications.service import record_context

    context = record_context(ctx.session, ctx.instance.record_type, ctx.record)
    if ctx.record is None:  # deleted (or posted) since: its last values came with the event
        last = ctx.event.payload.get("old_values") or ctx.event.payload.get("new_values") or {}
        context["record"] = {**last, "title": ctx.instance.record_title or ""}
    context["inputs"] = ctx.instance.inputs or {}
    context["event"] = {k: v for k, v in (ctx.event.payload or {}).items() if k in ("old_values", "new_values", "comment")}
    return context


def _render(ctx: StepContext, source: str, html: bool = False) -> str:
    from portal.notifications.rendering import TemplateRenderError, render

    try:
        return render(source or "", _template_context(ctx), html=html)
    except TemplateRenderError as exc:
        raise ResponseError(str(exc)) from exc


@implements("create_notification")
def create_notification_response(ctx: StepContext) -> str:
    """A notification entry for the sender (the user who raised the event), the
    record's current approver, or a specific user; linked to the record or a custom
    link; sent by the notification dispatcher."""
    from sqlalchemy import select

    from portal.approvals.models import OPEN, ApprovalEntry
    from portal.auth.models import User
    from portal.notifications.service import create_notification

    who = ctx.options.get("recipient", "Sender")
    if who == "Specific User":
        user = ctx.session.scalar(select(User).where(User.user_name == (ctx.options.get("user") or "")))
        recipient_id = user.id if user else None
    elif who == "Approver":
        entry = ctx.session.scalars(select(ApprovalEntry).where(
            ApprovalEntry.workflow_instance_id == ctx.instance.id, ApprovalEntry.status == OPEN)).first()
        recipient_id = entry.approver_id if entry else None
    else:
        recipient_id = ctx.user_id
    if recipient_id is None:
        raise ResponseError(f"There is no {who.lower()} to notify for {ctx.instance.record_title or 'this run'}.")
    message = _render(ctx, ctx.options.get("message") or "")
    create_notification(
        ctx.session, recipient_id=recipient_id, type_=ctx.options.get("notification_type", "New Record"),
        record_type=ctx.instance.record_type, record_id=ctx.instance.record_id, template_code="workflow_notification",
        sender_id=ctx.user_id, custom_message=message, link=ctx.options.get("link") or None,
    )
    recipient = ctx.session.get(User, recipient_id)
    return f"Notification for {recipient.full_name}"


@implements("update_field")
def update_field(ctx: StepContext) -> str:
    """Set ``field`` to the rendered ``value`` template (e.g. ``{{ record.amount }}``).
    The change is made by the workflow and raises no record-modified event."""
    field = _field(ctx)
    text = _render(ctx, str(ctx.options.get("value") or "")).strip()
    try:
        value = _coerce_field(ctx.record_type, field, text if text != "" else None)
    except (ValueError, ArithmeticError) as exc:
        raise ResponseError(f"{text!r} is not a valid value for {field}.") from exc
    setattr(ctx.record, field, value)
    return f"{field} set to {text}"


@implements("call_webhook")
def call_webhook(ctx: StepContext) -> str:
    """Send the rendered body to ``url`` (JSON when it parses as JSON) with ``method``;
    ``timeout`` seconds per try, ``retries`` more tries on connection errors and 5xx
    answers with back-off (urllib3's Retry). A non-2xx answer fails the step."""
    import json

    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    url, method = ctx.options.get("url"), ctx.options.get("method", "POST")
    body = _render(ctx, ctx.options.get("body") or "")
    retries = int(ctx.options.get("retries") or 0)
    timeout = float(ctx.options.get("timeout") or 10)
    session = requests.Session()
    retry = Retry(total=retries, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                  allowed_methods=frozenset({"GET", "POST", "PUT", "PATCH"}), raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    headers = {"User-Agent": "workflow-portal", "X-Workflow-Instance": str(ctx.instance.id)}
    try:
        json.loads(body)
        headers["Content-Type"] = "application/json"
    except ValueError:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    try:
        response = session.request(method, url, data=body.encode() if method != "GET" else None, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise ResponseError(f"{method} {url} failed: {exc.__class__.__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise ResponseError(f"{method} {url} answered {response.status_code} {response.reason}")
    return f"{method} {url} → {response.status_code}"


from portal.workflow import responses_records  # noqa: E402,F401  (post document, record restrictions)


# ---------------------------------------------------------------- journals

@implements("check_journal_batch_balanced")
def check_journal_batch_balanced(ctx: StepContext) -> str:
    """Raise ``general_journal_batch_balanced`` or ``…_not_balanced`` for the batch
    (a batch balances when its lines without a balancing account add up to 0)."""
    batch = ctx.record
    if not isinstance(batch, GenJournalBatch):
        raise ResponseError(f"Checking the balance needs a general journal batch; the record is {ctx.instance.record_type}.")
    if batch.balanced:
        ctx.raise_event("general_journal_batch_balanced")
        return f"{batch.title} is balanced"
    ctx.raise_event("general_journal_batch_not_balanced", difference=str(batch.balance))
    return f"{batch.title} is not balanced: the difference is {batch.balance:,.2f}"


@implements("create_payment_journal_line")
def create_payment_journal_line(ctx: StepContext) -> str:
    """After a purchase invoice is posted: a payment line in the journal batch named by
    the options (created if missing) paying the vendor the invoice's amount, applied to
    the posted invoice's number, posting date today, balanced later by the user."""
    from sqlalchemy import func, select

    from portal.records.models import GenJournalLine, PostedDocument
    from portal.util import utcnow

    posted_id = ctx.event.payload.get("posted_record_id")
    posted = ctx.session.get(PostedDocument, posted_id) if posted_id else None
    if posted is None or posted.kind != "Purchase Invoice":
        raise ResponseError("A payment line needs a posted purchase invoice (this event has none).")
    template = str(ctx.options.get("journal_template") or "PAYMENT")[:10]
    name = str(ctx.options.get("journal_batch") or "DEFAULT")[:10]
    batch = ctx.session.scalar(select(GenJournalBatch).where(GenJournalBatch.journal_template_name == template, GenJournalBatch.name == name))
    if batch is None:
        batch = GenJournalBatch(journal_template_name=template, name=name, description="Payments")
        ctx.session.add(batch)
        ctx.session.flush()
    last = ctx.session.scalar(select(func.max(GenJournalLine.line_no)).where(GenJournalLine.batch_id == batch.id)) or 0
    line = GenJournalLine(
        batch_id=batch.id, line_no=last + 10000, posting_date=utcnow().date(), document_type="Payment",
        document_no=posted.no, account_type="Vendor", account_no=posted.partner_no or "",
        description=f"Payment of {posted.title}", amount=posted.amount, currency_code=posted.currency_code or "",
    )
    ctx.session.add(line)
    ctx.session.flush()
    return f"Payment line for {posted.partner_name} ({posted.amount:,.2f}) in {batch.title}"


# ---------------------------------------------------------------- records

@implements("create_record")
def create_record(ctx: StepContext) -> str:
    """Create a document (e.g. a purchase order to the item's vendor) for the customer
    or vendor named by the rendered ``partner_no`` template, with one line for
    ``item_no`` × ``quantity`` when an item is given. The new document raises its
    own ``record_created`` event."""
    from portal.records.registry import LIST_VIEWS

    document = str(ctx.options.get("document") or "Purchase Order")
    rt = LIST_VIEWS.get(document.lower().replace(" ", "-") + "s")
    if rt is None or not rt.partner:
        raise ResponseError(f"{document} can't be created by a workflow.")
    partner_no = _render(ctx, str(ctx.options.get("partner_no") or "")).strip().upper()
    item_no = _render(ctx, str(ctx.options.get("item_no") or "")).strip().upper()
    quantity_text = _render(ctx, str(ctx.options.get("quantity") or "1")).strip()
    try:
        doc = records.create_record(ctx.session, rt, {f"{rt.partner}_no": partner_no}, ctx.user_id)
        if item_no:
            quantity = Decimal(quantity_text)
            if quantity <= 0:
                raise ResponseError(f"The line's quantity must be positive; the template gave {quantity_text!r}.")
            records.add_line(ctx.session, rt.key, doc, {"item_no": item_no, "quantity": quantity}, ctx.user_id)
    except (records.RecordError, ArithmeticError, ValueError) as exc:
        raise ResponseError(f"{document} for {partner_no or '(no partner)'}: {exc}") from exc
    return f"{rt.title(doc)} created for {doc.partner_name}"
