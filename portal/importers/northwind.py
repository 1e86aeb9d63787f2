"""Import the Northwind sample data (a directory of CSV files) into the portal's records.

Entry point: :func:`import_northwind`. It reads every file first (so a missing file or a
broken header fails before anything is written), then imports the files in dependency
order, each row identified by its natural key:

================== ========================================================
file               records (natural key)
================== ========================================================
categories.csv     ItemCategory (``code``: the name upper-cased, no spaces)
shippers.csv       ShippingAgent (``code``: the shipper id)
suppliers.csv      Vendor (``no``: ``V`` + 5-digit supplier id, e.g. V00001)
customers.csv      Customer (``no``: the customer id, e.g. ALFKI)
employees.csv      Salesperson (``code``: first initial + last name, e.g.
                   MSUYAMA), User (``user_name``: the code lower-cased) and
                   ApprovalUserSetup (per user; ``reports_to`` = approver);
                   plus the built-in ``admin`` user (key ``admin``)
products.csv       Item (``no``: ``I`` + 4-digit product id, e.g. I0011)
orders.csv         SalesHeader (document type Order, ``no``: the order id)
order_details.csv  SalesLine (``line_no`` 10000, 20000, ... per order; key
                   ``<order no.>/<line no.>``)
================== ========================================================

Running it again (``flask up`` does, on every start) **inserts what is missing and
leaves every existing record as it is** (see :mod:`portal.importers.common`):

* a row is **new** when the import log has no entry for its key and no record has
  that key: its record is created and the key logged, in the caller's transaction;
* otherwise it is **already there** and nothing of it is written (beyond logging a key
  found but not yet logged, e.g. after upgrading a database imported before the log
  existed). So a user's edits stay, a Released order stays Released, and a record a
  user deleted is not created again: its key is in the log. An order that was posted
  (which removes the sales order) is recognised by its posted sales invoice's order
  no. as well, so it never comes back as an open order;
* an order line is new when its order was created now, or when the order is there
  and Open and the line was never imported (e.g. its row was bad last time); a new
  line for an order that is no longer Open is skipped and reported. Lines of a
  posted or deleted order are already there;
* values the import invents are set on creation only: demo e-mail addresses, a
  customer's credit limit 0, a document's status Open, user passwords and roles,
  approval limits by job title, the approval administrator flag (the ``admin`` user
  is the approval administrator only if nobody else is one yet).

The employee id → user mapping exists only within one run (users do not store the
employee id), so ``reports_to`` must name a row of the same employees.csv.

Bad rows (missing required value, unknown reference, a reference to a record that was
deleted, text that is not a number or a date, a duplicate key, a value too long for its
column, a wrong number of fields) are validated before anything is added to the
session, skipped and reported in :attr:`ImportReport.errors` with the file name and
physical line number; the other rows still import, and a later run imports a fixed row
(it was never logged). Rows that refer to a skipped row (a product whose supplier row
was skipped, a line whose order row was skipped) are skipped and reported too. A row
already there is read only as far as its key.

Money is in USD, rounded to 2 decimals (half up). Line discounts are stored as a percent
(the file's fraction × 100, rounded to 2 decimals).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.approvals.models import ApprovalUserSetup
from portal.auth.models import User, UserRole
from portal.importers.common import (
    ALREADY_THERE,
    NEW,
    BadRow,
    CsvRow,
    FileCounts,
    ImportLog,
    ImportReport,
    RowError,
    _check_lengths,
    _date,
    _flag,
    _int,
    _money,
    _number,
    _ref,
    _text,
    _unknown,
    read_csv,
)
from portal.records.models import (
    POSTED_SALES_INVOICE,
    STATUS_OPEN,
    Customer,
    Item,
    ItemCategory,
    PostedDocument,
    SalesHeader,
    SalesLine,
    Salesperson,
    ShippingAgent,
    Vendor,
)

__all__ = [
    "ADMIN_USER", "ALREADY_THERE", "COLUMNS", "FILES", "NEW", "SOURCE", "FileCounts", "ImportReport", "RowError",
    "import_northwind", "read_csv",
]

#: The import log's ``source`` for this import.
SOURCE = "northwind"

CATEGORIES = "categories.csv"
SHIPPERS = "shippers.csv"
SUPPLIERS = "suppliers.csv"
CUSTOMERS = "customers.csv"
EMPLOYEES = "employees.csv"
PRODUCTS = "products.csv"
ORDERS = "orders.csv"
ORDER_DETAILS = "order_details.csv"

#: The files, in import order. All are required.
FILES = (CATEGORIES, SHIPPERS, SUPPLIERS, CUSTOMERS, EMPLOYEES, PRODUCTS, ORDERS, ORDER_DETAILS)

#: The header columns each file must have (other columns are ignored).
COLUMNS = {
    CATEGORIES: ("category_id", "category_name", "description"),
    SHIPPERS: ("shipper_id", "company_name", "phone"),
    SUPPLIERS: (
        "supplier_id", "company_name", "contact_name", "contact_title", "address", "city",
        "region", "postal_code", "country", "phone", "fax", "homepage",
    ),
    CUSTOMERS: (
        "customer_id", "company_name", "contact_name", "contact_title", "address", "city",
        "region", "postal_code", "country", "phone", "fax",
    ),
    EMPLOYEES: ("employee_id", "last_name", "first_name", "title", "home_phone", "reports_to"),
    PRODUCTS: (
        "product_id", "product_name", "supplier_id", "category_id", "quantity_per_unit",
        "unit_price", "units_in_stock", "units_on_order", "reorder_level", "discontinued",
    ),
    ORDERS: (
        "order_id", "customer_id", "employee_id", "order_date", "required_date", "shipped_date",
        "ship_via", "freight", "ship_name", "ship_address", "ship_city", "ship_region",
        "ship_postal_code", "ship_country",
    ),
    ORDER_DETAILS: ("order_id", "product_id", "unit_price", "quantity", "discount"),
}

#: Report key for the built-in ``admin`` user (not read from a file).
ADMIN_USER = "admin user"

DEMO_PASSWORD = "northwind"
ADMIN_PASSWORD = "admin"
EMPLOYEE_ROLES = ("business_user", "approver")
EXTRA_ROLES = {"afuller": ("admin",), "lcallahan": ("flow_maker",)}

#: Demo approval limit (sales, purchase and request alike) by job title, in USD;
#: None = unlimited. Other titles get no limit set (None, not unlimited).
APPROVAL_LIMITS: dict[str, Decimal | None] = {
    "Sales Representative": Decimal("1000.00"),
    "Inside Sales Coordinator": Decimal("2000.00"),
    "Sales Manager": Decimal("5000.00"),
    "Vice President, Sales": None,
}


# --------------------------------------------------------------------------- rows


def _load(session: Session, model: type, key: str) -> dict:
    """Every existing ``model`` row, by natural ``key``."""
    return {getattr(obj, key): obj for obj in session.scalars(select(model))}


KeyOf = Callable[[dict], tuple[object, str]]
Parser = Callable[[dict], dict]


def _import_rows(
    session: Session,
    report: ImportReport,
    log: ImportLog,
    file: str,
    rows: list[CsvRow],
    model: type,
    key: str,
    key_of: KeyOf,
    parse: Parser,
    defaults: Callable[[dict], dict] | None = None,
) -> dict:
    """Insert one ``model`` per new row of ``file``. ``key_of(values)`` returns
    ``(source_id, natural key)`` (the value of the model's ``key`` attribute);
    ``parse(values)`` the record's values; ``defaults(values)`` creation-only values.
    Both raise BadRow. Returns ``{source_id: obj}`` for the rows new or already there
    (``obj`` None: the row was imported before and its record deleted since)."""
    existing = _load(session, model, key)
    result: dict = {}
    line_of_id: dict = {}  # source id -> line it was imported from
    line_of_key: dict = {}  # natural key -> line it was imported from
    for row in rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            source_id, natural_key = key_of(row.values)
            if source_id in line_of_id:
                raise BadRow(f"duplicate id {source_id!r} (already on line {line_of_id[source_id]})")
            if natural_key in line_of_key:
                raise BadRow(
                    f"duplicate {model.__name__} {key} {natural_key!r} (already on line {line_of_key[natural_key]})"
                )
            obj = existing.get(natural_key)
            there = obj is not None or log.has(file, natural_key)
            if not there:
                values = parse(row.values)
                _check_lengths(model, values)
        except BadRow as exc:
            report.error(file, row.line, str(exc))
            continue
        line_of_id[source_id] = line_of_key[natural_key] = row.line
        if there:
            result[source_id] = obj
            log.record(file, natural_key, created=False)
            report.add(file, ALREADY_THERE)
            continue
        obj = model(**{**(defaults(values) if defaults else {}), **values})
        session.add(obj)
        existing[natural_key] = result[source_id] = obj
        log.record(file, natural_key, created=True)
        report.add(file, NEW)
    session.flush()
    return result


# --------------------------------------------------------------------------- master data


def _category_key(values: dict) -> tuple[int, str]:
    category_id = _int(values, "category_id", required=True)
    name = _text(values, "category_name", required=True)
    return category_id, "".join(name.split()).upper()[:20]


def _category(values: dict) -> dict:
    name = _text(values, "category_name", required=True)
    return {"code": _category_key(values)[1], "description": name, "details": _text(values, "description")}


def _shipper_key(values: dict) -> tuple[int, str]:
    shipper_id = _int(values, "shipper_id", required=True)
    return shipper_id, str(shipper_id)


def _shipper(values: dict) -> dict:
    return {
        "code": _shipper_key(values)[1],
        "name": _text(values, "company_name", required=True),
        "phone": _text(values, "phone"),
    }


def _address(values: dict) -> dict:
    """Name, contact and address fields shared by suppliers and customers."""
    return {
        "name": _text(values, "company_name", required=True),
        "contact": _text(values, "contact_name"),
        "contact_title": _text(values, "contact_title"),
        "address": _text(values, "address"),
        "city": _text(values, "city"),
        "region": _text(values, "region"),
        "postal_code": _text(values, "postal_code"),
        "country": _text(values, "country"),
        "phone": _text(values, "phone"),
        "fax": _text(values, "fax"),
    }


def _supplier_key(values: dict) -> tuple[int, str]:
    supplier_id = _int(values, "supplier_id", required=True)
    return supplier_id, f"V{supplier_id:05d}"


def _supplier(values: dict) -> dict:
    return {"no": _supplier_key(values)[1], **_address(values), "homepage": _text(values, "homepage")}


def _customer_key(values: dict) -> tuple[str, str]:
    customer_id = _text(values, "customer_id", required=True)
    return customer_id, customer_id


def _customer(values: dict) -> dict:
    return {"no": _customer_key(values)[1], **_address(values)}


def _product_key(values: dict) -> tuple[int, str]:
    product_id = _int(values, "product_id", required=True)
    return product_id, f"I{product_id:04d}"


def _product_parser(vendors: dict, categories: dict) -> Parser:
    def parse(values: dict) -> dict:
        supplier_id = _int(values, "supplier_id")
        vendor = _ref(vendors, "supplier_id", supplier_id, SUPPLIERS, "vendor") if supplier_id is not None else None
        category_id = _int(values, "category_id")
        category = (
            _ref(categories, "category_id", category_id, CATEGORIES, "item category") if category_id is not None else None
        )
        return {
            "no": _product_key(values)[1],
            "description": _text(values, "product_name", required=True),
            "vendor_id": vendor.id if vendor else None,
            "item_category_id": category.id if category else None,
            "quantity_per_unit": _text(values, "quantity_per_unit"),
            "unit_price": _money(values, "unit_price"),
            "inventory": _number(values, "units_in_stock", minimum=None) or Decimal(0),
            "qty_on_purch_order": _number(values, "units_on_order") or Decimal(0),
            "reorder_point": _number(values, "reorder_level") or Decimal(0),
            "blocked": _flag(values, "discontinued"),
        }

    return parse


# --------------------------------------------------------------------------- employees


@dataclass
class _Employee:
    line: int
    employee_id: int
    reports_to: int | None
    title: str | None
    salesperson: dict
    user: dict


def _parse_employee(row: CsvRow) -> _Employee:
    if row.problem:
        raise BadRow(row.problem)
    values = row.values
    employee_id = _int(values, "employee_id", required=True)
    first = _text(values, "first_name", required=True).strip()
    last = _text(values, "last_name", required=True).strip()
    code = "".join(ch for ch in first[:1] + last if ch.isalnum()).upper()
    if not code:
        raise BadRow(f"no salesperson code can be made from the name {first!r} {last!r}")
    title = _text(values, "title")
    salesperson = {"code": code, "name": f"{first} {last}", "job_title": title, "phone": _text(values, "home_phone")}
    user = {"user_name": code.lower(), "full_name": f"{first} {last}"}
    _check_lengths(Salesperson, salesperson)
    _check_lengths(User, user)
    return _Employee(row.line, employee_id, _int(values, "reports_to"), title, salesperson, user)


def _approval_limits(title: str | None) -> dict:
    """Creation-only approval limits for a job title (see :data:`APPROVAL_LIMITS`)."""
    values: dict = {}
    known = title in APPROVAL_LIMITS
    limit = APPROVAL_LIMITS.get(title)
    for kind in ("sales", "purchase", "request"):
        values[f"{kind}_amount_approval_limit"] = limit
        values[f"unlimited_{kind}_approval"] = known and limit is None
    return values


def _create_user(session: Session, users: dict, user_name: str, full_name: str, password: str, roles) -> User:
    user = User(user_name=user_name, full_name=full_name, email=f"{user_name}@northwind.test")
    user.set_password(password)
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    users[user_name] = user
    return user


def _import_employees(session: Session, report: ImportReport, log: ImportLog, rows: list[CsvRow]) -> dict[int, str]:
    """Salespeople, users and approval setups from employees.csv, plus the built-in
    admin user. An employee is already there when its salesperson code is in the log
    or a salesperson has it; a new one gets a salesperson, a user (unless one has the
    user name) and an approval setup (unless the user has one). Returns
    ``{employee_id: salesperson code}`` for the rows new or already there."""
    employees: dict[int, _Employee] = {}
    codes: dict[str, int] = {}  # salesperson code -> line
    problems: list[tuple[int, str]] = []  # (line, message), reported in line order
    for row in rows:
        try:
            employee = _parse_employee(row)
            if employee.employee_id in employees:
                first = employees[employee.employee_id].line
                raise BadRow(f"duplicate employee_id {employee.employee_id} (already on line {first})")
            code = employee.salesperson["code"]
            if code in codes:
                raise BadRow(f"duplicate salesperson code {code!r} (already on line {codes[code]})")
        except BadRow as exc:
            problems.append((row.line, str(exc)))
            continue
        employees[employee.employee_id] = employee
        codes[code] = row.line

    salespeople = _load(session, Salesperson, "code")
    there = {
        employee_id for employee_id, e in employees.items()
        if e.salesperson["code"] in salespeople or log.has(EMPLOYEES, e.salesperson["code"])
    }
    # A new employee's reports_to may name a later row (hence a second pass); drop new
    # rows whose manager is unknown or was dropped, until none is left to drop.
    dropped = True
    while dropped:
        dropped = False
        for employee in list(employees.values()):
            if employee.employee_id in there:
                continue
            if employee.reports_to is not None and employee.reports_to not in employees:
                del employees[employee.employee_id]
                problems.append((employee.line, str(_unknown("reports_to", employee.reports_to, EMPLOYEES))))
                dropped = True
    for line, message in sorted(problems):
        report.error(EMPLOYEES, line, message)
    new = [e for e in employees.values() if e.employee_id not in there]

    # Pass 1: salespeople and users.
    users = _load(session, User, "user_name")
    for employee in new:
        code = employee.salesperson["code"]
        salesperson = Salesperson(**employee.salesperson, email=f"{code.lower()}@northwind.test")
        session.add(salesperson)
        salespeople[code] = salesperson
        user_name = employee.user["user_name"]
        if user_name not in users:
            roles = EMPLOYEE_ROLES + EXTRA_ROLES.get(user_name, ())
            _create_user(session, users, user_name, employee.user["full_name"], DEMO_PASSWORD, roles)
    admin_new = "admin" not in users and not log.has(ADMIN_USER, "admin")
    if admin_new:
        _create_user(session, users, "admin", "Portal Administrator", ADMIN_PASSWORD, ("admin",))
    session.flush()

    # Pass 2: approval user setups (every user now has an id).
    setups = {setup.user_id: setup for setup in session.scalars(select(ApprovalUserSetup))}
    if admin_new and users["admin"].id not in setups:
        admin = users["admin"]
        has_administrator = any(setup.approval_administrator for setup in setups.values())
        # The administrator tops no chain but may approve anything delegated to them.
        setups[admin.id] = ApprovalUserSetup(
            user_id=admin.id, email=admin.email, approval_administrator=not has_administrator,
            unlimited_sales_approval=True, unlimited_purchase_approval=True, unlimited_request_approval=True,
        )
        session.add(setups[admin.id])
    log.record(ADMIN_USER, "admin", created=admin_new)
    report.add(ADMIN_USER, NEW if admin_new else ALREADY_THERE)

    for employee in employees.values():
        code = employee.salesperson["code"]
        if employee.employee_id in there:
            log.record(EMPLOYEES, code, created=False)
            report.add(EMPLOYEES, ALREADY_THERE)
            continue
        user = users[employee.user["user_name"]]
        if user.id not in setups:
            manager = employees.get(employee.reports_to)
            approver = users.get(manager.user["user_name"]) if manager else None
            setups[user.id] = ApprovalUserSetup(
                user_id=user.id, email=user.email, approval_administrator=False,
                salespers_purch_code=code, approver_id=approver.id if approver else None,
                **_approval_limits(employee.title),
            )
            session.add(setups[user.id])
        log.record(EMPLOYEES, code, created=True)
        report.add(EMPLOYEES, NEW)
    session.flush()
    return {employee_id: e.salesperson["code"] for employee_id, e in employees.items()}


# --------------------------------------------------------------------------- orders


def _order_values(values: dict, customers: dict, salespeople: dict, shippers: dict) -> dict:
    order_id = _int(values, "order_id", required=True)
    customer_id = _text(values, "customer_id", required=True)
    customer = _ref(customers, "customer_id", customer_id, CUSTOMERS, "customer")
    employee_id = _int(values, "employee_id")
    if employee_id is not None and employee_id not in salespeople:
        raise _unknown("employee_id", employee_id, EMPLOYEES)
    ship_via = _int(values, "ship_via")
    shipper = _ref(shippers, "ship_via", ship_via, SHIPPERS, "shipping agent") if ship_via is not None else None
    header = {
        "document_type": "Order",
        "no": str(order_id),
        "customer_id": customer.id,
        "salesperson_code": salespeople.get(employee_id),
        "order_date": _date(values, "order_date"),
        "requested_delivery_date": _date(values, "required_date"),
        "shipment_date": _date(values, "shipped_date"),
        "shipping_agent_code": shipper.code if shipper else None,
        "freight": _money(values, "freight"),
        "ship_to_name": _text(values, "ship_name"),
        "ship_to_address": _text(values, "ship_address"),
        "ship_to_city": _text(values, "ship_city"),
        "ship_to_region": _text(values, "ship_region"),
        "ship_to_postal_code": _text(values, "ship_postal_code"),
        "ship_to_country": _text(values, "ship_country"),
    }
    _check_lengths(SalesHeader, header)
    return header


def _line_values(values: dict, items: dict) -> dict:
    product_id = _int(values, "product_id", required=True)
    item = _ref(items, "product_id", product_id, PRODUCTS, "item")
    discount = _number(values, "discount", maximum=Decimal(1)) or Decimal(0)
    line = {
        "item_id": item.id,
        "description": item.description,
        "quantity": _number(values, "quantity", required=True),
        "unit_price": _money(values, "unit_price", required=True),
        "line_discount_pct": (discount * 100).quantize(Decimal("0.01")),
    }
    _check_lengths(SalesLine, line)
    return line


def _import_orders(
    session: Session,
    report: ImportReport,
    log: ImportLog,
    order_rows: list[CsvRow],
    detail_rows: list[CsvRow],
    customers: dict,
    salespeople: dict,
    shippers: dict,
    items: dict,
) -> None:
    """Sales orders from orders.csv and their lines from order_details.csv. An order
    is already there when it is in the log, exists as a sales order, or was posted
    (a posted sales invoice has it as its order no.)."""
    existing = {
        header.no: header
        for header in session.scalars(
            select(SalesHeader)
            .where(SalesHeader.document_type == "Order")
            .options(selectinload(SalesHeader.lines))
        )
    }
    posted = set(session.scalars(
        select(PostedDocument.order_no).where(
            PostedDocument.kind == POSTED_SALES_INVOICE, PostedDocument.source_document_type == "Order",
            PostedDocument.order_no.is_not(None),
        )
    ))
    headers: dict[int, SalesHeader | None] = {}  # order_id -> header (None: posted or deleted)
    created: set[int] = set()  # order_ids whose header was created now
    lines_from: dict[int, int] = {}  # order_id -> line it was imported from
    for row in order_rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            order_id = _int(row.values, "order_id", required=True)
            if order_id in lines_from:
                raise BadRow(f"duplicate order_id {order_id} (already on line {lines_from[order_id]})")
            no = str(order_id)
            header = existing.get(no)
            there = header is not None or no in posted or log.has(ORDERS, no)
            if not there:
                values = _order_values(row.values, customers, salespeople, shippers)
        except BadRow as exc:
            report.error(ORDERS, row.line, str(exc))
            continue
        lines_from[order_id] = row.line
        if there:
            headers[order_id] = header
            log.record(ORDERS, no, created=False)
            report.add(ORDERS, ALREADY_THERE)
            continue
        header = SalesHeader(status=STATUS_OPEN, **values)
        session.add(header)
        headers[order_id] = header
        created.add(order_id)
        log.record(ORDERS, no, created=True)
        report.add(ORDERS, NEW)

    # Lines: line_no = 10000 × the row's position among its order's rows in the file
    # (skipped rows keep their position, so fixing one later does not renumber the rest).
    positions: dict[int, int] = {}
    grown: set[int] = set()  # order_ids whose lines changed
    for row in detail_rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            order_id = _int(row.values, "order_id", required=True)
            if order_id not in headers:
                raise _unknown("order_id", order_id, ORDERS)
            positions[order_id] = positions.get(order_id, 0) + 1
            line_no = positions[order_id] * 10000
            header = headers[order_id]
            key = f"{order_id}/{line_no}"
            there = (
                header is None
                or log.has(ORDER_DETAILS, key)
                or any(line.line_no == line_no for line in header.lines)
            )
            if not there:
                values = _line_values(row.values, items)
                if order_id not in created and header.status != STATUS_OPEN:
                    raise BadRow(f"order {header.no} is {header.status}; line {line_no} is not added")
        except BadRow as exc:
            report.error(ORDER_DETAILS, row.line, str(exc))
            continue
        if there:
            log.record(ORDER_DETAILS, key, created=False)
            report.add(ORDER_DETAILS, ALREADY_THERE)
            continue
        line = SalesLine(line_no=line_no, **values)
        header.lines.append(line)
        line.calculate()
        grown.add(order_id)
        log.record(ORDER_DETAILS, key, created=True)
        report.add(ORDER_DETAILS, NEW)

    for order_id in grown:
        headers[order_id].recalculate()
    session.flush()


# --------------------------------------------------------------------------- entry point


def import_northwind(directory: str | Path, session: Session) -> ImportReport:
    """Import the Northwind CSV files in ``directory`` into ``session``: insert the
    rows never imported before whose record doesn't exist, leave everything else as
    it is (see the module docstring). Bad rows are skipped and listed in the report;
    the other rows still import.

    ``directory`` must hold all of :data:`FILES` (UTF-8, header row, RFC 4180 quoting,
    empty field = NULL).

    The function flushes but does not commit: the caller commits (or rolls back, in
    particular after an exception); the import log entries go with the records.

    Returns an :class:`ImportReport` (per file: new, already there, skipped; the
    skipped rows with file and line). Raises FileNotFoundError if ``directory`` or any
    file is missing, ValueError if a file's header lacks a required column or the file
    is not valid CSV or not UTF-8 (naming the file and line); all of these before
    anything is written.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Northwind data directory not found: {directory}")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"Northwind file(s) missing in {directory}: {', '.join(missing)}")
    data = {name: read_csv(directory / name, COLUMNS[name]) for name in FILES}

    report = ImportReport(counts={name: FileCounts() for name in (*FILES, ADMIN_USER)})
    log = ImportLog(session, SOURCE)
    with session.no_autoflush:
        categories = _import_rows(
            session, report, log, CATEGORIES, data[CATEGORIES], ItemCategory, "code", _category_key, _category
        )
        shippers = _import_rows(
            session, report, log, SHIPPERS, data[SHIPPERS], ShippingAgent, "code", _shipper_key, _shipper
        )
        vendors = _import_rows(
            session, report, log, SUPPLIERS, data[SUPPLIERS], Vendor, "no", _supplier_key, _supplier,
            lambda values: {"email": f"{values['no'].lower()}@vendors.northwind.test"},
        )
        customers = _import_rows(
            session, report, log, CUSTOMERS, data[CUSTOMERS], Customer, "no", _customer_key, _customer,
            lambda values: {
                "email": f"{values['no'].lower()}@customers.northwind.test",
                "credit_limit": Decimal("0.00"),
            },
        )
        salespeople = _import_employees(session, report, log, data[EMPLOYEES])
        items = _import_rows(
            session, report, log, PRODUCTS, data[PRODUCTS], Item, "no", _product_key,
            _product_parser(vendors, categories),
        )
        _import_orders(
            session, report, log, data[ORDERS], data[ORDER_DETAILS], customers, salespeople, shippers, items
        )
        session.flush()
    return report
