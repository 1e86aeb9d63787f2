"""The record-type registry: for each record type, its model, pages, fields, list
columns, search fields and card groups. Views, the workflow engine (event
conditions) and the Automate menu all read it, so a record type is described once.

Record types are named by a short key (``customer``, ``sales_header``, ...); event
conditions refer to fields by their attribute name.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable

from portal.workflow.catalog import RECORD_TYPES as ENGINE_RECORD_TYPES
from portal.records.models import (
    ACCOUNT_TYPES,
    DOCUMENT_STATUSES,
    DOCUMENT_TYPES,
    JOURNAL_DOCUMENT_TYPES,
    JOURNAL_TEMPLATES,
    POSTED_KINDS,
    POSTED_PURCHASE_CREDIT_MEMO,
    POSTED_PURCHASE_INVOICE,
    POSTED_SALES_CREDIT_MEMO,
    POSTED_SALES_INVOICE,
    Customer,
    GenJournalBatch,
    GenJournalLine,
    Item,
    PostedDocument,
    PurchaseHeader,
    PurchaseLine,
    SalesHeader,
    SalesLine,
    Vendor,
)


@dataclass(frozen=True)
class Field:
    """A field of a record type. ``kind``: text, money, decimal, int, bool, date, choice.
    ``get`` reads a display value when the field isn't a plain attribute."""

    name: str
    label: str
    kind: str = "text"
    editable: bool = False
    choices: tuple[str, ...] = ()
    get: Callable[[Any], Any] | None = None
    required: bool = False

    def value(self, record: Any) -> Any:
        return self.get(record) if self.get else getattr(record, self.name, None)


class FieldNames(frozenset):
    """A set of field names that also knows the fields' kinds: ``kinds`` maps a name
    (and ``lines.<name>`` for line fields) to its :class:`Field` kind. A union with
    the field names on the left (``names | {"pending_approvals"}``) keeps the kinds,
    so a record type's field names joined with other names (line fields, event data)
    can still be type-checked; names from a plain set have no kind."""

    kinds: dict[str, str]

    def __new__(cls, names=(), kinds: dict[str, str] | None = None):
        obj = super().__new__(cls, names)
        obj.kinds = dict(kinds or {})
        return obj

    def __or__(self, other):
        return FieldNames(frozenset.__or__(self, frozenset(other)), {**getattr(other, "kinds", {}), **self.kinds})

    __ror__ = __or__

    def union(self, *others):
        result = self
        for other in others:
            result = result | other
        return result


@dataclass(frozen=True)
class RecordType:
    """A business record type. ``page`` is card or document; ``approvable`` says whether
    Send Approval Request applies; ``approval_event`` / ``cancel_event`` name the events
    raised by Send / Cancel Approval Request.

    Document record types also have:
    - ``doc_type_field`` (e.g. ``document_type``): a list page can show one value of it
      (``doc_type``); :meth:`variant` derives such a view (Sales Quotes, Purchase
      Orders, ...) from the one registry entry;
    - ``line_fields`` / ``line_model``: the lines subpage's columns (editable ones can be
      changed on Open documents) and the line table;
    - ``partner``: ``customer`` or ``vendor`` (a New document asks for one);
    - ``new_fields``: what the New form asks for; ``releasable`` / ``postable``: the
      Release / Reopen and Post actions apply; ``read_only``: no changes at all
      (posted documents).

    ``then_by`` names model columns a list page sorts by after the chosen column
    (e.g. journal lines: batch, then line no.)."""

    key: str
    label: str
    plural: str
    model: type
    page: str
    fields: tuple[Field, ...]
    list_columns: tuple[str, ...]
    search_fields: tuple[str, ...]
    card_groups: tuple[tuple[str, tuple[str, ...]], ...]
    default_sort: str = "no"
    approvable: bool = False
    approval_event: str | None = None
    cancel_event: str | None = None
    list_filter: Callable[[Any], Any] | None = None
    title: Callable[[Any], str] = lambda r: str(getattr(r, "no", r.id))
    amount: Callable[[Any], Decimal] | None = None
    extra: dict = field(default_factory=dict)
    doc_type_field: str | None = None
    doc_type: str | None = None
    line_fields: tuple[Field, ...] = ()
    line_model: type | None = None
    partner: str | None = None
    new_fields: tuple[Field, ...] = ()
    releasable: bool = False
    postable: bool = False
    read_only: bool = False
    natural_no_sort: bool = False
    then_by: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.label} has no field {name!r}")

    @property
    def list_fields(self) -> tuple[Field, ...]:
        """The :class:`Field` of each list column, in column order."""
        return tuple(self.field(name) for name in self.list_columns)

    def field_names(self) -> "FieldNames":
        """The names of the record type's fields, carrying each field's kind (and the
        kinds of its line fields as ``lines.<name>``) for type checks of event
        conditions (:func:`portal.workflow.conditions.validate`)."""
        kinds = {f.name: f.kind for f in self.fields} | {f"lines.{f.name}": f.kind for f in self.line_fields}
        return FieldNames((f.name for f in self.fields), kinds)

    def values(self, record: Any) -> dict[str, Any]:
        """All field values of ``record`` as a dict keyed by field name."""
        return {f.name: f.value(record) for f in self.fields}

    def line_field(self, name: str) -> Field:
        for f in self.line_fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.label} lines have no field {name!r}")

    def variant(self, doc_type: str, label: str, plural: str) -> "RecordType":
        """The same record type narrowed to ``doc_type`` (a list page per document type)."""
        return replace(self, doc_type=doc_type, label=label, plural=plural)

    def filter_query(self, q):
        """``q`` narrowed to this record type's (and view's) records."""
        if self.list_filter:
            q = self.list_filter(q)
        if self.doc_type_field and self.doc_type is not None:
            q = q.where(getattr(self.model, self.doc_type_field) == self.doc_type)
        return q

    def covers(self, record: Any) -> bool:
        """True if ``record`` belongs to this view (its document type matches)."""
        if not self.doc_type_field or self.doc_type is None:
            return True
        return getattr(record, self.doc_type_field, None) == self.doc_type

    @property
    def has_lines(self) -> bool:
        return bool(self.line_fields)


ADDRESS_FIELDS = (
    Field("address", "Address", editable=True),
    Field("city", "City", editable=True),
    Field("region", "Region", editable=True),
    Field("postal_code", "Post Code", editable=True),
    Field("country", "Country/Region", editable=True),
    Field("phone", "Phone No.", editable=True),
    Field("fax", "Fax No.", editable=True),
    Field("email", "Email", editable=True),
    Field("contact", "Contact", editable=True),
    Field("contact_title", "Contact Title", editable=True),
)

CUSTOMER = RecordType(
    key="customer",
    label="Customer",
    plural="Customers",
    model=Customer,
    page="card",
    fields=(
        Field("no", "No."),
        Field("name", "Name", editable=True, required=True),
        *ADDRESS_FIELDS,
        Field("credit_limit", "Credit Limit (LCY)", "money", editable=True),
        Field("salesperson_code", "Salesperson Code", editable=True),
        Field("blocked", "Blocked", "bool", editable=True),
    ),
    list_columns=("no", "name", "city", "country", "contact", "phone"),
    search_fields=("no", "name", "city", "country", "contact"),
    card_groups=(
        ("General", ("no", "name", "credit_limit", "salesperson_code", "blocked")),
        ("Address & Contact", ("address", "city", "region", "postal_code", "country", "contact", "contact_title", "phone", "fax", "email")),
    ),
    title=lambda r: f"Customer {r.no} — {r.name}",
    approvable=True,
    approval_event="customer_approval_requested",
    cancel_event="customer_approval_canceled",
    new_fields=(
        Field("no", "No.", editable=True, required=True),
        Field("name", "Name", editable=True, required=True),
        Field("city", "City", editable=True),
        Field("country", "Country/Region", editable=True),
        Field("email", "Email", editable=True),
        Field("credit_limit", "Credit Limit (LCY)", "money", editable=True),
    ),
)

VENDOR = RecordType(
    key="vendor",
    label="Vendor",
    plural="Vendors",
    model=Vendor,
    page="card",
    fields=(
        Field("no", "No."),
        Field("name", "Name", editable=True, required=True),
        *ADDRESS_FIELDS,
        Field("homepage", "Home Page", editable=True),
        Field("purchaser_code", "Purchaser Code", editable=True),
        Field("blocked", "Blocked", "bool", editable=True),
    ),
    list_columns=("no", "name", "city", "country", "contact", "phone"),
    search_fields=("no", "name", "city", "country", "contact"),
    card_groups=(
        ("General", ("no", "name", "purchaser_code", "blocked")),
        ("Address & Contact", ("address", "city", "region", "postal_code", "country", "contact", "contact_title", "phone", "fax", "email", "homepage")),
    ),
    title=lambda r: f"Vendor {r.no} — {r.name}",
    approvable=True,
    approval_event="vendor_approval_requested",
    cancel_event="vendor_approval_canceled",
    new_fields=(
        Field("no", "No.", editable=True, required=True),
        Field("name", "Name", editable=True, required=True),
        Field("city", "City", editable=True),
        Field("country", "Country/Region", editable=True),
        Field("email", "Email", editable=True),
    ),
)

ITEM = RecordType(
    key="item",
    label="Item",
    plural="Items",
    model=Item,
    page="card",
    fields=(
        Field("no", "No."),
        Field("description", "Description", editable=True, required=True),
        Field("item_category", "Item Category", get=lambda r: r.item_category.description if r.item_category else ""),
        Field("vendor", "Vendor", get=lambda r: r.vendor.name if r.vendor else ""),
        Field("vendor_no", "Vendor No.", get=lambda r: r.vendor.no if r.vendor else ""),
        Field("quantity_per_unit", "Quantity per Unit", editable=True),
        Field("unit_price", "Unit Price", "money", editable=True),
        Field("inventory", "Inventory", "decimal"),
        Field("qty_on_purch_order", "Qty. on Purch. Order", "decimal"),
        Field("reorder_point", "Reorder Point", "decimal", editable=True),
        Field("blocked", "Blocked", "bool", editable=True),
    ),
    list_columns=("no", "description", "item_category", "vendor", "unit_price", "inventory"),
    search_fields=("no", "description", "quantity_per_unit"),
    card_groups=(
        ("Item", ("no", "description", "item_category", "vendor_no", "vendor", "blocked")),
        ("Prices & Inventory", ("quantity_per_unit", "unit_price", "inventory", "qty_on_purch_order", "reorder_point")),
    ),
    title=lambda r: f"Item {r.no} — {r.description}",
    approvable=True,
    approval_event="item_approval_requested",
    cancel_event="item_approval_canceled",
    new_fields=(
        Field("no", "No.", editable=True, required=True),
        Field("description", "Description", editable=True, required=True),
        Field("vendor_no", "Vendor No.", editable=True),
        Field("unit_price", "Unit Price", "money", editable=True),
        Field("reorder_point", "Reorder Point", "decimal", editable=True),
    ),
)


def _document_line_fields(unit_field: str, unit_label: str, editable: bool = True) -> tuple[Field, ...]:
    return (
        Field("line_no", "Line No.", "int"),
        Field("item_no", "Item No.", editable=editable),
        Field("description", "Description", editable=editable),
        Field("quantity", "Quantity", "decimal", editable=editable, required=editable),
        Field(unit_field, unit_label, "money", editable=editable),
        Field("line_discount_pct", "Line Discount %", "decimal", editable=editable),
        Field("line_amount", "Line Amount", "money"),
    )


def _document_type(partner: str, partner_label: str) -> tuple[Field, ...]:
    """The fields every sales/purchase document has, in front of its own."""
    return (
        Field("document_type", "Document Type", "choice", choices=DOCUMENT_TYPES),
        Field("no", "No."),
        Field(f"{partner}_no", f"{partner_label} No.", get=lambda r: r.partner_no),
        Field(f"{partner}_name", f"{partner_label} Name", get=lambda r: r.partner_name),
    )


SALES_DOCUMENT = RecordType(
    key="sales_header",
    label="Sales Document",
    plural="Sales Documents",
    model=SalesHeader,
    page="document",
    fields=(
        *_document_type("customer", "Customer"),
        Field("salesperson_code", "Salesperson Code", editable=True),
        Field("status", "Status", "choice", choices=DOCUMENT_STATUSES),
        Field("order_date", "Order Date", "date", editable=True),
        Field("requested_delivery_date", "Requested Delivery Date", "date", editable=True),
        Field("shipment_date", "Shipment Date", "date", editable=True),
        Field("shipping_agent_code", "Shipping Agent Code", editable=True),
        Field("freight", "Freight", "money", editable=True),
        Field("ship_to_name", "Ship-to Name", editable=True),
        Field("ship_to_address", "Ship-to Address", editable=True),
        Field("ship_to_city", "Ship-to City", editable=True),
        Field("ship_to_postal_code", "Ship-to Post Code", editable=True),
        Field("ship_to_country", "Ship-to Country/Region", editable=True),
        Field("currency_code", "Currency Code"),
        Field("amount", "Amount", "money"),
    ),
    list_columns=("no", "customer_no", "customer_name", "salesperson_code", "order_date", "status", "amount"),
    search_fields=("no", "salesperson_code", "status"),
    card_groups=(
        ("General", ("no", "customer_no", "customer_name", "salesperson_code", "order_date", "requested_delivery_date", "status", "amount")),
        ("Shipping", ("shipment_date", "shipping_agent_code", "freight", "ship_to_name", "ship_to_address", "ship_to_city", "ship_to_postal_code", "ship_to_country")),
    ),
    default_sort="-no",
    approvable=True,
    approval_event="sales_document_approval_requested",
    cancel_event="sales_document_approval_canceled",
    title=lambda r: f"Sales {r.document_type} {r.no}",
    amount=lambda r: r.amount,
    doc_type_field="document_type",
    line_fields=_document_line_fields("unit_price", "Unit Price"),
    line_model=SalesLine,
    partner="customer",
    new_fields=(Field("customer_no", "Customer No.", "partner", editable=True, required=True),
                Field("order_date", "Order Date", "date", editable=True)),
    releasable=True,
    postable=True,
    natural_no_sort=True,
)

PURCHASE_DOCUMENT = RecordType(
    key="purchase_header",
    label="Purchase Document",
    plural="Purchase Documents",
    model=PurchaseHeader,
    page="document",
    fields=(
        *_document_type("vendor", "Vendor"),
        Field("purchaser_code", "Purchaser Code", editable=True),
        Field("status", "Status", "choice", choices=DOCUMENT_STATUSES),
        Field("order_date", "Order Date", "date", editable=True),
        Field("expected_receipt_date", "Expected Receipt Date", "date", editable=True),
        Field("vendor_invoice_no", "Vendor Invoice No.", editable=True),
        Field("currency_code", "Currency Code"),
        Field("amount", "Amount", "money"),
    ),
    list_columns=("no", "vendor_no", "vendor_name", "purchaser_code", "order_date", "status", "amount"),
    search_fields=("no", "purchaser_code", "status", "vendor_invoice_no"),
    card_groups=(
        ("General", ("no", "vendor_no", "vendor_name", "purchaser_code", "order_date", "expected_receipt_date", "vendor_invoice_no", "status", "amount")),
    ),
    default_sort="-no",
    approvable=True,
    approval_event="purchase_document_approval_requested",
    cancel_event="purchase_document_approval_canceled",
    title=lambda r: f"Purchase {r.document_type} {r.no}",
    amount=lambda r: r.amount,
    doc_type_field="document_type",
    line_fields=_document_line_fields("direct_unit_cost", "Direct Unit Cost"),
    line_model=PurchaseLine,
    partner="vendor",
    new_fields=(Field("vendor_no", "Vendor No.", "partner", editable=True, required=True),
                Field("vendor_invoice_no", "Vendor Invoice No.", editable=True),
                Field("order_date", "Order Date", "date", editable=True)),
    releasable=True,
    postable=True,
    natural_no_sort=True,
)

# The fields of a general journal line: the lines subpage of a batch and the line's own
# card (record type ``gen_journal_line``) share them.
JOURNAL_LINE_FIELDS = (
    Field("line_no", "Line No.", "int"),
    Field("posting_date", "Posting Date", "date", editable=True),
    Field("document_type", "Document Type", "choice", editable=True, choices=JOURNAL_DOCUMENT_TYPES),
    Field("document_no", "Document No.", editable=True),
    Field("account_type", "Account Type", "choice", editable=True, choices=ACCOUNT_TYPES, required=True),
    Field("account_no", "Account No.", editable=True, required=True),
    Field("description", "Description", editable=True),
    Field("amount", "Amount", "money", editable=True, required=True),
    Field("bal_account_type", "Bal. Account Type", "choice", editable=True, choices=ACCOUNT_TYPES),
    Field("bal_account_no", "Bal. Account No.", editable=True),
)

GEN_JOURNAL_BATCH = RecordType(
    key="gen_journal_batch",
    label="General Journal Batch",
    plural="General Journal Batches",
    model=GenJournalBatch,
    page="document",
    fields=(
        Field("journal_template_name", "Journal Template Name", "choice", choices=JOURNAL_TEMPLATES),
        Field("name", "Name"),
        Field("description", "Description", editable=True),
        Field("status", "Status", "choice", choices=DOCUMENT_STATUSES),
        Field("line_count", "No. of Lines", "int", get=lambda r: len(r.lines)),
        Field("balance", "Balance", "money", get=lambda r: r.balance),
        Field("balanced", "Balanced", "bool", get=lambda r: r.balanced),
        Field("amount", "Total Debit", "money", get=lambda r: r.amount),
    ),
    list_columns=("journal_template_name", "name", "description", "status", "balance", "balanced"),
    search_fields=("journal_template_name", "name", "description", "status"),
    card_groups=(("General", ("journal_template_name", "name", "description", "status", "line_count", "amount", "balance", "balanced")),),
    default_sort="journal_template_name",
    approvable=True,
    approval_event="general_journal_batch_approval_requested",
    cancel_event="general_journal_batch_approval_canceled",
    title=lambda r: r.title,
    amount=lambda r: r.amount,
    line_fields=JOURNAL_LINE_FIELDS,
    line_model=GenJournalLine,
    new_fields=(
        Field("journal_template_name", "Journal Template Name", "choice", editable=True, choices=JOURNAL_TEMPLATES, required=True),
        Field("name", "Name", editable=True, required=True),
        Field("description", "Description", editable=True),
    ),
    releasable=True,
)

GEN_JOURNAL_LINE = RecordType(
    key="gen_journal_line",
    label="General Journal Line",
    plural="General Journal Lines",
    model=GenJournalLine,
    page="card",
    fields=(
        Field("journal_template_name", "Journal Template Name", get=lambda r: r.batch.journal_template_name),
        Field("journal_batch_name", "Journal Batch Name", get=lambda r: r.batch.name),
        *JOURNAL_LINE_FIELDS,
        Field("currency_code", "Currency Code"),
        Field("batch_status", "Batch Status", "choice", choices=DOCUMENT_STATUSES, get=lambda r: r.batch.status),
    ),
    list_columns=("journal_template_name", "journal_batch_name", "line_no", "posting_date", "document_no", "account_type",
                  "account_no", "description", "amount"),
    search_fields=("document_no", "account_no", "description"),
    card_groups=(
        ("General", ("journal_template_name", "journal_batch_name", "batch_status", "line_no", "posting_date", "document_type",
                     "document_no", "description")),
        ("Accounts", ("account_type", "account_no", "amount", "bal_account_type", "bal_account_no", "currency_code")),
    ),
    default_sort="batch_id",
    then_by=("line_no",),
    approvable=True,
    approval_event="general_journal_line_approval_requested",
    cancel_event="general_journal_line_approval_canceled",
    # e.g. "General Journal Line GENERAL DEFAULT 10000" (template, batch, line no.)
    title=lambda r: f"General Journal Line {r.batch.journal_template_name} {r.batch.name} {r.line_no}",
    # the approval amount: the line's amount, debit or credit alike (Business Central
    # compares the absolute amount with the approver's request limit)
    amount=lambda r: abs(Decimal(r.amount or 0)),
)

POSTED_KEYS: dict[str, str] = {
    POSTED_SALES_INVOICE: "posted_sales_invoice",
    POSTED_SALES_CREDIT_MEMO: "posted_sales_credit_memo",
    POSTED_PURCHASE_INVOICE: "posted_purchase_invoice",
    POSTED_PURCHASE_CREDIT_MEMO: "posted_purchase_credit_memo",
}


def _posted(kind: str) -> RecordType:
    """A posted document record type (one per kind, one table): read-only."""
    sales = kind.startswith("Sales")
    partner = "Customer" if sales else "Vendor"
    unit_label = "Unit Price" if sales else "Direct Unit Cost"
    return RecordType(
        key=POSTED_KEYS[kind],
        label=f"Posted {kind}",
        plural=f"Posted {kind}s",
        model=PostedDocument,
        page="document",
        fields=(
            Field("kind", "Kind", "choice", choices=POSTED_KINDS),
            Field("no", "No."),
            Field("partner_no", f"{partner} No."),
            Field("partner_name", f"{partner} Name"),
            Field("salesperson_purchaser_code", "Salesperson Code" if sales else "Purchaser Code"),
            Field("order_no", "Order No."),
            Field("pre_assigned_no", "Pre-Assigned No."),
            Field("vendor_invoice_no", "Vendor Invoice No." if kind == POSTED_PURCHASE_INVOICE else "Vendor Cr. Memo No."),
            Field("order_date", "Order Date", "date"),
            Field("posting_date", "Posting Date", "date"),
            Field("currency_code", "Currency Code"),
            Field("amount", "Amount", "money"),
            Field("posted_by", "Posted By", get=lambda r: r.posted_by_name),
            Field("posted_at", "Posted At"),
            Field("source_no", "Order/Pre-Assigned No.", get=lambda r: r.source_no),
        ),
        list_columns=("no", "partner_no", "partner_name", "posting_date", "source_no", "amount"),
        search_fields=("no", "partner_no", "partner_name", "order_no", "pre_assigned_no"),
        card_groups=(("General", ("no", "partner_no", "partner_name", "salesperson_purchaser_code", "order_no", "pre_assigned_no",
                                  *(() if sales else ("vendor_invoice_no",)), "order_date", "posting_date", "amount", "posted_by", "posted_at")),),
        default_sort="-no",
        title=lambda r: f"Posted {r.kind} {r.no}",
        amount=lambda r: r.amount,
        doc_type_field="kind",
        doc_type=kind,
        line_fields=_document_line_fields("unit_price", unit_label, editable=False),
        read_only=True,
    )


POSTED_TYPES = tuple(_posted(kind) for kind in POSTED_KINDS)

# The engine's registry of record types (one dict: the engine reads what records registers).
RECORD_TYPES: dict[str, RecordType] = ENGINE_RECORD_TYPES
RECORD_TYPES.update(
    {rt.key: rt for rt in (CUSTOMER, VENDOR, ITEM, SALES_DOCUMENT, PURCHASE_DOCUMENT, GEN_JOURNAL_BATCH, GEN_JOURNAL_LINE, *POSTED_TYPES)}
)


# List views: URL slug → the record type (narrowed to one document type where the
# record type has several).
LIST_VIEWS: dict[str, RecordType] = {"customers": CUSTOMER, "vendors": VENDOR, "items": ITEM}
for _base, _prefix in ((SALES_DOCUMENT, "Sales"), (PURCHASE_DOCUMENT, "Purchase")):
    for _doc_type in DOCUMENT_TYPES:
        _label = f"{_prefix} {_doc_type}"
        LIST_VIEWS[_label.lower().replace(" ", "-") + "s"] = _base.variant(_doc_type, _label, _label + "s")
LIST_VIEWS["general-journal-batches"] = GEN_JOURNAL_BATCH
LIST_VIEWS["general-journal-lines"] = GEN_JOURNAL_LINE
for _rt in POSTED_TYPES:
    LIST_VIEWS[_rt.plural.lower().replace(" ", "-")] = _rt

# URL slugs for list pages: slug → record type key, and each record type's default slug
SLUGS: dict[str, str] = {slug: rt.key for slug, rt in LIST_VIEWS.items()}
SLUG_OF: dict[str, str] = {}
for _slug, _key in SLUGS.items():
    SLUG_OF.setdefault(_key, _slug)
SLUG_OF["sales_header"] = "sales-orders"
SLUG_OF["purchase_header"] = "purchase-orders"


def slug_for(record_type: str, record: Any = None) -> str:
    """The slug of the list (and record page) that shows ``record``: for documents the
    one of its document type (``/sales-quotes/…``), else the record type's default."""
    if record is not None:
        for slug, rt in LIST_VIEWS.items():
            if rt.key == record_type and rt.doc_type is not None and rt.covers(record):
                return slug
    return SLUG_OF[record_type]


def get_record_type(key: str) -> RecordType:
    """The :class:`RecordType` for ``key``. Raises ``KeyError`` for an unknown key."""
    try:
        return RECORD_TYPES[key]
    except KeyError:
        raise KeyError(f"Unknown record type {key!r}") from None
