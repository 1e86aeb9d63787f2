"""The Automate menu's instant flow "Email the customer a statement of open orders",
run from a customer card and from the Customers list: the Run flow pane, Continue,
the run on the real RQ worker, the progress pane and the email at the SMTP sink."""
from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

FLOW = "Email the customer a statement of open orders"
ASYNC = 20_000  # ms: results that wait for the worker


def search_customers(page: Page, open_nav, text: str) -> None:
    """Open the Customers list and search as you type (htmx swaps #list-results)."""
    open_nav(page, "Customers")
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_role("searchbox", name="Search").fill(text)
    expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(text)}(&|$)"), timeout=10_000)


def choose_flow(page: Page) -> None:
    page.locator("details.automate > summary").click()
    get_started = page.get_by_role("button", name="Get started")
    if get_started.is_visible():  # the user's first time in Automate: accept the notice
        get_started.click()
        page.wait_for_load_state("load")
        page.locator("details.automate > summary").click()
    page.get_by_role("menuitem", name=FLOW).click()


def test_run_flow_from_customer_card(page: Page, worker, clean_state, sink, sign_in, open_nav):
    sign_in(page, "msuyama")
    search_customers(page, open_nav, "ALFKI")
    results = page.locator("#list-results tbody tr")
    expect(results).to_have_count(1)
    results.get_by_role("link", name="ALFKI", exact=True).click()
    expect(page.get_by_role("heading", name="Customer ALFKI — Alfreds Futterkiste")).to_be_visible()

    choose_flow(page)
    pane = page.get_by_role("region", name="Run flow", exact=True)
    expect(pane).to_be_visible()
    expect(pane).to_contain_text(f"Run flow: {FLOW}")
    expect(pane).to_contain_text("Customer ALFKI — Alfreds Futterkiste")

    message = f"Browser test note {uuid.uuid4().hex[:10]}"
    pane.get_by_label("Message").fill(message)
    pane.get_by_role("button", name="Continue").click()

    progress = page.get_by_role("region", name="Run flow progress")
    expect(progress).to_be_visible()
    run = progress.locator("li.run")
    expect(run).to_have_count(1)
    expect(run).to_have_attribute("data-status", "Completed", timeout=ASYNC)
    expect(run).to_contain_text("Succeeded")
    expect(run).to_contain_text("Customer ALFKI — Alfreds Futterkiste")
    # the run ended (recordsChanged): the card's Flow runs fact box shows it without a reload
    expect(page.get_by_role("complementary", name="Flow runs")).to_contain_text(FLOW, timeout=ASYNC)

    [mail] = sink.wait_for("alfki@customers.northwind.test", "Statement of open orders")
    body = sink.body(mail)
    assert message in body
    assert "10643" in body  # one of ALFKI's orders


def test_run_flow_on_selected_rows_of_customers_list(page: Page, worker, clean_state, sink, sign_in, open_nav):
    sign_in(page, "msuyama")
    # The list is sorted by No.: ALFKI and ANATR are the first rows of page 1.
    open_nav(page, "Customers")
    page.get_by_label("Select ALFKI", exact=True).check()
    page.get_by_label("Select ANATR", exact=True).check()

    choose_flow(page)
    pane = page.get_by_role("region", name="Run flow", exact=True)
    expect(pane).to_contain_text("On 2 customers")
    expect(pane).to_contain_text("Customer ALFKI — Alfreds Futterkiste")
    expect(pane).to_contain_text("Customer ANATR")
    message = f"Two customers {uuid.uuid4().hex[:10]}"
    pane.get_by_label("Message").fill(message)
    pane.get_by_role("button", name="Continue").click()

    runs = page.get_by_role("region", name="Run flow progress").locator("li.run")
    expect(runs).to_have_count(2)
    for i in range(2):
        expect(runs.nth(i)).to_have_attribute("data-status", "Completed", timeout=ASYNC)
        expect(runs.nth(i)).to_contain_text("Succeeded")

    for address in ("alfki@customers.northwind.test", "anatr@customers.northwind.test"):
        [mail] = sink.wait_for(address, "Statement of open orders")
        assert message in sink.body(mail)


def test_run_flow_on_list_without_selection_asks_for_a_row(page: Page, clean_state, sign_in, open_nav):
    sign_in(page, "msuyama")
    open_nav(page, "Customers")
    choose_flow(page)
    pane = page.get_by_role("region", name="Run flow", exact=True)
    expect(pane).to_be_visible()
    expect(pane).to_contain_text("Select at least one customer to run the flow on.")
    expect(pane.get_by_role("button", name="Continue")).to_have_count(0)


def test_the_run_flow_pane_by_keyboard(page: Page, clean_state, sign_in, open_nav):
    """Keyboard only: open the Automate menu, choose the flow, type in the pane (focus
    is in its first field), Escape closes it and focus is back on the Automate menu."""
    sign_in(page, "msuyama")
    open_nav(page, "Customers")
    choose_flow(page)  # (accepts the first-time notice with the mouse; the page reloads)
    expect(page.get_by_role("region", name="Run flow", exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("region", name="Run flow", exact=True)).to_have_count(0)
    page.get_by_label("Select ALFKI", exact=True).check()

    summary = page.locator("details.automate > summary")
    summary.focus()
    page.keyboard.press("Enter")  # opens the menu
    item = page.get_by_role("menuitem", name=FLOW)
    expect(item).to_be_visible()
    item.focus()
    page.keyboard.press("Enter")
    pane = page.get_by_role("region", name="Run flow", exact=True)
    expect(pane).to_be_visible()
    expect(pane.get_by_label("Message")).to_be_focused()
    page.keyboard.type("typed by keyboard")
    expect(pane.get_by_label("Message")).to_have_value("typed by keyboard")
    page.keyboard.press("Escape")
    expect(pane).to_have_count(0)
    expect(summary).to_be_focused()
