"""The record-type registry: for each record type, its model, pages, fields, list
columns, search fields and card groups. Views, the workflow engine (event
conditions) and the Automate menu all read it, so a record type is described once.

Record types are named by a short key (``customer``, ``sales_header``, ...); event
conditions refer to fields by their attribute name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from portal.records.models import (
    DOCUMENT_STATUSES,
    DOCUMENT_TYPES,
    Customer,
    Item,
    SalesHeader,
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


@dataclass(frozen=True)
class RecordType:
    """A business record type. ``page`` is card or document; ``approvable`` says whether
    Send Approval Request applies; ``approval_event`` / ``cancel_event`` name the events
    raised by Send / Cancel Approval Request."""

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

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.label} has no field {name!r}")

    def field_names(self) -> set[str]:
        return {f.name for f in self.fields}

    def values(self, record: Any) -> dict[str, Any]:
        """All field values of ``record`` as a dict keyed by field name."""
        return {f.name: f.value(record) for f in self.fields}


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
        ("Item", ("no", "description", "item_category", "vendor", "blocked")),
        ("Prices & Inventory", ("quantity_per_unit", "unit_price", "inventory", "qty_on_purch_order", "reorder_point")),
    ),
    title=lambda r: f"Item {r.no} — {r.description}",
)

SALES_DOCUMENT = RecordType(
    key="sales_header",
    label="Sales Order",
    plural="Sales Orders",
    model=SalesHeader,
    page="document",
    fields=(
        Field("document_type", "Document Type", "choice", choices=DOCUMENT_TYPES),
        Field("no", "No."),
        Field("customer_no", "Customer No.", get=lambda r: r.customer.no),
        Field("customer_name", "Customer Name", get=lambda r: r.customer.name),
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
        ("General", ("no", "customer_no", "customer_name", "salesperson_code", "order_date", "requested_delivery_date", "amount")),
        ("Shipping", ("shipment_date", "shipping_agent_code", "freight", "ship_to_name", "ship_to_address", "ship_to_city", "ship_to_postal_code", "ship_to_country")),
    ),
    default_sort="-no",
    approvable=True,
    approval_event="sales_document_approval_requested",
    cancel_event="sales_document_approval_canceled",
    list_filter=lambda q: q.where(SalesHeader.document_type == "Order"),
    title=lambda r: f"Sales {r.document_type} {r.no}",
    amount=lambda r: r.amount,
)

RECORD_TYPES: dict[str, RecordType] = {rt.key: rt for rt in (CUSTOMER, VENDOR, ITEM, SALES_DOCUMENT)}

# URL slugs for list pages
SLUGS: dict[str, str] = {"customers": "customer", "vendors": "vendor", "items": "item", "sales-orders": "sales_header"}
SLUG_OF: dict[str, str] = {v: k for k, v in SLUGS.items()}


def get_record_type(key: str) -> RecordType:
    """The :class:`RecordType` for ``key``. Raises ``KeyError`` for an unknown key."""
    try:
        return RECORD_TYPES[key]
    except KeyError:
        raise KeyError(f"Unknown record type {key!r}") from None
