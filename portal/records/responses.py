"""The records area's workflow responses: document status (pending approval,
release, reopen, post), record restrictions, the customer credit limit check, journal
checks and payment lines, and creating a document. Registered with the engine's
response catalog on import (:func:`portal.areas.register`)."""
from __future__ import annotations

from decimal import Decimal

from portal.records import posting
from portal.records import service as records
from portal.records.models import STATUS_PENDING_APPROVAL, GenJournalBatch, PurchaseHeader, SalesHeader
from portal.workflow.catalog import CONTEXT_PROVIDERS, RUN_CANCELED_HANDLERS, ContextProvider, implements
from portal.workflow.describe import response_text
from portal.workflow.engine import ResponseError, StepContext, load_record
from portal.workflow.responses import render_option


DOCUMENT_TYPES = (SalesHeader, PurchaseHeader, GenJournalBatch)


def _document(ctx: StepContext):
    """The record as a document with a status (sales or purchase document, journal
    batch). Raises ResponseError for other records."""
    if not isinstance(ctx.record, DOCUMENT_TYPES):
        raise ResponseError(f"“{response_text(ctx.step.function_name)}” needs a sales or purchase document or a general "
                            f"journal batch; {_what(ctx)}.")
    return ctx.record


def _what(ctx: StepContext) -> str:
    """What the run's record is, in words: "the record is a customer" (its record
    type's label), or "the run has no record"."""
    if ctx.record_type is not None:
        return f"the record is a {ctx.record_type.label.lower()}"
    return "the run has no record" if ctx.record is None else "the record is of another kind"


def _title(ctx: StepContext) -> str:
    return ctx.record_type.title(ctx.record)


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


@implements("post_document")
def post_document(ctx: StepContext) -> str:
    """Post the sales or purchase document (see :mod:`portal.records.posting`): a
    posted invoice / credit memo is created, the approval entries are archived and the
    document is removed. Responses always run in a worker, so the ``in_background``
    option needs no separate job: the user never waits for the posting."""
    doc = ctx.record
    if not isinstance(doc, (SalesHeader, PurchaseHeader)):
        raise ResponseError(f"Only sales and purchase documents can be posted; {_what(ctx)}.")
    title = doc.title
    try:
        posted = posting.post(ctx.session, doc, ctx.user_id)
    except records.RecordError as exc:
        raise ResponseError(str(exc)) from exc
    return f"{title} posted as {posted.title}"


def _record(ctx: StepContext):
    if ctx.record is None or ctx.record_type is None:
        raise ResponseError("The record no longer exists.")
    return ctx.record


@implements("add_record_restriction")
def add_record_restriction(ctx: StepContext) -> str:
    """Restrict the record: it can't be modified, released or posted until the
    restriction is removed (Business Central adds one while a request is pending)."""
    record = _record(ctx)
    title = ctx.record_type.title(record)
    records.add_restriction(ctx.session, ctx.record_type.key, record.id,
                            f"Restricted by workflow {ctx.instance.workflow_code}", ctx.user_id)
    return f"{title} is restricted"


@implements("remove_record_restriction")
def remove_record_restriction(ctx: StepContext) -> str:
    """Lift the record's restriction."""
    record = _record(ctx)
    n = records.remove_restriction(ctx.session, ctx.record_type.key, record.id, ctx.user_id)
    title = ctx.record_type.title(record)
    return f"The restriction on {title} has been lifted" if n else f"{title} had no restriction"


@implements("check_journal_batch_balanced")
def check_journal_batch_balanced(ctx: StepContext) -> str:
    """Raise ``general_journal_batch_balanced`` or ``…_not_balanced`` for the batch
    (a batch balances when its lines without a balancing account add up to 0)."""
    batch = ctx.record
    if not isinstance(batch, GenJournalBatch):
        raise ResponseError(f"Checking the balance needs a general journal batch; {_what(ctx)}.")
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
    partner_no = render_option(ctx, str(ctx.options.get("partner_no") or "")).strip().upper()
    item_no = render_option(ctx, str(ctx.options.get("item_no") or "")).strip().upper()
    quantity_text = render_option(ctx, str(ctx.options.get("quantity") or "1")).strip()
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


def customer_context(session, customer) -> dict:
    """Template values for a customer: ``open_orders`` (its sales orders not yet
    posted: no, order_date, status, amount) and ``open_orders_total`` (in the local
    currency)."""
    from sqlalchemy import select

    orders = session.scalars(
        select(SalesHeader)
        .where(SalesHeader.customer_id == customer.id, SalesHeader.document_type == "Order")
        .order_by(SalesHeader.order_date, SalesHeader.no)
    ).unique().all()
    return {
        "open_orders": [
            {"no": o.no, "order_date": o.order_date.isoformat() if o.order_date else "", "status": o.status, "amount": o.amount}
            for o in orders
        ],
        "open_orders_total": sum((o.amount for o in orders), Decimal("0")),
    }


CONTEXT_PROVIDERS["customer"] = ContextProvider(("open_orders", "open_orders_total"), customer_context)


def reopen_after_canceled_run(session, inst, user_id: int | None) -> None:
    """A run canceled by hand (Flow runs → Cancel) that left its document Pending
    Approval: the document is Open again, as after Cancel Approval Request (nothing
    else would ever release or reopen it). Registered in
    :data:`portal.workflow.catalog.RUN_CANCELED_HANDLERS`."""
    doc = load_record(session, inst.record_type, inst.record_id)
    if isinstance(doc, DOCUMENT_TYPES) and doc.status == STATUS_PENDING_APPROVAL:
        records.reopen(session, doc, user_id, by_workflow=True)


RUN_CANCELED_HANDLERS.append(reopen_after_canceled_run)
