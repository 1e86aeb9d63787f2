"""Manage flows (grouped run figures, flows that keep failing and their owner's one
notification, copy / delete / export / import, permissions per role), the dry run
("Test": nothing changed, nothing sent — counted rows, the SMTP sink and a local
webhook server) and the gallery of starter flows (copies that turn on and run) —
through the Flask test client with a real RQ worker in burst mode."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, text

from portal.auth.models import User
from portal.records.models import Customer, SalesHeader, Vendor
from portal.util import utcnow
from portal.workflow.models import Workflow, WorkflowInstance
from effect_helpers import WebhookStub
from test_flow_runs import add_flow, ids_of, instances, signed_in
from page_text import visible_text
from test_pages import csrf

pytestmark = pytest.mark.usefixtures("clean_state")

COUNTED = ("workflow_instance", "workflow_step_instance", "workflow_step_run", "outbox_event", "workflow_effect",
           "notification_entry", "sent_notification_entry", "audit_entry", "purchase_header", "job_queue_entry")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keep_masters(app):
    """Vendors' e-mail and Blocked, items' inventory and reorder point as they were
    before the test (the tests change them to make flows run)."""
    from portal.extensions import db
    from portal.records.models import Item

    with app.app_context():
        vendors = db.session.execute(select(Vendor.id, Vendor.email, Vendor.blocked)).all()
        items = db.session.execute(select(Item.id, Item.inventory, Item.reorder_point)).all()
        db.session.rollback()
    yield
    with app.app_context():
        for vid, email, blocked in vendors:
            v = db.session.get(Vendor, vid)
            v.email, v.blocked = email, blocked
        for iid, inventory, reorder in items:
            i = db.session.get(Item, iid)
            i.inventory, i.reorder_point = inventory, reorder
        db.session.commit()


def _user_id(session, name: str) -> int:
    return session.scalar(select(User.id).where(User.user_name == name))


def _with_setup(session, user_id: int) -> None:
    """Give ``user_id`` an approval user setup (only users with one get notifications);
    the clean-up restores the snapshot."""
    from portal.approvals.models import ApprovalUserSetup

    if session.scalar(select(ApprovalUserSetup.id).where(ApprovalUserSetup.user_id == user_id)) is None:
        session.add(ApprovalUserSetup(user_id=user_id))


def counts(app) -> dict[str, int]:
    from portal.extensions import db

    with app.app_context():
        out = {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}
        db.session.rollback()
        return out


# ---------------------------------------------------------------- the list

def test_manage_page_figures_come_from_one_grouped_query(client, app):
    from portal.extensions import db
    from portal.flows import manage

    add_flow(app, "STATS-A", [("show_message", {"message": "a"})])
    add_flow(app, "STATS-B", [("show_message", {"message": "b"})])
    now = utcnow()
    with app.app_context():
        a, b = (db.session.scalar(select(Workflow).where(Workflow.code == c)) for c in ("STATS-A", "STATS-B"))
        a.owner_id = _user_id(db.session, "lcallahan")
        for wf, status, age in ((a, "Completed", 1), (a, "Failed", 2), (a, "Failed", 30), (a, "Completed", 50),
                                (b, "Completed", 3), (b, "Running", 0.5)):
            created = now - timedelta(hours=age)
            db.session.add(WorkflowInstance(workflow_id=wf.id, workflow_code=wf.code, status=status, created_at=created,
                                            started_at=created, ended_at=None if status == "Running" else created))
        db.session.commit()

        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            rows = {r["wf"].code: r for r in manage.flow_rows(db.session, now=now)}
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) <= 3, statements  # flows, one grouped run query, owners: not one per flow
        assert sum("workflow_instance" in s for s in statements) == 1
        ra, rb = rows["STATS-A"], rows["STATS-B"]
        assert (ra["runs_24h"], ra["failures_24h"], ra["last_status"], ra["owner"]) == (2, 1, "Succeeded", "Laura Callahan")
        assert (rb["runs_24h"], rb["failures_24h"], rb["last_status"], rb["owner"]) == (2, 0, "Running", "")
        assert rows["CUST-STATEMENT"]["last_status"] == "" and rows["CUST-STATEMENT"]["trigger"] == "Instant"
        assert not ra["failing"] and "SO-APPROVAL" in rows

    signed_in(client, "lcallahan")
    page = client.get("/flows/manage").get_data(as_text=True)
    row = re.search(r'<tr id="flow-STATS-A".*?</tr>', page, re.S).group(0)
    assert "Laura Callahan" in row and "Succeeded" in row and "Instant" in row and "Customer" in row
    assert re.search(r'runs-24h"[^>]*>2<', row) and re.search(r'failures-24h"[^>]*>1<', row)
    # the Automate menu's "Manage flows" lands here, filtered by the page's record type
    alfki, = ids_of(app, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert 'href="/flows/manage?record_type=customer"' in card
    only = client.get("/flows/manage?record_type=vendor").get_data(as_text=True)
    assert "STATS-A" not in only and "Manage flows — Vendors" in only


def test_a_flow_that_keeps_failing_is_flagged_and_its_owner_notified_once(client, app, run_jobs):
    from portal.extensions import db
    from portal.flows.service import start_runs

    # send_email to a field customers don't fill in: every run fails (a response error)
    add_flow(app, "FAILS", [("send_email", {"template": "customer_statement", "to_field": "fax"})])
    with app.app_context():
        owner = _user_id(db.session, "lcallahan")
        _with_setup(db.session, owner)
        db.session.scalar(select(Workflow).where(Workflow.code == "FAILS")).owner_id = owner
        db.session.commit()
    with app.app_context():
        no_fax = db.session.scalar(select(Customer.id).where(Customer.fax.is_(None)).order_by(Customer.id))

    def run(record_id: int) -> None:
        with app.app_context():
            wf = db.session.scalar(select(Workflow).where(Workflow.code == "FAILS"))
            start_runs(db.session, wf, [record_id], {}, db.session.get(User, _user_id(db.session, "msuyama")))
            db.session.commit()
        run_jobs()

    def notices() -> int:
        with app.app_context():
            n = db.session.execute(text("SELECT count(*) FROM notification_entry WHERE custom_message LIKE '%(FAILS)%'")).scalar()
            n += db.session.execute(text("SELECT count(*) FROM sent_notification_entry WHERE body LIKE '%(FAILS)%'")).scalar()
            db.session.rollback()
            return n

    for _ in range(2):
        run(no_fax)
    assert [r.status for r in instances(app, "FAILS")] == ["Failed", "Failed"] and notices() == 0
    run(no_fax)  # the third failure in a row: flagged, the owner is told
    assert notices() == 1
    run(no_fax)
    run(no_fax)
    assert notices() == 1  # once per failing streak
    signed_in(client, "lcallahan")
    page = client.get("/flows/manage").get_data(as_text=True)
    row = re.search(r'<tr id="flow-FAILS".*?</tr>', page, re.S).group(0)
    assert "Keeps failing" in row and "flow-failing" in row and ">On<" in row  # flagged, never turned off
    assert "1 flow(s) keep failing" in page
    with app.app_context():
        assert db.session.scalar(select(Workflow.enabled).where(Workflow.code == "FAILS")) is True
        db.session.rollback()

    # a run that succeeds (the flow mails the customer's e-mail address) ends the streak; the next streak notifies again
    def send_to(field: str) -> None:
        with app.app_context():
            step = next(s for s in db.session.scalar(select(Workflow).where(Workflow.code == "FAILS")).steps
                        if s.function_name == "send_email")
            step.options = {**step.options, "to_field": field}
            db.session.commit()

    send_to("email")
    run(no_fax)
    send_to("fax")
    assert instances(app, "FAILS")[-1].status == "Completed", instances(app, "FAILS")[-1].error
    page = client.get("/flows/manage").get_data(as_text=True)
    assert "Keeps failing" not in re.search(r'<tr id="flow-FAILS".*?</tr>', page, re.S).group(0)
    for _ in range(3):
        run(no_fax)
    assert notices() == 2


def test_a_failing_flow_without_an_owner_is_reported_to_the_administrator(app, run_jobs):
    """A shipped flow has no owner: its failing streak is told to the administrator."""
    from portal.extensions import db
    from portal.flows.service import start_runs

    add_flow(app, "FAILS-NOBODY", [("send_email", {"template": "customer_statement", "to_field": "fax"})])
    with app.app_context():
        assert db.session.scalar(select(Workflow.owner_id).where(Workflow.code == "FAILS-NOBODY")) is None
        no_fax = db.session.scalar(select(Customer.id).where(Customer.fax.is_(None)).order_by(Customer.id))
    for _ in range(3):
        with app.app_context():
            wf = db.session.scalar(select(Workflow).where(Workflow.code == "FAILS-NOBODY"))
            start_runs(db.session, wf, [no_fax], {}, db.session.get(User, _user_id(db.session, "msuyama")))
            db.session.commit()
        run_jobs()
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT u.user_name FROM notification_entry n JOIN \"user\" u ON u.id = n.recipient_id WHERE n.custom_message LIKE '%(FAILS-NOBODY)%'"
            " UNION ALL SELECT u.user_name FROM sent_notification_entry n JOIN \"user\" u ON u.id = n.recipient_id"
            " WHERE n.body LIKE '%(FAILS-NOBODY)%'")).scalars().all()
    assert rows == ["admin"]


def test_copy_delete_export_import_and_turn_on_off(client, app):
    from portal.extensions import db

    add_flow(app, "MINE", [("show_message", {"message": "Hello {{ record.name }}"})])
    page = signed_in(client, "lcallahan")
    token = csrf(page)
    res = client.post("/flows/manage/MINE/copy", data={"csrf_token": token})
    assert res.status_code == 302
    with app.app_context():
        copy = db.session.scalar(select(Workflow).where(Workflow.code == "MINE-01"))
        assert copy is not None and not copy.enabled and copy.owner_id == _user_id(db.session, "lcallahan")
        assert [s.function_name for s in copy.steps] == ["run_from_automate", "show_message"]
        db.session.rollback()
    assert client.post("/flows/manage/MINE-01/on", data={"csrf_token": token}).status_code == 302
    page = client.get("/flows/manage").get_data(as_text=True)
    assert "(MINE-01) is on." in page
    # an enabled flow can't be deleted; off, it can
    client.post("/flows/manage/MINE-01/delete", data={"csrf_token": token})
    page = client.get("/flows/manage").get_data(as_text=True)
    assert "disable it before you change it" in page and 'id="flow-MINE-01"' in page
    client.post("/flows/manage/MINE-01/off", data={"csrf_token": token})
    client.post("/flows/manage/MINE-01/delete", data={"csrf_token": token})
    with app.app_context():
        assert db.session.scalar(select(Workflow.id).where(Workflow.code == "MINE-01")) is None
        db.session.rollback()

    # export (the workflow export format) and import it back under another code
    exported = client.post("/flows/manage/export", data={"csrf_token": token, "code": ["MINE"]})
    assert exported.status_code == 200 and exported.headers["Content-Disposition"] == 'attachment; filename="MINE.json"'
    data = json.loads(exported.get_data(as_text=True))
    assert data["format"] == "workflow-portal/workflows" and [w["code"] for w in data["workflows"]] == ["MINE"]
    data["workflows"][0]["code"] = "MINE-IMPORTED"
    res = client.post("/flows/manage/import", data={"csrf_token": token, "file": (io.BytesIO(json.dumps(data).encode()), "mine.json")},
                      content_type="multipart/form-data")
    assert res.status_code == 302
    with app.app_context():
        imported = db.session.scalar(select(Workflow).where(Workflow.code == "MINE-IMPORTED"))
        assert imported is not None and not imported.enabled and imported.owner_id == _user_id(db.session, "lcallahan")
        db.session.rollback()
    # a bad file: nothing imported, each problem said
    data["workflows"][0]["code"] = "MINE-BAD"
    data["workflows"][0]["steps"][1]["previous"] = 99
    res = client.post("/flows/manage/import", data={"csrf_token": token, "file": (io.BytesIO(json.dumps(data).encode()), "bad.json")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "Nothing was imported" in res.get_data(as_text=True)
    junk = client.post("/flows/manage/import", data={"csrf_token": token, "file": (io.BytesIO(b"{nope"), "x.json")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert junk.status_code == 200 and "not valid JSON" in junk.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Workflow.id).where(Workflow.code == "MINE-BAD")) is None
        db.session.rollback()
    assert client.post("/flows/manage/MINE/copy").status_code == 400  # no CSRF token
    assert client.post("/flows/manage/NOPE/copy", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("user,password,allowed", [("msuyama", "northwind", False), ("lcallahan", "northwind", True),
                                                   ("afuller", "northwind", True)])
def test_permissions_per_role(client, app, user, password, allowed):
    add_flow(app, "PERM", [("show_message", {"message": "x"})])
    page = signed_in(client, user, password)
    token = csrf(page)
    expected = 200 if allowed else 403
    for url in ("/flows/manage", "/flows/gallery", "/flows/PERM/test"):
        assert client.get(url).status_code == expected, url
    for url in ("/flows/manage/PERM/off", "/flows/manage/PERM/copy", "/flows/gallery/block-vendor"):
        assert client.post(url, data={"csrf_token": token}).status_code == (302 if allowed else 403), url
    alfki, = ids_of(app, Customer, "ALFKI")
    assert client.post("/flows/PERM/test", data={"csrf_token": token, "record_id": alfki}).status_code == expected


# ---------------------------------------------------------------- dry run

def test_dry_run_shows_each_step_and_changes_and_sends_nothing(client, app, run_jobs, sink, keep_masters):
    from portal.extensions import db

    hook = WebhookStub()
    try:
        add_flow(app, "DRY", [
            ("create_record", {"document": "Purchase Order", "partner_no": "{{ record.no }}", "item_no": "", "quantity": "1"}),
            ("update_field", {"field": "blocked", "value": "true"}),
            ("send_email", {"template": "vendor_blocked", "to_field": "email"}),
            ("call_webhook", {"url": hook.url + "/vendor", "method": "POST", "body": '{"vendor": "{{ record.no }}"}'}),
            ("create_notification", {"recipient": "Specific User", "user": "lcallahan", "message": "Blocked {{ record.name }}"}),
        ], record_type="vendor")
        with app.app_context():
            db.session.scalar(select(Workflow).where(Workflow.code == "DRY")).enabled = False
            _with_setup(db.session, _user_id(db.session, "lcallahan"))
            vendor = db.session.scalar(select(Vendor).where(Vendor.no == "V00001"))
            vendor.email = "orders@exotic-liquids.example"
            vendor.blocked = False
            db.session.commit()
            vendor_id = vendor.id
        page = signed_in(client, "lcallahan")
        before = counts(app)
        form = client.get("/flows/DRY/test").get_data(as_text=True)
        assert "Exotic Liquids" in form and "Run the test" in form
        res = client.post("/flows/DRY/test", data={"csrf_token": csrf(form), "record_id": vendor_id, "message": "Sorry"})
        html = res.get_data(as_text=True)
        assert res.status_code == 200, html
        assert "The flow would start and run 5 action(s). Nothing was changed or sent." in html
        assert "Would change Blocked of Vendor V00001" in html and "from No to Yes" in html
        assert "Would send an e-mail to orders@exotic-liquids.example: subject “Purchases on hold — Exotic Liquids”" in html
        assert f"Would call POST {hook.url}/vendor" in html and "{&#34;vendor&#34;: &#34;V00001&#34;}" in html
        assert "Would create a notification for Laura Callahan: “Blocked Exotic Liquids”" in html
        assert "Would create Purchase Order" in html
        for code in ("update_field", "send_email", "run_from_automate", "{'"):
            assert code not in visible_text(html), code  # words, not codes (codes only in tooltips)
        # nothing changed, nothing queued, nothing sent
        run_jobs()
        assert counts(app) == before
        with app.app_context():
            assert db.session.get(Vendor, vendor_id).blocked is False
            db.session.rollback()
        assert sink.to("orders@exotic-liquids.example") == [] and hook.calls == []

        # conditions that don't hold: the flow would not start, shown condition by condition
        with app.app_context():
            wf = db.session.scalar(select(Workflow).where(Workflow.code == "DRY"))
            next(s for s in wf.steps if s.entry_point).conditions = [{"field": "city", "operator": "=", "value": "Paris"}]
            db.session.commit()
        res = client.post("/flows/DRY/test", data={"csrf_token": csrf(form), "record_id": vendor_id})
        html = res.get_data(as_text=True)
        assert "The flow would not start for this record" in html and "city = Paris" in html and "London" in html
        missing = client.post("/flows/DRY/test", data={"csrf_token": csrf(form), "record_id": 999999})
        assert missing.status_code == 422 and "Vendor 999999 does not exist." in missing.get_data(as_text=True)
        none = client.post("/flows/DRY/test", data={"csrf_token": csrf(form)})
        assert none.status_code == 422 and "Choose a vendor" in none.get_data(as_text=True)
        assert counts(app) == before
    finally:
        hook.stop()


def test_dry_run_reports_a_failing_step(client, app):
    add_flow(app, "DRYFAIL", [("show_message", {"message": "first"}),
                              ("send_email", {"template": "customer_statement", "to_field": "fax"})])
    from portal.extensions import db

    with app.app_context():
        no_fax = db.session.scalar(select(Customer.id).where(Customer.fax.is_(None)).order_by(Customer.id))
        db.session.rollback()
    page = signed_in(client, "lcallahan")
    before = counts(app)
    html = client.post("/flows/DRYFAIL/test", data={"csrf_token": csrf(page), "record_id": no_fax}).get_data(as_text=True)
    assert "The flow would fail:" in html and "has no value in &#39;fax&#39;" in html and "Result: first" in html
    assert counts(app) == before


# ---------------------------------------------------------------- gallery

def test_gallery_copies_turn_on_and_run(client, app, run_jobs, sink, keep_masters):
    from portal.extensions import db
    from portal.flows.gallery import STARTERS
    from portal.flows.service import start_runs
    from portal.records import service as records
    from portal.records.models import Item
    from portal.records.registry import LIST_VIEWS

    from portal.jobqueue import service as jobs

    page = signed_in(client, "lcallahan")
    token = csrf(page)
    gallery = client.get("/flows/gallery").get_data(as_text=True)
    codes = {}
    for s in STARTERS:
        assert s.title in gallery
        res = client.post(f"/flows/gallery/{s.key}", data={"csrf_token": token})
        assert res.status_code == 302, s.key
        codes[s.key] = res.headers["Location"].rsplit("/", 1)[1]
    hook = WebhookStub()
    try:
        with app.app_context():
            me = _user_id(db.session, "lcallahan")
            for key, code in codes.items():
                wf = db.session.scalar(select(Workflow).where(Workflow.code == code))
                assert not wf.enabled and wf.owner_id == me, key
                if key == "payments-webhook":
                    next(s for s in wf.steps if s.function_name == "call_webhook").options = {
                        **next(s for s in wf.steps if s.function_name == "call_webhook").options, "url": hook.url + "/payments"}
            db.session.commit()
            # the scheduler gives the Monday flow a job queue entry, on hold while the flow is off
            assert codes["reorder"] in jobs.sync_workflow_schedules(db.session)
            reorder_entry = lambda: db.session.scalar(select(jobs.JobQueueEntry).where(  # noqa: E731
                jobs.JobQueueEntry.workflow_id == db.session.scalar(select(Workflow.id).where(Workflow.code == codes["reorder"]))))
            assert reorder_entry().status == "On Hold"
            db.session.commit()
        for key, code in codes.items():
            client.post(f"/flows/manage/{code}/on", data={"csrf_token": token})
        with app.app_context():
            assert reorder_entry().status == "Ready"  # turned on in Manage flows: its schedule runs again
            db.session.rollback()
        with app.app_context():
            on = dict(db.session.execute(select(Workflow.code, Workflow.enabled).where(Workflow.code.in_(codes.values()))).all())
            db.session.rollback()
        assert all(on.values()), client.get("/flows/manage").get_data(as_text=True)

        # instant starters: block a vendor (and mail its contact), e-mail a customer their open orders
        with app.app_context():
            user = db.session.get(User, me)
            vendor = db.session.scalar(select(Vendor).where(Vendor.no == "V00002"))
            vendor.email, vendor.blocked = "contact@new-orleans.example", False
            db.session.commit()
            start_runs(db.session, db.session.scalar(select(Workflow).where(Workflow.code == codes["block-vendor"])),
                       [vendor.id], {"message": ""}, user)
            alfki = db.session.scalar(select(Customer).where(Customer.no == "ALFKI"))
            start_runs(db.session, db.session.scalar(select(Workflow).where(Workflow.code == codes["customer-open-orders"])),
                       [alfki.id], {"message": ""}, user)
            customer_mail = alfki.email
            db.session.commit()
        run_jobs()
        sink.wait_for("contact@new-orleans.example", "Purchases on hold")
        sink.wait_for(customer_mail, "Statement of open orders")
        with app.app_context():
            assert db.session.scalar(select(Vendor.blocked).where(Vendor.no == "V00002")) is True
            db.session.rollback()

        # an order whose amount goes over 5,000: its salesperson is notified (once)
        with app.app_context():
            from portal.approvals.models import ApprovalUserSetup

            order = records.create_record(db.session, LIST_VIEWS["sales-orders"], {"customer_no": "ALFKI"}, me)
            order.salesperson_code = db.session.scalar(select(ApprovalUserSetup.salespers_purch_code).where(
                ApprovalUserSetup.salespers_purch_code.is_not(None)).order_by(ApprovalUserSetup.id))
            db.session.commit()
            salesperson = db.session.scalar(select(ApprovalUserSetup.user_id).where(
                func.upper(ApprovalUserSetup.salespers_purch_code) == (order.salesperson_code or "").upper()))
            assert salesperson, order.salesperson_code
            order_id = order.id
            open_item = db.session.scalar(select(Item.no).where(Item.blocked.is_(False), Item.unit_price > 5).order_by(Item.no))
        run_jobs()
        with app.app_context():
            order = db.session.get(SalesHeader, order_id)
            records.add_line(db.session, "sales_header", order, {"item_no": open_item, "quantity": Decimal("1000")}, me)
            db.session.commit()
            assert order.amount > 5000
        run_jobs()
        with app.app_context():
            order = db.session.get(SalesHeader, order_id)
            records.add_line(db.session, "sales_header", order, {"item_no": open_item, "quantity": Decimal("1")}, me)
            db.session.commit()
        run_jobs()
        with app.app_context():
            sent = db.session.execute(text("SELECT count(*) FROM notification_entry WHERE custom_message LIKE '%new order over 5,000%'")).scalar()
            sent += db.session.execute(text("SELECT count(*) FROM sent_notification_entry WHERE body LIKE '%new order over 5,000%'")).scalar()
            db.session.rollback()
        runs = instances(app, codes["big-order"])
        assert [r.status for r in runs] == ["Completed"], [(r.status, r.error, r.result) for r in runs]
        assert sent == 1

        # the Monday reorder: one purchase order per item below its reorder point
        from portal.records.models import PurchaseHeader

        with app.app_context():
            item = db.session.scalar(select(Item).join(Vendor, Item.vendor_id == Vendor.id).where(
                Item.blocked.is_(False), Vendor.blocked.is_(False)).order_by(Item.id))
            item.inventory, item.reorder_point = Decimal("1"), Decimal("25")
            db.session.commit()
            item_id = item.id
            low = db.session.scalar(select(func.count(Item.id)).where(Item.inventory < Item.reorder_point))
            orders_before = db.session.scalar(select(func.count(PurchaseHeader.id)))
            entry = reorder_entry()
            assert entry.cron_expression == "0 8 * * 1"
            jobs.run_now(db.session, entry)
            db.session.commit()
            jobs.enqueue_runs(jobs.claim_due(db.session))
            db.session.commit()
            entry_id = entry.id
        run_jobs()
        runs = instances(app, codes["reorder"])
        done = [r for r in runs if r.status == "Completed"]
        assert len(runs) == low and item_id in {r.record_id for r in done}  # one run per item below its reorder point
        assert all("blocked" in r.error or "no value" in r.error or "(no partner)" in r.error for r in runs if r not in done)
        with app.app_context():
            assert db.session.scalar(select(func.count(PurchaseHeader.id))) == orders_before + len(done)
            db.session.rollback()

        # a posted purchase invoice calls the payments webhook
        with app.app_context():
            from portal.records import posting

            invoice = records.create_record(db.session, LIST_VIEWS["purchase-invoices"], {"vendor_no": "V00001",
                                                                                          "vendor_invoice_no": "PAY-1"}, me)
            records.add_line(db.session, "purchase_header", invoice, {"item_no": open_item, "quantity": Decimal("2")}, me)
            db.session.commit()
            posting.post(db.session, invoice, me)
            db.session.commit()
        run_jobs()
        assert [p for p, _ in hook.calls] == ["/payments"]
    finally:
        hook.stop()
        with app.app_context():
            db.session.execute(text("DELETE FROM job_queue_log_entry WHERE entry_id IN (SELECT id FROM job_queue_entry "
                                    "WHERE workflow_id IS NOT NULL)"))
            db.session.execute(text("DELETE FROM job_queue_entry WHERE workflow_id IS NOT NULL"))
            db.session.commit()
