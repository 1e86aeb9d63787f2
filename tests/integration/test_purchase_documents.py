"""Purchase documents: created entirely in the UI (New → vendor → lines, plain forms and
htmx), one list per document type, release / reopen, record restrictions, approval
limits; the same generic pages serve sales documents of every type."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.approvals.models import ApprovalUserSetup
from portal.auth.models import User
from portal.records import posting
from portal.records import service as records
from portal.records.models import PurchaseHeader
from portal.records.registry import RECORD_TYPES, LIST_VIEWS
from portal.workflow.models import OutboxEvent
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

HX = {"HX-Request": "true", "HX-Target": "doc-lines"}


@pytest.fixture
def client(app):
    return app.test_client()


def user_id(session, name) -> int:
    return session.scalar(select(User.id).where(User.user_name == name))


def new_purchase(session, document_type="Order", vendor="V00001", lines=(("I0003", "10", "2.50"),), invoice_no="EXT-1"):
    """A purchase document made through the services (as the New form and line forms do)."""
    rt = LIST_VIEWS[f"purchase-{document_type.lower().replace(' ', '-')}s"]
    uid = user_id(session, "msuyama")
    doc = records.create_record(session, rt, {"vendor_no": vendor, "vendor_invoice_no": invoice_no}, uid)
    for item_no, qty, cost in lines:
        records.add_line(session, "purchase_header", doc, {"item_no": item_no, "quantity": Decimal(qty),
                                                           "direct_unit_cost": Decimal(cost) if cost else None}, uid)
    session.commit()
    return doc


# ---------------------------------------------------------------- the UI

def test_create_a_purchase_order_with_lines_in_the_ui(client, app):
    sign_in(client, "msuyama", "northwind")
    listing = client.get("/purchase-orders").get_data(as_text=True)
    client.post("/flows/get-started", data={"csrf_token": csrf(listing)})  # the automation notice (once per user)
    assert "Purchase Orders" in listing and 'href="/purchase-orders/new"' in listing and "Automate" in listing

    form = client.get("/purchase-orders/new").get_data(as_text=True)
    assert "Exotic Liquids (V00001)" in form
    missing = client.post("/purchase-orders/new", data={"csrf_token": csrf(form), "vendor_no": ""})
    assert missing.status_code == 422 and "Vendor No. must have a value." in missing.get_data(as_text=True)
    unknown = client.post("/purchase-orders/new", data={"csrf_token": csrf(form), "vendor_no": "NOPE"})
    assert unknown.status_code == 422 and "There is no vendor with No. &#39;NOPE&#39;." in unknown.get_data(as_text=True)

    created = client.post("/purchase-orders/new", data={"csrf_token": csrf(form), "vendor_no": "V00001", "vendor_invoice_no": "EL-778"})
    assert created.status_code == 302
    url = created.headers["Location"]
    assert re.fullmatch(r"/purchase-orders/\d+", url)
    page = client.get(url).get_data(as_text=True)
    no = re.search(r"Purchase Order (PO\d{5})", page).group(1)
    assert "Exotic Liquids" in page and "No lines yet." in page and 'aria-label="Approvals"' in page and "Manage flows" in page
    token = csrf(page)

    # a plain form post adds a line and comes back to the page
    res = client.post(f"{url}/lines", data={"csrf_token": token, "item_no": "I0003", "quantity": "10", "direct_unit_cost": "2.50"})
    assert res.status_code == 302 and res.headers["Location"] == url
    # htmx: a blank cost takes the item's price (Chef Anton's Cajun Seasoning, 22.00); discount 10 %
    frag = client.post(f"{url}/lines", data={"item_no": "I0004", "quantity": "4", "direct_unit_cost": "", "line_discount_pct": "10"},
                       headers={**HX, "X-CSRFToken": token}).get_data(as_text=True)
    assert "<html" not in frag and "Cajun Seasoning" in frag and "79.20" in frag
    assert re.search(r'id="doc-amount">104\.20<', frag), "25.00 + 79.20"
    assert 'id="doc-groups" hx-swap-oob="true"' in frag

    # errors come back in the fragment with the typed values kept
    bad = client.post(f"{url}/lines", data={"item_no": "I0006", "quantity": "lots"}, headers={**HX, "X-CSRFToken": token})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "Quantity: &#39;lots&#39; is not a valid number." in text and 'value="lots"' in text
    nope = client.post(f"{url}/lines", data={"item_no": "ZZZ", "quantity": "1"}, headers={**HX, "X-CSRFToken": token}).get_data(as_text=True)
    assert "There is no item with No. &#39;ZZZ&#39;." in nope

    from portal.extensions import db

    with app.app_context():
        doc = db.session.scalar(select(PurchaseHeader).where(PurchaseHeader.no == no))
        assert doc.document_type == "Order" and doc.vendor.no == "V00001" and doc.vendor_invoice_no == "EL-778"
        assert [(l.item.no, l.line_amount) for l in doc.lines] == [("I0003", Decimal("25.00")), ("I0004", Decimal("79.20"))]
        assert doc.amount == Decimal("104.20")
        first, second = (l.id for l in doc.lines)

    # edit a line inline, then remove the other
    editing = client.get(f"{url}?edit_line={first}", headers=HX).get_data(as_text=True)
    assert f'id="line-form-{first}"' in editing and "Save" in editing
    client.post(f"{url}/lines/{first}", data={"item_no": "I0003", "quantity": "12", "direct_unit_cost": "2.50", "line_discount_pct": "0"},
                headers={**HX, "X-CSRFToken": token})
    frag = client.post(f"{url}/lines/{second}/delete", headers={**HX, "X-CSRFToken": token}).get_data(as_text=True)
    assert re.search(r'id="doc-amount">30\.00<', frag) and f'id="line-{second}"' not in frag and f'id="line-{first}"' in frag
    with app.app_context():
        doc = db.session.scalar(select(PurchaseHeader).where(PurchaseHeader.no == no))
        assert doc.amount == Decimal("30.00") and len(doc.lines) == 1
        events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.record_type == "purchase_header",
                                                              OutboxEvent.record_id == doc.id).order_by(OutboxEvent.id)).all()
        assert [e.event_code for e in events][0] == "record_created" and "record_modified" in [e.event_code for e in events]

    # the header's fields are edited with the generic edit page
    edit = client.get(f"{url}/edit").get_data(as_text=True)
    saved = client.post(f"{url}/edit", data={"csrf_token": csrf(edit), "vendor_invoice_no": "EL-779", "order_date": "2026-01-05",
                                             "expected_receipt_date": "soon"})
    assert saved.status_code == 422 and "is not a valid date" in saved.get_data(as_text=True)


def made(app, *args, **kwargs):
    """A purchase document made in its own app context (page tests must not keep one
    pushed while using the test client); returns (id, no, title)."""
    from portal.extensions import db

    with app.app_context():
        doc = new_purchase(db.session, *args, **kwargs)
        found = doc.id, doc.no, doc.title
        db.session.remove()
    return found


def test_one_list_per_document_type_and_documents_open_under_their_own(client, app):
    quote_id, quote_no, _ = made(app, "Quote")
    sign_in(client, "msuyama", "northwind")
    quotes = client.get("/purchase-quotes").get_data(as_text=True)
    orders = client.get("/purchase-orders").get_data(as_text=True)
    assert quote_no in quotes and quote_no not in orders and "Purchase Quotes" in quotes
    moved = client.get(f"/purchase-orders/{quote_id}")
    assert moved.status_code == 302 and moved.headers["Location"] == f"/purchase-quotes/{quote_id}"
    assert client.get(f"/sales-orders/{quote_id + 100000}").status_code == 404
    for slug in ("sales-quotes", "sales-invoices", "sales-credit-memos", "purchase-invoices", "purchase-credit-memos",
                 "posted-sales-invoices", "posted-purchase-credit-memos", "general-journal-batches"):
        assert client.get(f"/{slug}").status_code == 200, slug
    assert "Toms Spezialitäten" in client.get("/sales-orders?q=10249").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "Purchase Orders" in home and "General Journals" in home  # (the header's Purchasing and Finance menus)


def test_sales_documents_can_be_created_too(client, app):
    sign_in(client, "msuyama", "northwind")
    form = client.get("/sales-quotes/new").get_data(as_text=True)
    res = client.post("/sales-quotes/new", data={"csrf_token": csrf(form), "customer_no": "ALFKI"})
    assert res.status_code == 302 and res.headers["Location"].startswith("/sales-quotes/")
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert re.search(r"Sales Quote SQ\d{5}", page) and "Alfreds Futterkiste" in page


# ---------------------------------------------------------------- release, reopen, restrictions

def test_release_and_reopen_a_purchase_document(db_session):
    s = db_session
    uid = user_id(s, "msuyama")
    empty = new_purchase(s, lines=())
    with pytest.raises(records.RecordError, match="nothing to release"):
        records.release(s, empty, uid)
    s.rollback()
    doc = new_purchase(s)
    records.release(s, doc, uid)
    s.commit()
    assert doc.status == "Released"
    assert s.scalar(select(OutboxEvent.id).where(OutboxEvent.event_code == "document_released", OutboxEvent.record_type == "purchase_header",
                                                 OutboxEvent.record_id == doc.id))
    with pytest.raises(records.RecordError, match="Status must be equal to 'Open' .* Current value is 'Released'. Its lines can't be added"):
        records.add_line(s, "purchase_header", doc, {"item_no": "I0004", "quantity": Decimal("1")}, uid)
    s.rollback()
    records.reopen(s, doc, uid)
    s.commit()
    assert doc.status == "Open"


def test_a_restriction_blocks_modify_release_and_post_until_lifted(db_session):
    s = db_session
    uid = user_id(s, "msuyama")
    doc = new_purchase(s, "Invoice")
    records.add_restriction(s, "purchase_header", doc.id, "Vendor bank details under review", uid)
    s.commit()
    assert records.is_restricted("purchase_header", doc)
    expected = rf"{doc.title} is restricted and can't be (modified|released|posted) until the restriction is lifted \(Vendor bank details under review\)"
    with pytest.raises(records.RecordError, match=expected.replace("(modified|released|posted)", "modified")):
        records.modify_record(s, "purchase_header", doc, {"vendor_invoice_no": "X"}, uid)
    with pytest.raises(records.RecordError, match=expected.replace("(modified|released|posted)", "modified")):
        records.add_line(s, "purchase_header", doc, {"item_no": "I0004", "quantity": Decimal("1")}, uid)
    with pytest.raises(records.RecordError, match=expected.replace("(modified|released|posted)", "released")):
        records.release(s, doc, uid, by_workflow=True)
    with pytest.raises(records.RecordError, match=expected.replace("(modified|released|posted)", "posted")):
        posting.post(s, doc, uid)
    s.rollback()

    assert records.remove_restriction(s, "purchase_header", doc.id, uid) == 1
    s.commit()
    assert not records.is_restricted("purchase_header", doc)
    records.modify_record(s, "purchase_header", doc, {"vendor_invoice_no": "X-2"}, uid)
    records.release(s, doc, uid)
    posted = posting.post(s, doc, uid)
    s.commit()
    assert posted.kind == "Purchase Invoice" and posted.vendor_invoice_no == "X-2"


def test_restrictions_are_listed_on_the_page_and_admins_lift_them(client, app):
    doc_id, _, title = made(app)
    url = f"/purchase-orders/{doc_id}"
    admin = app.test_client()
    sign_in(admin, "admin", "admin")
    page = admin.get(url).get_data(as_text=True)
    res = admin.post(f"{url}/restriction", data={"csrf_token": csrf(page), "action": "add", "details": "Audit in progress"}, follow_redirects=True)
    html = res.get_data(as_text=True)
    assert "is restricted: it can&#39;t be modified, released or posted" in html
    assert "Audit in progress" in html and "Lift restriction" in html

    sign_in(client, "msuyama", "northwind")
    page = client.get(url).get_data(as_text=True)
    assert "Audit in progress" in page and 'id="line-form-new"' not in page and "Lift restriction" not in page
    assert f'href="{url}/edit"' not in page
    released = client.post(f"{url}/release", data={"csrf_token": csrf(page)}, follow_redirects=True).get_data(as_text=True)
    assert "can&#39;t be released until the restriction is lifted (Audit in progress)" in released
    posted = client.post(f"{url}/post", data={"csrf_token": csrf(page)}, follow_redirects=True).get_data(as_text=True)
    assert "can&#39;t be posted until the restriction is lifted" in posted
    assert client.post(f"{url}/restriction", data={"csrf_token": csrf(page), "action": "remove"}).status_code == 403

    admin_token = csrf(admin.get(url).get_data(as_text=True))
    lifted = admin.post(f"{url}/restriction", data={"csrf_token": admin_token, "action": "remove"}, follow_redirects=True).get_data(as_text=True)
    assert "has been lifted" in lifted
    released = client.post(f"{url}/release", data={"csrf_token": csrf(page)}, follow_redirects=True).get_data(as_text=True)
    assert f"{title} is now Released." in released


# ---------------------------------------------------------------- approvals

def test_purchase_documents_use_the_purchase_limit_and_quotes_the_request_limit():
    from portal.approvals.service import limit_covers

    setup = ApprovalUserSetup(purchase_amount_approval_limit=Decimal("1000"), request_amount_approval_limit=Decimal("100"),
                              sales_amount_approval_limit=Decimal("0"))
    assert limit_covers(setup, "purchase_header", Decimal("900"), "Order")
    assert limit_covers(setup, "purchase_header", Decimal("900"), "Invoice")
    assert not limit_covers(setup, "purchase_header", Decimal("900"), "Quote")
    assert limit_covers(setup, "purchase_header", Decimal("90"), "Quote")
    assert not limit_covers(setup, "gen_journal_batch", Decimal("900"))
    assert not limit_covers(setup, "sales_header", Decimal("1"), "Order")


def test_send_a_purchase_document_for_approval_needs_a_workflow(db_session):
    from portal.approvals import service as approvals

    s = db_session
    doc = new_purchase(s)
    who = s.get(User, user_id(s, "msuyama"))
    with pytest.raises(approvals.ApprovalError, match="No enabled approval workflow applies to this purchase order"):
        approvals.send_approval_request(s, "purchase_header", doc, who)
    assert RECORD_TYPES["purchase_header"].approval_event == "purchase_document_approval_requested"
    from portal.workflow.catalog import EVENTS

    assert EVENTS["purchase_document_approval_requested"].record_types == ("purchase_header",)
    assert "purchase_header" in EVENTS["document_posted"].record_types


def test_a_purchase_order_goes_through_an_approval_workflow_and_is_posted(db_session):
    """Business Central's purchase order approval (approver type Approver): Suyama's
    own entry comes first (approved at once; his 1,000 limit doesn't cover 1,500.00),
    his approver Steven Buchanan approves, the order is released, then posted; the
    posted invoice carries the archived approval entries."""
    from portal.approvals import service as approvals
    from portal.workflow.engine import dispatch_pending
    from portal.workflow.library import build_workflow, document_approval
    from portal.workflow.models import Workflow, WorkflowInstance, WorkflowStepInstance, WorkflowStepRun
    from sqlalchemy import delete

    s = db_session
    s.add(build_workflow(document_approval(
        "TEST-POAPW", "Purchase Order Approval (test)", "Purchase documents", "purchase_header",
        "purchase_document_approval_requested", "purchase_document_approval_canceled",
        [{"field": "document_type", "operator": "=", "value": "Order"}, {"field": "status", "operator": "=", "value": "Open"}],
        approver_type="Approver")))
    s.commit()
    try:
        doc = new_purchase(s, lines=(("I0004", "50", "30.00"),))
        doc_id = doc.id
        msuyama, sbuchanan = (s.scalar(select(User).where(User.user_name == n)) for n in ("msuyama", "sbuchanan"))
        approvals.send_approval_request(s, "purchase_header", doc, msuyama)
        s.commit()
        dispatch_pending(s)
        s.expire_all()
        assert s.get(PurchaseHeader, doc_id).status == "Pending Approval"
        entry = approvals.open_entry_for(s, "purchase_header", doc_id, sbuchanan.id)
        approvals.approve(s, entry.id, sbuchanan, "OK to order")
        s.commit()
        dispatch_pending(s)
        s.expire_all()
        doc = s.get(PurchaseHeader, doc_id)
        assert doc.status == "Released"
        posted = posting.post(s, doc, msuyama.id)
        s.commit()
        assert sorted(e.approver_id for e in approvals.posted_entries_for_record(s, "posted_purchase_invoice", posted.id)) == sorted(
            [msuyama.id, sbuchanan.id])
    finally:
        s.rollback()
        ids = select(WorkflowInstance.id).where(WorkflowInstance.workflow_code == "TEST-POAPW")
        for model in (WorkflowStepRun, WorkflowStepInstance):
            s.execute(delete(model).where(model.instance_id.in_(ids)))
        from portal.approvals.models import ApprovalCommentLine, ApprovalEntry

        s.execute(delete(ApprovalCommentLine).where(ApprovalCommentLine.record_type == "purchase_header"))
        s.execute(delete(ApprovalEntry).where(ApprovalEntry.workflow_instance_id.in_(ids)))
        s.execute(delete(WorkflowInstance).where(WorkflowInstance.workflow_code == "TEST-POAPW"))
        s.delete(s.scalar(select(Workflow).where(Workflow.code == "TEST-POAPW")))
        s.commit()
