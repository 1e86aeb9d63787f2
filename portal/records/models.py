"""Business records: master data (customers, vendors, items, ...), sales and purchase
documents, general journal batches, posted documents and record restrictions.

Money columns hold amounts in the record's currency (``currency_code``; empty = the
local currency, USD for the Northwind data), rounded to 2 decimals.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from portal.extensions import db
from portal.versioning import Versioned
from portal.util import money, utcnow

Money = Numeric(18, 2)

DOCUMENT_TYPES = ("Quote", "Order", "Invoice", "Credit Memo")
STATUS_OPEN = "Open"
STATUS_PENDING_APPROVAL = "Pending Approval"
STATUS_RELEASED = "Released"
DOCUMENT_STATUSES = (STATUS_OPEN, STATUS_PENDING_APPROVAL, STATUS_RELEASED)


class Salesperson(db.Model):
    """Salesperson/Purchaser: a code people and documents refer to."""

    __tablename__ = "salesperson"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    job_title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))


class ItemCategory(db.Model):
    __tablename__ = "item_category"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str] = mapped_column(String(100))
    details: Mapped[str | None] = mapped_column(Text)


class ShippingAgent(db.Model):
    __tablename__ = "shipping_agent"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50))


class AddressMixin:
    address: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(60))
    region: Mapped[str | None] = mapped_column(String(60))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(50))
    fax: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(100))
    contact_title: Mapped[str | None] = mapped_column(String(100))


class Customer(Versioned, AddressMixin, db.Model):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    salesperson_code: Mapped[str | None] = mapped_column(String(20))
    blocked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Vendor(Versioned, AddressMixin, db.Model):
    __tablename__ = "vendor"
    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    homepage: Mapped[str | None] = mapped_column(String(300))
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    purchaser_code: Mapped[str | None] = mapped_column(String(20))
    blocked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Item(Versioned, db.Model):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str] = mapped_column(String(100), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    item_category_id: Mapped[int | None] = mapped_column(ForeignKey("item_category.id"))
    quantity_per_unit: Mapped[str | None] = mapped_column(String(50))
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    inventory: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal("0"))
    qty_on_purch_order: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal("0"))
    reorder_point: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal("0"))
    blocked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    vendor: Mapped[Vendor | None] = relationship(lazy="joined")
    item_category: Mapped[ItemCategory | None] = relationship(lazy="joined")


def natural_sort_key(no: str | None) -> str:
    """The stored sort key of a document no. that orders numbers naturally: shorter
    numbers first, then by text (``9`` before ``10``, ``SO00009`` before ``SO00010``) —
    what ``ORDER BY length(no), no`` gave, as one indexable column: the length as two
    digits, then the no. itself (e.g. ``"0510249"``)."""
    no = no or ""
    return f"{len(no):02d}{no}"


class DocumentHeaderMixin:
    """What sales and purchase document headers share: type, number, status, order
    date, currency and ``amount`` = the sum of the lines' ``line_amount`` (recomputed by
    :meth:`recalculate`). Subclasses define ``lines``, the partner relationship and
    ``TITLE_PREFIX`` ("Sales" / "Purchase")."""

    TITLE_PREFIX: ClassVar[str] = ""
    id: Mapped[int] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(String(20))
    no: Mapped[str] = mapped_column(String(20))
    # natural_sort_key(no), kept up to date on insert and update (list pages sort by it)
    no_sort: Mapped[str] = mapped_column(String(22), default="")
    status: Mapped[str] = mapped_column(String(20), default=STATUS_OPEN)
    order_date: Mapped[date | None]
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def recalculate(self) -> Decimal:
        """Set ``amount`` to the sum of the lines' amounts and return it."""
        self.amount = money(sum((line.line_amount for line in self.lines), Decimal("0")))
        return self.amount

    @property
    def title(self) -> str:
        return f"{self.TITLE_PREFIX} {self.document_type} {self.no}"

    @property
    def partner(self):
        """The customer (sales) or vendor (purchase)."""
        raise NotImplementedError

    @property
    def partner_no(self) -> str:
        return self.partner.no if self.partner else ""

    @property
    def partner_name(self) -> str:
        return self.partner.name if self.partner else ""

    @property
    def salesperson_purchaser_code(self) -> str | None:
        return getattr(self, "salesperson_code", None) or getattr(self, "purchaser_code", None)


class DocumentLineMixin:
    """What document lines share: ``line_amount = quantity × unit amount × (1 −
    line_discount_pct/100)``, rounded to 2 decimals. The unit amount is the column named
    by ``UNIT_FIELD`` (sales: ``unit_price``, purchase: ``direct_unit_cost``)."""

    UNIT_FIELD: ClassVar[str] = "unit_price"
    id: Mapped[int] = mapped_column(primary_key=True)
    line_no: Mapped[int]
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"))
    description: Mapped[str] = mapped_column(String(100), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal("0"))
    line_discount_pct: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal("0"))
    line_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    @declared_attr
    def item(cls) -> Mapped[Item | None]:
        return relationship(Item, lazy="joined")

    @property
    def item_no(self) -> str:
        return self.item.no if self.item else ""

    @property
    def unit_amount(self) -> Decimal:
        return Decimal(getattr(self, self.UNIT_FIELD) or 0)

    def calculate(self) -> Decimal:
        """Recompute and return ``line_amount`` from quantity, unit amount and discount."""
        gross = Decimal(self.quantity or 0) * self.unit_amount
        self.line_amount = money(gross * (Decimal(100) - Decimal(self.line_discount_pct or 0)) / Decimal(100))
        return self.line_amount


class SalesHeader(Versioned, DocumentHeaderMixin, db.Model):
    """A sales document (Quote, Order, Invoice, Credit Memo) for a customer."""

    __tablename__ = "sales_header"
    __table_args__ = (
        UniqueConstraint("document_type", "no"),
        # list pages: a document type's documents by no. (natural order) or by amount
        Index("ix_sales_header_type_no_sort", "document_type", "no_sort", "id"),
        Index("ix_sales_header_type_amount", "document_type", "amount", "id"),
        # a search's documents of the matching customers, with what the list sorts
        # them by, without reading the rows (migration f3_search)
        Index("ix_sales_header_customer_type_no_sort", "customer_id", "document_type", "no_sort", "id"),
    )
    TITLE_PREFIX = "Sales"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    salesperson_code: Mapped[str | None] = mapped_column(String(20), index=True)
    requested_delivery_date: Mapped[date | None]
    shipment_date: Mapped[date | None]
    shipping_agent_code: Mapped[str | None] = mapped_column(String(20))
    freight: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    ship_to_name: Mapped[str | None] = mapped_column(String(100))
    ship_to_address: Mapped[str | None] = mapped_column(String(200))
    ship_to_city: Mapped[str | None] = mapped_column(String(60))
    ship_to_region: Mapped[str | None] = mapped_column(String(60))
    ship_to_postal_code: Mapped[str | None] = mapped_column(String(20))
    ship_to_country: Mapped[str | None] = mapped_column(String(60))
    customer: Mapped[Customer] = relationship(lazy="joined")
    lines: Mapped[list["SalesLine"]] = relationship(
        back_populates="header", cascade="all, delete-orphan", order_by="SalesLine.line_no"
    )

    @property
    def partner(self) -> Customer:
        return self.customer


class SalesLine(DocumentLineMixin, db.Model):
    """A sales document line (unit price)."""

    __tablename__ = "sales_line"
    __table_args__ = (UniqueConstraint("header_id", "line_no"),)
    header_id: Mapped[int] = mapped_column(ForeignKey("sales_header.id", ondelete="CASCADE"), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    header: Mapped[SalesHeader] = relationship(back_populates="lines")


class PurchaseHeader(Versioned, DocumentHeaderMixin, db.Model):
    """A purchase document (Quote, Order, Invoice, Credit Memo) from a vendor.
    ``vendor_invoice_no`` / the vendor's credit memo no. is the vendor's own number."""

    __tablename__ = "purchase_header"
    __table_args__ = (
        UniqueConstraint("document_type", "no"),
        Index("ix_purchase_header_type_no_sort", "document_type", "no_sort", "id"),
        Index("ix_purchase_header_type_amount", "document_type", "amount", "id"),
    )
    TITLE_PREFIX = "Purchase"
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id"), index=True)
    purchaser_code: Mapped[str | None] = mapped_column(String(20), index=True)
    expected_receipt_date: Mapped[date | None]
    vendor_invoice_no: Mapped[str | None] = mapped_column(String(35))
    vendor: Mapped[Vendor] = relationship(lazy="joined")
    lines: Mapped[list["PurchaseLine"]] = relationship(
        back_populates="header", cascade="all, delete-orphan", order_by="PurchaseLine.line_no"
    )

    @property
    def partner(self) -> Vendor:
        return self.vendor


class PurchaseLine(DocumentLineMixin, db.Model):
    """A purchase document line (direct unit cost)."""

    __tablename__ = "purchase_line"
    __table_args__ = (UniqueConstraint("header_id", "line_no"),)
    UNIT_FIELD = "direct_unit_cost"
    header_id: Mapped[int] = mapped_column(ForeignKey("purchase_header.id", ondelete="CASCADE"), index=True)
    direct_unit_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    header: Mapped[PurchaseHeader] = relationship(back_populates="lines")


@event.listens_for(SalesHeader, "before_insert")
@event.listens_for(SalesHeader, "before_update")
@event.listens_for(PurchaseHeader, "before_insert")
@event.listens_for(PurchaseHeader, "before_update")
def _fill_no_sort(mapper, connection, target) -> None:
    target.no_sort = natural_sort_key(target.no)


# ---------------------------------------------------------------- general journals

JOURNAL_TEMPLATES = ("GENERAL", "PAYMENT", "CASH RCPT", "SALES", "PURCHASES")
JOURNAL_DOCUMENT_TYPES = ("", "Payment", "Invoice", "Credit Memo", "Refund")
ACCOUNT_TYPES = ("G/L Account", "Customer", "Vendor", "Bank Account")


class GenJournalBatch(db.Model):
    """A general journal batch (journal template name + batch name) with its lines.
    It carries a document-like ``status`` so that it can be sent for approval.

    Balanced: a line with a balancing account (``bal_account_no``) balances itself; the
    other lines' amounts must add up to 0. ``amount`` (for approval limits) is the
    batch's total debit: the positive amounts, plus the size of the negative ones
    that carry their own balancing account."""

    __tablename__ = "gen_journal_batch"
    __table_args__ = (UniqueConstraint("journal_template_name", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journal_template_name: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default=STATUS_OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lines: Mapped[list["GenJournalLine"]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="GenJournalLine.line_no"
    )

    @property
    def title(self) -> str:
        return f"General Journal Batch {self.journal_template_name} {self.name}"

    @property
    def no(self) -> str:
        return self.name

    @property
    def balance(self) -> Decimal:
        """The sum of the amounts of lines without a balancing account (0 = balanced)."""
        return money(sum((Decimal(l.amount or 0) for l in self.lines if not l.bal_account_no), Decimal("0")))

    @property
    def balanced(self) -> bool:
        return self.balance == 0

    @property
    def amount(self) -> Decimal:
        total = Decimal("0")
        for line in self.lines:
            value = Decimal(line.amount or 0)
            total += abs(value) if line.bal_account_no else max(value, Decimal("0"))
        return money(total)

    def recalculate(self) -> Decimal:
        return self.amount


class GenJournalLine(db.Model):
    """A general journal line: a signed ``amount`` (positive = debit) on an account,
    optionally balanced by a balancing account on the same line."""

    __tablename__ = "gen_journal_line"
    __table_args__ = (UniqueConstraint("batch_id", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("gen_journal_batch.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int]
    posting_date: Mapped[date | None]
    document_type: Mapped[str] = mapped_column(String(20), default="")
    document_no: Mapped[str | None] = mapped_column(String(20))
    account_type: Mapped[str] = mapped_column(String(20), default="G/L Account")
    account_no: Mapped[str] = mapped_column(String(20), default="")
    description: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    bal_account_type: Mapped[str] = mapped_column(String(20), default="G/L Account")
    bal_account_no: Mapped[str | None] = mapped_column(String(20))
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    batch: Mapped[GenJournalBatch] = relationship(back_populates="lines")


# ---------------------------------------------------------------- posted documents

POSTED_SALES_INVOICE = "Sales Invoice"
POSTED_SALES_CREDIT_MEMO = "Sales Credit Memo"
POSTED_PURCHASE_INVOICE = "Purchase Invoice"
POSTED_PURCHASE_CREDIT_MEMO = "Purchase Credit Memo"
POSTED_KINDS = (POSTED_SALES_INVOICE, POSTED_SALES_CREDIT_MEMO, POSTED_PURCHASE_INVOICE, POSTED_PURCHASE_CREDIT_MEMO)


class PostedDocument(db.Model):
    """A posted (read-only) invoice or credit memo, sales or purchase (``kind``).
    ``order_no`` is the order it was posted from; ``pre_assigned_no`` the invoice or
    credit memo number it had before posting (Business Central's "Pre-Assigned No.")."""

    __tablename__ = "posted_document"
    __table_args__ = (UniqueConstraint("kind", "no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    no: Mapped[str] = mapped_column(String(20))
    source_document_type: Mapped[str] = mapped_column(String(20))
    order_no: Mapped[str | None] = mapped_column(String(20))
    pre_assigned_no: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"), index=True)
    partner_no: Mapped[str] = mapped_column(String(20))
    partner_name: Mapped[str] = mapped_column(String(100))
    salesperson_purchaser_code: Mapped[str | None] = mapped_column(String(20))
    vendor_invoice_no: Mapped[str | None] = mapped_column(String(35))
    order_date: Mapped[date | None]
    posting_date: Mapped[date]
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    posted_by: Mapped["User | None"] = relationship("User", lazy="joined")
    lines: Mapped[list["PostedDocumentLine"]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="PostedDocumentLine.line_no"
    )

    @property
    def title(self) -> str:
        return f"Posted {self.kind} {self.no}"

    @property
    def posted_by_name(self) -> str:
        return self.posted_by.full_name if self.posted_by else ""

    @property
    def source_no(self) -> str | None:
        return self.order_no or self.pre_assigned_no


class PostedDocumentLine(DocumentLineMixin, db.Model):
    """A line of a posted document; ``unit_price`` is the unit price (sales) or the
    direct unit cost (purchase)."""

    __tablename__ = "posted_document_line"
    __table_args__ = (UniqueConstraint("document_id", "line_no"),)
    document_id: Mapped[int] = mapped_column(ForeignKey("posted_document.id", ondelete="CASCADE"), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    document: Mapped[PostedDocument] = relationship(back_populates="lines")


# ---------------------------------------------------------------- record restrictions

class RecordRestriction(db.Model):
    """A restriction on one record (Business Central's Restricted Record): while it
    exists the record can't be modified, released or posted."""

    __tablename__ = "record_restriction"
    __table_args__ = (Index("ix_record_restriction_record", "record_type", "record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    details: Mapped[str] = mapped_column(String(250), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


# ---------------------------------------------------------------- number series

class NoSeries(db.Model):
    """A number series (Business Central's table 308 "No. Series"): a ``code`` such as
    ``S-ORD`` and a ``description``. Its numbers come from its lines
    (:class:`NoSeriesLine`) and are taken by :func:`portal.records.numbering.get_next_no`."""

    __tablename__ = "no_series"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str] = mapped_column(String(100), default="")
    lines: Mapped[list["NoSeriesLine"]] = relationship(
        back_populates="series", cascade="all, delete-orphan", order_by="NoSeriesLine.line_no"
    )


class NoSeriesLine(db.Model):
    """A line of a number series (Business Central's table 309 "No. Series Line"): the
    numbers from ``starting_no`` to ``ending_no`` (empty = no end), ``increment_by``
    apart, valid from ``starting_date`` (empty = always); ``last_no_used`` is the last
    number given (empty = none yet: the next is ``starting_no``)."""

    __tablename__ = "no_series_line"
    __table_args__ = (UniqueConstraint("series_code", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    series_code: Mapped[str] = mapped_column(ForeignKey("no_series.code", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(default=10000)
    starting_date: Mapped[date | None]
    starting_no: Mapped[str] = mapped_column(String(20))
    ending_no: Mapped[str | None] = mapped_column(String(20))
    increment_by: Mapped[int] = mapped_column(default=1)
    last_no_used: Mapped[str | None] = mapped_column(String(20))
    last_date_used: Mapped[date | None]
    open: Mapped[bool] = mapped_column(default=True)
    series: Mapped[NoSeries] = relationship(back_populates="lines")
