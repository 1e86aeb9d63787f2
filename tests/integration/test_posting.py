"""Posting sales and purchase documents: posted invoices / credit memos with the same
lines and amount, approval entries archived as posted approval entries (after a real
run of the Sales Order Approval workflow), the refusals (quote, pending approval,
restricted, no lines, no vendor document no.), the Post button and read-only posted
pages, and the ``post_document`` workflow response."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from portal.approvals import service as approvals
from portal.approvals.models import ApprovalCommentLine, ApprovalEntry
from portal.auth.models import User
from portal.records import posting
from portal.records import service as records
from portal.records.models import PostedDocument, PurchaseHeader, SalesHeader
from portal.records.registry import LIST_VIEWS
from portal.workflow.models import OutboxEvent
from action_bar import actions_shown
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


def user(session, name) -> User:
    return session.scalar(select(User).where(User.user_name == name))


def new_document(session, slug: str, partner: str, lines, salesperson: str | None = None, **values):
    """A document made through the services, as the New form and line forms do.
    ``lines``: (item no., quantity, unit price/cost or None for the item's price)."""
    rt = LIST_VIEWS[slug]
    uid = user(session, "msuyama").id
    doc = records.create_record(session, rt, {f"{rt.partner}_no": partner, **values}, uid)
    if salesperson:
        records.modify_record(session, rt.key, doc, {"salesperson_code": salesperson}, uid)
    unit = rt.line_model.UNIT_FIELD
    for item_no, qty, price in lines:
        records.add_line(session, rt.key, doc, {"item_no": item_no, "quantity": Decimal(qty),
                                                unit: Decimal(price) if price is not None else None}, uid)
    session.commit()
    return doc


def test_posting_a_purchase_invoice_makes_a_posted_invoice_with_the_same_lines(db_session):
    s = db_session
    doc = new_document(s, "purchase-invoices", "V00002", [("I0004", "10", "15.00"), ("I0006", "3", None)], vendor_invoice_no="NOCD-4711")
    doc_id, no, amount = doc.id, doc.no, doc.amount
    assert amount == Decimal("225.00")  # 150.00 + 3 × 25.00
    lines = [(l.line_no, l.item_id, l.description, l.quantity, l.direct_unit_cost, l.line_amount) for l in doc.lines]

    posted = posting.post(s, doc, user(s, "msuyama").id)
    s.commit()
    assert posted.kind == "Purchase Invoice" and re.fullmatch(r"PPI\d{5}", posted.no)
    assert posted.pre_assigned_no == no and posted.order_no is None and posted.vendor_invoice_no == "NOCD-4711"
    assert posted.partner_name == "New Orleans Cajun Delights" and posted.amount == amount
    assert [(l.line_no, l.item_id, l.description, l.quantity, l.unit_price, l.line_amount) for l in posted.lines] == lines
    assert s.get(PurchaseHeader, doc_id) is None  # the source document is gone
    ev = s.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "document_posted", OutboxEvent.record_id == doc_id))
    assert ev.record_type == "purchase_header" and ev.payload["posted_record_id"] == posted.id
    assert ev.payload["new_values"]["document_type"] == "Invoice" and ev.payload["new_values"]["amount"] == "225.00"


def test_credit_memos_post_as_posted_credit_memos_and_orders_as_invoices(db_session):
    s = db_session
    uid = user(s, "msuyama").id
    memo = new_document(s, "purchase-credit-memos", "V00003", [("I0006", "2", "20.00")], vendor_invoice_no="GK-CM-1")
    posted = posting.post(s, memo, uid)
    assert posted.kind == "Purchase Credit Memo" and posted.no.startswith("PPCM") and posted.amount == Decimal("40.00")
    sales_memo = new_document(s, "sales-credit-memos", "ALFKI", [("I0003", "1", None)])
    posted = posting.post(s, sales_memo, uid)
    assert posted.kind == "Sales Credit Memo" and posted.no.startswith("PSCM") and posted.partner_no == "ALFKI"
    order = new_document(s, "purchase-orders", "V00001", [("I0003", "5", "4.00")], vendor_invoice_no="EL-1")
    order_no = order.no
    posted = posting.post(s, order, uid)
    s.commit()
    assert posted.kind == "Purchase Invoice" and posted.order_no == order_no and posted.pre_assigned_no is None


def test_what_cannot_be_posted_says_why(db_session):
    s = db_session
    uid = user(s, "msuyama").id
    quote = new_document(s, "sales-quotes", "ALFKI", [("I0003", "1", None)])
    with pytest.raises(records.RecordError, match=rf"Sales Quote {quote.no} can't be posted: a quote must be made into an order"):
        posting.post(s, quote, uid)
    empty = new_document(s, "sales-invoices", "ALFKI", [])
    with pytest.raises(records.RecordError, match="nothing to post"):
        posting.post(s, empty, uid)
    no_vendor_no = new_document(s, "purchase-invoices", "V00001", [("I0003", "1", "1.00")])
    with pytest.raises(records.RecordError, match="enter the vendor's document number in Vendor Invoice No."):
        posting.post(s, no_vendor_no, uid)
    pending = new_document(s, "sales-orders", "ALFKI", [("I0003", "1", None)])
    records.set_status(s, pending, "Pending Approval", uid, by_workflow=True)
    with pytest.raises(records.RecordError, match="is pending approval and can't be posted"):
        posting.post(s, pending, uid)
    s.rollback()
    # an Open document posts when no approval holds it
    open_invoice = new_document(s, "sales-invoices", "ANATR", [("I0003", "2", None)])
    assert posting.post(s, open_invoice, uid).amount == Decimal("20.00")


def test_posting_after_the_sales_order_approval_archives_the_approval_entries(db_session, run_jobs):
    s = db_session
    # a new order of 1,500.00 for salesperson Suyama: his own entry (limit 1,000) is
    # approved at once and Steven Buchanan (5,000) must approve
    doc = new_document(s, "sales-orders", "TOMSP", [("I0003", "150", None)], salesperson="MSUYAMA")
    doc_id = doc.id
    assert doc.amount == Decimal("1500.00")
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    s.expire_all()
    doc = s.get(SalesHeader, doc_id)
    assert doc.status == "Pending Approval"
    with pytest.raises(records.RecordError, match="pending approval"):
        posting.post(s, doc, user(s, "msuyama").id)
    s.rollback()

    entry = approvals.open_entry_for(s, "sales_header", doc_id, user(s, "sbuchanan").id)
    approvals.approve(s, entry.id, user(s, "sbuchanan"), "Looks right")
    s.commit()
    run_jobs()
    s.expire_all()
    doc = s.get(SalesHeader, doc_id)
    assert doc.status == "Released"
    before = [(e.approver.user_name, e.status, e.sequence_no, e.amount, e.workflow_instance_id)
              for e in approvals.entries_for_record(s, "sales_header", doc_id)]
    assert [b[:2] for b in before] == [("msuyama", "Approved"), ("sbuchanan", "Approved")]

    posted = posting.post(s, doc, user(s, "msuyama").id)
    s.commit()
    assert posted.kind == "Sales Invoice" and posted.order_no == doc.no and posted.amount == Decimal("1500.00")
    archived = approvals.posted_entries_for_record(s, "posted_sales_invoice", posted.id)
    assert [(e.approver.user_name, e.status, e.sequence_no, e.amount, e.workflow_instance_id) for e in archived] == before
    assert {e.record_type for e in archived} == {"sales_header"} and {e.record_id for e in archived} == {doc_id}
    comments = approvals.posted_comments_for_record(s, "posted_sales_invoice", posted.id)
    assert [c.comment for c in comments][-1] == "Looks right"
    assert all(c.posted_approval_entry_id in {e.id for e in archived} for c in comments)
    # nothing is left behind on the (deleted) order
    assert not s.scalars(select(ApprovalEntry).where(ApprovalEntry.record_type == "sales_header", ApprovalEntry.record_id == doc_id)).all()
    assert not s.scalars(select(ApprovalCommentLine).where(ApprovalCommentLine.record_type == "sales_header",
                                                           ApprovalCommentLine.record_id == doc_id)).all()
    run_jobs()  # the document_posted event is handled (no workflow reacts to it)
    s.expire_all()
    ev = s.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "document_posted", OutboxEvent.record_id == doc_id))
    assert ev.status == "done"


def test_post_from_the_page_and_posted_pages_are_read_only(app):
    from portal.extensions import db

    with app.app_context():
        doc = new_document(db.session, "sales-invoices", "BERGS", [("I0003", "3", None), ("I0004", "1", "20.00")])
        doc_id, no = doc.id, doc.no
        sender, approver = user(db.session, "msuyama"), user(db.session, "sbuchanan")
        entry = ApprovalEntry(record_type="sales_header", record_id=doc_id, sequence_no=1, sender_id=sender.id, approver_id=approver.id,
                              status="Approved", amount=doc.amount, record_title=doc.title)
        db.session.add(entry)
        db.session.flush()
        db.session.add(ApprovalCommentLine(record_type="sales_header", record_id=doc_id, approval_entry_id=entry.id,
                                           user_id=approver.id, comment="Approved by phone"))
        db.session.commit()
        db.session.remove()

    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-invoices/{doc_id}").get_data(as_text=True)
    assert f"Sales Invoice {no}" in page and ">Post</button>" in page and "50.00" in page
    res = client.post(f"/sales-invoices/{doc_id}/post", data={"csrf_token": csrf(page)})
    assert res.status_code == 302
    url = res.headers["Location"]
    assert re.fullmatch(r"/posted-sales-invoices/\d+", url)
    html = client.get(url).get_data(as_text=True)
    assert f"Sales Invoice {no} has been posted as Posted Sales Invoice PSI" in html
    assert "Posted Approval Entries" in html and "Steven Buchanan" in html and "Approved by phone" in html
    assert "Aniseed Syrup" in html and 'id="doc-amount">50.00<' in html and "Pre-Assigned No." in html and no in html
    assert "Automate" in html
    for absent in ('/edit"', 'id="line-form-new"', ">Post</button>", ">Release</button>", "Send Approval Request", "Restrict"):
        assert absent not in html, absent
    token = csrf(html)
    assert client.get(f"{url}/edit").status_code == 404
    assert client.post(f"{url}/lines", data={"csrf_token": token, "quantity": "1"}).status_code == 404
    assert client.post(f"{url}/post", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/sales-invoices/{doc_id}").status_code == 404
    listing = client.get("/posted-sales-invoices").get_data(as_text=True)
    assert no in listing and "Bergl" in listing and "New</a>" not in listing
    with app.app_context():
        assert db.session.scalar(select(PostedDocument.id).where(PostedDocument.pre_assigned_no == no))


def test_the_post_button_is_disabled_with_the_reason_while_pending(app):
    from portal.extensions import db

    with app.app_context():
        doc = new_document(db.session, "sales-orders", "ALFKI", [("I0003", "1", None)])
        records.set_status(db.session, doc, "Pending Approval", None, by_workflow=True)
        db.session.commit()
        doc_id = doc.id
        db.session.remove()
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{doc_id}").get_data(as_text=True)
    shown = actions_shown(page)
    assert not shown["post"].enabled and "pending approval" in shown["post"].reason
    res = client.post(f"/sales-orders/{doc_id}/post", data={"csrf_token": csrf(page)}, follow_redirects=True).get_data(as_text=True)
    assert "is pending approval and can&#39;t be posted" in res


def test_the_post_document_response_posts_from_a_workflow(db_session):
    """A purchase invoice workflow: released → post the document (Business Central's
    purchase invoice "release → post" template, reduced to its core)."""
    from portal.workflow.engine import dispatch_pending
    from portal.workflow.library import build_workflow
    from portal.workflow.models import STEP_EVENT, STEP_RESPONSE, Workflow, WorkflowInstance, WorkflowStepInstance, WorkflowStepRun

    s = db_session
    wf = build_workflow({
        "code": "TEST-AUTOPOST", "description": "Post released purchase invoices", "record_type": "purchase_header",
        "steps": [
            (1, None, None, 1, STEP_EVENT, "document_released", {},
             [{"field": "vendor_invoice_no", "operator": "=", "value": "AUTO-POST-TEST"}]),
            (2, 1, None, 1, STEP_RESPONSE, "post_document", {}, []),
        ],
    })
    s.add(wf)
    s.commit()
    try:
        doc = new_document(s, "purchase-invoices", "V00004", [("I0006", "1", "9.99")], vendor_invoice_no="AUTO-POST-TEST")
        doc_id, no = doc.id, doc.no
        records.release(s, doc, user(s, "msuyama").id)
        s.commit()
        dispatch_pending(s)
        s.expire_all()
        assert s.get(PurchaseHeader, doc_id) is None
        posted = s.scalar(select(PostedDocument).where(PostedDocument.pre_assigned_no == no))
        assert posted.kind == "Purchase Invoice" and posted.amount == Decimal("9.99")
        inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "TEST-AUTOPOST"))
        assert inst.status == "Completed" and f"posted as Posted Purchase Invoice {posted.no}" in inst.result
    finally:
        s.rollback()
        ids = select(WorkflowInstance.id).where(WorkflowInstance.workflow_code == "TEST-AUTOPOST")
        for model in (WorkflowStepRun, WorkflowStepInstance):
            s.execute(delete(model).where(model.instance_id.in_(ids)))
        s.execute(delete(WorkflowInstance).where(WorkflowInstance.workflow_code == "TEST-AUTOPOST"))
        s.delete(s.scalar(select(Workflow).where(Workflow.code == "TEST-AUTOPOST")))
        s.commit()


def test_the_record_restriction_responses(db_session):
    from types import SimpleNamespace

    from portal.records.registry import RECORD_TYPES
    from portal.workflow.engine import StepContext
    from portal.workflow.responses import IMPLEMENTATIONS

    s = db_session
    doc = new_document(s, "purchase-orders", "V00005", [("I0006", "1", "5.00")], vendor_invoice_no="R-1")
    ctx = StepContext(s, SimpleNamespace(id=None, workflow_code="PO-APPROVAL", record_type="purchase_header", record_id=doc.id),
                      None, None, doc, RECORD_TYPES["purchase_header"], user(s, "msuyama").id)
    assert IMPLEMENTATIONS["add_record_restriction"](ctx) == f"{doc.title} is restricted"
    assert [r.details for r in records.restrictions_for(s, "purchase_header", doc.id)] == ["Restricted by workflow PO-APPROVAL"]
    with pytest.raises(records.RecordError, match="restricted and can't be posted"):
        posting.post(s, doc, None)
    assert IMPLEMENTATIONS["remove_record_restriction"](ctx) == f"The restriction on {doc.title} has been lifted"
    assert IMPLEMENTATIONS["remove_record_restriction"](ctx) == f"{doc.title} had no restriction"
    assert IMPLEMENTATIONS["post_document"](ctx).startswith(f"{doc.title} posted as Posted Purchase Invoice PPI")
    s.rollback()
