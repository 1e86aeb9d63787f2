"""Posting sales and purchase documents.

:func:`post` turns an Order or Invoice into a posted invoice and a Credit Memo into a
posted credit memo (read-only :class:`~portal.records.models.PostedDocument` with the
same lines and amount), moves the document's approval entries and comments to posted
approval entries, raises ``document_posted`` and removes the source document.

Rules (after Business Central, simplified):
- a Quote can't be posted (make it an order first);
- a document pending approval (status Pending Approval, or with an approval request
  still under way) can't be posted; neither can a restricted one;
- posted by hand, an Open document that an enabled approval workflow's entry point
  matches (as it is now) is refused: "Sales Order 10249 must be approved and released
  before you can perform this action." (``ApprovalsMgmt.PrePostApprovalCheckSales`` /
  ``PrePostApprovalCheckPurch``: Status Open and the approval workflow enabled);
  an Open document no approval workflow matches is posted freely, a Released one
  always. A workflow's Post response (``by_hand`` False) isn't held;
- a document without lines (or only zero quantities) has nothing to post;
- purchase documents need the vendor's own document number (Vendor Invoice No. /
  Vendor Cr. Memo No.).
- Simplification: an order is posted in full (ship/receive and invoice at once) and
  then removed like an invoice; Business Central keeps partly shipped orders and
  writes shipments/receipts and ledger entries, which this portal doesn't model.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from portal.audit.service import record_audit
from portal.records.models import (
    POSTED_PURCHASE_CREDIT_MEMO,
    POSTED_PURCHASE_INVOICE,
    POSTED_SALES_CREDIT_MEMO,
    POSTED_SALES_INVOICE,
    STATUS_PENDING_APPROVAL,
    PostedDocument,
    PostedDocumentLine,
    PurchaseHeader,
    SalesHeader,
)
from portal.records.registry import POSTED_KEYS, RECORD_TYPES
from portal.records import numbering
from portal.records.service import RecordError, _json, check_restriction, record_type_of
from portal.util import utcnow
from portal.workflow.engine import raise_event

POSTED_KIND: dict[tuple[str, str], str] = {
    ("sales_header", "Order"): POSTED_SALES_INVOICE,
    ("sales_header", "Invoice"): POSTED_SALES_INVOICE,
    ("sales_header", "Credit Memo"): POSTED_SALES_CREDIT_MEMO,
    ("purchase_header", "Order"): POSTED_PURCHASE_INVOICE,
    ("purchase_header", "Invoice"): POSTED_PURCHASE_INVOICE,
    ("purchase_header", "Credit Memo"): POSTED_PURCHASE_CREDIT_MEMO,
}


def approval_message(record_type: str, doc: SalesHeader | PurchaseHeader) -> str:
    """Business Central's SalesPrePostCheckErr / PurchPrePostCheckErr for ``doc``:
    "Sales Order 10249 must be approved and released before you can perform this
    action." (the document's type and no.)."""
    prefix = "Sales" if record_type == "sales_header" else "Purchase"
    return f"{prefix} {doc.document_type} {doc.no} must be approved and released before you can perform this action."


def check_postable(session: Session, doc: SalesHeader | PurchaseHeader, by_hand: bool = False) -> str:
    """Raise :class:`RecordError` (a message for the user) if ``doc`` can't be posted;
    return the kind of posted document it would make.

    Args: ``by_hand`` True for a user's Post: an Open document an enabled approval
    workflow matches is refused with :func:`approval_message` (Business Central's
    ``PrePostApprovalCheckSales`` / ``PrePostApprovalCheckPurch``); False for a
    workflow's Post response, which the approval workflows don't hold."""
    from portal.approvals.service import approval_required, pending_request

    record_type = record_type_of(doc)
    title = RECORD_TYPES[record_type].title(doc)
    kind = POSTED_KIND.get((record_type, doc.document_type))
    if kind is None:
        raise RecordError(f"{title} can't be posted: a {doc.document_type.lower()} must be made into an order or invoice first.")
    if doc.status == STATUS_PENDING_APPROVAL or pending_request(session, record_type, doc.id):
        raise RecordError(f"{title} is pending approval and can't be posted until the request is approved or canceled.")
    if by_hand and approval_required(session, record_type, doc):
        raise RecordError(approval_message(record_type, doc))
    check_restriction(session, record_type, doc, "posted")
    if not any(Decimal(line.quantity or 0) for line in doc.lines):
        raise RecordError(f"There is nothing to post for {title}: it has no lines with a quantity.")
    if record_type == "purchase_header" and not (doc.vendor_invoice_no or "").strip():
        number = "Vendor Cr. Memo No." if doc.document_type == "Credit Memo" else "Vendor Invoice No."
        raise RecordError(f"{title} can't be posted: enter the vendor's document number in the {number} field.")
    return kind


def post(session: Session, doc: SalesHeader | PurchaseHeader, user_id: int | None, by_hand: bool = False) -> PostedDocument:
    """Post ``doc`` (see the module's rules). Returns the posted document; the source
    document is deleted. Raises :class:`RecordError`. The caller commits.

    Args: ``by_hand`` True when a user clicks Post (the approval workflows must be
    complete: :func:`check_postable`); the workflow's Post response leaves it False."""
    from portal.approvals.service import archive_entries

    kind = check_postable(session, doc, by_hand=by_hand)
    record_type = record_type_of(doc)
    rt = RECORD_TYPES[record_type]
    amount = doc.recalculate()
    posted = PostedDocument(
        kind=kind,
        no=numbering.posted_no(session, kind),  # the posted document kind's number series
        source_document_type=doc.document_type,
        order_no=doc.no if doc.document_type == "Order" else None,
        pre_assigned_no=doc.no if doc.document_type != "Order" else None,
        customer_id=doc.customer_id if record_type == "sales_header" else None,
        vendor_id=doc.vendor_id if record_type == "purchase_header" else None,
        partner_no=doc.partner_no,
        partner_name=doc.partner_name,
        salesperson_purchaser_code=doc.salesperson_purchaser_code,
        vendor_invoice_no=getattr(doc, "vendor_invoice_no", None),
        order_date=doc.order_date,
        posting_date=utcnow().date(),
        currency_code=doc.currency_code or "",
        amount=amount,
        posted_by_id=user_id,
    )
    for line in doc.lines:
        posted.lines.append(PostedDocumentLine(
            line_no=line.line_no, item_id=line.item_id, description=line.description, quantity=line.quantity,
            unit_price=line.unit_amount, line_discount_pct=line.line_discount_pct, line_amount=line.line_amount,
        ))
    session.add(posted)
    session.flush()
    posted_key = POSTED_KEYS[kind]
    archived = archive_entries(session, record_type, doc.id, posted_key, posted.id)
    values = {name: _json(value) for name, value in rt.values(doc).items()}
    raise_event(
        session, "document_posted", record_type, doc.id,
        {"new_values": values, "posted_record_type": posted_key, "posted_record_id": posted.id, "posted_no": posted.no},
        user_id,
    )
    record_audit(session, "record", "post", user_id=user_id, record_type=record_type, record_id=doc.id, record_title=rt.title(doc),
                 detail=f"{rt.title(doc)} → {posted.title} ({archived} approval entries archived)")
    session.delete(doc)
    session.flush()
    return posted
