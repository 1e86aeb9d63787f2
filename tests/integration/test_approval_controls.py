"""Approval controls as Business Central enforces them (issue 9, section 1), end to
end on Northwind data with a real RQ worker:

- Release and Post by hand are refused while an enabled approval workflow's entry point
  (conditions and line conditions, checked against the document as it is now) matches
  an Open document — sales order (SO-APPROVAL), purchase order (a copy of MS-POAPW),
  journal batch (MS-GJBAPW) and journal line (MS-GJLAPW) — and allowed for documents
  no workflow matches, after approval, and for workflow responses; still refused after
  a rejection;
- a Released document refuses line changes and changes of what was approved, and
  keeps the fields Business Central leaves editable;
- the sender's own limit covering the amount approves at once (approver type
  Approver, Approver Chain and First Qualified Approver); Cancel cancels every entry;
- an entry due today is overdue, in the approver's time zone;
- a Send Approval Request that fails says why on the record's page.
The pages are checked over HTTP too: the messages show, never a 500."""
from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from portal.approvals import service as approvals
from portal.approvals.models import ApprovalEntry, ApprovalUserSetup, OverdueApprovalEntry
from portal.auth.models import User, UserRole
from portal.records import posting
from portal.records import service as records
from portal.records.models import GenJournalBatch, GenJournalLine, PostedDocument, PurchaseHeader, SalesHeader
from portal.records.registry import LIST_VIEWS, RECORD_TYPES
from portal.util import utcnow
from portal.workflow.library import build_workflow, document_approval, journal_line_approval
from portal.workflow.models import Workflow, WorkflowInstance
from test_approval_routing import install
from action_bar import actions_shown
from test_pages import csrf, sign_in
from test_templates import decide, entries, use_template

pytestmark = pytest.mark.usefixtures("clean_state")

RELEASE_REFUSED = "This document can only be released when the approval process is complete."


def user(s, name) -> User:
    return s.scalar(select(User).where(User.user_name == name))


def uid(s, name="msuyama") -> int:
    return user(s, name).id


def new_sales(s, doc_type="Order", lines=(("I0004", "10", "150.00"),), salesperson="MSUYAMA", customer="ALFKI") -> SalesHeader:
    """A sales document made through the services as msuyama (the New form, then its
    lines); the default is 1,500.00, above Suyama's 1,000 limit."""
    rt = LIST_VIEWS[f"sales-{doc_type.lower().replace(' ', '-')}s"]
    doc = records.create_record(s, rt, {"customer_no": customer}, uid(s))
    records.modify_record(s, "sales_header", doc, {"salesperson_code": salesperson}, uid(s))
    for item_no, qty, price in lines:
        records.add_line(s, "sales_header", doc, {"item_no": item_no, "quantity": Decimal(qty), "unit_price": Decimal(price)}, uid(s))
    s.commit()
    return doc


def new_purchase(s, doc_type="Order", cost="250.00", qty="10") -> PurchaseHeader:
    """A purchase document of 2,500.00 by default (above Suyama's 1,000 limit)."""
    rt = LIST_VIEWS[f"purchase-{doc_type.lower().replace(' ', '-')}s"]
    doc = records.create_record(s, rt, {"vendor_no": "V00001", "vendor_invoice_no": f"EXT-{uuid.uuid4().hex[:6]}"}, uid(s))
    records.add_line(s, "purchase_header", doc, {"item_no": "I0003", "quantity": Decimal(qty), "direct_unit_cost": Decimal(cost)}, uid(s))
    s.commit()
    return doc


def new_batch(s, *lines) -> GenJournalBatch:
    """A GENERAL batch; ``lines``: (amount, balancing account or None)."""
    b = records.create_record(s, RECORD_TYPES["gen_journal_batch"],
                              {"journal_template_name": "GENERAL", "name": f"C{uuid.uuid4().hex[:6].upper()}"}, None)
    for amount, bal in lines:
        records.add_line(s, "gen_journal_batch", b, {"posting_date": date(2026, 11, 30), "account_type": "G/L Account",
                                                     "account_no": "6100", "description": "Accrual", "amount": Decimal(amount),
                                                     "bal_account_no": bal}, None)
    s.commit()
    return b


def send(s, run_jobs, record_type, record, sender="msuyama"):
    approvals.send_approval_request(s, record_type, record, user(s, sender))
    s.commit()
    run_jobs()
    s.expire_all()


def refused(fn, *args, match, **kwargs):
    """``fn`` raises RecordError matching ``match`` (a plain text, not a pattern)."""
    with pytest.raises(records.RecordError, match=re.escape(match)):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- 1. release and post by hand

def test_a_sales_order_the_workflow_matches_is_neither_released_nor_posted_by_hand(db_session):
    s = db_session
    order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    assert order.status == "Open" and [wf.code for wf in approvals.approval_required(s, "sales_header", order)] == ["SO-APPROVAL"]
    refused(records.release, s, order, uid(s), match=RELEASE_REFUSED)
    s.rollback()
    refused(posting.post, s, order, uid(s), by_hand=True,
            match="Sales Order 10249 must be approved and released before you can perform this action.")
    s.rollback()
    # the page's reasons say the same
    assert records.release_blocked(s, "sales_header", order).startswith(RELEASE_REFUSED)
    # a workflow's responses are not held (release after approval; post in a flow)
    records.release(s, order, uid(s), by_workflow=True)
    assert order.status == "Released"
    s.rollback()
    assert posting.check_postable(s, s.get(SalesHeader, order.id)) == "Sales Invoice"


def test_documents_no_workflow_matches_are_released_and_posted_freely(db_session):
    s = db_session
    invoice = new_sales(s, "Invoice")  # SO-APPROVAL's entry point is for orders only
    assert approvals.approval_required(s, "sales_header", invoice) == []
    records.release(s, invoice, uid(s))
    records.reopen(s, invoice, uid(s))
    posted = posting.post(s, invoice, uid(s), by_hand=True)
    s.commit()
    assert posted.kind == "Sales Invoice" and posted.amount == Decimal("1500.00")
    # and an order, once the workflow is disabled
    s.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL")).enabled = False
    s.commit()
    order = new_sales(s)
    records.release(s, order, uid(s))
    posting.post(s, order, uid(s), by_hand=True)
    s.commit()


def test_conditions_and_line_conditions_are_checked_against_the_document_as_it_is_now(db_session):
    """A workflow for orders over 1,000.00 that have a line for item I0051: an order
    is held only while both hold."""
    s = db_session
    s.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL")).enabled = False
    s.add(build_workflow(document_approval(
        "T-LINES", "Orders over 1,000 with item I0051", "Sales documents", "sales_header",
        "sales_document_approval_requested", "sales_document_approval_canceled",
        [{"field": "document_type", "operator": "=", "value": "Order"}, {"field": "status", "operator": "=", "value": "Open"},
         {"field": "amount", "operator": ">", "value": "1000"}, {"field": "lines.item_no", "operator": "=", "value": "I0051"}])))
    s.commit()
    order = new_sales(s, lines=(("I0004", "10", "150.00"),))  # 1,500.00 but no I0051 line
    records.release(s, order, uid(s))
    records.reopen(s, order, uid(s))
    line = records.add_line(s, "sales_header", order, {"item_no": "I0051", "quantity": Decimal("1"), "unit_price": Decimal("10.00")}, uid(s))
    s.commit()
    refused(records.release, s, order, uid(s), match=RELEASE_REFUSED)
    s.rollback()
    refused(posting.post, s, order, uid(s), by_hand=True, match=f"Sales Order {order.no} must be approved and released")
    s.rollback()
    assert [wf.code for wf in approvals.approval_required(s, "sales_header", order)] == ["T-LINES"]
    records.delete_line(s, "sales_header", order, order.lines[0].id, uid(s))  # only the I0051 line: 10.00, below 1,000
    s.commit()
    assert order.amount == Decimal("10.00") and approvals.approval_required(s, "sales_header", order) == []
    records.release(s, order, uid(s))
    s.commit()


def test_after_approval_released_and_posted_and_after_a_rejection_still_refused(db_session, run_jobs):
    s = db_session
    order = new_sales(s)  # 1,500.00, salesperson Suyama: his entry, then Buchanan's
    send(s, run_jobs, "sales_header", order)
    decide(s, run_jobs, "sales_header", order.id, "sbuchanan", "reject", "Not now")
    order = s.get(SalesHeader, order.id)
    assert order.status == "Open"
    refused(records.release, s, order, uid(s), match=RELEASE_REFUSED)
    s.rollback()
    refused(posting.post, s, order, uid(s), by_hand=True, match="must be approved and released before you can perform this action")
    s.rollback()

    send(s, run_jobs, "sales_header", s.get(SalesHeader, order.id))
    decide(s, run_jobs, "sales_header", order.id, "sbuchanan")
    order = s.get(SalesHeader, order.id)
    assert order.status == "Released"
    posted = posting.post(s, order, uid(s), by_hand=True)
    s.commit()
    assert posted.order_no and posted.amount == Decimal("1500.00")


def test_a_purchase_order_with_the_ms_poapw_workflow(db_session, run_jobs):
    s = db_session
    use_template(s, "MS-POAPW")
    order = new_purchase(s)
    refused(records.release, s, order, uid(s), match=RELEASE_REFUSED)
    s.rollback()
    refused(posting.post, s, order, uid(s), by_hand=True,
            match=f"Purchase Order {order.no} must be approved and released before you can perform this action.")
    s.rollback()
    invoice = new_purchase(s, "Invoice")  # MS-POAPW is for orders only
    records.release(s, invoice, uid(s))
    posting.post(s, invoice, uid(s), by_hand=True)
    s.commit()

    send(s, run_jobs, "purchase_header", order)
    decide(s, run_jobs, "purchase_header", order.id, "sbuchanan", "reject")
    refused(records.release, s, s.get(PurchaseHeader, order.id), uid(s), match=RELEASE_REFUSED)
    s.rollback()
    send(s, run_jobs, "purchase_header", s.get(PurchaseHeader, order.id))
    decide(s, run_jobs, "purchase_header", order.id, "sbuchanan")
    order = s.get(PurchaseHeader, order.id)
    assert order.status == "Released"
    posted = posting.post(s, order, uid(s), by_hand=True)
    s.commit()
    assert posted.kind == "Purchase Invoice"


def test_a_journal_batch_with_the_batch_approval_workflow(db_session, run_jobs):
    s = db_session
    free = new_batch(s, ("3000.00", None), ("-3000.00", None))
    records.release(s, free, None)  # no batch approval workflow enabled yet
    s.commit()
    use_template(s, "MS-GJBAPW")
    batch = new_batch(s, ("3000.00", None), ("-3000.00", None))
    refused(records.release, s, batch, uid(s), match=RELEASE_REFUSED)
    s.rollback()
    send(s, run_jobs, "gen_journal_batch", batch)
    assert s.get(GenJournalBatch, batch.id).status == "Pending Approval"
    decide(s, run_jobs, "gen_journal_batch", batch.id, "sbuchanan", "reject")
    refused(records.release, s, s.get(GenJournalBatch, batch.id), uid(s), match=RELEASE_REFUSED)
    s.rollback()
    send(s, run_jobs, "gen_journal_batch", s.get(GenJournalBatch, batch.id))
    decide(s, run_jobs, "gen_journal_batch", batch.id, "sbuchanan")
    assert s.get(GenJournalBatch, batch.id).status == "Released"  # released by the workflow


def test_journal_lines_the_line_workflow_matches_hold_their_batch_until_approved(db_session, run_jobs):
    s = db_session
    for wf in s.scalars(select(Workflow).where(Workflow.template.is_(False))).unique():
        wf.enabled = False
    definition = journal_line_approval("T-GJL")
    steps = [list(step) for step in definition["steps"]]
    steps[0][7] = [{"field": "amount", "operator": ">", "value": "5000"}]  # lines over 5,000.00 only
    definition["steps"] = [tuple(step) for step in steps]
    s.add(build_workflow(definition))
    s.commit()

    small = new_batch(s, ("3000.00", "2910"))  # the workflow doesn't match the line
    records.release(s, small, uid(s))
    s.commit()

    batch = new_batch(s, ("6000.00", "2910"), ("100.00", "2910"))
    line = s.scalar(select(GenJournalLine).where(GenJournalLine.batch_id == batch.id, GenJournalLine.line_no == 10000))
    assert [wf.code for wf in approvals.approval_required(s, "gen_journal_line", line)] == ["T-GJL"]
    refused(records.release, s, batch, uid(s), match=f"{RELEASE_REFUSED} Line(s) 10000 of {batch.title} must be approved first")
    s.rollback()
    send(s, run_jobs, "gen_journal_line", line)
    decide(s, run_jobs, "gen_journal_line", line.id, "sbuchanan", "reject")
    refused(records.release, s, s.get(GenJournalBatch, batch.id), uid(s), match=RELEASE_REFUSED)
    s.rollback()
    send(s, run_jobs, "gen_journal_line", s.get(GenJournalLine, line.id))
    assert entries(s, "gen_journal_line", line.id)[:3] == [("msuyama", "Approved"), ("sbuchanan", "Open"), ("afuller", "Created")]
    decide(s, run_jobs, "gen_journal_line", line.id, "sbuchanan")
    decide(s, run_jobs, "gen_journal_line", line.id, "afuller")
    assert approvals.approval_required(s, "gen_journal_line", s.get(GenJournalLine, line.id)) == []
    # changed after its approval: approval needed again
    records.update_line(s, "gen_journal_batch", s.get(GenJournalBatch, batch.id), line.id, {"amount": Decimal("9000.00")}, uid(s))
    s.commit()
    refused(records.release, s, s.get(GenJournalBatch, batch.id), uid(s), match="Line(s) 10000")
    s.rollback()
    send(s, run_jobs, "gen_journal_line", s.get(GenJournalLine, line.id))
    decide(s, run_jobs, "gen_journal_line", line.id, "sbuchanan")
    decide(s, run_jobs, "gen_journal_line", line.id, "afuller")
    records.release(s, s.get(GenJournalBatch, batch.id), uid(s))
    s.commit()
    assert s.get(GenJournalBatch, batch.id).status == "Released"


# ---------------------------------------------------------------- 2. released documents

def test_a_released_sales_order_keeps_its_lines_and_what_was_approved(db_session):
    s = db_session
    order = new_sales(s)
    records.release(s, order, uid(s), by_workflow=True)  # as the approval workflow does
    s.commit()
    line_id = order.lines[0].id
    status_msg = f"Status must be equal to 'Open' in Sales Order {order.no}. Current value is 'Released'."
    refused(records.add_line, s, "sales_header", order, {"item_no": "I0004", "quantity": Decimal("1")}, uid(s), match=status_msg)
    refused(records.update_line, s, "sales_header", order, line_id, {"quantity": Decimal("99")}, uid(s), match=status_msg)
    refused(records.delete_line, s, "sales_header", order, line_id, uid(s), match=status_msg)
    s.rollback()
    for name, value in (("freight", Decimal("25.00")), ("shipping_agent_code", "UPS"), ("requested_delivery_date", date(2027, 1, 4))):
        with pytest.raises(records.FieldErrors) as exc:
            records.modify_record(s, "sales_header", s.get(SalesHeader, order.id), {name: value}, uid(s))
        assert status_msg in exc.value.errors[name] and "Reopen it" in exc.value.errors[name]
        s.rollback()
    # what Business Central leaves editable on a released order (dates a week after the
    # order's own, so that each is a change whatever day the test runs)
    day = (s.get(SalesHeader, order.id).order_date or date.today()) + timedelta(days=7)
    changes = records.modify_record(s, "sales_header", s.get(SalesHeader, order.id), {
        "order_date": day, "shipment_date": day + timedelta(days=2), "ship_to_city": "Berlin",
        "ship_to_name": "Alfreds Lager", "salesperson_code": "RKING"}, uid(s))
    s.commit()
    assert set(changes) == {"order_date", "shipment_date", "ship_to_city", "ship_to_name", "salesperson_code"}
    # reopened, everything can change again
    records.reopen(s, s.get(SalesHeader, order.id), uid(s))
    records.modify_record(s, "sales_header", s.get(SalesHeader, order.id), {"freight": Decimal("25.00")}, uid(s))
    records.update_line(s, "sales_header", s.get(SalesHeader, order.id), line_id, {"quantity": Decimal("2")}, uid(s))
    s.commit()


def test_a_released_purchase_order_keeps_its_lines_and_its_vendor_invoice_no_stays_editable(db_session):
    s = db_session
    order = new_purchase(s)
    records.release(s, order, uid(s), by_workflow=True)
    s.commit()
    refused(records.delete_line, s, "purchase_header", order, order.lines[0].id, uid(s), match="Current value is 'Released'.")
    s.rollback()
    day = (s.get(PurchaseHeader, order.id).order_date or date.today()) + timedelta(days=7)
    changes = records.modify_record(s, "purchase_header", s.get(PurchaseHeader, order.id), {
        "vendor_invoice_no": "INV-2026-77", "expected_receipt_date": day + timedelta(days=9), "order_date": day,
        "purchaser_code": "MSUYAMA"}, uid(s))
    s.commit()
    assert set(changes) == {"vendor_invoice_no", "expected_receipt_date", "order_date", "purchaser_code"}
    assert records.released_locked_fields("purchase_header", order) == frozenset()  # nothing else is editable


# ---------------------------------------------------------------- 3, 4. routing and cancel

@pytest.mark.parametrize("limit_type", ["Approver Chain", "First Qualified Approver"])
def test_the_senders_own_limit_covering_the_amount_approves_at_once(db_session, run_jobs, limit_type):
    s = db_session
    install(s, "Approver", limit_type)
    order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10248", SalesHeader.document_type == "Order"))
    assert order.amount == Decimal("440.00")  # Suyama's 1,000 covers it
    send(s, run_jobs, "sales_header", order)
    assert s.get(SalesHeader, order.id).status == "Released"
    assert entries(s, "sales_header", order.id) == [("msuyama", "Approved")]
    [entry] = approvals.entries_for_record(s, "sales_header", order.id)
    assert (entry.sequence_no, entry.approval_type, entry.limit_type) == (1, "Approver", limit_type)


def test_above_the_senders_limit_the_senders_entry_comes_first_and_cancel_cancels_every_entry(db_session, run_jobs):
    s = db_session
    install(s, "Approver", "Approver Chain")
    order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10678", SalesHeader.document_type == "Order"))  # 5,256.50
    send(s, run_jobs, "sales_header", order)
    assert entries(s, "sales_header", order.id) == [("msuyama", "Approved"), ("sbuchanan", "Open"), ("afuller", "Created")]
    assert [e.sequence_no for e in approvals.entries_for_record(s, "sales_header", order.id)] == [1, 2, 3]
    approvals.cancel_approval_request(s, "sales_header", s.get(SalesHeader, order.id), user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert entries(s, "sales_header", order.id) == [("msuyama", "Canceled"), ("sbuchanan", "Canceled"), ("afuller", "Canceled")]
    assert s.get(SalesHeader, order.id).status == "Open"


# ---------------------------------------------------------------- 5. overdue

def set_time_zone(s, name, zone):
    user(s, name).time_zone = zone
    s.commit()


def test_an_entry_due_today_is_overdue_in_the_approvers_time_zone(db_session, run_jobs, sink):
    s = db_session
    order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    send(s, run_jobs, "sales_header", order)
    entry = approvals.open_entry_for(s, "sales_header", order.id, uid(s, "sbuchanan"))
    buchanan = user(s, "sbuchanan")
    s.execute(update(ApprovalEntry).where(ApprovalEntry.id == entry.id).values(due_date=buchanan.local_date()))
    s.commit()
    s.expire_all()
    assert approvals.is_overdue(s.get(ApprovalEntry, entry.id))
    from portal.queue import enqueue

    assert enqueue("jobs.approvals.overdue_approvals")
    run_jobs()
    s.expire_all()
    rows = s.scalars(select(OverdueApprovalEntry).where(OverdueApprovalEntry.approval_entry_id == entry.id)).all()
    assert {r.sent_to_role for r in rows} == {"Approver", "Approver's approver", "Sender"}
    sink.wait_for("sbuchanan@northwind.test", "Overdue approval request: Sales Order 10249")

    # the same due date seen from other time zones, at a fixed moment: 2026-03-10 20:00 UTC
    now = datetime(2026, 3, 10, 20, 0)
    s.execute(update(ApprovalEntry).where(ApprovalEntry.id == entry.id).values(due_date=date(2026, 3, 11)))
    s.commit()
    try:
        for zone, overdue in (("UTC", False), ("America/Los_Angeles", False), ("Asia/Tokyo", True)):  # Tokyo: 11 March already
            set_time_zone(s, "sbuchanan", zone)
            s.expire_all()
            assert approvals.is_overdue(s.get(ApprovalEntry, entry.id), now) is overdue, zone
            assert (entry.id in {e.id for e in approvals.overdue_entries(s, now=now)}) is overdue, zone
        set_time_zone(s, "sbuchanan", "America/Los_Angeles")
        s.execute(update(ApprovalEntry).where(ApprovalEntry.id == entry.id).values(due_date=date(2026, 3, 10)))
        s.commit()
        s.expire_all()
        assert approvals.is_overdue(s.get(ApprovalEntry, entry.id), now)  # due today (13:00 in Los Angeles)
    finally:
        set_time_zone(s, "sbuchanan", "UTC")


@pytest.fixture
def client(app):
    return app.test_client()


def test_requests_to_approve_flags_an_entry_due_today_and_the_time_zone_is_set_in_approval_user_setup(app, client, run_jobs):
    from portal.extensions import db

    with app.app_context():
        s = db.session
        order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
        send(s, run_jobs, "sales_header", order)
        s.execute(update(ApprovalEntry).where(ApprovalEntry.record_id == order.id, ApprovalEntry.status == "Open")
                  .values(due_date=user(s, "sbuchanan").local_date()))
        s.commit()
        buchanan_id = uid(s, "sbuchanan")
        db.session.remove()
    sign_in(client, "sbuchanan", "northwind")
    page = client.get("/approvals/requests").get_data(as_text=True)
    assert "Sales Order 10249" in page and 'class="badge overdue-badge"' in page

    admin = app.test_client()
    sign_in(admin, "admin", "admin")
    try:
        form = admin.get(f"/approvals/setup/users/{buchanan_id}").get_data(as_text=True)
        assert 'name="time_zone"' in form and 'value="UTC"' in form and '<option value="Europe/Berlin">' in form
        data = {"csrf_token": csrf(form), "approver_id": str(uid_of(app, "afuller")), "sales_amount_approval_limit": "5000",
                "purchase_amount_approval_limit": "5000", "request_amount_approval_limit": "5000",
                "email": "sbuchanan@northwind.test", "time_zone": "Mars/Olympus_Mons"}
        res = admin.post(f"/approvals/setup/users/{buchanan_id}", data=data)
        assert res.status_code == 422 and "is not a known time zone" in res.get_data(as_text=True)
        res = admin.post(f"/approvals/setup/users/{buchanan_id}", data={**data, "time_zone": "Asia/Tokyo"})
        assert res.status_code == 302
        with app.app_context():
            assert db.session.get(User, buchanan_id).time_zone == "Asia/Tokyo"
            db.session.remove()
        assert "Asia/Tokyo" in admin.get("/approvals/setup/users").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(User, buchanan_id).time_zone = "UTC"
            db.session.commit()
            db.session.remove()


def uid_of(app, name) -> int:
    from portal.extensions import db

    with app.app_context():
        found = uid(db.session, name)
        db.session.remove()
    return found


# ---------------------------------------------------------------- pages

def page_text(res) -> str:
    return html.unescape(res.get_data(as_text=True))


def test_release_and_post_on_the_page_show_the_message(app, client):
    order_id = order_id_of(app, "10249")
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{order_id}").get_data(as_text=True)
    text = html.unescape(page)
    assert 'id="release-blocked"' in page and RELEASE_REFUSED in text
    shown = actions_shown(page)
    assert not shown["release"].enabled and shown["release"].reason.startswith("This document can only be released")
    assert not shown["post"].enabled and shown["post"].reason == "Sales Order 10249 must be approved and released before you can perform this action."
    res = client.post(f"/sales-orders/{order_id}/release", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert res.status_code == 200 and RELEASE_REFUSED in page_text(res)
    res = client.post(f"/sales-orders/{order_id}/post", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert res.status_code == 200
    assert "Sales Order 10249 must be approved and released before you can perform this action." in page_text(res)
    with app.app_context():
        from portal.extensions import db

        assert db.session.get(SalesHeader, order_id).status == "Open"
        db.session.remove()


def order_id_of(app, no) -> int:
    from portal.extensions import db

    with app.app_context():
        found = db.session.scalar(select(SalesHeader.id).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
        db.session.remove()
    return found


def test_a_released_order_on_the_page_refuses_line_and_header_changes_and_offers_reopen(app, client):
    from portal.extensions import db

    with app.app_context():
        order = new_sales(db.session)
        records.release(db.session, order, uid(db.session), by_workflow=True)
        db.session.commit()
        order_id, no, line_id = order.id, order.no, order.lines[0].id
        db.session.remove()
    url = f"/sales-orders/{order_id}"
    sign_in(client, "msuyama", "northwind")
    page = client.get(url).get_data(as_text=True)
    assert 'id="released-note"' in page and 'id="line-form-new"' not in page
    shown = actions_shown(page)
    assert shown["reopen"].enabled and not shown["release"].enabled and shown["edit"].enabled
    token = csrf(page)
    status_msg = f"Status must be equal to &#39;Open&#39; in Sales Order {no}. Current value is &#39;Released&#39;."
    # lines: plain form posts and htmx requests alike get the message
    res = client.post(f"{url}/lines", data={"csrf_token": token, "item_no": "I0004", "quantity": "1"})
    assert res.status_code == 422 and status_msg in res.get_data(as_text=True)
    res = client.post(f"{url}/lines/{line_id}", data={"csrf_token": token, "quantity": "5"},
                      headers={"HX-Request": "true", "HX-Target": "doc-lines", "X-CSRFToken": token})
    assert res.status_code == 200 and status_msg in res.get_data(as_text=True)
    res = client.post(f"{url}/lines/{line_id}/delete", data={"csrf_token": token})
    assert res.status_code == 422 and status_msg in res.get_data(as_text=True)
    # the header: the edit page shows what stays editable
    edit = client.get(f"{url}/edit").get_data(as_text=True)
    assert 'id="released-note"' in edit and 'name="ship_to_city"' in edit and 'name="freight"' not in edit
    form = {"csrf_token": token, "salesperson_code": "MSUYAMA", "order_date": "2026-12-01", "shipment_date": "",
            "ship_to_name": "", "ship_to_address": "", "ship_to_city": "Lyon", "ship_to_postal_code": "", "ship_to_country": ""}
    res = client.post(f"{url}/edit", data={**form, "freight": "99.00"})
    assert res.status_code == 422 and f"Freight can&#39;t be changed: {status_msg}" in res.get_data(as_text=True)
    res = client.post(f"{url}/edit", data=form)
    assert res.status_code == 302
    with app.app_context():
        doc = db.session.get(SalesHeader, order_id)
        assert (doc.ship_to_city, doc.freight, doc.status) == ("Lyon", Decimal("0.00"), "Released")
        db.session.remove()
    res = client.post(f"{url}/reopen", data={"csrf_token": token}, follow_redirects=True)
    assert f"Sales Order {no} is now Open." in page_text(res)


# ---------------------------------------------------------------- 6. a send that fails

def user_without_setup(s) -> str:
    """The user name of a business user (password ``northwind``) without an approval
    user setup, made once per test session."""
    name = "nosetup"
    if user(s, name) is None:
        u = User(user_name=name, full_name="Nora Setupless", email=f"{name}@northwind.test")
        u.set_password("northwind")
        u.roles.append(UserRole(role="business_user"))
        s.add(u)
        s.flush()
    return name


def state_fragment(client, url):
    return client.get(url, headers={"HX-Request": "true", "HX-Target": "record-state"})


@pytest.mark.parametrize("case", ["no approver", "chain ends", "no setup"])
def test_a_send_that_fails_says_why_on_the_record_page(app, client, run_jobs, case):
    from portal.extensions import db

    sender = "msuyama"
    with app.app_context():
        s = db.session
        if case == "no approver":
            install(s, "Approver", "Direct Approver")
            s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == uid(s))).approver_id = None
            expected = "Michael Suyama has no approver in Approval User Setup."
        elif case == "chain ends":  # Suyama → Buchanan → Fuller, none of them up to 1,500.00 now
            for name in ("sbuchanan", "afuller"):
                setup = s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == uid(s, name)))
                setup.unlimited_sales_approval, setup.sales_amount_approval_limit = False, Decimal("1000")
            expected = "No approver in the chain of Michael Suyama has an approval limit covering 1,500.00: the chain ends at Andrew Fuller."
        else:
            install(s, "Approver", "Approver Chain")
            sender = user_without_setup(s)
            expected = f"User {sender} has no approval user setup."
        s.commit()
        order = new_sales(s)
        order_id = order.id
        db.session.remove()
    url = f"/sales-orders/{order_id}"
    sign_in(client, sender, "northwind")
    page = client.get(url).get_data(as_text=True)
    res = client.post(f"/approvals/send/sales_header/{order_id}", data={"csrf_token": csrf(page)}, follow_redirects=True)
    sent = res.get_data(as_text=True)
    assert "is being sent" in sent
    # until the worker has handled the request, the state fragment polls itself
    fragment = state_fragment(client, url).get_data(as_text=True)
    assert 'load delay:500ms"' in fragment.split(">", 1)[0] and "Processing" in fragment and "send-failure" not in fragment
    run_jobs()
    res = state_fragment(client, url)
    fragment = page_text(res)
    assert res.status_code == 200 and "load delay" not in fragment.split(">", 1)[0]  # done: no more polling
    assert "The approval request was not sent." in fragment and expected in fragment
    assert f"Sales Order" in fragment and "is still Open, with no approval entries." in fragment
    full = page_text(client.get(url))
    assert 'id="send-failure"' in full and expected in full
    with app.app_context():
        assert db.session.get(SalesHeader, order_id).status == "Open"
        assert approvals.entries_for_record(db.session, "sales_header", order_id) == []
        db.session.remove()


def test_a_send_that_goes_through_shows_no_failure_and_the_new_status(app, client, run_jobs):
    from portal.extensions import db

    with app.app_context():
        order = new_sales(db.session)
        order_id = order.id
        db.session.remove()
    url = f"/sales-orders/{order_id}"
    sign_in(client, "msuyama", "northwind")
    page = client.get(url).get_data(as_text=True)
    client.post(f"/approvals/send/sales_header/{order_id}", data={"csrf_token": csrf(page)})
    run_jobs()
    fragment = page_text(state_fragment(client, url))
    assert "Pending Approval" in fragment and "send-failure" not in fragment and "Steven Buchanan" in fragment
