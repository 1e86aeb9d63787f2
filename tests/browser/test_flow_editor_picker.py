"""Build an automated flow in the workflow editor with a value chosen from the value
picker (no template code typed), enable it, trigger it by editing a customer, and see
the run in My runs — with a real `flask worker` running the flow."""
from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from sqlalchemy import select

ASYNC = 20_000  # ms: results that wait for the worker


def test_an_automated_flow_built_with_the_value_picker_runs_when_a_record_changes(
        page: Page, app, worker, clean_state, sign_in, open_nav, base_url):
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        alfki = db.session.scalar(select(Customer).where(Customer.no == "ALFKI"))
        alfki_id, phone, fax = alfki.id, alfki.phone, alfki.fax
    try:
        sign_in(page, "lcallahan")
        page.goto(f"{base_url}/workflows/new?record_type=customer&trigger_kind=automated")
        page.get_by_label("Code *").fill("FAX-FOLLOWS")
        page.get_by_label("Description *").fill("The fax number follows the phone")
        page.get_by_role("button", name="Create and edit steps").click()
        expect(page.get_by_role("heading", name=re.compile("Edit FAX-FOLLOWS"))).to_be_visible()

        page.get_by_label("Event to add").select_option(label="A record is modified")
        page.get_by_role("button", name="Add the entry-point event").click()
        line = page.locator("#editor .line").first
        expect(line).to_contain_text("When a record is modified")
        line.get_by_label("Response to add").select_option(label="Update a field of the record")
        line.get_by_role("button", name="Add response").click()
        expect(page.locator("#editor .responses")).to_contain_text("Update a field of the record")

        page.locator("#editor .responses li").first.get_by_role("button", name="Options").click()
        dialog = page.locator("dialog[open]")
        dialog.get_by_label("Field").select_option(label="Fax No.")
        value = dialog.get_by_role("textbox", name="New Value (template)")
        value.fill("Phone: ")
        dialog.get_by_label("Insert a value into New Value (template)").select_option(label="Phone No.")
        expect(value).to_have_value("Phone: {{ record.phone }}")  # inserted at the cursor, not typed
        page.screenshot(path="test-results/flow-editor-value-picker.png")
        dialog.get_by_role("button", name="Save").click()
        expect(page.locator("#editor")).to_contain_text("The workflow passes every enable check.")

        page.goto(f"{base_url}/workflows/FAX-FOLLOWS")
        page.get_by_role("button", name="Enable").click()
        expect(page.get_by_role("status")).to_contain_text("FAX-FOLLOWS is enabled")

        page.goto(f"{base_url}/customers/{alfki_id}/edit")
        page.get_by_label("Phone No.").fill("030-1234567")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name=re.compile("ALFKI"))).to_be_visible()

        row = page.locator("table.runs-table tbody tr", has_text="The fax number follows the phone")
        deadline = time.monotonic() + ASYNC / 1000
        while True:  # My runs is a plain page: look again until the worker has run the flow
            open_nav(page, "My runs")
            if "Succeeded" in (row.first.text_content(timeout=2_000) if row.count() else "") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Succeeded")
        expect(row).to_contain_text("Automated")
        page.goto(f"{base_url}/customers/{alfki_id}")
        expect(page.locator("body")).to_contain_text("Phone: 030-1234567")
    finally:
        with app.app_context():
            c = db.session.get(Customer, alfki_id)
            c.phone, c.fax = phone, fax
            db.session.commit()


def test_a_refused_event_dialog_opens_again_with_what_was_typed(page: Page, clean_state, sign_in, base_url):
    """A condition value over the limit: the step isn't changed and the dialog is open
    again at once, with the message and the typed value (nothing typed is lost)."""
    sign_in(page, "lcallahan")
    page.goto(f"{base_url}/workflows/new?record_type=customer&trigger_kind=automated")
    page.get_by_label("Code *").fill("REOPEN-DIALOG")
    page.get_by_label("Description *").fill("A refused condition")
    page.get_by_role("button", name="Create and edit steps").click()
    page.get_by_label("Event to add").select_option(label="A record is modified")
    page.get_by_role("button", name="Add the entry-point event").click()
    line = page.locator("#editor .line").first
    line.get_by_role("button", name="Edit event").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Field").first.select_option(label="Name")
    typed = "y" * 260
    dialog.get_by_label("Value").first.fill(typed)
    dialog.get_by_role("button", name="Save").click()
    reopened = page.locator("dialog[open]")
    expect(reopened).to_contain_text("the value can have at most 250 characters")
    expect(reopened.get_by_label("Value").first).to_have_value(typed)
    reopened.get_by_label("Value").first.fill("Alfreds")
    reopened.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#editor .line").first).to_contain_text("Name is Alfreds")
