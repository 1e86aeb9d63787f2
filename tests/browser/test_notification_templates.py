"""Notification templates in the browser, with the real RQ worker and SMTP sink: the
admin edits the approval request template and watches the live preview follow the
typing and the record picked; a request sent afterwards arrives at the sink (and in
the Mailbox) with the new subject; the approver approves from the mail's Approve link,
signing in on the way, and the order is Released."""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.test_sales_order_approval import ASYNC, TITLE, expect_status_eventually, open_order, send_for_approval

SHOTS = "/tmp/nmail-shots"


@pytest.fixture
def approval_template(app):
    """The approval request (Email) template, put back as it was after the test."""
    from portal.extensions import db
    from portal.notifications.models import NotificationTemplate

    with app.app_context():
        t = db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "approval_request", NotificationTemplate.method == "Email"))
        saved = (t.id, t.subject, t.body)
    yield saved[0]
    with app.app_context():
        t = db.session.get(NotificationTemplate, saved[0])
        t.subject, t.body = saved[1], saved[2]
        db.session.commit()


def test_edit_preview_send_and_approve_from_the_mail(page: Page, app, worker, clean_state, sink, sign_in, sign_out, open_nav,
                                                     approval_template):
    tag = uuid.uuid4().hex[:6]
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "admin")
    open_nav(page, "Notification Templates")
    expect(page.get_by_role("heading", name="Notification Templates")).to_be_visible()
    page.locator("#templates tbody tr").filter(has_text="Email").get_by_role("link", name="approval_request", exact=True).click()
    page.wait_for_url(re.compile(r"/notification-templates/\d+$"))
    page.wait_for_load_state("load")  # (the placeholder buttons' script has run)
    preview = page.locator("#preview")
    expect(preview.locator("#preview-subject")).to_contain_text("Approval requested:", timeout=10_000)

    # pick the record: Sales Orders → search 10249
    page.get_by_label("Record type").select_option("sales_header")
    page.get_by_label("Search").fill("10249")
    expect(page.locator("#record_id option", has_text="Sales Order 10249")).to_have_count(1, timeout=10_000)
    page.get_by_label("Record", exact=True).select_option(label="Sales Order 10249")
    expect(preview).to_contain_text("Rendered with Sales Order 10249", timeout=10_000)

    # type into the subject: the preview follows (htmx, debounced)
    subject = page.get_by_label("Subject")
    subject.fill(f"Please decide {tag}: ")
    subject.press("End")
    page.locator("#placeholders").get_by_role("button", name="{{ entry.record_title }}", exact=True).click()
    expect(subject).to_have_value(f"Please decide {tag}: {{{{ entry.record_title }}}}")
    expect(preview.locator("#preview-subject")).to_have_text(re.compile(rf"^Please decide {tag}: Sales Order 10249"), timeout=10_000)
    # a refused template says why in the preview, and Save keeps it out
    body = page.get_by_label("Body (HTML)")
    original = body.input_value()
    body.fill(original + "{{ 'x' * 10**8 }}")
    expect(page.locator("#preview-error")).to_contain_text("longer than 100,000 characters", timeout=10_000)
    page.screenshot(path=f"{SHOTS}/template-editor-error-1400.png", full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#body-errors")).to_contain_text("longer than 100,000 characters")
    page.get_by_label("Body (HTML)").fill(original)
    expect(preview.locator("#preview-subject")).to_have_text(re.compile(rf"^Please decide {tag}"), timeout=10_000)
    page.screenshot(path=f"{SHOTS}/template-editor-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=f"{SHOTS}/template-editor-390.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Template approval_request (Email) saved.")
    sign_out(page)

    # the request goes out with the new subject
    sign_in(page, "msuyama")
    open_order(page, open_nav)
    send_for_approval(page)
    [mail] = sink.wait_for("sbuchanan@northwind.test", f"Please decide {tag}: {TITLE}")
    html = sink.body(mail)
    approve = re.search(r'href="([^"]+/approvals/link/[^"]+)"[^>]*>Approve<', html).group(1)
    sign_out(page)

    sign_in(page, "admin")
    open_nav(page, "Mailbox")
    row = page.locator("#mailbox tbody tr").filter(has_text=f"Please decide {tag}")
    expect(row).to_have_count(1)
    row.get_by_role("link").click()
    expect(page.frame_locator("iframe.mail-body").get_by_role("link", name="Approve")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/mailbox-message-1400.png", full_page=True)
    sign_out(page)

    # the approver follows the Approve link: sign in first, then back to the confirmation
    page.goto(urlsplit(approve).path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill("sbuchanan")
    page.get_by_label("Password").fill("northwind")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Approve the request for {TITLE}?")).to_be_visible()
    page.get_by_label("Comment (optional)").fill(f"From the mail {tag}")
    page.screenshot(path=f"{SHOTS}/link-confirm-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=f"{SHOTS}/link-confirm-390.png", full_page=True)
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Approved: {TITLE}")
    page.screenshot(path=f"{SHOTS}/link-done-390.png", full_page=True)
    # the same link again says so in words
    page.goto(urlsplit(approve).path)
    expect(page.get_by_role("alert")).to_contain_text("already used")
    page.screenshot(path=f"{SHOTS}/link-used-390.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})

    open_order(page, open_nav)
    expect_status_eventually(page, "Released", timeout=ASYNC)
    expect(page.get_by_role("complementary", name="Approvals")).to_contain_text(f"From the mail {tag}")
    wait_until_idle(app)


def wait_until_idle(app, timeout: float = 20.0) -> None:
    """Wait until the worker has nothing left of this test (events, runs, effects,
    notifications), so the next test's clean-up doesn't race it."""
    import time

    from sqlalchemy import func

    from portal.extensions import db
    from portal.notifications.models import NotificationEntry
    from portal.workflow.models import Effect, OutboxEvent, WorkflowInstance

    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            busy = [db.session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.status.in_(["pending", "processing"]))),
                    db.session.scalar(select(func.count(WorkflowInstance.id)).where(WorkflowInstance.status == "Running")),
                    db.session.scalar(select(func.count(Effect.id)).where(Effect.status.in_(["pending", "in_progress"]))),
                    db.session.scalar(select(func.count(NotificationEntry.id)).where(NotificationEntry.error.is_(None)))]
            db.session.rollback()
            if not any(busy):
                return
            time.sleep(0.2)
