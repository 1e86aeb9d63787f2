"""Bad input gets a clear 4xx, never a 500, and nothing half-written: ids and page
numbers out of range, the request size limit, deeply nested JSON in imports, values
that don't fit their columns (on SQLite as on PostgreSQL), amounts out of range, NUL
bytes, e-mail addresses, lines without an item, LIKE wildcards in search, and
property-based tests (hypothesis) that post any text to the portal's forms and
imports: a page with messages or success, and a refused submit changes nothing."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.records.models import Customer, Item, SalesHeader, SalesLine
from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

# what users (or attackers) type: NUL bytes, huge and odd numbers, wildcards, long text
HOSTILE = ["x" * 10_000, "\x00", "a\x00b", "1e308", "-1e308", "1" + "0" * 30, "NaN", "inf", "-inf", "-5", "%", "_",
           "99999999999999999999", "", " ", "é" * 300, "{{ 7*7 }}", "[" * 5000, "2026-13-45", "0x10", "1,2,3", "-0"]
hostile = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300),
                    st.from_regex(r"-?[0-9]{0,40}(\.[0-9]{0,20})?(e-?[0-9]{1,4})?", fullmatch=True))
FAST = settings(max_examples=12, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def admin(app):
    client = app.test_client()
    sign_in(client, "admin", "admin")
    app.config["WTF_CSRF_ENABLED"] = False  # the forms' CSRF is tested in test_security
    yield client
    app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def own_records(app):
    """A customer, an item and an Open sales order with one line of this test's own
    (the Northwind records other tests rely on stay untouched); removed afterwards
    with every record the test created."""
    from portal.extensions import db
    from portal.records import service
    from portal.records.registry import LIST_VIEWS

    tables = ("customer", "vendor", "item", "sales_header", "purchase_header", "gen_journal_batch", "workflow",
              "job_queue_entry", "workflow_user_group")
    with app.app_context():
        before = {t: db.session.scalar(select(func.max(db.metadata.tables[t].c.id))) or 0 for t in tables}
        customer = service.create_record(db.session, LIST_VIEWS["customers"], {"no": "BADIN", "name": "Bad Input Ltd"}, None)
        item = service.create_record(db.session, LIST_VIEWS["items"], {"no": "BADIN-1", "description": "Test item"}, None)
        order = service.create_record(db.session, LIST_VIEWS["sales-orders"], {"customer_no": "BADIN"}, None)
        line = service.add_line(db.session, "sales_header", order, {"item_no": "BADIN-1", "quantity": 2}, None)
        db.session.commit()
        ids = {"customer": customer.id, "item": item.id, "order": order.id, "line": line.id}
        db.session.remove()
    yield ids
    with app.app_context():
        from sqlalchemy import text

        db.session.rollback()
        for table in ("sales_line", "purchase_line", "gen_journal_line"):
            parent = {"sales_line": "sales_header", "purchase_line": "purchase_header", "gen_journal_line": "gen_journal_batch"}[table]
            column = {"sales_line": "header_id", "purchase_line": "header_id", "gen_journal_line": "batch_id"}[table]
            if column in db.metadata.tables[table].c:
                db.session.execute(text(f"DELETE FROM {table} WHERE {column} > :n"), {"n": before[parent]})
        for table in ("job_queue_log_entry",):
            if table in db.metadata.tables:
                db.session.execute(text(f"DELETE FROM {table} WHERE entry_id > :n"), {"n": before["job_queue_entry"]})
        db.session.execute(text("DELETE FROM workflow_user_group_member"))
        for table in ("sales_header", "purchase_header", "gen_journal_batch", "item", "customer", "vendor", "job_queue_entry",
                      "workflow_user_group"):
            db.session.execute(text(f"DELETE FROM {table} WHERE id > :n"), {"n": before[table]})
        db.session.commit()
        db.session.remove()


def restore_later(app, *models):
    """Snapshot the rows of ``models``' tables; the returned function puts them back
    (rows added since are deleted, changed ones reset)."""
    from portal.extensions import db

    saved = {}
    with app.app_context():
        for model in models:
            columns = [c.key for c in model.__table__.columns]
            saved[model] = (columns, {o.id: {c: getattr(o, c) for c in columns} for o in db.session.scalars(select(model))})
        db.session.remove()

    def restore():
        with app.app_context():
            for model, (columns, rows) in saved.items():
                for obj in db.session.scalars(select(model)).all():
                    if obj.id not in rows:
                        db.session.delete(obj)
                    else:
                        for column, value in rows[obj.id].items():
                            if getattr(obj, column) != value:
                                setattr(obj, column, value)
            db.session.commit()
            db.session.remove()

    return restore


@pytest.fixture
def keep_templates(app):
    """Put the notification templates back as they were (an import may replace them)."""
    from portal.notifications.models import NotificationTemplate

    restore = restore_later(app, NotificationTemplate)
    yield
    restore()


def row(app, model, record_id) -> dict:
    """A record's column values (to compare before and after a refused submit)."""
    from portal.extensions import db

    with app.app_context():
        obj = db.session.get(model, record_id)
        values = {c.key: getattr(obj, c.key) for c in model.__table__.columns}
        db.session.remove()
        return values


def count(app, model) -> int:
    from portal.extensions import db

    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return n


def text_of(res) -> str:
    """The page's text with HTML character references decoded."""
    import html

    return html.unescape(res.get_data(as_text=True))


#: the flush-time safety net's page (templates/bad_input.html): no form should fall through to it
GENERIC_PAGE = "and correct the values."


def assert_answered(res) -> None:
    """A page with messages or success: never a server error."""
    assert res.status_code < 500, res.get_data(as_text=True)[:2000]


# ---------------------------------------------------------------- ids, pages, sizes

@pytest.mark.parametrize("path, status", [
    ("/customers/99999999999999999999", 404),
    ("/customers/-1", 404),
    ("/customers/0", 404),
    ("/sales-orders/9223372036854775808/edit", 404),
    ("/customers?page=1e30", 200),
    ("/customers?page=-5", 200),
    ("/customers?page=99999999999999999999", 200),
    ("/customers?page=9223372036854775807", 200),
    ("/flows/history?page=99999999999999999999", 200),
    ("/workflows/archive?page=99999999999999999999", 200),
    ("/job-queue/?page=99999999999999999999", 200),
    ("/sales-orders/1?edit_line=99999999999999999999", 200),
])
def test_ids_and_page_numbers_out_of_range_are_404_or_the_first_page(admin, path, status):
    res = admin.get(path)
    assert res.status_code == status, path


def test_entry_and_template_ids_out_of_range_are_ignored(admin, app):
    res = admin.post("/notification-templates/export", data={"template_id": "99999999999999999999"})
    assert res.status_code == 200 and res.mimetype == "application/json"
    res = admin.post("/approvals/approve", data={"entry_id": ["99999999999999999999", "-1"], "record_type": "sales_header"})
    assert_answered(res)


def test_a_request_above_the_size_limit_is_413_with_the_limit(admin, app):
    assert app.config["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024
    page = admin.get("/workflows/").get_data(as_text=True)
    assert "at most 5 MB" in page  # the import says the limit
    import io

    big = io.BytesIO(b" " * (5 * 1024 * 1024 + 1))
    res = admin.post("/workflows/import", data={"file": (big, "big.json")}, content_type="multipart/form-data")
    assert res.status_code == 413
    assert "at most 5 MB" in res.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/workflows/import", "/notification-templates/import"])
def test_deeply_nested_json_in_an_import_is_refused_with_a_message(admin, app, path, keep_templates):
    import io

    from portal.notifications.models import NotificationTemplate
    from portal.workflow.models import Workflow

    before = (count(app, Workflow), count(app, NotificationTemplate))
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50 + "1" + "}" * 50):
        res = admin.post(path, data={"file": (io.BytesIO(body.encode()), "deep.json")}, content_type="multipart/form-data",
                         follow_redirects=True)
        assert res.status_code in (200, 422)
        assert "nested too deeply" in res.get_data(as_text=True)
    assert (count(app, Workflow), count(app, NotificationTemplate)) == before


# ---------------------------------------------------------------- field validation

def test_a_too_long_name_is_a_field_error_that_keeps_the_input(admin, app, own_records):
    before = row(app, Customer, own_records["customer"])
    typed = "N" * 10_000
    res = admin.post(f"/customers/{own_records['customer']}/edit", data={"name": typed, "city": "Berlin"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "Name can have at most 100 characters (you entered 10,000)." in html
    assert typed in html  # what the user typed is still in the form
    assert row(app, Customer, own_records["customer"]) == before


@pytest.mark.parametrize("value, message", [
    ("1e308", "too large"), ("1" + "0" * 30, "too large"), ("NaN", "not a valid number"), ("inf", "not a valid number"),
    ("-5", "can't be negative"), ("1e-999999999", None),
])
def test_amounts_out_of_range_are_field_errors(admin, app, own_records, value, message):
    before = row(app, Customer, own_records["customer"])
    res = admin.post(f"/customers/{own_records['customer']}/edit", data={"credit_limit": value})
    assert_answered(res)
    if message:
        assert res.status_code == 422 and message in text_of(res)
        assert row(app, Customer, own_records["customer"]) == before


def test_nul_bytes_and_bad_e_mail_addresses_are_refused(admin, app, own_records):
    n = count(app, Customer)
    res = admin.post("/customers/new", data={"no": "BADIN2", "name": "a\x00b"})
    assert res.status_code == 422 and "can't contain NUL characters" in text_of(res)
    res = admin.post("/customers/new", data={"no": "BADIN2", "name": "Fine", "email": "not an address"})
    assert res.status_code == 422 and "is not an e-mail address" in text_of(res)
    assert count(app, Customer) == n
    res = admin.post("/customers/new", data={"no": "BADIN2", "name": "Fine", "email": "ap@example.com"})
    assert res.status_code == 302


def test_a_line_needs_an_item_and_a_sensible_quantity(admin, app, own_records):
    order = own_records["order"]
    lines = count(app, SalesLine)
    for data, message in [
        ({"item_no": "", "quantity": "1"}, "A line needs an item"),
        ({"item_no": "BADIN-1", "quantity": "-1"}, "Quantity can't be negative"),
        ({"item_no": "BADIN-1", "quantity": "1e13", "unit_price": "1e13"}, "The line amount would be too large"),
        ({"item_no": "BADIN-1", "quantity": "1", "line_discount_pct": "150"}, "at most 100"),
    ]:
        res = admin.post(f"/sales-orders/{order}/lines", data=data)
        assert res.status_code == 422, data
        assert message in text_of(res), data
    assert count(app, SalesLine) == lines
    before = row(app, SalesLine, own_records["line"])
    res = admin.post(f"/sales-orders/{order}/lines/{own_records['line']}", data={"item_no": "", "quantity": "3"})
    assert res.status_code == 422
    assert row(app, SalesLine, own_records["line"]) == before


def test_values_that_dont_fit_their_columns_are_refused_at_flush_on_every_database(app, db_session):
    """The safety net behind the forms: SQLite would store a 10,000-character name in
    a 100-character column; the portal refuses it as PostgreSQL does."""
    from portal.util import InputRejected

    db_session.add(Customer(no="BADIN3", name="x" * 10_000))
    with pytest.raises(InputRejected, match="at most 100 characters"):
        db_session.flush()
    db_session.rollback()
    item = db_session.scalar(select(Item).limit(1))
    item.unit_price = 10**20
    with pytest.raises(InputRejected, match="too large"):
        db_session.flush()
    db_session.rollback()


def test_like_wildcards_in_search_are_taken_literally(admin):
    for q in ("%", "_", "%%", "\\"):
        html = admin.get("/customers", query_string={"q": q}).get_data(as_text=True)
        assert "Alfreds Futterkiste" not in html, q
    assert "Alfreds Futterkiste" in admin.get("/customers?q=alfreds").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/customers", "/sales-orders", "/flows/history", "/notification-templates/records",
                                  "/workflows/"])
def test_nul_bytes_in_searches_are_answered_on_every_database(admin, path):
    """PostgreSQL refuses a NUL byte even as a query parameter: a 400, not a 500."""
    res = admin.get(path, query_string={"q": "a\x00b", "record": "a\x00b", "record_q": "\x00", "record_type": "customer"})
    assert_answered(res)


def test_a_nul_byte_in_the_sign_in_form_is_answered(app):
    from test_pages import csrf

    client = app.test_client()
    token = csrf(client.get("/sign-in").get_data(as_text=True))
    res = client.post("/sign-in", data={"user_name": "ad\x00min", "password": "x", "csrf_token": token})
    assert_answered(res)
    assert res.status_code in (200, 400)


def test_approval_user_setup_refuses_nan_and_unknown_ids(admin, app):
    from portal.approvals.models import ApprovalUserSetup

    with app.app_context():
        from portal.extensions import db

        user_id = db.session.scalar(select(ApprovalUserSetup.user_id).limit(1))
        db.session.remove()
    for data in ({"sales_amount_approval_limit": "NaN"}, {"approver_id": "99999999999999999999"},
                 {"time_zone": "x" * 5000}, {"email": "x" * 300 + "@example.com"}, {"salespers_purch_code": "\x00"}):
        res = admin.post(f"/approvals/setup/users/{user_id}", data=data)
        assert res.status_code == 422, data


def test_job_queue_entry_refuses_nested_parameters_and_long_time_zones(admin, app):
    from portal.jobqueue.models import JobQueueEntry

    n = count(app, JobQueueEntry)
    for data in ({"description": "x", "parameters": "[" * 5000, "time_zone": "UTC"},
                 {"description": "x", "parameters": "{}", "time_zone": "é" * 5000},
                 {"description": "x" * 10_000, "parameters": "{}", "time_zone": "UTC"}):
        res = admin.post("/job-queue/new", data=data)
        assert res.status_code == 422, data
    assert count(app, JobQueueEntry) == n


# ---------------------------------------------------------------- property-based: every form

def _forms(ids: dict) -> list[tuple[str, tuple[str, ...], object]]:
    """(path, fields, model whose table a refused submit must leave as it was)."""
    from portal.approvals.models import WorkflowUserGroup
    from portal.jobqueue.models import JobQueueEntry
    from portal.records.models import GenJournalBatch, PurchaseHeader, Vendor
    from portal.workflow.models import Workflow

    return [
        ("/customers/new", ("no", "name", "city", "country", "email", "credit_limit"), Customer),
        ("/vendors/new", ("no", "name", "city", "country", "email"), Vendor),
        ("/items/new", ("no", "description", "vendor_no", "unit_price", "reorder_point"), Item),
        ("/sales-orders/new", ("customer_no", "order_date"), SalesHeader),
        ("/purchase-credit-memos/new", ("vendor_no", "vendor_invoice_no", "order_date"), PurchaseHeader),
        ("/general-journal-batches/new", ("journal_template_name", "name", "description"), GenJournalBatch),
        (f"/customers/{ids['customer']}/edit", ("name", "credit_limit", "salesperson_code", "address", "city", "region",
                                                 "postal_code", "country", "contact", "contact_title", "email"), Customer),
        (f"/items/{ids['item']}/edit", ("description", "quantity_per_unit", "unit_price", "reorder_point"), Item),
        (f"/sales-orders/{ids['order']}/edit", ("salesperson_code", "order_date", "requested_delivery_date", "shipment_date",
                                                 "shipping_agent_code", "freight", "ship_to_name", "ship_to_city"), SalesHeader),
        (f"/sales-orders/{ids['order']}/lines", ("item_no", "description", "quantity", "unit_price", "line_discount_pct"), SalesLine),
        (f"/sales-orders/{ids['order']}/lines/{ids['line']}", ("item_no", "quantity", "unit_price", "line_discount_pct"), SalesLine),
        ("/workflows/new", ("code", "description", "category", "record_type", "trigger_kind"), Workflow),
        ("/job-queue/new", ("description", "target", "parameters", "minutes_between_runs", "cron_expression",
                            "next_run_date_formula", "time_zone", "max_attempts", "category_code"), JobQueueEntry),
        ("/approvals/setup/groups/new", ("code", "description"), WorkflowUserGroup),
    ]


def _table_state(app, model):
    """All rows of ``model``'s table (the tables the forms write are small)."""
    from portal.extensions import db

    with app.app_context():
        table = model.__table__
        rows = db.session.execute(select(table).order_by(table.c.id)).all()
        db.session.remove()
        return [tuple(r) for r in rows]


def _editor_forms(app, admin) -> list[tuple[str, tuple[str, ...], object]]:
    """The workflow editor (on a new workflow of the test's own), a notification
    template, a user's approval user setup and notification settings."""
    from portal.approvals.models import ApprovalUserSetup
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry
    from portal.notifications.models import NotificationSchedule, NotificationSetup, NotificationTemplate
    from portal.workflow.models import Workflow, WorkflowStep

    res = admin.post("/workflows/new", data={"code": "BADIN-WF", "description": "Bad input", "record_type": "sales_header",
                                             "trigger_kind": "automated"})
    assert res.status_code == 302, text_of(res)[:3000]
    with app.app_context():
        template_id = db.session.scalar(select(NotificationTemplate.id).limit(1))
        user_id = db.session.scalar(select(ApprovalUserSetup.user_id).limit(1))
        db.session.remove()
    admin.post("/workflows/BADIN-WF/edit/add-event", data={"function": "sales_document_approval_requested"})
    conditions = ("step_id", "function", "cond_field", "cond_operator", "cond_compare", "cond_value", "cond_value_field")
    instant, scheduled = _own_flows(app, admin)
    return [
        ("/workflows/BADIN-WF/edit/add-event", ("function", "after"), WorkflowStep),
        ("/workflows/BADIN-WF/edit/set-event", conditions, WorkflowStep),
        ("/workflows/BADIN-WF/edit/add-response", ("step_id", "function"), WorkflowStep),
        ("/workflows/BADIN-WF/edit/move", ("step_id", "delta"), WorkflowStep),
        (f"/notification-templates/{template_id}", ("description", "subject", "body"), NotificationTemplate),
        (f"/approvals/setup/users/{user_id}", ("approver_id", "salespers_purch_code", "substitute_id", "email",
                                               "sales_amount_approval_limit", "purchase_amount_approval_limit",
                                               "request_amount_approval_limit"), ApprovalUserSetup),
        ("/notifications/settings", ("new_record-method", "new_record-recurrence", "new_record-at",
                                     "new_record-daily_frequency", "new_record-weekdays"), NotificationSetup),
        ("/notifications/settings?user=msuyama", ("approval-method", "approval-recurrence", "approval-at", "approval-daily_frequency",
                                                  "approval-weekdays", "approval-monthly_date", "approval-date_of_month"),
         NotificationSchedule),
        (f"/flows/{instant}/inputs", ("in_name", "in_caption", "in_type", "in_default", "in_help", "in_choices", "in_record_type",
                                      "in_order", "in_required"), Workflow),
        (f"/flows/{scheduled}/schedule", ("recurrence_kind", "cron_expression", "minutes_between_runs", "next_run_date_formula",
                                          "run_on_weekdays", "starting_time", "ending_time", "time_zone"), JobQueueEntry),
    ]


def _own_flows(app, admin) -> tuple[str, str]:
    """A disabled copy of the instant flow CUST-STATEMENT and a scheduled flow from the
    gallery (with its job queue entry): their codes."""
    res = admin.post("/workflows/CUST-STATEMENT/copy", data={"new_code": "BADIN-IN"})
    assert res.status_code == 302, text_of(res)[:2000]
    res = admin.post("/flows/gallery/reorder")
    assert res.status_code == 302, text_of(res)[:2000]
    from portal.extensions import db
    from portal.workflow.models import Workflow

    with app.app_context():
        scheduled = db.session.scalar(select(Workflow.code).where(Workflow.code.like("REORDER%"), Workflow.template.is_(False))
                                      .order_by(Workflow.id.desc()))
        db.session.remove()
    admin.post(f"/flows/{scheduled}/schedule", data={"recurrence_kind": "cron", "cron_expression": "0 8 * * 1", "time_zone": "UTC"})
    return "BADIN-IN", scheduled


def test_any_input_to_any_form_is_a_page_with_messages_or_success(admin, app, own_records):
    """For every form: hostile values in every field give a page (errors shown, or the
    change saved), never a server error; a refused submit changes nothing."""
    from portal.notifications.models import NotificationSchedule, NotificationSetup, NotificationTemplate

    restore = restore_later(app, NotificationTemplate, NotificationSetup, NotificationSchedule)
    try:
        _submit_anything(app, admin, _forms(own_records) + _editor_forms(app, admin))
    finally:
        restore()


def _submit_anything(app, admin, forms) -> None:
    for path, fields, model in forms:

        @FAST
        @given(st.fixed_dictionaries({}, optional={name: hostile for name in fields}))
        def submit(data):
            before = _table_state(app, model)
            res = admin.post(path, data=data)
            assert_answered(res)
            # a refused value is a message on the form, never the generic "Not saved" page
            assert GENERIC_PAGE not in res.get_data(as_text=True), (path, data, text_of(res)[-3000:])
            if res.status_code >= 400:
                assert _table_state(app, model) == before, (path, data)

        submit()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _export(admin, path: str, field: str, value) -> dict:
    res = admin.post(path, data={field: value})
    return json.loads(res.get_data(as_text=True))


def test_any_workflow_or_template_import_is_refused_with_messages_or_imported(admin, app, keep_templates):
    """Imports of any JSON (random, or a real export with any part replaced) answer
    with messages or import; a refused import changes nothing."""
    import io

    from portal.notifications.models import NotificationTemplate
    from portal.workflow.models import Workflow

    workflow_export = _export(admin, "/workflows/export", "code", "SO-APPROVAL")
    template_export = json.loads(admin.post("/notification-templates/export", data={}).get_data(as_text=True))

    def mutated(export):
        """The export with one value (anywhere in it) replaced by any JSON value."""
        paths = []

        def walk(node, path):
            paths.append(path)
            children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, child in children:
                walk(child, (*path, key))

        walk(export, ())

        def replace(choice):
            path, value = choice
            if not path:
                return value
            copy = json.loads(json.dumps(export))
            node = copy
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            return copy

        return st.tuples(st.sampled_from(paths), json_values).map(replace)

    for path, model, export in (("/workflows/import", Workflow, workflow_export),
                                ("/notification-templates/import", NotificationTemplate, template_export)):

        @FAST
        @given(st.one_of(json_values, mutated(export)))
        def upload(data):
            before = _table_state(app, model)
            body = io.BytesIO(json.dumps(data).encode())
            res = admin.post(path, data={"file": (body, "x.json")}, content_type="multipart/form-data", follow_redirects=True)
            assert_answered(res)
            html = res.get_data(as_text=True)
            if "Nothing was imported" in html or res.status_code >= 400:
                assert _table_state(app, model) == before

        upload()


def test_the_northwind_import_names_the_file_and_line_of_bad_encoding(app, tmp_path):
    import shutil

    data = tmp_path / "northwind"
    shutil.copytree(app.config["NORTHWIND_DIR"], data)
    path = data / "customers.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"a", b"\xe4", 1)  # a Latin-1 "ä" on line 5
    path.write_bytes(b"\n".join(lines))
    result = app.test_cli_runner().invoke(args=["import-northwind", str(data)])
    assert result.exit_code == 1
    assert "customers.csv line 5: not UTF-8 text" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path, data, message", [
    ("/workflows/new", {"code": "BADIN-W2", "description": "x" * 10_000, "record_type": "sales_header",
                        "trigger_kind": "automated"}, "Description can have at most 200 characters"),
    ("/approvals/setup/groups/new", {"code": "BADIN-G", "description": "x" * 10_000}, "at most 100 characters"),
])
def test_other_forms_show_length_errors_on_the_form(admin, path, data, message):
    res = admin.post(path, data=data)
    assert res.status_code == 422
    page = text_of(res)
    assert message in page and "Not saved" not in page  # the form itself, with the message


def test_a_missing_required_field_on_a_new_form_is_a_field_error(admin, app, own_records):
    from portal.records.models import Vendor

    n = count(app, Vendor)
    res = admin.post("/vendors/new", data={"no": "BADIN-V"})  # no name at all (not even blank)
    assert res.status_code == 422 and "Name must have a value." in text_of(res)
    assert count(app, Vendor) == n


def test_too_long_or_nul_values_are_messages_on_the_form_and_change_nothing(admin, app, own_records):
    """The forms that fell through to the generic "Not saved" page (or stored any
    length) show the limit where the value was typed and change nothing: event
    conditions, input fields, a scheduled flow's schedule, workflow user groups and
    their members, notification templates, approval comments, restrictions."""
    from portal.approvals.models import ApprovalCommentLine, WorkflowUserGroup, WorkflowUserGroupMember
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry
    from portal.notifications.models import NotificationTemplate
    from portal.records.models import RecordRestriction
    from portal.workflow.models import Workflow, WorkflowStep

    long = "x" * 10_000
    admin.post("/workflows/new", data={"code": "BADIN-WF", "description": "Bad input", "record_type": "sales_header",
                                       "trigger_kind": "automated"})
    admin.post("/workflows/BADIN-WF/edit/add-event", data={"function": "sales_document_approval_requested"})
    instant, scheduled = _own_flows(app, admin)
    admin.post("/approvals/setup/groups/new", data={"code": "BADIN-G", "description": "Bad input"})
    with app.app_context():
        step = db.session.scalar(select(WorkflowStep.step_id).join(Workflow).where(Workflow.code == "BADIN-WF"))
        template_id = db.session.scalar(select(NotificationTemplate.id).limit(1))
        group = db.session.scalar(select(WorkflowUserGroup).where(WorkflowUserGroup.code == "BADIN-G"))
        group_id = group.id
        from portal.auth.models import User

        msuyama = db.session.scalar(select(User.id).where(User.user_name == "msuyama"))
        db.session.remove()
    admin.post(f"/approvals/setup/groups/{group_id}/members", data={"user_id": msuyama, "sequence_no": "1"})
    with app.app_context():
        member_id = db.session.scalar(select(WorkflowUserGroupMember.id).where(WorkflowUserGroupMember.group_id == group_id))
        db.session.remove()
    condition = {"step_id": step, "function": "sales_document_approval_requested", "cond_field": "amount",
                 "cond_operator": ">", "cond_compare": "value", "cond_value": "5"}
    inputs = {"in_name": "message", "in_caption": "Message", "in_type": "long_text", "in_order": "1"}
    schedule = {"recurrence_kind": "cron", "cron_expression": "0 8 * * 1", "time_zone": "UTC"}
    order = own_records["order"]
    cases = [
        ("/workflows/BADIN-WF/edit/set-event", {**condition, "cond_value": long}, WorkflowStep,
         "Condition 1: the value can have at most 250 characters (you entered 10,000)."),
        ("/workflows/BADIN-WF/edit/set-event", {**condition, "cond_operator": long}, WorkflowStep,
         "Condition 1: choose an operator from the list."),
        ("/workflows/BADIN-WF/edit/set-event", {**condition, "cond_value": "a\x00b"}, WorkflowStep,
         "Condition 1: the value can't contain NUL characters."),
        (f"/flows/{instant}/inputs", {**inputs, "in_caption": long}, Workflow,
         "Input 1 (message): The caption can have at most 100 characters (you entered 10,000)."),
        (f"/flows/{instant}/inputs", {**inputs, "in_help": long}, Workflow, "The help text can have at most 500 characters"),
        (f"/flows/{instant}/inputs", {**inputs, "in_type": "choice", "in_choices": "a," + long}, Workflow,
         "A choice can have at most 100 characters"),
        (f"/flows/{scheduled}/schedule", {**schedule, "cron_expression": long}, JobQueueEntry, "at most"),
        (f"/flows/{scheduled}/schedule", {**schedule, "time_zone": long}, JobQueueEntry, "time zone"),
        ("/approvals/setup/groups/new", {"code": "a\x00b", "description": "x"}, WorkflowUserGroup, "can't contain NUL characters"),
        (f"/approvals/setup/groups/{group_id}", {"code": "BADIN-G", "description": "a\x00b"}, WorkflowUserGroup,
         "can't contain NUL characters"),
        (f"/approvals/setup/groups/{group_id}/members/{member_id}", {"sequence_no": "1" + "0" * 30}, WorkflowUserGroupMember,
         "The sequence no. is out of range"),
        (f"/approvals/setup/groups/{group_id}/members", {"user_id": msuyama, "sequence_no": "99999999999"},
         WorkflowUserGroupMember, "The sequence no. is out of range"),
        (f"/notification-templates/{template_id}", {"subject": "Hello", "body": "a\x00b", "description": ""}, NotificationTemplate,
         "The body can't contain NUL characters."),
        (f"/approvals/comments/sales_header/{order}", {"comment": "a\x00b"}, ApprovalCommentLine,
         "A comment can't contain NUL characters."),
        (f"/sales-orders/{order}/restriction", {"action": "add", "details": long}, RecordRestriction,
         "The details can have at most 250 characters (you entered 10,000)."),
    ]
    for path, data, model, message in cases:
        before = _table_state(app, model)
        res = admin.post(path, data=data, follow_redirects=True)
        assert_answered(res)
        page = text_of(res)
        assert GENERIC_PAGE not in page, (path, page[-2000:])
        assert message in page, (path, message, page[page.find("<main"):][:3000])
        assert _table_state(app, model) == before, path
