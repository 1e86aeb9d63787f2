"""Business records: master data (customers, vendors, items, ...) and sales documents.

Money columns hold amounts in the record's currency (``currency_code``; empty = the
local currency, USD for the Northwind data), rounded to 2 decimals.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
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


class Customer(AddressMixin, db.Model):
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


class Vendor(AddressMixin, db.Model):
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


class Item(db.Model):
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


class SalesHeader(db.Model):
    """A sales document (Quote, Order, Invoice, Credit Memo). ``amount`` is the sum of
    the lines' ``line_amount`` (recomputed by :meth:`recalculate`)."""

    __tablename__ = "sales_header"
    __table_args__ = (UniqueConstraint("document_type", "no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(String(20))
    no: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    salesperson_code: Mapped[str | None] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default=STATUS_OPEN)
    order_date: Mapped[date | None]
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
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    customer: Mapped[Customer] = relationship(lazy="joined")
    lines: Mapped[list["SalesLine"]] = relationship(
        back_populates="header", cascade="all, delete-orphan", order_by="SalesLine.line_no"
    )

    def recalculate(self) -> Decimal:
        """Set ``amount`` to the sum of the lines' amounts and return it."""
        self.amount = money(sum((line.line_amount for line in self.lines), Decimal("0")))
        return self.amount

    @property
    def title(self) -> str:
        return f"Sales {self.document_type} {self.no}"


class SalesLine(db.Model):
    """A sales document line: ``line_amount = quantity × unit_price × (1 − line_discount_pct/100)``,
    rounded to 2 decimals."""

    __tablename__ = "sales_line"
    __table_args__ = (UniqueConstraint("header_id", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    header_id: Mapped[int] = mapped_column(ForeignKey("sales_header.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int]
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"))
    description: Mapped[str] = mapped_column(String(100), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal("0"))
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    line_discount_pct: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal("0"))
    line_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    header: Mapped[SalesHeader] = relationship(back_populates="lines")
    item: Mapped[Item | None] = relationship(lazy="joined")

    def calculate(self) -> Decimal:
        """Recompute and return ``line_amount`` from quantity, unit price and discount."""
        gross = Decimal(self.quantity or 0) * Decimal(self.unit_price or 0)
        self.line_amount = money(gross * (Decimal(100) - Decimal(self.line_discount_pct or 0)) / Decimal(100))
        return self.line_amount
