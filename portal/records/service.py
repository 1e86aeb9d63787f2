"""Record services: create and change records and document lines (writing outbox
events in the same transaction), record restrictions, and the document actions
Release, Reopen and Set Status Pending Approval (posting: :mod:`portal.records.posting`).

Rules (Business Central):
- a document pending approval can't be modified, released or reopened by hand; only
  the approval workflow moves it on;
- while an enabled approval workflow's entry point matches an Open document (or a
  journal line of a batch that isn't approved since it last changed), it can't be
  released by hand ("This document can only be released when the approval process
  is complete.": ``ReleaseSalesDocument.PerformManualCheckAndRelease``); workflow
  responses (``by_workflow``) may;
- a Released document's lines can't be added, changed or removed, and of its header
  only the fields Business Central doesn't guard with ``TestStatusOpen`` can be
  changed (:data:`RELEASED_EDITABLE_FIELDS`) until it is reopened;
- a record with a **record restriction** can't be modified, released or posted (by
  hand or by a workflow) until the restriction is lifted;
- lines can be added, changed or removed only while the document is Open;
- a general journal line sent for approval on its own (record type
  ``gen_journal_line``) can't be changed or removed while its approval is pending or
  it is restricted, and its batch can't be released meanwhile (Business Central's
  journal line approval: the line's record restriction blocks its use)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, object_session

from portal.approvals.models import CREATED, OPEN, ApprovalEntry
from portal.audit.service import record_audit, record_field_changes
from portal.records.models import (
    STATUS_OPEN,
    STATUS_PENDING_APPROVAL,
    STATUS_RELEASED,
    Customer,
    GenJournalBatch,
    GenJournalLine,
    Item,
    PurchaseHeader,
    PurchaseLine,
    RecordRestriction,
    SalesHeader,
    SalesLine,
    Vendor,
)
from portal.records import numbering
from portal.records.registry import RECORD_TYPES, Field, RecordType
from portal.util import column_errors, email_problem, read_memo, row_errors, text_problem, utcnow
from portal.workflow.engine import raise_event

# record type key of each document model (one record type per model)
DOCUMENT_RECORD_TYPES: dict[type, str] = {
    SalesHeader: "sales_header",
    PurchaseHeader: "purchase_header",
    GenJournalBatch: "gen_journal_batch",
}

#: Header fields a Released document keeps editable: those Business Central's Sales
#: Header / Purchase Header don't validate with ``TestStatusOpen`` ("Status must be
#: equal to 'Open'"), so a released document can be finished without reopening it —
#: dates, the ship-to address, the salesperson/purchaser code, the vendor's invoice
#: no. Everything else that changes what was approved (customer or vendor, currency,
#: amounts such as Freight, the shipping agent, the requested delivery date) and all
#: lines need Reopen first. A journal batch keeps its description editable.
RELEASED_EDITABLE_FIELDS: dict[str, frozenset[str]] = {
    "sales_header": frozenset({"salesperson_code", "order_date", "shipment_date", "ship_to_name", "ship_to_address",
                               "ship_to_city", "ship_to_postal_code", "ship_to_country"}),
    "purchase_header": frozenset({"purchaser_code", "order_date", "expected_receipt_date", "vendor_invoice_no"}),
    "gen_journal_batch": frozenset({"description"}),
}

#: The message of a manual release refused while an approval workflow holds the
#: document (Business Central's ReleaseSalesDocument / ReleasePurchaseDocument Text002).
RELEASE_NEEDS_APPROVAL = "This document can only be released when the approval process is complete."


class RecordError(Exception):
    """A change is not allowed (message for the user)."""


class FieldErrors(RecordError):
    """Form values that don't parse: ``errors`` maps field name → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def record_type_of(record) -> str:
    """The record type key of a document record (sales, purchase, journal batch)."""
    try:
        return DOCUMENT_RECORD_TYPES[type(record)]
    except KeyError:
        raise RecordError(f"{record!r} is not a document.") from None


def is_restricted(record_type: str, record) -> bool:
    """True if the record can't be changed by hand: it is pending approval or has a
    record restriction."""
    if getattr(record, "status", None) == STATUS_PENDING_APPROVAL:
        return True
    session = object_session(record)
    return session is not None and bool(restrictions_for(session, record_type, record.id))


# ---------------------------------------------------------------- record restrictions

def restrictions_for(session: Session, record_type: str, record_id: int) -> list[RecordRestriction]:
    """The record's restrictions, oldest first (read once per request while nothing
    changes: :func:`portal.util.read_memo`)."""
    return read_memo(session, ("restrictions", record_type, record_id), lambda: list(session.scalars(
        select(RecordRestriction)
        .where(RecordRestriction.record_type == record_type, RecordRestriction.record_id == record_id)
        .order_by(RecordRestriction.id)
    )))


def add_restriction(session: Session, record_type: str, record_id: int, details: str, user_id: int | None) -> RecordRestriction:
    """Restrict the record (it can't be modified, released or posted until lifted).
    A record has at most one restriction: adding again updates its details."""
    existing = restrictions_for(session, record_type, record_id)
    if existing:
        existing[0].details = details[:250]
        return existing[0]
    restriction = RecordRestriction(record_type=record_type, record_id=record_id, details=details[:250], created_by_id=user_id)
    session.add(restriction)
    record_audit(session, "record", "add_restriction", user_id=user_id, record_type=record_type, record_id=record_id,
                 record_title=_title_of(session, record_type, record_id), detail=details[:250])
    session.flush()
    return restriction


def remove_restriction(session: Session, record_type: str, record_id: int, user_id: int | None) -> int:
    """Lift the record's restrictions. Returns how many were removed."""
    res = session.execute(
        delete(RecordRestriction).where(RecordRestriction.record_type == record_type, RecordRestriction.record_id == record_id)
    )
    if res.rowcount:
        record_audit(session, "record", "remove_restriction", user_id=user_id, record_type=record_type, record_id=record_id,
                     record_title=_title_of(session, record_type, record_id))
    return res.rowcount


def check_restriction(session: Session, record_type: str, record, action: str) -> None:
    """Raise :class:`RecordError` if the record is restricted (``action``: "modified",
    "released", "posted")."""
    restrictions = restrictions_for(session, record_type, record.id)
    if restrictions:
        title = RECORD_TYPES[record_type].title(record)
        details = restrictions[0].details or "no details"
        raise RecordError(f"{title} is restricted and can't be {action} until the restriction is lifted ({details}).")


def check_changeable(session: Session, record_type: str, record) -> None:
    """Raise :class:`RecordError` unless the record may be modified by hand (not
    posted, not pending approval, not restricted). A general journal line also needs
    no approval request under way (:func:`check_journal_line_changeable`)."""
    rt = RECORD_TYPES[record_type]
    if record_type == "gen_journal_line":
        check_journal_line_changeable(session, record)
        return
    if rt.read_only:
        raise RecordError(f"{rt.title(record)} is posted and can't be changed.")
    if getattr(record, "status", None) == STATUS_PENDING_APPROVAL:
        raise RecordError(f"{rt.title(record)} is pending approval and can't be modified. Cancel the approval request first.")
    check_restriction(session, record_type, record, "modified")


def status_must_be_open(record_type: str, doc) -> str:
    """Business Central's ``TestStatusOpen`` message for a document that isn't Open,
    e.g. "Status must be equal to 'Open' in Sales Order 10249. Current value is
    'Released'."."""
    return (f"Status must be equal to 'Open' in {RECORD_TYPES[record_type].title(doc)}. "
            f"Current value is '{doc.status}'.")


def released_locked_fields(record_type: str, record) -> frozenset[str]:
    """The editable header fields of ``record`` that can't be changed now because it
    is Released (empty for records that aren't Released documents). See
    :data:`RELEASED_EDITABLE_FIELDS`."""
    if getattr(record, "status", None) != STATUS_RELEASED or record_type not in RELEASED_EDITABLE_FIELDS:
        return frozenset()
    keep = RELEASED_EDITABLE_FIELDS[record_type]
    return frozenset(f.name for f in RECORD_TYPES[record_type].fields if f.editable and f.name not in keep)


def check_released_fields(record_type: str, record, changed: list[str]) -> None:
    """Raise :class:`FieldErrors` naming each of the ``changed`` fields a Released
    document keeps until it is reopened (Business Central's ``TestStatusOpen`` in the
    field's validation)."""
    locked = released_locked_fields(record_type, record)
    refused = [name for name in changed if name in locked]
    if refused:
        rt = RECORD_TYPES[record_type]
        message = f"{status_must_be_open(record_type, record)} Reopen it to change this."
        raise FieldErrors({name: f"{rt.field(name).label} can't be changed: {message}" for name in refused})


def conflicting_fields(rt: RecordType, record, form) -> list[tuple]:
    """After a save refused because someone else saved ``record`` meanwhile: the
    editable fields whose value in ``form`` (what this user typed) differs from the
    saved one, as ``[(caption, saved value as shown, typed text)]`` (the conflict
    table, as :func:`portal.versioning.differences` gives it for other forms)."""
    from portal.ui import fmt_value

    def as_text(f, value) -> str:
        if f.kind == "bool":
            return "Yes" if value else "No"
        if value is None:
            return ""
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    out = []
    for f in rt.fields:
        if not f.editable or (f.kind != "bool" and f.name not in form):
            continue
        typed = ("Yes" if form.get(f.name) in ("on", "true", "1", "y") else "No") if f.kind == "bool" else (form.get(f.name) or "").strip()
        saved = f.value(record)
        same = typed == as_text(f, saved)
        if not same and f.kind in ("money", "decimal", "int") and typed:
            try:
                same = saved is not None and Decimal(typed.replace(",", "")) == Decimal(str(saved))
            except (ArithmeticError, ValueError):
                same = False
        if not same:
            out.append((f.label, fmt_value(saved, f.kind), typed))
    return out


#: Amounts and quantities that can't be negative where a user types them (Business
#: Central: Credit Limit, Unit Price, Reorder Point, line Quantity and Freight must be
#: ≥ 0; a credit memo is positive too, its direction is its document type). A general
#: journal line's amount is signed (debit/credit) and not listed.
NON_NEGATIVE_FIELDS = frozenset({"credit_limit", "unit_price", "direct_unit_cost", "unit_cost", "reorder_point",
                                 "quantity", "freight", "line_discount_pct"})
#: Percentages: 0 to 100.
PERCENT_FIELDS = frozenset({"line_discount_pct"})


def parse_values(rt: RecordType, form: dict[str, str]) -> dict[str, Any]:
    """Parse editable field values from form text. Raises :class:`FieldErrors`."""
    return parse_fields(rt.fields, form, model=rt.model)


def parse_fields(fields: tuple[Field, ...], form: dict[str, str], blank_as_none: bool = False, model=None) -> dict[str, Any]:
    """Parse the editable ``fields`` present in ``form``. Numbers and dates must parse,
    required fields must have a value, choice fields must be one of their choices;
    no field may hold a NUL character, an e-mail field must be an address, the
    :data:`NON_NEGATIVE_FIELDS` can't be negative and, with ``model`` (the table the
    values go to), each value must fit its column (length, digits:
    :func:`portal.util.column_errors`). With ``blank_as_none`` a blank number is
    ``None`` ("not given") rather than 0. Raises :class:`FieldErrors`."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if not f.editable:
            continue
        if f.kind == "bool":
            values[f.name] = form.get(f.name) in ("on", "true", "1", "y")
            continue
        if f.name not in form:
            continue
        raw = (form.get(f.name) or "").strip()
        if f.required and not raw:
            errors[f.name] = f"{f.label} must have a value."
            continue
        try:
            if f.kind in ("money", "decimal"):
                if blank_as_none and not raw:
                    value = None
                else:
                    value = Decimal(raw.replace(",", "") or "0")
                    if not value.is_finite():
                        raise InvalidOperation
                    if f.kind == "money":
                        try:
                            value = value.quantize(Decimal("0.01"))
                        except InvalidOperation:  # more digits than a decimal holds
                            errors[f.name] = f"{f.label} is too large."
                            continue
            elif f.kind == "int":
                value = int(raw or 0)
            elif f.kind == "date":
                value = date.fromisoformat(raw) if raw else None
            elif f.kind == "choice":
                if raw not in f.choices:
                    errors[f.name] = f"{f.label} must be one of: {', '.join(c or '(blank)' for c in f.choices)}."
                    continue
                value = raw
            else:
                value = raw or None
        except (InvalidOperation, ValueError):
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            errors[f.name] = f"{f.label}: {shown!r} is not a valid {'date (YYYY-MM-DD)' if f.kind == 'date' else 'number'}."
            continue
        problem = _value_problem(f, value)
        if problem:
            errors[f.name] = problem
            continue
        values[f.name] = value
    if model is not None:
        labels = {f.name: f.label for f in fields}
        for name, message in column_errors(model, values, labels).items():
            errors.setdefault(name, message)
    if errors:
        raise FieldErrors(errors)
    return values


def _value_problem(f: Field, value: Any) -> str | None:
    """A message if the parsed ``value`` of field ``f`` breaks a rule that holds
    whatever the column (NUL bytes, e-mail syntax, sign, percentage), else None."""
    if isinstance(value, str):
        if f.name == "email":
            return text_problem(value, f.label) or email_problem(value, f.label)
        return text_problem(value, f.label)
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        if f.name in NON_NEGATIVE_FIELDS and value < 0:
            return f"{f.label} can't be negative."
        if f.name in PERCENT_FIELDS and value > 100:
            return f"{f.label} can be at most 100."
    return None


def modify_record(session: Session, record_type: str, record, values: dict[str, Any], user_id: int | None) -> dict[str, tuple]:
    """Apply ``values`` to ``record`` and raise ``record_modified`` with old and new
    values of the fields that changed. Returns ``{field: (old, new)}``. Raises
    :class:`RecordError` if the record is pending approval, restricted or posted, and
    :class:`FieldErrors` for a field a Released document keeps until it is reopened
    (:func:`check_released_fields`).
    A general journal line is changed through its batch (:func:`update_line`: the
    batch must be Open, and the line not pending approval)."""
    if record_type == "gen_journal_line":
        return _change_line(session, "gen_journal_batch", record.batch, record.id, values, user_id)[1]
    check_changeable(session, record_type, record)
    check_released_fields(record_type, record, [name for name, new in values.items() if getattr(record, name) != new])
    changes: dict[str, tuple] = {}
    for name, new in values.items():
        old = getattr(record, name)
        if old != new:
            changes[name] = (old, new)
            setattr(record, name, new)
    if changes:
        session.flush()
        raise_event(
            session,
            "record_modified",
            record_type,
            record.id,
            {
                "old_values": {k: _json(v[0]) for k, v in changes.items()},
                "new_values": {k: _json(v[1]) for k, v in changes.items()},
            },
            user_id,
        )
        record_field_changes(session, changes, user_id=user_id, record_type=record_type, record_id=record.id,
                             record_title=RECORD_TYPES[record_type].title(record))
    return changes


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def set_status(session: Session, doc, status: str, user_id: int | None, by_workflow: bool) -> None:
    """Move a document (sales, purchase, journal batch) to ``status``. By hand
    (``by_workflow`` False) a document pending approval can't be released or reopened,
    and an Open document enabled approval workflows hold can't be released
    (:func:`check_manual_release`); a restricted document can't be released at all,
    nor a journal batch with a line whose own approval is under way or that is
    restricted (:func:`journal_lines_held`); a document without lines can't be
    released: raises :class:`RecordError`. Releasing raises ``document_released``."""
    record_type = record_type_of(doc)
    check_status_change(session, record_type, doc, status, by_workflow)
    if doc.status == status:
        return
    title = RECORD_TYPES[record_type].title(doc)
    # not a "modify": a workflow's release after approval doesn't undo the approval
    record_audit(session, "record", "status", user_id=user_id, record_type=record_type, record_id=doc.id, record_title=title,
                 field_name="status", old=doc.status, new=status)
    doc.status = status
    if status == STATUS_RELEASED:
        raise_event(session, "document_released", record_type, doc.id, {}, user_id)


def check_status_change(session: Session, record_type: str, doc, status: str, by_workflow: bool = False) -> None:
    """Raise :class:`RecordError` if ``doc`` can't be moved to ``status`` now (the
    rules of :func:`set_status`; moving to the status it already has passes)."""
    title = RECORD_TYPES[record_type].title(doc)
    if not by_workflow and doc.status == STATUS_PENDING_APPROVAL:
        raise RecordError(f"{title} is pending approval; only the approval workflow can release or reopen it.")
    if status == STATUS_RELEASED:
        check_restriction(session, record_type, doc, "released")
        if record_type == "gen_journal_batch":
            held = journal_lines_held(session, doc)
            if held:
                nos = ", ".join(str(line.line_no) for line in held)
                raise RecordError(f"{title} can't be released: line(s) {nos} have an approval request under way or are restricted.")
        if not by_workflow:
            check_manual_release(session, record_type, doc)
        if not doc.lines:
            raise RecordError(f"There is nothing to release for {title}: it has no lines.")


def status_action_refusal(session: Session, record_type: str, doc, action: str) -> str | None:
    """Why a user can't Release (``action`` "release") or Reopen ("reopen") the
    document ``doc`` by hand now, or None: it already has that status, or
    :func:`check_status_change` refuses (pending approval, restricted, held by an
    approval workflow, no lines)."""
    status = STATUS_RELEASED if action == "release" else STATUS_OPEN
    if doc.status == status:
        return f"{RECORD_TYPES[record_type].title(doc)} is already {status}."
    try:
        check_status_change(session, record_type, doc, status, by_workflow=False)
    except RecordError as exc:
        return str(exc)
    return None


def release_blocked(session: Session, record_type: str, doc) -> str | None:
    """Why a user can't release the Open document ``doc`` by hand while approval
    workflows hold it, or None: the document itself matches an enabled approval
    workflow's entry point, or (a journal batch) some of its lines match an enabled
    journal line approval workflow and aren't approved since they last changed
    (:func:`portal.approvals.service.approval_required`). The message starts with
    :data:`RELEASE_NEEDS_APPROVAL`.

    Business Central: ``ReleaseSalesDocument.PerformManualCheckAndRelease`` and
    ``ReleasePurchaseDocument.PerformManualCheckAndRelease`` refuse when
    ``ApprovalsMgmt.IsSalesHeaderPendingApproval`` / ``IsPurchaseHeaderPendingApproval``
    (Status Open and an approval workflow enabled for the document); journal lines
    are restricted while a line approval workflow applies to them
    (``RecordRestrictionMgt.RestrictGenJournalLine``), which blocks their batch."""
    from portal.approvals.service import approval_required, approval_workflow_enabled

    if getattr(doc, "status", None) != STATUS_OPEN:
        return None
    title = RECORD_TYPES[record_type].title(doc)
    workflows = approval_required(session, record_type, doc)
    if workflows:
        codes = ", ".join(wf.code for wf in workflows)
        return f"{RELEASE_NEEDS_APPROVAL} {title} must be approved first (workflow {codes}): send it for approval."
    if record_type == "gen_journal_batch" and approval_workflow_enabled(session, "gen_journal_line"):
        lines = [line for line in doc.lines if line.id is not None and approval_required(session, "gen_journal_line", line)]
        if lines:
            nos = ", ".join(str(line.line_no) for line in lines)
            return (f"{RELEASE_NEEDS_APPROVAL} Line(s) {nos} of {title} must be approved first "
                    "(journal line approval): send each line for approval.")
    return None


def check_manual_release(session: Session, record_type: str, doc) -> None:
    """Raise :class:`RecordError` if the user may not release ``doc`` by hand now
    (:func:`release_blocked` says why)."""
    reason = release_blocked(session, record_type, doc)
    if reason:
        raise RecordError(reason)


def release(session: Session, doc, user_id: int | None, by_workflow: bool = False) -> None:
    """Release the document (Status Released). By hand (``by_workflow`` False) the
    approval workflows that hold it must be complete (:func:`check_manual_release`).
    Raises :class:`RecordError`."""
    set_status(session, doc, STATUS_RELEASED, user_id, by_workflow)


def reopen(session: Session, doc, user_id: int | None, by_workflow: bool = False) -> None:
    """Reopen the document (Status Open)."""
    set_status(session, doc, STATUS_OPEN, user_id, by_workflow)


# ---------------------------------------------------------------- new records

def _partner(session: Session, rt: RecordType, partner_no: str):
    model = Customer if rt.partner == "customer" else Vendor
    partner = session.scalar(select(model).where(model.no == (partner_no or "").strip()))
    if partner is None:
        name = "customer" if rt.partner == "customer" else "vendor"
        raise FieldErrors({f"{rt.partner}_no": f"There is no {name} with No. {partner_no!r}."})
    if partner.blocked:
        raise FieldErrors({f"{rt.partner}_no": f"{partner.name} is blocked."})
    return partner


def create_record(session: Session, rt: RecordType, values: dict[str, Any], user_id: int | None):
    """Create a record of ``rt`` from the New form's parsed ``values`` and raise
    ``record_created``. Documents: ``rt.doc_type`` is the document type and
    ``<partner>_no`` names the customer or vendor (salesperson/purchaser code and
    currency come from it); journal batches: template name, name, description.
    Raises :class:`FieldErrors`."""
    if rt.key == "gen_journal_batch":
        record = _new_batch(session, values)
    elif rt.partner:
        record = _new_document(session, rt, values)
    elif rt.key in ("customer", "vendor", "item"):
        record = _new_master(session, rt, values)
    else:
        raise RecordError(f"New {rt.plural.lower()} can't be created here.")
    session.add(record)
    session.flush()
    raise_event(session, "record_created", rt.key, record.id, {}, user_id)
    record_audit(session, "record", "create", user_id=user_id, record_type=rt.key, record_id=record.id, record_title=rt.title(record),
                 detail="; ".join(f"{f.label}: {_json(f.value(record))}" for f in rt.fields if f.value(record) not in (None, "")))
    return record


def _new_document(session: Session, rt: RecordType, values: dict[str, Any]):
    document_type = rt.doc_type or "Order"
    partner = _partner(session, rt, values.get(f"{rt.partner}_no") or "")
    record = rt.model(
        document_type=document_type,
        no=numbering.document_no(session, rt.key, document_type),  # the document type's number series
        status=STATUS_OPEN,
        order_date=values.get("order_date") or utcnow().date(),
        currency_code=partner.currency_code or "",
        amount=Decimal("0"),
    )
    if rt.partner == "customer":
        record.customer = partner
        record.salesperson_code = partner.salesperson_code
    else:
        record.vendor = partner
        record.purchaser_code = partner.purchaser_code
        record.vendor_invoice_no = values.get("vendor_invoice_no")
    return record


def _new_master(session: Session, rt: RecordType, values: dict[str, Any]):
    """A customer, vendor or item from the New form: ``no`` unique (upper-cased); an
    item's ``vendor_no`` must name a vendor."""
    values = dict(values)
    no = (values.pop("no", None) or "").strip().upper()
    if not no or len(no) > 20:
        raise FieldErrors({"no": "No. must have 1 to 20 characters."})
    if session.scalar(select(rt.model.id).where(rt.model.no == no)):
        raise FieldErrors({"no": f"{rt.label} {no} already exists."})
    if rt.key == "item":
        vendor_no = (values.pop("vendor_no", None) or "").strip().upper()
        if vendor_no:
            vendor = session.scalar(select(Vendor).where(Vendor.no == vendor_no))
            if vendor is None:
                raise FieldErrors({"vendor_no": f"There is no vendor {vendor_no}."})
            values["vendor_id"] = vendor.id
    return rt.model(no=no, **{k: v for k, v in values.items() if v is not None})


def delete_record(session: Session, record_type: str, record, user_id: int | None) -> None:
    """Delete a customer, vendor or item and raise ``record_deleted`` with its last
    values (as ``old_values`` and ``new_values``, so conditions can read them). Refused
    with :class:`RecordError` while pending approval or restricted, and while other
    records refer to it (documents, items, lines). A general journal line is removed
    from its batch (:func:`delete_line`)."""
    rt = RECORD_TYPES[record_type]
    if record_type == "gen_journal_line":
        delete_line(session, "gen_journal_batch", record.batch, record.id, user_id)
        return
    check_deletable(session, record_type, record)
    values = {k: _json(v) for k, v in rt.values(record).items()}
    raise_event(session, "record_deleted", record_type, record.id, {"old_values": values, "new_values": values}, user_id)
    record_audit(session, "record", "delete", user_id=user_id, record_type=record_type, record_id=record.id, record_title=rt.title(record),
                 detail="; ".join(f"{rt.field(k).label}: {v}" for k, v in values.items() if v not in (None, "")))
    session.delete(record)
    session.flush()


def check_deletable(session: Session, record_type: str, record) -> None:
    """Raise :class:`RecordError` unless the customer, vendor, item or general journal
    line may be deleted by hand now (see :func:`delete_record`)."""
    rt = RECORD_TYPES[record_type]
    if record_type == "gen_journal_line":
        check_lines_changeable(session, "gen_journal_batch", record.batch)
        check_journal_line_changeable(session, record)
        return
    if record_type not in ("customer", "vendor", "item"):
        raise RecordError(f"{rt.plural} can't be deleted here.")
    check_changeable(session, record_type, record)
    from portal.approvals.service import pending_request

    if pending_request(session, record_type, record.id):
        raise RecordError(f"{rt.title(record)} has an approval request under way; cancel it first.")
    refs = {
        "customer": [(SalesHeader, SalesHeader.customer_id, "sales documents")],
        "vendor": [(PurchaseHeader, PurchaseHeader.vendor_id, "purchase documents"), (Item, Item.vendor_id, "items")],
        "item": [(SalesLine, SalesLine.item_id, "sales lines"), (PurchaseLine, PurchaseLine.item_id, "purchase lines")],
    }[record_type]
    for model, column, label in refs:
        n = session.scalar(select(func.count()).select_from(model).where(column == record.id))
        if n:
            raise RecordError(f"{rt.title(record)} can't be deleted: {n} {label} refer to it.")


def _new_batch(session: Session, values: dict[str, Any]) -> GenJournalBatch:
    template, name = values.get("journal_template_name") or "GENERAL", (values.get("name") or "").upper()
    if len(name) > 10:
        raise FieldErrors({"name": "Name can have at most 10 characters."})
    if session.scalar(select(GenJournalBatch.id).where(GenJournalBatch.journal_template_name == template, GenJournalBatch.name == name)):
        raise FieldErrors({"name": f"Journal template {template} already has a batch named {name}."})
    return GenJournalBatch(journal_template_name=template, name=name, description=values.get("description") or "", status=STATUS_OPEN)


# ---------------------------------------------------------------- lines

def journal_lines_held(session: Session, batch: GenJournalBatch) -> list[GenJournalLine]:
    """The batch's lines that can't be used now: each has its own approval request
    under way (an approval entry Created or Open) or a record restriction (Business
    Central restricts a journal line while its approval is pending). Line order."""
    ids = [line.id for line in batch.lines if line.id is not None]
    if not ids:
        return []
    held = set(session.scalars(select(RecordRestriction.record_id).where(
        RecordRestriction.record_type == "gen_journal_line", RecordRestriction.record_id.in_(ids))))
    held |= set(session.scalars(select(ApprovalEntry.record_id).where(
        ApprovalEntry.record_type == "gen_journal_line", ApprovalEntry.record_id.in_(ids),
        ApprovalEntry.status.in_([CREATED, OPEN]))))
    return [line for line in batch.lines if line.id in held]


def check_journal_line_changeable(session: Session, line: GenJournalLine) -> None:
    """Raise :class:`RecordError` if the general journal line may not be changed or
    removed: its approval request is under way (an entry Created or Open) or it has
    a record restriction (the journal line approval workflow adds one when the
    approval is requested and lifts it when approved, rejected or canceled)."""
    title = RECORD_TYPES["gen_journal_line"].title(line)
    pending = session.scalar(select(ApprovalEntry.id).where(
        ApprovalEntry.record_type == "gen_journal_line", ApprovalEntry.record_id == line.id,
        ApprovalEntry.status.in_([CREATED, OPEN])).limit(1))
    if pending is not None:
        raise RecordError(f"{title} is pending approval and can't be changed or removed. Cancel the approval request first.")
    check_restriction(session, "gen_journal_line", line, "modified")


def check_lines_changeable(session: Session, record_type: str, doc) -> None:
    """Raise :class:`RecordError` unless the document's lines may be changed: it must
    be Open (not pending approval, released or posted) and not restricted (Business
    Central's Sales Line / Purchase Line ``TestStatusOpen`` on insert, modify and
    delete)."""
    check_changeable(session, record_type, doc)
    if doc.status != STATUS_OPEN:
        raise RecordError(f"{status_must_be_open(record_type, doc)} Its lines can't be added, changed or removed "
                          "until it is reopened.")


def _apply_line_values(session: Session, rt: RecordType, line, values: dict[str, Any], new: bool) -> None:
    values = dict(values)
    if "item_no" in values:
        item_no = (values.pop("item_no") or "").strip()
        item = None
        if item_no:
            item = session.scalar(select(Item).where(Item.no == item_no))
            if item is None:
                raise FieldErrors({"item_no": f"There is no item with No. {item_no!r}."})
            if item.blocked:
                raise FieldErrors({"item_no": f"Item {item.no} {item.description} is blocked."})
        if item is not None and (new or line.item_id != item.id):
            # a new item fills in its description and price unless they were given
            if not values.get("description"):
                values["description"] = item.description
            unit_field = rt.line_model.UNIT_FIELD
            if values.get(unit_field) is None:
                values[unit_field] = item.unit_price
        line.item = item
        line.item_id = item.id if item else None
    if rt.key != "gen_journal_batch" and line.item_id is None:
        raise FieldErrors({"item_no": "A line needs an item: choose one from the list."})
    for name, value in values.items():
        if value is None:
            if rt.line_field(name).kind in ("money", "decimal"):
                continue  # a blank number: keep the default / current value
            if not line.__table__.c[name].nullable:
                value = ""
        setattr(line, name, value)
    if hasattr(line, "calculate"):
        too_large = "The line amount would be too large: lower the quantity or the price."
        try:
            line.calculate()
        except ArithmeticError:  # beyond decimal precision
            raise FieldErrors({"quantity": too_large}) from None
        problems = row_errors(line)
        if problems:  # each value fits, but their product doesn't
            raise FieldErrors({"quantity": too_large if "line_amount" in problems else next(iter(problems.values()))})


def _line_event(session: Session, record_type: str, doc, old_amount, user_id: int | None, detail: str,
                line_changes: dict[str, tuple] | None = None, line_no: int | None = None) -> None:
    """After a line was added, changed or removed: recompute the document's amount,
    raise ``record_modified`` when it changed, and audit it (a row saying what
    happened to the line, one per changed line field, and the amount's change)."""
    new_amount = doc.recalculate()
    session.flush()
    title = RECORD_TYPES[record_type].title(doc)
    record_audit(session, "record", "modify", user_id=user_id, record_type=record_type, record_id=doc.id, record_title=title, detail=detail)
    if line_changes:
        record_field_changes(session, line_changes, user_id=user_id, record_type=record_type, record_id=doc.id,
                             record_title=title, prefix=f"line {line_no}.")
    if old_amount != new_amount:
        raise_event(session, "record_modified", record_type, doc.id,
                    {"old_values": {"amount": _json(old_amount)}, "new_values": {"amount": _json(new_amount)}}, user_id)
        record_field_changes(session, {"amount": (old_amount, new_amount)}, user_id=user_id, record_type=record_type,
                             record_id=doc.id, record_title=title)


def _line_text(rt: RecordType, line) -> str:
    """A line's values in one line of text for the audit trail ("Item No.: I0051; …")."""
    return "; ".join(f"{f.label}: {_json(f.value(line))}" for f in rt.line_fields if f.value(line) not in (None, ""))


def _title_of(session: Session, record_type: str, record_id: int) -> str | None:
    rt = RECORD_TYPES.get(record_type)
    record = session.get(rt.model, record_id) if rt else None
    return rt.title(record) if record is not None else None


def add_line(session: Session, record_type: str, doc, values: dict[str, Any], user_id: int | None):
    """Add a line (parsed line field ``values``; ``item_no`` names the item, whose
    description and price fill in blanks) and recompute the document's amount; raises
    ``record_modified`` when the amount changes. Raises :class:`RecordError` /
    :class:`FieldErrors`. Returns the line."""
    rt = RECORD_TYPES[record_type]
    check_lines_changeable(session, record_type, doc)
    highest = max((l.line_no for l in doc.lines), default=0)
    line = rt.line_model(line_no=(highest // 10000 + 1) * 10000)
    if record_type != "gen_journal_batch":
        line.quantity, line.line_discount_pct = Decimal("0"), Decimal("0")
        setattr(line, rt.line_model.UNIT_FIELD, Decimal("0"))
    else:
        line.amount = Decimal("0")
        line.account_type = line.bal_account_type = "G/L Account"
        line.document_type = ""
        line.currency_code = ""
    old_amount = doc.recalculate()
    _apply_line_values(session, rt, line, values, new=True)
    doc.lines.append(line)
    _line_event(session, record_type, doc, old_amount, user_id, f"Line {line.line_no} added: {_line_text(rt, line)}")
    if record_type == "gen_journal_batch":
        session.flush()
        raise_event(session, "record_created", "gen_journal_line", line.id, {}, user_id)
        raise_event(session, "general_journal_line_created", record_type, doc.id,
                    {"line_no": line.line_no, "new_values": {f"line_{k}": _json(v) for k, v in
                                                             ((f.name, f.value(line)) for f in rt.line_fields)}}, user_id)
    return line


def get_line(session: Session, record_type: str, doc, line_id: int):
    """The document's line ``line_id``. Raises :class:`RecordError` if it isn't one."""
    for line in doc.lines:
        if line.id == line_id:
            return line
    raise RecordError(f"{RECORD_TYPES[record_type].title(doc)} has no line {line_id}.")


def update_line(session: Session, record_type: str, doc, line_id: int, values: dict[str, Any], user_id: int | None):
    """Change a line; see :func:`add_line`. A general journal line must not be pending
    approval or restricted (:func:`check_journal_line_changeable`); its changes also
    raise ``record_modified`` on the line itself (record type ``gen_journal_line``).
    Returns the line."""
    return _change_line(session, record_type, doc, line_id, values, user_id)[0]


def _change_line(session: Session, record_type: str, doc, line_id: int, values: dict[str, Any], user_id: int | None):
    """:func:`update_line`, returning ``(line, {field: (old, new)})``."""
    rt = RECORD_TYPES[record_type]
    check_lines_changeable(session, record_type, doc)
    line = get_line(session, record_type, doc, line_id)
    if record_type == "gen_journal_batch":
        check_journal_line_changeable(session, line)
    before = {f.name: f.value(line) for f in rt.line_fields}
    old_amount = doc.recalculate()
    _apply_line_values(session, rt, line, values, new=False)
    after = {f.name: f.value(line) for f in rt.line_fields}
    changes = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    _line_event(session, record_type, doc, old_amount, user_id, f"Line {line.line_no} changed", changes, line.line_no)
    if record_type == "gen_journal_batch" and changes:
        # the line's own audit entry: a line changed after its approval needs approval
        # again (portal.approvals.service.approved_and_unchanged)
        record_field_changes(session, changes, user_id=user_id, record_type="gen_journal_line", record_id=line.id,
                             record_title=RECORD_TYPES["gen_journal_line"].title(line))
        raise_event(session, "record_modified", "gen_journal_line", line.id,
                    {"old_values": {k: _json(v[0]) for k, v in changes.items()},
                     "new_values": {k: _json(v[1]) for k, v in changes.items()}}, user_id)
    return line, changes


def delete_line(session: Session, record_type: str, doc, line_id: int, user_id: int | None) -> None:
    """Remove a line and recompute the document's amount. A general journal line must
    not be pending approval or restricted; its removal raises ``record_deleted`` on
    the line (record type ``gen_journal_line``, with its last values)."""
    check_lines_changeable(session, record_type, doc)
    line = get_line(session, record_type, doc, line_id)
    if record_type == "gen_journal_batch":
        check_journal_line_changeable(session, line)
        last = {k: _json(v) for k, v in RECORD_TYPES["gen_journal_line"].values(line).items()}
        raise_event(session, "record_deleted", "gen_journal_line", line.id, {"old_values": last, "new_values": last}, user_id)
    old_amount = doc.recalculate()
    doc.lines.remove(line)
    _line_event(session, record_type, doc, old_amount, user_id, f"Line {line.line_no} removed: {_line_text(RECORD_TYPES[record_type], line)}")
