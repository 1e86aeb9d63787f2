"""Sales Order Approval in the browser: Michael Suyama (limit 1,000) sends order 10249
(1,863.40) for approval; the real RQ worker runs the workflow (status Pending Approval,
an approver chain up to Steven Buchanan, limit 5,000, and the approval request email);
Steven Buchanan approves from Requests to Approve (order Released) or rejects from the
order page (order Open again, a "Rejected" mail to the sender)."""
from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import Page, expect

ASYNC = 20_000  # ms: results that wait for the worker
ORDER = "10249"
HEADING = "Sales Order 10249"
TITLE = "Sales Order 10249 — Toms Spezialitäten — 1,863.40"  # an approval entry's title


def open_order(page: Page, open_nav, no: str = ORDER) -> None:
    """Sales Orders list → search ``no`` (htmx, as you type) → the order's page."""
    open_nav(page, "Sales Orders")
    expect(page.get_by_role("heading", name="Sales Orders", exact=True)).to_be_visible()
    page.get_by_role("searchbox", name="Search").fill(no)
    rows = page.locator("#list-results tbody tr")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_contain_text(no)
    rows.get_by_role("link", name=no, exact=True).click()
    expect(page.get_by_role("heading", name=HEADING, exact=True)).to_be_visible()
    page.wait_for_load_state("load")


def approvals_row(page: Page, approver: str):
    return page.get_by_role("complementary", name="Approvals").locator("tbody tr").filter(has_text=approver)


def send_for_approval(page: Page) -> None:
    """On the order page as msuyama: Send Approval Request and wait for the workflow."""
    expect(page.locator("#doc-amount")).to_have_text("1,863.40")
    expect(page.locator("#doc-status")).to_have_text("Open")
    page.get_by_role("button", name="Send Approval Request").click()
    # The page polls #record-state while the request's events are in flight.
    expect(page.locator("#doc-status")).to_have_text("Pending Approval", timeout=ASYNC)
    expect(approvals_row(page, "Michael Suyama")).to_contain_text("Approved", timeout=ASYNC)
    expect(approvals_row(page, "Steven Buchanan")).to_contain_text("Open", timeout=ASYNC)
    expect(page.locator("#record-state .processing")).to_have_count(0, timeout=ASYNC)
    expect(page.get_by_role("button", name="Send Approval Request")).to_be_disabled()


def expect_status_eventually(page: Page, status: str, timeout: float = ASYNC) -> None:
    """The order page's status becomes ``status`` (the page polls while busy; once
    idle, reload to see later changes)."""
    deadline = time.monotonic() + timeout / 1000
    status_el = page.locator("#doc-status")
    while True:
        try:
            expect(status_el).to_have_text(status, timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            page.reload()


def test_send_and_approve_from_requests_to_approve(page: Page, worker, clean_state, sink, sign_in, sign_out, open_nav):
    sign_in(page, "msuyama")
    open_order(page, open_nav)
    send_for_approval(page)
    [request_mail] = sink.wait_for("sbuchanan@northwind.test", f"Approval requested: {TITLE}")
    body = sink.body(request_mail)
    assert "Michael Suyama" in body and "1,863.40" in body
    assert "/approvals/requests" in body

    sign_out(page)
    sign_in(page, "sbuchanan")
    open_nav(page, re.compile(r"^Requests to Approve"))
    expect(page.locator("#rta-count")).to_have_text("1")
    expect(page.get_by_role("heading", name="Requests to Approve")).to_be_visible()
    row = page.locator("#rta-form tbody tr").filter(has_text=TITLE)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1,863.40")
    expect(row).to_contain_text("Michael Suyama")
    row.get_by_role("checkbox").check()
    comment = f"Fine by me {uuid.uuid4().hex[:8]}"
    page.get_by_label("Comment").fill(comment)
    page.locator("#rta-form").get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Approved: {TITLE}")
    expect(page.locator("#rta-form tbody tr").filter(has_text=TITLE)).to_have_count(0)

    open_order(page, open_nav)
    expect_status_eventually(page, "Released")
    expect(approvals_row(page, "Steven Buchanan")).to_contain_text("Approved")
    expect(page.get_by_role("complementary", name="Approvals")).to_contain_text(comment)


def test_send_and_reject_from_the_order_page(page: Page, worker, clean_state, sink, sign_in, sign_out, open_nav):
    sign_in(page, "msuyama")
    open_order(page, open_nav)
    send_for_approval(page)
    sink.wait_for("sbuchanan@northwind.test", f"Approval requested: {TITLE}")

    sign_out(page)
    sign_in(page, "sbuchanan")
    open_order(page, open_nav)
    expect(page.locator("#doc-status")).to_have_text("Pending Approval")
    decide = page.locator("#action-bar form.decide")
    expect(decide).to_be_visible()
    comment = f"Price too low {uuid.uuid4().hex[:8]}"
    decide.get_by_label("Comment").fill(comment)
    decide.get_by_role("button", name="Reject", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Rejected: {TITLE}")

    expect_status_eventually(page, "Open")
    expect(approvals_row(page, "Steven Buchanan")).to_contain_text("Rejected")
    expect(page.get_by_role("complementary", name="Approvals")).to_contain_text(comment)
    expect(page.locator("#action-bar form.decide")).to_have_count(0)

    [rejected] = sink.wait_for("msuyama@northwind.test", f"Rejected: {TITLE}")
    body = sink.body(rejected)
    assert "was rejected" in body
    assert comment in body, body
