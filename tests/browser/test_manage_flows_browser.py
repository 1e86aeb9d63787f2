"""Manage flows in the browser: from a Vendors page's Automate menu to Manage flows
(filtered to vendors), Test a flow against a chosen vendor and read the dry run in
words — then check nothing changed and nothing was sent (a real `flask worker` runs,
the SMTP sink receives nothing). Screenshots at 1,400 and 390 px."""
from __future__ import annotations

import time

from playwright.sync_api import Page, expect
from sqlalchemy import select, text

FLOW = "Block the vendor and tell its contact"
SHOTS = "/tmp/manage-flows"


def _add_flow(app) -> tuple[int, tuple]:
    """A disabled instant flow on vendors owned by lcallahan; returns V00003's id
    (given an e-mail address, not blocked) and its e-mail and Blocked before."""
    from portal.auth.models import User
    from portal.extensions import db
    from portal.records.models import Vendor
    from portal.workflow.library import build_workflow

    steps = [(1, None, None, 1, "event", "run_from_automate", {}, []),
             (2, 1, None, 1, "response", "update_field", {"field": "blocked", "value": "true"}, []),
             (3, 2, None, 1, "response", "send_email", {"template": "vendor_blocked", "to_field": "email"}, [])]
    with app.app_context():
        wf = build_workflow({"code": "BLOCK-TEST", "description": FLOW, "record_type": "vendor", "trigger_kind": "instant",
                             "steps": steps}, enabled=False)
        wf.owner_id = db.session.scalar(select(User.id).where(User.user_name == "lcallahan"))
        db.session.add(wf)
        vendor = db.session.scalar(select(Vendor).where(Vendor.no == "V00003"))
        was = (vendor.email, vendor.blocked)
        vendor.email, vendor.blocked = "buyer@grandma-kelly.example", False
        db.session.commit()
        return vendor.id, was


def _restore(app, vendor_id: int, was: tuple) -> None:
    from portal.extensions import db
    from portal.records.models import Vendor

    with app.app_context():
        vendor = db.session.get(Vendor, vendor_id)
        vendor.email, vendor.blocked = was
        db.session.commit()


def _state(app, vendor_id: int) -> tuple:
    from portal.extensions import db
    from portal.records.models import Vendor

    with app.app_context():
        counts = tuple(db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                       for t in ("workflow_instance", "outbox_event", "workflow_effect", "notification_entry", "audit_entry"))
        blocked = db.session.get(Vendor, vendor_id).blocked
        db.session.rollback()
        return counts, blocked


def test_dry_run_a_flow_from_the_ui_and_nothing_changes(page: Page, app, worker, clean_state, sink, sign_in, open_nav):
    vendor_id, was = _add_flow(app)
    try:
        _dry_run_from_the_ui(page, app, sink, sign_in, open_nav, vendor_id)
    finally:
        _restore(app, vendor_id, was)


def _dry_run_from_the_ui(page: Page, app, sink, sign_in, open_nav, vendor_id: int) -> None:
    sign_in(page, "lcallahan", "northwind")
    open_nav(page, "Vendors")
    page.locator("details.automate > summary").click()
    menu = page.locator("details.automate .menu-items")
    if menu.get_by_role("button", name="Get started").count():
        menu.get_by_role("button", name="Get started").click()
        page.wait_for_load_state("load")
        page.locator("details.automate > summary").click()
    menu.get_by_role("menuitem", name="Manage flows").click()
    expect(page.get_by_role("heading", name="Manage flows — Vendors")).to_be_visible()
    row = page.locator("tr#flow-BLOCK-TEST")
    expect(row).to_contain_text("Laura Callahan")
    expect(row).to_contain_text("Never run")
    expect(row.get_by_role("button", name="Off")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=f"{SHOTS}-list-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}-list-390.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})

    row.get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name=f"Test “{FLOW}”")).to_be_visible()
    page.get_by_label("Vendor to test with").select_option(label="Vendor V00003 — Grandma Kelly's Homestead")
    before = _state(app, vendor_id)
    page.get_by_role("button", name="Run the test").click()
    result = page.locator("section.dry-run")
    expect(result).to_contain_text("The flow would start and run 2 action(s). Nothing was changed or sent.")
    expect(result).to_contain_text("Would change Blocked of Vendor V00003 — Grandma Kelly's Homestead from No to Yes")
    expect(result).to_contain_text("Would send an e-mail to buyer@grandma-kelly.example")
    expect(result).to_contain_text("Purchases on hold — Grandma Kelly's Homestead")
    page.screenshot(path=f"{SHOTS}-test-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}-test-390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling on a phone

    # nothing changed, nothing queued, nothing sent (the worker had time to send anything there was)
    time.sleep(2)
    assert _state(app, vendor_id) == before
    assert sink.to("buyer@grandma-kelly.example") == []

    page.goto("/flows/gallery")
    expect(page.get_by_role("heading", name="Flow gallery")).to_be_visible()
    page.screenshot(path=f"{SHOTS}-gallery-390.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=f"{SHOTS}-gallery-1400.png", full_page=True)
