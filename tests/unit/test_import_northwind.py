"""The Northwind CSV import (portal.importers.northwind) against a SQLite database: the
mapping, bad rows by file and line, and running it again (inserts only what it never
imported, leaves every existing record as it is)."""
from __future__ import annotations

import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, func, select

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project is not installed in the venv: import it from the checkout
    sys.path.insert(0, str(ROOT))

import portal.models  # noqa: E402,F401  (registers every table)
from portal.approvals.models import ApprovalUserSetup
from portal.auth.models import User
from portal.extensions import db
from portal.importers.models import ImportLogEntry
from portal.importers.northwind import FILES, import_northwind, read_csv
from portal.records.models import (
    POSTED_SALES_INVOICE,
    STATUS_RELEASED,
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

DATA = ROOT / "data" / "northwind"

pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """scrypt takes ~0.1 s per user; a one-round hash keeps these tests quick."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(
        "portal.auth.models.generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"),
    )


@pytest.fixture
def session(tmp_path):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(tmp_path / "t.db")
    db.init_app(app)
    with app.app_context():
        db.create_all()
        yield db.session
        db.session.remove()


@pytest.fixture
def imported(session):
    """The session after a full, committed import of the real data; yields the report."""
    report = import_northwind(DATA, session)
    session.commit()
    return report


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def row_counts(session) -> dict[str, int]:
    models = (ItemCategory, ShippingAgent, Vendor, Customer, Salesperson, User, ApprovalUserSetup,
              Item, SalesHeader, SalesLine)
    return {model.__name__: count(session, model) for model in models}


def order(session, no: str) -> SalesHeader:
    return session.scalar(select(SalesHeader).where(SalesHeader.document_type == "Order", SalesHeader.no == no))


def user(session, user_name: str) -> User:
    return session.scalar(select(User).where(User.user_name == user_name))


def setup_of(session, user_name: str) -> ApprovalUserSetup:
    return session.scalar(select(ApprovalUserSetup).join(ApprovalUserSetup.user).where(User.user_name == user_name))


def copy_data(tmp_path) -> Path:
    target = tmp_path / "northwind"
    shutil.copytree(DATA, target)
    return target


def replace_line(path: Path, line_no: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in physical line ``line_no`` (1-based) of ``path``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert old in lines[line_no - 1], lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    path.write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------- full import


def test_full_import_creates_every_record(session, imported):
    assert imported.ok, imported.summary()
    assert row_counts(session) == {
        "ItemCategory": 8,
        "ShippingAgent": 6,
        "Vendor": 29,
        "Customer": 91,
        "Salesperson": 9,
        "User": 10,  # 9 employees + admin
        "ApprovalUserSetup": 10,
        "Item": 77,
        "SalesHeader": 830,
        "SalesLine": 2155,
    }
    new = {name: c.new for name, c in imported.counts.items()}
    assert new == {
        "categories.csv": 8, "shippers.csv": 6, "suppliers.csv": 29, "customers.csv": 91,
        "employees.csv": 9, "products.csv": 77, "orders.csv": 830, "order_details.csv": 2155,
        "admin user": 1,
    }
    assert all(c.already_there == 0 and c.skipped == 0 for c in imported.counts.values())
    lines = imported.summary()
    assert any(line.startswith("order_details.csv") and line.endswith(" 2155 new, 0 already there") for line in lines)
    assert any(line.startswith("total") and line.endswith(" 3206 new, 0 already there") for line in lines)
    assert lines[-1] == "No errors."
    assert count(session, ImportLogEntry) == 3206


def test_master_data_mapping(session, imported):
    alfki = session.scalar(select(Customer).where(Customer.no == "ALFKI"))
    assert (alfki.name, alfki.contact, alfki.city) == ("Alfreds Futterkiste", "Maria Anders", "Berlin")
    assert alfki.region is None  # empty field = NULL
    assert alfki.email == "alfki@customers.northwind.test"
    assert alfki.credit_limit == Decimal("0")

    vendor = session.scalar(select(Vendor).where(Vendor.no == "V00002"))
    assert vendor.name == "New Orleans Cajun Delights"
    assert vendor.homepage == "#CAJUN.HTM#"
    assert vendor.email == "v00002@vendors.northwind.test"

    beverages = session.scalar(select(ItemCategory).where(ItemCategory.code == "BEVERAGES"))
    assert beverages.description == "Beverages"
    assert beverages.details == "Soft drinks, coffees, teas, beers, and ales"  # quoted commas
    dairy = session.scalar(select(ItemCategory).where(ItemCategory.description == "Dairy Products"))
    assert dairy.code == "DAIRYPRODUCTS"

    assert session.scalar(select(ShippingAgent.name).where(ShippingAgent.code == "1")) == "Speedy Express"

    mix = session.scalar(select(Item).where(Item.no == "I0005"))
    assert mix.description == "Chef Anton's Gumbo Mix"
    assert mix.unit_price == Decimal("21.35")  # 21.3500004 rounded
    assert mix.vendor.no == "V00002"
    assert mix.item_category.code == "CONDIMENTS"
    assert mix.blocked is True
    chang = session.scalar(select(Item).where(Item.no == "I0002"))
    assert (chang.inventory, chang.qty_on_purch_order, chang.reorder_point, chang.blocked) == (17, 40, 25, True)


def test_order_10249_amount_and_lines(session, imported):
    header = order(session, "10249")
    assert header.amount == Decimal("1863.40")
    assert header.salesperson_code == "MSUYAMA"
    assert header.customer.no == "TOMSP"
    assert header.status == "Open"
    assert str(header.order_date) == "1996-07-05"
    assert str(header.requested_delivery_date) == "1996-08-16"
    assert str(header.shipment_date) == "1996-07-10"
    assert header.shipping_agent_code == "1"
    assert header.freight == Decimal("11.61")
    assert header.ship_to_city == "Münster"
    assert [(line.line_no, line.item.no, line.quantity, line.unit_price) for line in header.lines] == [
        (10000, "I0014", 9, Decimal("18.60")),
        (20000, "I0051", 40, Decimal("42.40")),
    ]
    assert header.lines[0].description == "Tofu"


def test_discount_is_a_percent(session, imported):
    header = order(session, "10250")
    assert [line.line_discount_pct for line in header.lines] == [0, 15, 15]
    assert [line.line_amount for line in header.lines] == [Decimal("77.00"), Decimal("1261.40"), Decimal("214.20")]
    assert header.amount == Decimal("1552.60")
    # 0.0500000007 in the file is 5 %, not 5.00000007 %
    assert session.scalar(select(func.count()).where(SalesLine.line_discount_pct == 5)) == 185


def test_no_shipment_date_is_null(session, imported):
    assert session.scalar(select(func.count()).where(SalesHeader.shipment_date.is_(None))) == 21


# --------------------------------------------------------------------------- employees


def test_employees_become_salespeople_users_and_approvers(session, imported):
    suyama = session.scalar(select(Salesperson).where(Salesperson.code == "MSUYAMA"))
    assert (suyama.name, suyama.job_title) == ("Michael Suyama", "Sales Representative")
    assert suyama.email == "msuyama@northwind.test"
    fuller_sp = session.scalar(select(Salesperson).where(Salesperson.code == "AFULLER"))
    assert fuller_sp.job_title == "Vice President, Sales"  # quoted comma

    msuyama = user(session, "msuyama")
    assert (msuyama.full_name, msuyama.email) == ("Michael Suyama", "msuyama@northwind.test")
    assert msuyama.check_password("northwind")
    assert msuyama.role_names == {"business_user", "approver"}
    assert user(session, "afuller").role_names == {"business_user", "approver", "admin"}
    assert user(session, "lcallahan").role_names == {"business_user", "approver", "flow_maker"}

    # approver chain: msuyama -> sbuchanan -> afuller -> nobody
    assert setup_of(session, "msuyama").approver.user_name == "sbuchanan"
    assert setup_of(session, "sbuchanan").approver.user_name == "afuller"
    assert setup_of(session, "afuller").approver is None
    assert setup_of(session, "ndavolio").approver.user_name == "afuller"  # reports_to on a later row
    assert setup_of(session, "msuyama").salespers_purch_code == "MSUYAMA"
    assert setup_of(session, "msuyama").email == "msuyama@northwind.test"


@pytest.mark.parametrize(
    "user_name, limit",
    [("msuyama", Decimal("1000.00")), ("sbuchanan", Decimal("5000.00")), ("lcallahan", Decimal("2000.00"))],
)
def test_approval_limits_by_title(session, imported, user_name, limit):
    setup = setup_of(session, user_name)
    assert setup.sales_amount_approval_limit == setup.purchase_amount_approval_limit == limit
    assert setup.request_amount_approval_limit == limit
    assert not (setup.unlimited_sales_approval or setup.unlimited_purchase_approval or setup.unlimited_request_approval)


def test_vice_president_is_unlimited(session, imported):
    setup = setup_of(session, "afuller")
    assert setup.unlimited_sales_approval and setup.unlimited_purchase_approval and setup.unlimited_request_approval
    assert setup.sales_amount_approval_limit is None
    assert setup.purchase_amount_approval_limit is None
    assert setup.request_amount_approval_limit is None
    assert setup.approval_administrator is False


def test_admin_user_is_the_one_approval_administrator(session, imported):
    admin = user(session, "admin")
    assert (admin.full_name, admin.email) == ("Portal Administrator", "admin@northwind.test")
    assert admin.check_password("admin")
    assert admin.role_names == {"admin"}
    assert setup_of(session, "admin").approval_administrator is True
    assert session.scalar(select(func.count()).where(ApprovalUserSetup.approval_administrator.is_(True))) == 1


# --------------------------------------------------------------------------- running it again


def test_second_import_changes_nothing(session, imported):
    before = row_counts(session)
    stamp = order(session, "10249").modified_at
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = import_northwind(DATA, session)
        session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert report.ok
    for name, counts in report.counts.items():
        assert (counts.new, counts.skipped) == (0, 0), name
    assert report.counts["order_details.csv"].already_there == 2155
    assert report.counts["orders.csv"].already_there == 830
    assert report.counts["employees.csv"].already_there == 9
    assert report.counts["admin user"].already_there == 1
    assert str(report.total) == "0 new, 3206 already there"
    assert row_counts(session) == before
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    session.expire_all()
    assert order(session, "10249").modified_at == stamp


def test_reimport_leaves_existing_records_as_they_are(session, imported, tmp_path):
    # Local edits survive, even where the file now says something else.
    msuyama = user(session, "msuyama")
    msuyama.set_password("changed")
    alfki = session.scalar(select(Customer).where(Customer.no == "ALFKI"))
    alfki.name = "Alfreds Futterkiste GmbH"
    alfki.credit_limit = Decimal("5000")
    alfki.email = "orders@alfki.example"
    session.scalar(select(Item).where(Item.no == "I0011")).unit_price = Decimal("23.00")
    session.commit()
    stamp = alfki.modified_at

    data = copy_data(tmp_path)
    replace_line(data / "customers.csv", 2, "Obere Str. 57", "Obere Str. 58")
    replace_line(data / "order_details.csv", 5, "10249,14,18.6000004,9,0", "10249,14,18.6000004,10,0")
    report = import_northwind(data, session)
    session.commit()

    assert report.ok
    assert str(report.counts["customers.csv"]) == "0 new, 91 already there"
    assert str(report.counts["order_details.csv"]) == "0 new, 2155 already there"
    assert str(report.counts["orders.csv"]) == "0 new, 830 already there"
    session.expire_all()
    alfki = session.scalar(select(Customer).where(Customer.no == "ALFKI"))
    assert (alfki.name, alfki.address, alfki.modified_at) == ("Alfreds Futterkiste GmbH", "Obere Str. 57", stamp)
    assert (alfki.credit_limit, alfki.email) == (Decimal("5000"), "orders@alfki.example")
    assert session.scalar(select(Item.unit_price).where(Item.no == "I0011")) == Decimal("23.00")
    assert user(session, "msuyama").check_password("changed")
    assert order(session, "10249").amount == Decimal("1863.40")


def test_deleted_and_posted_records_do_not_come_back(session, imported):
    # A customer without orders deleted, an order posted (posting removes the sales
    # order and keeps its number as the posted invoice's order no.), an order line
    # removed from an open order.
    session.delete(session.scalar(select(Customer).where(Customer.no == "PARIS")))
    posted = order(session, "10249")
    session.add(PostedDocument(
        kind=POSTED_SALES_INVOICE, no="PSI00001", source_document_type="Order", order_no="10249",
        customer_id=posted.customer_id, partner_no="TOMSP", partner_name="Toms Spezialitäten",
        posting_date=posted.order_date, amount=posted.amount,
    ))
    session.delete(posted)
    header = order(session, "10250")
    header.lines.remove(header.lines[0])
    header.recalculate()
    session.commit()
    before = row_counts(session)

    report = import_northwind(DATA, session)
    session.commit()

    assert report.ok
    assert report.total.new == 0
    assert row_counts(session) == before
    assert session.scalar(select(Customer).where(Customer.no == "PARIS")) is None
    assert order(session, "10249") is None
    assert [line.line_no for line in order(session, "10250").lines] == [20000, 30000]


def test_posted_order_is_recognised_without_the_log(session, imported):
    """A database imported before the import log existed: the order posted since is
    recognised by its posted invoice's order no.; the rows found are logged."""
    posted = order(session, "10249")
    session.add(PostedDocument(
        kind=POSTED_SALES_INVOICE, no="PSI00001", source_document_type="Order", order_no="10249",
        customer_id=posted.customer_id, partner_no="TOMSP", partner_name="Toms Spezialitäten",
        posting_date=posted.order_date, amount=posted.amount,
    ))
    session.delete(posted)
    session.execute(ImportLogEntry.__table__.delete())
    session.commit()

    report = import_northwind(DATA, session)
    session.commit()
    assert report.ok and report.total.new == 0
    assert order(session, "10249") is None
    assert count(session, ImportLogEntry) == 3206
    assert session.scalar(select(func.count()).where(ImportLogEntry.outcome == "found")) == 3206


def test_released_order_is_not_changed(session, imported, tmp_path):
    order(session, "10249").status = STATUS_RELEASED
    session.commit()
    data = copy_data(tmp_path)
    replace_line(data / "order_details.csv", 5, "10249,14,18.6000004,9,0", "10249,14,18.6000004,10,0")
    replace_line(data / "orders.csv", 3, ",11.6099997,", ",99,")  # freight of 10249
    # a third line for 10249 (right after its two)
    lines = (data / "order_details.csv").read_text(encoding="utf-8").split("\n")
    lines.insert(6, "10249,11,21,5,0")
    (data / "order_details.csv").write_text("\n".join(lines), encoding="utf-8")

    report = import_northwind(data, session)
    session.commit()
    assert [str(e) for e in report.errors] == [
        "order_details.csv line 7: order 10249 is Released; line 30000 is not added"
    ]
    assert report.counts["order_details.csv"].already_there == 2155
    assert report.counts["orders.csv"].already_there == 830
    session.expire_all()
    header = order(session, "10249")
    assert (header.freight, header.amount, header.status) == (Decimal("11.61"), Decimal("1863.40"), STATUS_RELEASED)
    assert len(header.lines) == 2

    # Reopened, the order gets the line that was never imported.
    header.status = "Open"
    session.commit()
    report = import_northwind(data, session)
    session.commit()
    assert report.ok and str(report.counts["order_details.csv"]) == "1 new, 2155 already there"
    session.expire_all()
    assert order(session, "10249").amount == Decimal("1968.40")  # + 5 × 21.00


# --------------------------------------------------------------------------- bad rows


def test_bad_rows_are_reported_and_the_rest_imports(session, tmp_path):
    data = copy_data(tmp_path)
    # ALFKI's address gets an embedded newline, a comma and quotes: its record spans
    # physical lines 2-3, so every later customer row moves down one line.
    replace_line(data / "customers.csv", 2, ",Obere Str. 57,", ',"Obere Str. 57\nHinterhaus, 2. Stock ""links""",')
    replace_line(data / "customers.csv", 59, "PARIS,Paris spécialités,", "PARIS,,")  # no company_name
    replace_line(data / "products.csv", 10, "18 - 500 g pkgs.,97,", "18 - 500 g pkgs.,n/a,")  # unit_price
    replace_line(data / "order_details.csv", 7, "10250,41,", "10250,999,")  # unknown product
    # The rows that order product 9 (now skipped) are skipped too.
    product_9_lines = [row.line for row in read_csv(data / "order_details.csv") if row.values["product_id"] == "9"]
    assert len(product_9_lines) == 5

    report = import_northwind(data, session)
    session.commit()

    assert [(e.file, e.line) for e in report.errors] == [
        ("customers.csv", 59),
        ("products.csv", 10),
        *sorted([("order_details.csv", 7)] + [("order_details.csv", line) for line in product_9_lines]),
    ]
    messages = {(e.file, e.line): e.message for e in report.errors}
    assert messages[("customers.csv", 59)] == "company_name is empty"
    assert messages[("products.csv", 10)] == "unit_price 'n/a' is not a number"
    assert messages[("order_details.csv", 7)] == "unknown product_id 999 (not in products.csv, or its row was skipped)"
    assert str(report.errors[1]) == "products.csv line 10: unit_price 'n/a' is not a number"
    assert report.counts["order_details.csv"].skipped == 6
    assert any("products.csv line 10" in line for line in report.summary())

    assert count(session, Customer) == 90
    assert count(session, Item) == 76
    assert count(session, SalesHeader) == 830
    assert count(session, SalesLine) == 2155 - 6
    alfki = session.scalar(select(Customer).where(Customer.no == "ALFKI"))
    assert alfki.address == 'Obere Str. 57\nHinterhaus, 2. Stock "links"'
    assert alfki.city == "Berlin"
    header = order(session, "10250")
    assert [line.line_no for line in header.lines] == [20000, 30000]  # the skipped row keeps its number
    assert header.amount == Decimal("1475.60")

    # Importing the fixed files fills the gaps and leaves the rest alone.
    report = import_northwind(DATA, session)
    session.commit()
    assert report.ok
    assert str(report.counts["customers.csv"]) == "1 new, 90 already there"
    assert str(report.counts["products.csv"]) == "1 new, 76 already there"
    assert str(report.counts["order_details.csv"]) == "6 new, 2149 already there"
    assert count(session, SalesLine) == 2155
    session.expire_all()
    assert order(session, "10250").amount == Decimal("1552.60")
    alfki = session.scalar(select(Customer).where(Customer.no == "ALFKI"))
    assert alfki.address == 'Obere Str. 57\nHinterhaus, 2. Stock "links"'  # not changed back


def test_employee_whose_manager_is_unknown_is_skipped_with_its_reports(session, tmp_path):
    data = copy_data(tmp_path)
    replace_line(data / "employees.csv", 6, ",2,http://accweb/", ",99,http://accweb/")  # Buchanan's reports_to

    report = import_northwind(data, session)
    session.commit()

    employee_errors = [(e.line, e.message) for e in report.errors if e.file == "employees.csv"]
    assert [line for line, _ in employee_errors] == [6, 7, 8, 10]  # Buchanan and his three reports
    assert employee_errors[0][1] == "unknown reports_to 99 (not in employees.csv, or its row was skipped)"
    assert count(session, Salesperson) == 5
    assert count(session, User) == 6
    assert order(session, "10249") is None  # Suyama's order: its employee row was skipped
    assert any(e.file == "orders.csv" and "unknown employee_id 6" in e.message for e in report.errors)


def test_row_with_wrong_number_of_fields(session, tmp_path):
    data = copy_data(tmp_path)
    replace_line(data / "shippers.csv", 2, "1,Speedy Express,(503) 555-9831", "1,Speedy Express,(503) 555-9831,extra")
    replace_line(data / "shippers.csv", 3, "2,United Package,(503) 555-3199", "2,United Package")
    report = import_northwind(data, session)
    assert [str(e) for e in report.errors if e.file == "shippers.csv"] == [
        "shippers.csv line 2: 4 fields, the header has 3",
        "shippers.csv line 3: 2 fields, the header has 3",
    ]
    assert count(session, ShippingAgent) == 4


def test_duplicate_key_and_bad_date(session, tmp_path):
    data = copy_data(tmp_path)
    replace_line(data / "customers.csv", 3, "ANATR,", "ALFKI,")
    replace_line(data / "orders.csv", 2, "1996-07-04", "1996-07-32")
    report = import_northwind(data, session)
    messages = [str(e) for e in report.errors if e.file in ("customers.csv", "orders.csv")]
    assert messages[0] == "customers.csv line 3: duplicate id 'ALFKI' (already on line 2)"
    assert "orders.csv line 2: order_date '1996-07-32' is not a date (YYYY-MM-DD)" in messages


# --------------------------------------------------------------------------- files


def test_csv_quoting_in_the_real_files():
    employees = read_csv(DATA / "employees.csv")
    assert len(employees) == 9
    nancy = employees[0]
    assert nancy.line == 2 and nancy.problem is None
    # The file holds a literal backslash-n here (as in the PostgreSQL dump), not a newline.
    assert nancy.values["address"] == "507 - 20th Ave. E.\\nApt. 2A"
    assert nancy.values["reports_to"] == "2"
    fuller = employees[1]
    assert fuller.values["title"] == "Vice President, Sales"
    assert fuller.values["notes"].startswith("Andrew received his BTS commercial in 1974")
    assert fuller.values["reports_to"] is None  # empty field = NULL


def test_read_csv_counts_physical_lines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('id,text\n1,"two\nlines, and ""quotes"""\n2,plain\n', encoding="utf-8")
    rows = read_csv(path, ["id", "text"])
    assert [(row.line, row.values["id"], row.values["text"]) for row in rows] == [
        (2, "1", 'two\nlines, and "quotes"'),
        (4, "2", "plain"),
    ]


def test_missing_file_raises_before_writing(session, tmp_path):
    data = copy_data(tmp_path)
    (data / "orders.csv").unlink()
    with pytest.raises(FileNotFoundError, match="orders.csv"):
        import_northwind(data, session)
    assert count(session, Customer) == 0
    with pytest.raises(FileNotFoundError, match="not found"):
        import_northwind(tmp_path / "nowhere", session)


def test_missing_column_raises(session, tmp_path):
    data = copy_data(tmp_path)
    replace_line(data / "products.csv", 1, ",unit_price,", ",price,")
    with pytest.raises(ValueError, match="products.csv: the header row lacks column\\(s\\) unit_price"):
        import_northwind(data, session)
    assert count(session, ItemCategory) == 0


def test_every_file_is_required():
    assert set(FILES) == {path.name for path in DATA.glob("*.csv")}
