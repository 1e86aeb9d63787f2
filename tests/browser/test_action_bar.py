"""The action bar and live lists in the browser: a Sales Orders row turns from Open to
Pending Approval after Send Approval Request on the ticked row, without a reload (the
list follows the real worker); the banner is replaced, not piled up, and an error one
goes when another row is ticked; a Released order's bar shows Send disabled with its
reason on hover; screenshots of card and document pages at 1,400 and 390 px for the
business user, the approver and the administrator (saved under ``SCREENSHOT_DIR``,
default /tmp/actions, for a person to look at)."""
from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

ASYNC = 20_000  # ms: results that wait for the worker
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/actions"))


def new_order(app, released: bool = False) -> tuple[int, str]:
    """A 1,500.00 sales order of msuyama for ALFKI (Open, or Released by the
    workflow). Returns (id, no.)."""
    from decimal import Decimal

    from sqlalchemy import select

    from portal.auth.models import User
    from portal.extensions import db
    from portal.records import service as records
    from portal.records.registry import LIST_VIEWS

    with app.app_context():
        s = db.session
        suyama = s.scalar(select(User.id).where(User.user_name == "msuyama"))
        doc = records.create_record(s, LIST_VIEWS["sales-orders"], {"customer_no": "ALFKI"}, suyama)
        records.modify_record(s, "sales_header", doc, {"salesperson_code": "MSUYAMA"}, suyama)
        records.add_line(s, "sales_header", doc, {"item_no": "I0004", "quantity": Decimal("10"), "unit_price": Decimal("150.00")}, suyama)
        if released:
            records.release(s, doc, suyama, by_workflow=True)
        s.commit()
        found = doc.id, doc.no
        s.remove()
    return found


def open_list(page: Page, no: str):
    page.goto("/sales-orders")
    page.wait_for_load_state("load")
    page.get_by_role("searchbox", name="Search").fill(no)
    rows = page.locator("#list-results tbody tr")
    expect(rows).to_have_count(1, timeout=10_000)
    return rows.first


def test_a_list_row_follows_send_without_a_reload(app, page: Page, worker, clean_state, sign_in):
    order_id, no = new_order(app)
    sign_in(page, "msuyama")
    row = open_list(page, no)
    expect(row).to_contain_text("Open")
    page.evaluate("window.__notReloaded = true")
    send = page.locator("#list-selection").get_by_role("button", name="Send Approval Request")
    # nothing ticked: an error banner, which goes as soon as a row is ticked
    send.click()
    banner = page.locator("#list-banner")
    expect(banner.locator(".flash.error")).to_have_text("Select at least one record.")
    row.get_by_role("checkbox").check()
    expect(banner.locator(".flash")).to_have_count(0)
    send.click()
    expect(banner.locator(".flash")).to_have_count(1)
    expect(banner).to_contain_text(f"An approval request for Sales Order {no} is being sent.")
    row = page.locator(f"#row-{order_id}")
    expect(row).to_contain_text("Pending Approval", timeout=ASYNC)
    expect(row.locator(".processing")).to_have_count(0, timeout=ASYNC)
    expect(row.get_by_role("checkbox")).to_be_checked()  # the ticked row stays ticked
    # the Approvals fact box of the ticked row follows too
    expect(page.get_by_role("complementary", name="Approvals").locator("tbody tr")).to_have_count(2, timeout=ASYNC)
    assert page.evaluate("window.__notReloaded === true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "msuyama-list-after-send-1400.png"))
    # acting again replaces the banner (the request exists now: an error, one banner)
    send.click()
    expect(banner.locator(".flash")).to_have_count(1)
    expect(banner.locator(".flash.error")).to_contain_text(f"An approval request for Sales Order {no} already exists.")


def test_a_released_order_shows_send_disabled_with_the_reason(app, page: Page, clean_state, sign_in):
    order_id, no = new_order(app, released=True)
    sign_in(page, "msuyama")
    page.goto(f"/sales-orders/{order_id}")
    bar = page.get_by_role("toolbar", name="Actions")
    send = bar.get_by_role("button", name="Send Approval Request")
    reason = f"Sales Order {no} must have Status Open to be sent for approval; it is Released."
    expect(send).to_be_disabled()
    expect(send).to_have_attribute("title", reason)
    expect(send).to_have_accessible_description(reason)
    expect(bar.get_by_role("button", name="Release", exact=True)).to_be_disabled()
    expect(bar.get_by_role("button", name="Reopen", exact=True)).to_be_enabled()
    expect(bar.get_by_role("button", name="Post", exact=True)).to_be_enabled()
    expect(bar.get_by_role("group", name="Related").get_by_role("link", name="Approval entries")).to_be_visible()
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link", name="Sales Orders")).to_have_attribute("href", "/sales-orders")
    expect(crumbs.locator("[aria-current=page]")).to_have_text(f"Sales Order {no}")


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        bar = page.locator("#action-bar")
        # the bar wraps inside the page at both widths
        assert bar.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), f"{name} at {width} px: the action bar overflows"
    page.set_viewport_size({"width": 1400, "height": 900})


def test_screenshots_of_card_and_document_pages(app, page: Page, worker, clean_state, sign_in, sign_out):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.records.models import Customer

    order_id, _ = new_order(app)
    with app.app_context():
        alfki = db.session.scalar(select(Customer.id).where(Customer.no == "ALFKI"))
        db.session.remove()
    sign_in(page, "msuyama")
    page.goto(f"/sales-orders/{order_id}")
    shoot(page, "msuyama-order-open")
    page.get_by_role("button", name="Send Approval Request").click()
    expect(page.locator("#doc-status")).to_have_text("Pending Approval", timeout=ASYNC)
    expect(page.locator("#record-state .processing")).to_have_count(0, timeout=ASYNC)
    shoot(page, "msuyama-order-pending")
    page.goto(f"/customers/{alfki}")
    shoot(page, "msuyama-customer")
    for user in ("sbuchanan", "admin"):
        sign_out(page)
        sign_in(page, user)
        page.goto(f"/sales-orders/{order_id}")
        expect(page.locator("#action-bar form.decide")).to_be_visible()
        shoot(page, f"{user}-order-pending")
        page.goto(f"/customers/{alfki}")
        shoot(page, f"{user}-customer")


def test_focus_and_an_open_menu_survive_the_bars_refresh(app, page: Page, clean_state, sign_in, base_url):
    """When the page refreshes its state (the worker handled something, or an action
    elsewhere: ``recordsChanged``), the action bar is swapped: the focused action keeps
    the keyboard focus and an open Automate menu stays open."""
    order_id, _no = new_order(app, released=True)
    sign_in(page, "msuyama")
    page.goto(f"{base_url}/sales-orders/{order_id}")
    bar = page.locator("#action-bar")
    reopen = bar.locator('[data-action="reopen"]')
    reopen.focus()
    with page.expect_response(lambda r: f"/sales-orders/{order_id}" in r.url and r.request.method == "GET"):
        page.evaluate("htmx.trigger(document.body, 'recordsChanged')")
    expect(bar.locator('[data-action="reopen"]')).to_be_focused()
    bar.locator("details.automate > summary").click()
    with page.expect_response(lambda r: f"/sales-orders/{order_id}" in r.url and r.request.method == "GET"):
        page.evaluate("htmx.trigger(document.body, 'recordsChanged')")
    expect(bar.locator("details.automate")).to_have_attribute("open", "")
