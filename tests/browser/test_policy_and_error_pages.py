"""The Content-Security-Policy (script only from the portal's files) in a real browser:
the main pages as an admin, and the behaviours that used to be inline handlers —
select all, sort, the Automate menu and Run flow pane's Close, confirm before delete,
the workflow editor's dialogs and compare switch — work under it without a violation
(the ``no_policy_violations`` fixture fails the test on any). Error pages are in the
layout with a way back, and an htmx request that fails shows its one-line message.
Screenshots: /tmp/routes-csp-*.png."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

SHOTS = "/tmp/routes-csp"


def record_id(app, model, no) -> int:
    from portal.extensions import db

    with app.app_context():
        return db.session.scalar(select(model.id).where(model.no == no))


def test_main_pages_load_without_a_policy_violation(page: Page, app, clean_state, sign_in, no_policy_violations):
    from portal.notifications.models import NotificationTemplate
    from portal.records.models import Customer, SalesHeader

    from portal.extensions import db

    with app.app_context():
        template_id = db.session.scalar(select(NotificationTemplate.id).limit(1))
    sign_in(page, "afuller")
    pages = ["/", "/customers", f"/customers/{record_id(app, Customer, 'ALFKI')}", "/sales-orders",
             f"/sales-orders/{record_id(app, SalesHeader, '10249')}", "/approvals/requests", "/approvals/sent",
             "/approvals/overdue", "/workflows/", "/workflows/SO-APPROVAL", "/workflows/templates", "/flows/my-runs",
             "/flows/history", "/flows/setup", "/notifications", "/notifications/settings", "/notification-templates",
             f"/notification-templates/{template_id}", "/mailbox", "/job-queue/", "/job-queue/new", "/no-series",
             "/approvals/setup/users", "/approvals/setup/groups", "/general-journal-batches", "/purchase-orders", "/rq/"]
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1, .navbar-brand").count() >= 1, path
    assert no_policy_violations == []


def test_former_inline_handlers_work_under_the_policy(page: Page, app, clean_state, sign_in, open_nav):
    from portal.auth.models import User
    from portal.extensions import db
    from portal.records.models import Customer
    from portal.util import utcnow

    with app.app_context():  # the automation notice accepted: the Automate menu lists the flows
        user = db.session.scalar(select(User).where(User.user_name == "afuller"))
        user.automation_notice_accepted_at = user.automation_notice_accepted_at or utcnow()
        db.session.commit()
    sign_in(page, "afuller")
    open_nav(page, "Customers")
    # select all ticks every row; a column header sorts (the hidden sort field follows)
    page.get_by_label("Select all").check()
    boxes = page.locator(".row-select")
    expect(boxes.first).to_be_checked()
    assert boxes.count() > 1 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.get_by_label("Select all").uncheck()
    expect(boxes.first).not_to_be_checked()
    page.locator("th a", has_text="Name").click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    assert page.locator("[name=sort]").input_value() == "name"
    # the Automate menu's item closes the menu and opens the Run flow pane; Close empties it
    page.locator(".row-select").first.check()
    page.locator("details.menu summary", has_text="Automate").click()
    page.get_by_role("menuitem", name="Email the customer a statement of open orders").click()
    expect(page.locator("details.menu[open]")).to_have_count(0)
    pane = page.locator("#flow-pane")
    expect(pane.get_by_role("button", name="Cancel")).to_be_visible()
    pane.get_by_role("button", name="Close").click()
    expect(pane).to_be_empty()

    # confirm before delete: dismissed, nothing is deleted (FISSA has no orders: Delete is enabled)
    fissa = record_id(app, Customer, "FISSA")
    page.goto(f"/customers/{fissa}")
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Delete").click()
    page.wait_for_timeout(300)
    assert asked and asked[0].startswith("Delete ")
    assert page.url.endswith(f"/customers/{fissa}")

    # the workflow editor's dialogs and the compare switch (on a disabled copy)
    page.goto("/workflows/SO-APPROVAL")
    page.get_by_role("button", name="Disable").click()
    page.goto("/workflows/SO-APPROVAL/edit")
    page.get_by_role("button", name="Edit event").first.click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    row = dialog.locator(".cond-row").last
    row.get_by_label("Compare with", exact=True).select_option("field")
    expect(row).to_have_attribute("data-compare", "field")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def test_error_pages_and_htmx_errors(page: Page, app, clean_state, sign_in):
    from portal.records.models import Customer

    page.goto("/no-such-page/1/2")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    sign_in(page, "msuyama")
    page.goto("/customers")
    page.goto("/customers/999999999")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Customer 999999999 does not exist.")
    header = page.locator("#main-nav")  # the signed-in header: its area menus and the Customers link in Sales
    expect(header.get_by_role("button", name="Sales", exact=True)).to_be_visible()
    expect(header.get_by_role("link", name="Customers", exact=True, include_hidden=True)).to_have_count(1)
    for width, height in ((1400, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=f"{SHOTS}-404-{width}.png", full_page=True)
    page.get_by_role("button", name="Go back").click()
    page.wait_for_url("**/customers")
    page.goto("/mailbox")
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=f"{SHOTS}-403-1400.png", full_page=True)
    page.get_by_role("link", name="Go to the home page").click()
    page.wait_for_url("**/")
    # an htmx request that fails: its one-line message above the page, replaced by the next
    alfki = record_id(app, Customer, "ALFKI")
    page.goto(f"/customers/{alfki}")
    page.wait_for_load_state("networkidle")
    page.evaluate("htmx.ajax('GET', '/customers/999999999', {target: 'main', swap: 'none'})")
    box = page.locator("#request-error")
    expect(box).to_have_text("Not found: Customer 999999999 does not exist.")
    page.screenshot(path=f"{SHOTS}-htmx-error-1400.png")
    page.evaluate("htmx.ajax('GET', '/mailbox', {target: 'main', swap: 'none'})")
    expect(box.locator(".flash")).to_have_count(1)
    expect(box).to_contain_text("Not permitted")
    # the browser's own request for the icon is answered
    assert page.request.get("/favicon.ico").status == 200


def test_an_inline_style_is_a_policy_violation_the_tests_see(page: Page, live_server, no_policy_violations):
    """The policy allows styles from the portal's stylesheet only (``style-src 'self'``):
    a style attribute or a <style> element in the page's markup is refused, and the
    ``no_policy_violations`` fixture (which fails any test with a violation) sees it.
    Styles set from script (CSSOM) stay allowed."""
    page.goto("/sign-in")
    page.evaluate("""() => {
      const box = document.createElement("div");
      box.innerHTML = '<p id="styled" style="color: rgb(255, 0, 0)">x</p><style>#styled { font-size: 40px }</style>';
      document.body.append(box);
      document.getElementById("styled").style.fontWeight = "700";
    }""")
    for _ in range(50):
        if len(no_policy_violations) >= 2:
            break
        page.wait_for_timeout(100)
    assert any("style-src" in v for v in no_policy_violations), no_policy_violations
    styled = page.locator("#styled")
    assert styled.evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"  # the attribute was refused
    assert styled.evaluate("e => getComputedStyle(e).fontSize") != "40px"  # so was the <style> element
    assert styled.evaluate("e => getComputedStyle(e).fontWeight") == "700"  # CSSOM is not blocked
    no_policy_violations.clear()  # expected here: the fixture must not fail this test

