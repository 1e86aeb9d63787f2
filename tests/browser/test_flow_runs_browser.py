"""Instant flows in the browser: Get started, a flow with typed inputs run from the
Customers list on two selected rows (field errors first, then Continue and the
progress per record), the runs in My runs; a failed run retried from its page after
its cause was fixed. A real `flask worker` runs the flows."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

ASYNC = 20_000  # ms: results that wait for the worker
FLOW = "Note the vendor for these customers"


def _add_typed_flow(app) -> None:
    from portal.extensions import db
    from portal.workflow.inputs import normalize
    from portal.workflow.library import build_workflow

    fields = [
        {"name": "vendor", "caption": "Vendor", "type": "record", "record_type": "vendor", "required": True,
         "help": "Whose goods this is about."},
        {"name": "amount", "caption": "Amount", "type": "decimal", "required": True},
        {"name": "due", "caption": "Due date", "type": "date"},
        {"name": "priority", "caption": "Priority", "type": "choice", "choices": ["Low", "High"], "default": "Low"},
        {"name": "urgent", "caption": "Urgent", "type": "boolean"},
    ]
    steps = [(1, None, None, 1, "event", "run_from_automate", {}, []),
             (2, 1, None, 1, "response", "show_message",
              {"message": "{{ record.no }}: {{ inputs.vendor }} owes {{ inputs.amount }} by {{ inputs.due }} ({{ inputs.priority }})"}, [])]
    with app.app_context():
        db.session.add(build_workflow({"code": "VENDOR-NOTE", "description": FLOW, "record_type": "customer",
                                       "trigger_kind": "instant", "steps": steps,
                                       "input_fields": [normalize(f) for f in fields]}))
        db.session.commit()


def _forget_notice(app, user_name: str) -> None:
    from portal.auth.models import User
    from portal.extensions import db

    with app.app_context():
        db.session.scalar(select(User).where(User.user_name == user_name)).automation_notice_accepted_at = None
        db.session.commit()


def _open_automate(page: Page) -> None:
    page.locator("details.automate > summary").click()


def test_typed_inputs_on_two_selected_rows_then_my_runs(page: Page, app, worker, clean_state, sign_in, open_nav):
    _add_typed_flow(app)
    _forget_notice(app, "msuyama")
    sign_in(page, "msuyama")
    open_nav(page, "Customers")

    # the first time: only the notice and Get started
    _open_automate(page)
    menu = page.locator("details.automate .menu-items")
    expect(menu).to_contain_text("Flows act on the records you choose")
    expect(menu.get_by_role("menuitem")).to_have_count(0)
    menu.get_by_role("button", name="Get started").click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("status")).to_contain_text("Automate is ready")

    page.get_by_label("Select ALFKI", exact=True).check()
    page.get_by_label("Select ANATR", exact=True).check()
    _open_automate(page)
    page.get_by_role("menuitem", name=FLOW).click()
    pane = page.get_by_role("region", name="Run flow", exact=True)
    expect(pane).to_contain_text("On 2 customers")
    expect(pane).to_contain_text("Whose goods this is about.")
    expect(pane.get_by_label("Priority")).to_have_value("Low")  # the default

    # errors per field, nothing started
    pane.get_by_label("Amount").fill("twelve")
    pane.get_by_role("button", name="Continue").click()
    expect(pane).to_contain_text("Vendor is required.")
    expect(pane).to_contain_text("Amount must be an amount")
    expect(pane.get_by_label("Amount")).to_have_value("twelve")

    pane.get_by_label("Vendor").select_option(label="Vendor V00002 — New Orleans Cajun Delights")
    pane.get_by_label("Amount").fill("1250.50")
    pane.get_by_label("Due date").fill("2026-12-31")
    pane.get_by_label("Priority").select_option("High")
    pane.get_by_label("Urgent").check()
    pane.get_by_role("button", name="Continue").click()

    progress = page.get_by_role("region", name="Run flow progress")
    runs = progress.locator("li.run")
    expect(runs).to_have_count(2)
    for i in range(2):
        expect(runs.nth(i)).to_have_attribute("data-status", "Completed", timeout=ASYNC)
    expect(progress).to_contain_text("ALFKI: V00002 owes 1250.50 by 2026-12-31 (High)")
    expect(progress).to_contain_text("ANATR: V00002 owes 1250.50 by 2026-12-31 (High)")
    expect(progress).to_contain_text("All 2 run(s) finished.")

    progress.get_by_role("link", name="My runs").click()
    expect(page.get_by_role("heading", name="My runs")).to_be_visible()
    rows = page.locator("table.runs-table tbody tr", has_text=FLOW)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Succeeded")
    rows.first.get_by_role("link", name=re.compile(r"Run \d+")).click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run \d+ — {FLOW}"))).to_be_visible()
    expect(page.locator("dl.run-inputs")).to_contain_text("1,250.50")
    expect(page.locator("table.run-steps")).to_contain_text("show a message")


def test_retry_a_failed_run_after_fixing_its_cause(page: Page, app, worker, clean_state, sink, sign_in, open_nav):
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        anatr = db.session.scalar(select(Customer).where(Customer.no == "ANATR"))
        anatr_id, saved = anatr.id, anatr.email
        anatr.email = None
        db.session.commit()
    try:
        sign_in(page, "msuyama")
        page.goto(f"/customers/{anatr_id}")
        _open_automate(page)
        get_started = page.get_by_role("button", name="Get started")
        if get_started.is_visible():
            get_started.click()
            page.wait_for_load_state("load")
            _open_automate(page)
        page.get_by_role("menuitem", name="Email the customer a statement of open orders").click()
        pane = page.get_by_role("region", name="Run flow", exact=True)
        pane.get_by_label("Message").fill("After the fix")
        pane.get_by_role("button", name="Continue").click()
        run = page.get_by_role("region", name="Run flow progress").locator("li.run")
        expect(run).to_have_attribute("data-status", "Failed", timeout=ASYNC)
        expect(run).to_contain_text("has no value in 'email'")

        run.get_by_role("link", name=re.compile(r"Run \d+")).click()
        expect(page.locator("#run-status")).to_contain_text("Status: Failed")
        expect(page.locator("table.run-steps")).to_contain_text("Not done: the run failed before this step")

        with app.app_context():  # fix the cause: the customer gets an e-mail address again
            db.session.get(Customer, anatr_id).email = saved
            db.session.commit()
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_role("status")).to_contain_text("is retried")
        expect(page.locator("#run-status")).to_have_attribute("data-status", "Completed", timeout=ASYNC)
        expect(page.locator("#run-status")).to_contain_text("Status: Succeeded")
        expect(page.get_by_role("button", name="Retry")).to_have_count(0)
        [mail] = sink.wait_for(saved, "Statement of open orders")
        assert "After the fix" in sink.body(mail)
    finally:
        with app.app_context():
            db.session.get(Customer, anatr_id).email = saved
            db.session.commit()
