"""The audit trail in the browser: after editing a customer, **Changes** on its card
shows who changed the Phone No. from what to what; an admin finds the same row on the
**Audit** page (admin navigation), filtered by record. Screenshots at 1,400 and 390 px
wide go to /tmp/audit-*.png."""
from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select


def _customer(app, no):
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        c = db.session.scalar(select(Customer).where(Customer.no == no))
        found = (c.id, c.phone)
        db.session.remove()
    return found


def _set_phone(app, customer_id, phone):
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        db.session.get(Customer, customer_id).phone = phone
        db.session.commit()
        db.session.remove()


def test_changes_from_a_customer_card_after_an_edit(page: Page, app, clean_state, sign_in, sign_out, open_nav):
    customer_id, old_phone = _customer(app, "BLAUS")
    try:
        sign_in(page, "msuyama")
        page.goto(f"/customers/{customer_id}")
        page.get_by_role("link", name="Edit", exact=True).click()
        page.get_by_label("Phone No.").fill("0621-00000")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Customer BLAUS")
        page.screenshot(path="/tmp/audit-card-1400.png")

        page.get_by_role("link", name="Changes", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Changes — Customer BLAUS — Blauer See Delikatessen")
        row = page.locator("#audit-rows tbody tr").first
        expect(row.locator("td.changed-field")).to_have_text("Phone No.")
        expect(row.locator("td.old")).to_have_text(old_phone)
        expect(row.locator("td.new")).to_have_text("0621-00000")
        expect(row).to_contain_text("Michael Suyama")
        page.set_viewport_size({"width": 1400, "height": 800})
        page.screenshot(path="/tmp/audit-changes-1400.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path="/tmp/audit-changes-390.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1400, "height": 800})

        sign_out(page)
        sign_in(page, "admin")
        open_nav(page, "Audit")
        page.get_by_label("Record", exact=True).fill("blaus")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("#audit-rows tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("td.new")).to_have_text("0621-00000")
        page.get_by_label("Record", exact=True).fill("")
        page.get_by_role("button", name="Filter").click()
        page.screenshot(path="/tmp/audit-page-1400.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path="/tmp/audit-page-390.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        _set_phone(app, customer_id, old_phone)
