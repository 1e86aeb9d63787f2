"""Approval controls in the browser, with the real RQ worker: on an Open sales order
the Sales Order Approval workflow matches, Release is disabled and says why; a Send
Approval Request that fails (Michael Suyama has no approver) says why on the order's
page by itself — the page follows the request until the worker has handled it — and
leaves the order Open without entries; sent again once the setup is fixed, the order
goes to Pending Approval and the message is gone."""
from __future__ import annotations

import time
from decimal import Decimal

from playwright.sync_api import Page, expect
from sqlalchemy import select

ASYNC = 20_000  # ms: results that wait for the worker
RELEASE_REFUSED = "This document can only be released when the approval process is complete."
NO_APPROVER = "Michael Suyama has no approver in Approval User Setup."


def prepare(app) -> int:
    """A 1,500.00 order for ALFKI (salesperson Suyama), and an approval workflow that
    routes to the sender's direct approver — with Suyama's approver removed. Returns
    the order's id."""
    from portal.approvals.models import ApprovalUserSetup
    from portal.auth.models import User
    from portal.extensions import db
    from portal.records import service as records
    from portal.records.registry import LIST_VIEWS
    from portal.workflow.library import build_workflow, document_approval
    from portal.workflow.models import Workflow

    with app.app_context():
        s = db.session
        suyama = s.scalar(select(User).where(User.user_name == "msuyama"))
        s.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL")).enabled = False
        definition = document_approval("T-DIRECT", "Direct approver (browser test)", "Sales documents", "sales_header",
                                       "sales_document_approval_requested", "sales_document_approval_canceled",
                                       [{"field": "document_type", "operator": "=", "value": "Order"},
                                        {"field": "status", "operator": "=", "value": "Open"}], "Approver")
        definition["steps"] = [step if step[5] != "create_approval_requests" else
                               (*step[:6], {"approver_type": "Approver", "limit_type": "Direct Approver", "due_date_days": 2}, step[7])
                               for step in definition["steps"]]
        s.add(build_workflow(definition))
        s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == suyama.id)).approver_id = None
        doc = records.create_record(s, LIST_VIEWS["sales-orders"], {"customer_no": "ALFKI"}, suyama.id)
        records.modify_record(s, "sales_header", doc, {"salesperson_code": "MSUYAMA"}, suyama.id)
        records.add_line(s, "sales_header", doc, {"item_no": "I0004", "quantity": Decimal("10"), "unit_price": Decimal("150.00")}, suyama.id)
        s.commit()
        found = doc.id
        s.remove()
    return found


def give_suyama_his_approver_back(app) -> None:
    from portal.approvals.models import ApprovalUserSetup
    from portal.auth.models import User
    from portal.extensions import db

    with app.app_context():
        s = db.session
        ids = {u.user_name: u.id for u in s.scalars(select(User).where(User.user_name.in_(["msuyama", "sbuchanan"])))}
        s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == ids["msuyama"])).approver_id = ids["sbuchanan"]
        s.commit()
        s.remove()


def test_a_failed_send_says_why_on_the_page_and_release_says_why_not(app, page: Page, worker, clean_state, sign_in):
    order_id = prepare(app)
    sign_in(page, "msuyama")
    page.goto(f"/sales-orders/{order_id}")
    page.wait_for_load_state("load")
    expect(page.locator("#doc-status")).to_have_text("Open")
    expect(page.get_by_role("button", name="Release", exact=True)).to_be_disabled()
    expect(page.locator("#release-blocked")).to_contain_text(RELEASE_REFUSED)

    page.get_by_role("button", name="Send Approval Request").click()
    clicked = time.monotonic()
    failure = page.locator("#send-failure")
    expect(failure).to_contain_text("The approval request was not sent.", timeout=ASYNC)
    shown_after = time.monotonic() - clicked
    expect(failure).to_contain_text(NO_APPROVER)
    expect(failure).to_contain_text("is still Open, with no approval entries.")
    expect(page.locator("#record-state .processing")).to_have_count(0)
    expect(page.locator("#doc-status")).to_have_text("Open")
    expect(page.get_by_role("complementary", name="Approvals")).to_contain_text("No approval requests.")
    print(f"the failure showed {shown_after:.2f} s after the click")  # the issue asks for two seconds at most

    # Fixed, sent again: Pending Approval, Buchanan's request open, no failure shown.
    give_suyama_his_approver_back(app)
    page.get_by_role("button", name="Send Approval Request").click()
    expect(page.locator("#doc-status")).to_have_text("Pending Approval", timeout=ASYNC)
    expect(page.get_by_role("complementary", name="Approvals").locator("tbody tr").filter(has_text="Steven Buchanan")).to_contain_text("Open", timeout=ASYNC)
    expect(page.locator("#send-failure")).to_have_count(0)
