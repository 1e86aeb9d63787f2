"""Import the Northwind sample data (a directory of CSV files) into the portal's records.

Entry point: :func:`import_northwind`. It reads every file first (so a missing file or a
broken header fails before anything is written), then imports the files in dependency
order, upserting each record by its natural key:

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
                   plus the built-in ``admin`` user
products.csv       Item (``no``: ``I`` + 4-digit product id, e.g. I0011)
orders.csv         SalesHeader (document type Order, ``no``: the order id)
order_details.csv  SalesLine (``line_no`` 10000, 20000, ... per order)
================== ========================================================

Rules that make a second run change nothing:

* Fields taken from the CSV are kept in step with the file: an attribute is assigned
  only when its value differs, so unchanged rows get no UPDATE (and ``modified_at``
  does not move).
* Values the import invents are defaults, set only when a record is created: demo
  e-mail addresses, a customer's credit limit 0, a document's status Open, user
  passwords and roles, approval limits by job title, the approval administrator flag
  (the ``admin`` user is the approval administrator only if nobody else is one yet).
  Exception: the ``admin`` user gets its ``admin`` role back if it was removed.
* The employee id → user mapping exists only within one run (users do not store the
  employee id), so ``reports_to`` must name a row of the same employees.csv.
* Nothing is ever deleted (an order line missing from the file stays).
* An order that is no longer Open (Pending Approval, Released) is not changed; a row
  that would change it is reported as an error.

Bad rows (missing required value, unknown reference, text that is not a number or a
date, a duplicate key, a value too long for its column, a wrong number of fields) are
validated before anything is added to the session, skipped and reported in
:attr:`ImportReport.errors` with the file name and physical line number; the other rows
still import. Rows that refer to a skipped row (a product whose supplier row was
skipped, a line whose order row was skipped) are skipped and reported too.

Money is in USD, rounded to 2 decimals (half up). Line discounts are stored as a percent
(the file's fraction × 100, rounded to 2 decimals).
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.approvals.models import ApprovalUserSetup
from portal.auth.models import User, UserRole
from portal.records.models import (
    STATUS_OPEN,
    Customer,
    Item,
    ItemCategory,
    SalesHeader,
    SalesLine,
    Salesperson,
    ShippingAgent,
    Vendor,
)
from portal.util import money

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

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"


# --------------------------------------------------------------------------- report


@dataclass
class FileCounts:
    """Row outcomes for one file: ``created``, ``updated`` and ``unchanged`` count rows
    imported; ``skipped`` counts rows reported in :attr:`ImportReport.errors`."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


@dataclass
class RowError:
    """One skipped row: ``file`` name (e.g. ``"products.csv"``), physical ``line``
    number where the record starts (the header is line 1) and ``message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did.

    ``counts`` maps each file name (and :data:`ADMIN_USER`) to its :class:`FileCounts`;
    ``errors`` lists the skipped rows as :class:`RowError`, in file order.

    For employees.csv a row is ``created`` if any of its salesperson, user or approval
    setup was created, else ``updated`` if any changed. For orders.csv a header whose
    amount changed because of its lines counts as ``updated``.
    """

    counts: dict[str, FileCounts] = field(
        default_factory=lambda: {name: FileCounts() for name in (*FILES, ADMIN_USER)}
    )
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row was skipped."""
        return not self.errors

    def add(self, file: str, outcome: str) -> None:
        """Count one row of ``file`` as ``outcome`` (``"created"``, ``"updated"`` or
        ``"unchanged"``)."""
        counts = self.counts.setdefault(file, FileCounts())
        setattr(counts, outcome, getattr(counts, outcome) + 1)

    def error(self, file: str, line: int, message: str) -> None:
        """Record a skipped row."""
        self.counts.setdefault(file, FileCounts()).skipped += 1
        self.errors.append(RowError(file, line, message))

    def summary(self) -> list[str]:
        """Printable lines: one per file with its counts, then one per error."""
        lines = [f"{'file':<20} {'created':>8} {'updated':>8} {'unchanged':>10} {'skipped':>8}"]
        for name, c in self.counts.items():
            lines.append(f"{name:<20} {c.created:>8} {c.updated:>8} {c.unchanged:>10} {c.skipped:>8}")
        if self.errors:
            lines.append(f"{len(self.errors)} row(s) skipped:")
            lines.extend(f"  {error}" for error in self.errors)
        else:
            lines.append("No errors.")
        return lines


# --------------------------------------------------------------------------- reading


@dataclass
class CsvRow:
    """One CSV record: ``line`` is the physical line number where it starts (header =
    line 1; a record with embedded newlines spans several lines); ``values`` maps column
    name to text, None for an empty field; ``problem`` is set when the record has more
    or fewer fields than the header."""

    line: int
    values: dict[str, str | None]
    problem: str | None = None


_MISSING = object()


def read_csv(path: str | Path, columns: Iterable[str] = ()) -> list[CsvRow]:
    """Read a UTF-8 CSV file (header row, RFC 4180 quoting) with :class:`csv.DictReader`.

    Returns a list of :class:`CsvRow`. Raises FileNotFoundError if the file is missing,
    ValueError if the header lacks any of ``columns`` or the file is not valid CSV, and
    UnicodeDecodeError if it is not UTF-8.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, restval=_MISSING)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path.name}: the header row lacks column(s) {', '.join(missing)}")
        rows: list[CsvRow] = []
        end = reader.line_num
        try:
            for raw in reader:
                start, end = end + 1, reader.line_num
                problem = None
                if None in raw:
                    problem = f"{len(header) + len(raw[None])} fields, the header has {len(header)}"
                elif any(value is _MISSING for value in raw.values()):
                    given = sum(1 for value in raw.values() if value is not _MISSING)
                    problem = f"{given} fields, the header has {len(header)}"
                values = {
                    k: (None if v is _MISSING or v == "" else v) for k, v in raw.items() if k is not None
                }
                rows.append(CsvRow(start, values, problem))
        except csv.Error as exc:
            raise ValueError(f"{path.name} line {reader.line_num}: {exc}") from exc
    return rows


# --------------------------------------------------------------------------- parsing


class BadRow(Exception):
    """A row that cannot be imported; the message says why."""


def _text(values: dict, column: str, required: bool = False) -> str | None:
    value = values.get(column)
    if value is None and required:
        raise BadRow(f"{column} is empty")
    return value


def _int(values: dict, column: str, required: bool = False) -> int | None:
    value = _text(values, column, required)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRow(f"{column} {value!r} is not a whole number") from None


def _number(
    values: dict,
    column: str,
    required: bool = False,
    minimum: Decimal | None = Decimal(0),
    maximum: Decimal | None = None,
) -> Decimal | None:
    value = _text(values, column, required)
    if value is None:
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise BadRow(f"{column} {value!r} is not a number") from None
    if not number.is_finite():
        raise BadRow(f"{column} {value!r} is not a number")
    if minimum is not None and number < minimum:
        raise BadRow(f"{column} {value} is less than {minimum}")
    if maximum is not None and number > maximum:
        raise BadRow(f"{column} {value} is more than {maximum}")
    return number


def _money(values: dict, column: str, required: bool = False) -> Decimal:
    """A non-negative amount rounded to 2 decimals; empty = 0.00."""
    return money(_number(values, column, required))


def _date(values: dict, column: str) -> date | None:
    value = _text(values, column)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def _flag(values: dict, column: str) -> bool:
    value = _text(values, column)
    if value in (None, "0"):
        return False
    if value == "1":
        return True
    raise BadRow(f"{column} {value!r} is not 0 or 1")


def _check_lengths(model: type, values: dict) -> None:
    """Raise BadRow if a text value is longer than its column allows."""
    columns = model.__table__.columns
    for key, value in values.items():
        if isinstance(value, str):
            length = getattr(columns[key].type, "length", None)
            if length and len(value) > length:
                raise BadRow(f"{key} is {len(value)} characters long; at most {length} fit")


def _unknown(column: str, value, file: str) -> BadRow:
    return BadRow(f"unknown {column} {value!r} (not in {file}, or its row was skipped)")


# --------------------------------------------------------------------------- upserting


def _changes(obj, values: dict) -> dict:
    """The items of ``values`` that differ from ``obj``'s attributes."""
    return {key: value for key, value in values.items() if getattr(obj, key) != value}


def _apply(obj, values: dict) -> bool:
    """Assign only the differing ``values`` to ``obj``; True if anything changed."""
    changes = _changes(obj, values)
    for key, value in changes.items():
        setattr(obj, key, value)
    return bool(changes)


def _load(session: Session, model: type, key: str) -> dict:
    """Every existing ``model`` row, by natural ``key``."""
    return {getattr(obj, key): obj for obj in session.scalars(select(model))}


def _upsert(session: Session, existing: dict, model: type, key: str, values: dict, defaults: dict):
    """Create or update the ``model`` row whose ``key`` is ``values[key]``.
    Returns ``(obj, outcome)``; ``defaults`` are used only on creation."""
    obj = existing.get(values[key])
    if obj is None:
        obj = model(**{**defaults, **values})
        session.add(obj)
        existing[values[key]] = obj
        return obj, CREATED
    return obj, (UPDATED if _apply(obj, values) else UNCHANGED)


def _combine(*outcomes: str) -> str:
    if CREATED in outcomes:
        return CREATED
    return UPDATED if UPDATED in outcomes else UNCHANGED


Parser = Callable[[dict], tuple[object, dict]]


def _import_rows(
    session: Session,
    report: ImportReport,
    file: str,
    rows: list[CsvRow],
    model: type,
    key: str,
    parse: Parser,
    defaults: Callable[[dict], dict] | None = None,
) -> dict:
    """Upsert one ``model`` per row. ``parse(values)`` returns ``(source_id, values)`` or
    raises BadRow; ``defaults(values)`` gives creation-only values. Returns
    ``{source_id: obj}`` for the rows imported (not skipped) in this run."""
    existing = _load(session, model, key)
    imported: dict = {}
    line_of_id: dict = {}  # source id -> line it was imported from
    line_of_key: dict = {}  # natural key -> line it was imported from
    for row in rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            source_id, values = parse(row.values)
            _check_lengths(model, values)
            natural_key = values[key]
            if source_id in line_of_id:
                raise BadRow(f"duplicate id {source_id!r} (already on line {line_of_id[source_id]})")
            if natural_key in line_of_key:
                raise BadRow(
                    f"duplicate {model.__name__} {key} {natural_key!r} (already on line {line_of_key[natural_key]})"
                )
        except BadRow as exc:
            report.error(file, row.line, str(exc))
            continue
        obj, outcome = _upsert(session, existing, model, key, values, defaults(values) if defaults else {})
        imported[source_id] = obj
        line_of_id[source_id] = line_of_key[natural_key] = row.line
        report.add(file, outcome)
    session.flush()
    return imported


# --------------------------------------------------------------------------- master data


def _category(values: dict) -> tuple[int, dict]:
    category_id = _int(values, "category_id", required=True)
    name = _text(values, "category_name", required=True)
    code = "".join(name.split()).upper()[:20]
    return category_id, {"code": code, "description": name, "details": _text(values, "description")}


def _shipper(values: dict) -> tuple[int, dict]:
    shipper_id = _int(values, "shipper_id", required=True)
    return shipper_id, {
        "code": str(shipper_id),
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


def _supplier(values: dict) -> tuple[int, dict]:
    supplier_id = _int(values, "supplier_id", required=True)
    return supplier_id, {
        "no": f"V{supplier_id:05d}",
        **_address(values),
        "homepage": _text(values, "homepage"),
    }


def _customer(values: dict) -> tuple[str, dict]:
    customer_id = _text(values, "customer_id", required=True)
    return customer_id, {"no": customer_id, **_address(values)}


def _product_parser(vendors: dict, categories: dict) -> Parser:
    def parse(values: dict) -> tuple[int, dict]:
        product_id = _int(values, "product_id", required=True)
        supplier_id = _int(values, "supplier_id")
        if supplier_id is not None and supplier_id not in vendors:
            raise _unknown("supplier_id", supplier_id, SUPPLIERS)
        category_id = _int(values, "category_id")
        if category_id is not None and category_id not in categories:
            raise _unknown("category_id", category_id, CATEGORIES)
        return product_id, {
            "no": f"I{product_id:04d}",
            "description": _text(values, "product_name", required=True),
            "vendor_id": vendors[supplier_id].id if supplier_id is not None else None,
            "item_category_id": categories[category_id].id if category_id is not None else None,
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


def _import_employees(session: Session, report: ImportReport, rows: list[CsvRow]) -> dict[int, str]:
    """Salespeople, users and approval setups from employees.csv, plus the built-in
    admin user. Returns ``{employee_id: salesperson code}`` for the rows imported."""
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

    # reports_to may name a later row (hence a second pass); drop rows whose manager is
    # unknown or was dropped, until none is left to drop.
    dropped = True
    while dropped:
        dropped = False
        for employee in list(employees.values()):
            if employee.reports_to is not None and employee.reports_to not in employees:
                del employees[employee.employee_id]
                problems.append((employee.line, str(_unknown("reports_to", employee.reports_to, EMPLOYEES))))
                dropped = True
    for line, message in sorted(problems):
        report.error(EMPLOYEES, line, message)

    # Pass 1: salespeople and users.
    salespeople = _load(session, Salesperson, "code")
    users = _load(session, User, "user_name")
    outcomes: dict[int, list[str]] = {}
    for employee in employees.values():
        code = employee.salesperson["code"]
        _, sp_outcome = _upsert(
            session, salespeople, Salesperson, "code", employee.salesperson,
            {"email": f"{code.lower()}@northwind.test"},
        )
        user_name = employee.user["user_name"]
        user = users.get(user_name)
        if user is None:
            roles = EMPLOYEE_ROLES + EXTRA_ROLES.get(user_name, ())
            _create_user(session, users, user_name, employee.user["full_name"], DEMO_PASSWORD, roles)
            user_outcome = CREATED
        else:
            user_outcome = UPDATED if _apply(user, employee.user) else UNCHANGED
        outcomes[employee.employee_id] = [sp_outcome, user_outcome]

    admin_outcome = UNCHANGED
    admin = users.get("admin")
    if admin is None:
        admin = _create_user(session, users, "admin", "Portal Administrator", ADMIN_PASSWORD, ("admin",))
        admin_outcome = CREATED
    elif "admin" not in admin.role_names:
        admin.roles.append(UserRole(role="admin"))
        admin_outcome = UPDATED
    session.flush()

    # Pass 2: approval user setups (every user now has an id).
    setups = {setup.user_id: setup for setup in session.scalars(select(ApprovalUserSetup))}
    if admin.id not in setups:
        has_administrator = any(setup.approval_administrator for setup in setups.values())
        # The administrator tops no chain but may approve anything delegated to them.
        setups[admin.id] = ApprovalUserSetup(
            user_id=admin.id, email=admin.email, approval_administrator=not has_administrator,
            unlimited_sales_approval=True, unlimited_purchase_approval=True, unlimited_request_approval=True,
        )
        session.add(setups[admin.id])
        admin_outcome = CREATED
    report.add(ADMIN_USER, admin_outcome)

    for employee in employees.values():
        user = users[employee.user["user_name"]]
        manager = employees.get(employee.reports_to)
        values = {
            "salespers_purch_code": employee.salesperson["code"],
            "approver_id": users[manager.user["user_name"]].id if manager else None,
        }
        setup = setups.get(user.id)
        if setup is None:
            setup = ApprovalUserSetup(
                user_id=user.id, email=user.email, approval_administrator=False,
                **_approval_limits(employee.title), **values,
            )
            session.add(setup)
            setups[user.id] = setup
            outcome = CREATED
        else:
            outcome = UPDATED if _apply(setup, values) else UNCHANGED
        report.add(EMPLOYEES, _combine(*outcomes[employee.employee_id], outcome))
    session.flush()
    return {employee_id: e.salesperson["code"] for employee_id, e in employees.items()}


# --------------------------------------------------------------------------- orders


def _order_values(values: dict, customers: dict, salespeople: dict, shippers: dict) -> tuple[int, dict]:
    order_id = _int(values, "order_id", required=True)
    customer_id = _text(values, "customer_id", required=True)
    if customer_id not in customers:
        raise _unknown("customer_id", customer_id, CUSTOMERS)
    employee_id = _int(values, "employee_id")
    if employee_id is not None and employee_id not in salespeople:
        raise _unknown("employee_id", employee_id, EMPLOYEES)
    ship_via = _int(values, "ship_via")
    if ship_via is not None and ship_via not in shippers:
        raise _unknown("ship_via", ship_via, SHIPPERS)
    header = {
        "document_type": "Order",
        "no": str(order_id),
        "customer_id": customers[customer_id].id,
        "salesperson_code": salespeople.get(employee_id),
        "order_date": _date(values, "order_date"),
        "requested_delivery_date": _date(values, "required_date"),
        "shipment_date": _date(values, "shipped_date"),
        "shipping_agent_code": shippers[ship_via].code if ship_via is not None else None,
        "freight": _money(values, "freight"),
        "ship_to_name": _text(values, "ship_name"),
        "ship_to_address": _text(values, "ship_address"),
        "ship_to_city": _text(values, "ship_city"),
        "ship_to_region": _text(values, "ship_region"),
        "ship_to_postal_code": _text(values, "ship_postal_code"),
        "ship_to_country": _text(values, "ship_country"),
    }
    _check_lengths(SalesHeader, header)
    return order_id, header


def _line_values(values: dict, items: dict) -> dict:
    product_id = _int(values, "product_id", required=True)
    item = items.get(product_id)
    if item is None:
        raise _unknown("product_id", product_id, PRODUCTS)
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
    order_rows: list[CsvRow],
    detail_rows: list[CsvRow],
    customers: dict,
    salespeople: dict,
    shippers: dict,
    items: dict,
) -> None:
    """Sales orders from orders.csv and their lines from order_details.csv."""
    existing = {
        header.no: header
        for header in session.scalars(
            select(SalesHeader)
            .where(SalesHeader.document_type == "Order")
            .options(selectinload(SalesHeader.lines))
        )
    }
    headers: dict[int, SalesHeader] = {}  # order_id -> header, rows imported in this run
    outcomes: dict[int, str] = {}
    lines_from: dict[int, int] = {}  # order_id -> line it was imported from
    for row in order_rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            order_id, values = _order_values(row.values, customers, salespeople, shippers)
            if order_id in headers:
                raise BadRow(f"duplicate order_id {order_id} (already on line {lines_from[order_id]})")
            header = existing.get(values["no"])
            if header is not None and header.status != STATUS_OPEN and _changes(header, values):
                raise BadRow(f"order {header.no} is {header.status}; only Open orders are updated")
        except BadRow as exc:
            report.error(ORDERS, row.line, str(exc))
            continue
        header, outcome = _upsert(session, existing, SalesHeader, "no", values, {"status": STATUS_OPEN})
        headers[order_id] = header
        outcomes[order_id] = outcome
        lines_from[order_id] = row.line

    # Lines: line_no = 10000 × the row's position among its order's rows in the file
    # (skipped rows keep their position, so fixing one later does not renumber the rest).
    positions: dict[int, int] = {}
    changed: set[int] = set()
    for row in detail_rows:
        try:
            if row.problem:
                raise BadRow(row.problem)
            order_id = _int(row.values, "order_id", required=True)
            header = headers.get(order_id)
            if header is None:
                raise _unknown("order_id", order_id, ORDERS)
            positions[order_id] = positions.get(order_id, 0) + 1
            line_no = positions[order_id] * 10000
            values = _line_values(row.values, items)
            line = next((line for line in header.lines if line.line_no == line_no), None)
            if header.status != STATUS_OPEN and (line is None or _changes(line, values)):
                raise BadRow(f"order {header.no} is {header.status}; its lines are not changed")
        except BadRow as exc:
            report.error(ORDER_DETAILS, row.line, str(exc))
            continue
        if line is None:
            line = SalesLine(line_no=line_no, **values)
            header.lines.append(line)
            line.calculate()
            outcome = CREATED
        elif _apply(line, values):
            line.calculate()
            outcome = UPDATED
        else:
            outcome = UNCHANGED
        if outcome != UNCHANGED:
            changed.add(order_id)
        report.add(ORDER_DETAILS, outcome)

    for order_id, header in headers.items():
        if outcomes[order_id] == CREATED or order_id in changed:
            before = header.amount
            header.recalculate()
            if outcomes[order_id] == UNCHANGED and header.amount != before:
                outcomes[order_id] = UPDATED
        report.add(ORDERS, outcomes[order_id])
    session.flush()


# --------------------------------------------------------------------------- entry point


def import_northwind(directory: str | Path, session: Session) -> ImportReport:
    """Import the Northwind CSV files in ``directory`` into ``session``.

    ``directory`` must hold all of :data:`FILES` (UTF-8, header row, RFC 4180 quoting,
    empty field = NULL). Records are upserted by natural key, so running it again with
    the same files changes nothing (see the module docstring for the mapping and rules).
    Bad rows are skipped and listed in the report; the other rows still import.

    The function flushes but does not commit: the caller commits (or rolls back, in
    particular after an exception).

    Returns an :class:`ImportReport` (row counts per file, skipped rows with file and
    line). Raises FileNotFoundError if ``directory`` or any file is missing, ValueError
    if a file's header lacks a required column or the file is not valid CSV,
    UnicodeDecodeError if a file is not UTF-8; all of these before anything is written.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Northwind data directory not found: {directory}")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"Northwind file(s) missing in {directory}: {', '.join(missing)}")
    data = {name: read_csv(directory / name, COLUMNS[name]) for name in FILES}

    report = ImportReport()
    with session.no_autoflush:
        categories = _import_rows(session, report, CATEGORIES, data[CATEGORIES], ItemCategory, "code", _category)
        shippers = _import_rows(session, report, SHIPPERS, data[SHIPPERS], ShippingAgent, "code", _shipper)
        vendors = _import_rows(
            session, report, SUPPLIERS, data[SUPPLIERS], Vendor, "no", _supplier,
            lambda values: {"email": f"{values['no'].lower()}@vendors.northwind.test"},
        )
        customers = _import_rows(
            session, report, CUSTOMERS, data[CUSTOMERS], Customer, "no", _customer,
            lambda values: {
                "email": f"{values['no'].lower()}@customers.northwind.test",
                "credit_limit": Decimal("0.00"),
            },
        )
        salespeople = _import_employees(session, report, data[EMPLOYEES])
        items = _import_rows(
            session, report, PRODUCTS, data[PRODUCTS], Item, "no", _product_parser(vendors, categories)
        )
        _import_orders(
            session, report, data[ORDERS], data[ORDER_DETAILS], customers, salespeople, shippers, items
        )
    return report
