"""Requests to Approve in the browser: Michael Suyama's orders wait for Steven
Buchanan (the real RQ worker ran the Sales Order Approval workflow); Buchanan selects
two of them and approves both at once with one comment, then delegates a third with a
comment — it goes to his approver Andrew Fuller, who finds it in his own Requests to
Approve, and the comment is on the record's approval comments page."""
from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import select

ASYNC = 20_000  # ms

TITLES = {
    "10272": "Sales Order 10272 — Rattlesnake Canyon Grocery — 1,456.00",
    "10298": "Sales Order 10298 — Hungry Owl All-Night Grocers — 2,645.00",
    "10390": "Sales Order 10390 — Ernst Handel — 2,090.88",
}


def send_orders(app, nos: list[str]) -> None:
    """Suyama sends the orders for approval (the service a Send click calls) and waits
    until the worker has opened Buchanan's entries."""
    from portal.approvals import service as approvals
    from portal.approvals.models import ApprovalEntry
    from portal.auth.models import User
    from portal.extensions import db
    from portal.records.models import SalesHeader

    with app.app_context():
        s = db.session
        suyama = s.scalar(select(User).where(User.user_name == "msuyama"))
        ids = []
        for no in nos:
            doc = s.scalar(select(SalesHeader).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
            approvals.send_approval_request(s, "sales_header", doc, suyama)
            s.commit()
            ids.append(doc.id)
        deadline = time.monotonic() + ASYNC / 1000
        while True:
            s.expire_all()
            opened = s.scalars(select(ApprovalEntry.record_id).where(ApprovalEntry.record_id.in_(ids), ApprovalEntry.status == "Open")).all()
            if len(opened) == len(ids):
                break
            assert time.monotonic() < deadline, f"the worker opened {opened} of {ids}"
            time.sleep(0.2)
        s.remove()


def rows(page: Page, title: str):
    return page.locator("#rta-form tbody tr").filter(has_text=title)


def test_approve_two_requests_at_once_then_delegate_one_with_a_comment(app, page: Page, worker, clean_state, sink,
                                                                      sign_in, sign_out, open_nav):
    send_orders(app, list(TITLES))
    sign_in(page, "sbuchanan")
    open_nav(page, re.compile(r"^Requests to Approve"))
    expect(page.locator("#rta-count")).to_have_text("3")
    for title in TITLES.values():
        expect(rows(page, title)).to_have_count(1)

    # Multi-select approve with one comment.
    rows(page, TITLES["10272"]).get_by_role("checkbox").check()
    rows(page, TITLES["10298"]).get_by_role("checkbox").check()
    comment = f"Both fine {uuid.uuid4().hex[:6]}"
    page.get_by_label("Comment").fill(comment)
    page.locator("#rta-form").get_by_role("button", name="Approve", exact=True).click()
    status = page.get_by_role("status")
    expect(status).to_contain_text(f"Approved: {TITLES['10272']}; {TITLES['10298']}")
    expect(rows(page, TITLES["10272"])).to_have_count(0)
    expect(rows(page, TITLES["10298"])).to_have_count(0)
    expect(page.locator("#rta-count")).to_have_text("1")

    # Delegate the third with a comment: it goes to Andrew Fuller (Buchanan's approver).
    rows(page, TITLES["10390"]).get_by_role("checkbox").check()
    why = f"Away next week {uuid.uuid4().hex[:6]}"
    page.get_by_label("Comment").fill(why)
    page.locator("#rta-form").get_by_role("button", name="Delegate", exact=True).click()
    expect(status).to_contain_text(f"Delegated: {TITLES['10390']}")
    expect(page.get_by_text("There are no requests waiting for your approval.")).to_be_visible()
    [mail] = sink.wait_for("afuller@northwind.test", f"Approval requested: {TITLES['10390']}")
    [told] = sink.wait_for("msuyama@northwind.test", f"Delegated: {TITLES['10390']}")
    assert why in sink.body(told)

    sign_out(page)
    sign_in(page, "afuller")
    open_nav(page, re.compile(r"^Requests to Approve"))
    row = rows(page, TITLES["10390"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Michael Suyama")
    row.get_by_role("link", name="Entries & comments").click()
    expect(page.get_by_role("heading", name="Approval Entries — Sales Order 10390")).to_be_visible()
    expect(page.locator("#approval-comments")).to_contain_text(f"Delegated by Steven Buchanan from Steven Buchanan to Andrew Fuller. {why}")
    # Fuller approves from the order page; the approved orders are Released by the worker.
    page.get_by_role("link", name="← Sales Order 10390").click()
    decide = page.locator("#action-bar form.decide")
    decide.get_by_role("button", name="Approve", exact=True).click()
    expect(status).to_contain_text(f"Approved: {TITLES['10390']}")
    deadline = time.monotonic() + ASYNC / 1000
    while True:
        try:
            expect(page.locator("#doc-status")).to_have_text("Released", timeout=2_000)
            break
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            page.reload()
