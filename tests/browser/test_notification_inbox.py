"""Notifications in the browser: Michael Suyama changes his Approval notifications to
Note on the "change notification settings" page (from the header), his order is
rejected by Steven Buchanan (the real RQ worker runs the workflow and the notification
dispatcher), and the note arrives in his Notifications inbox — no mail — with the
unread count in the header; Mark read clears the count (htmx, HX-Trigger)."""
from __future__ import annotations

import time

from playwright.sync_api import Page, expect
from sqlalchemy import delete, select, update

from .test_requests_to_approve import send_orders

ASYNC = 20_000  # ms


def reset_settings(app) -> None:
    from portal.extensions import db
    from portal.notifications.models import NotificationSchedule, NotificationSetup

    with app.app_context():
        db.session.execute(delete(NotificationSchedule))
        db.session.execute(delete(NotificationSetup).where(NotificationSetup.user_id.is_not(None)))
        db.session.execute(update(NotificationSetup).values(method="Email"))
        db.session.commit()
        db.session.remove()


def reject(app, no: str) -> str:
    """Buchanan rejects his open request for order ``no`` (the service the Reject
    button calls); returns the entry's title."""
    from portal.approvals import service as approvals
    from portal.auth.models import User
    from portal.extensions import db
    from portal.records.models import SalesHeader

    with app.app_context():
        s = db.session
        buchanan = s.scalar(select(User).where(User.user_name == "sbuchanan"))
        doc = s.scalar(select(SalesHeader).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
        entry = approvals.open_entry_for(s, "sales_header", doc.id, buchanan.id)
        approvals.reject(s, entry.id, buchanan, "Please split the order")
        s.commit()
        title = entry.record_title
        s.remove()
        return title


def wait_for_note(app, subject: str) -> None:
    from portal.extensions import db
    from portal.notifications.models import SentNotificationEntry

    with app.app_context():
        deadline = time.monotonic() + ASYNC / 1000
        while db.session.scalar(select(SentNotificationEntry.id).where(SentNotificationEntry.subject == subject)) is None:
            assert time.monotonic() < deadline, f"no note {subject!r} arrived"
            time.sleep(0.2)
            db.session.rollback()
        db.session.remove()


def test_a_note_setup_brings_the_rejection_to_the_inbox_with_the_header_count(app, page: Page, worker, clean_state, sink, sign_in):
    reset_settings(app)
    try:
        sign_in(page, "msuyama")
        page.locator("#nav-user-button").click()  # the header's user menu
        page.get_by_role("link", name="Notification settings").click()
        expect(page.get_by_role("heading", name="Notification settings")).to_be_visible()
        approval = page.locator('fieldset[data-type="Approval"]')
        approval.get_by_label("How").select_option("Note")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Notification settings saved.")).to_be_visible()
        expect(page.locator('fieldset[data-type="Approval"]').get_by_label("How")).to_have_value("Note")
        expect(page.locator("#notif-count .badge")).to_have_count(0)

        send_orders(app, ["10249"])
        title = reject(app, "10249")
        wait_for_note(app, f"Rejected: {title}")

        page.locator("#main-nav").get_by_role("link", name="Notifications").click()
        row = page.locator("table.inbox tbody tr").filter(has_text=f"Rejected: {title}")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(3)).to_have_text("Note")
        expect(page.locator("#notif-count .badge")).to_have_text("1 unread")
        row.get_by_text("Show message").click()
        expect(row.get_by_text("Please split the order")).to_be_visible()
        expect(row.get_by_role("link", name="Change notification settings")).to_be_visible()
        assert sink.to("msuyama@northwind.test", "Rejected") == []  # a note, no mail

        row.get_by_role("button", name="Mark read").click()
        expect(row.get_by_text("Read", exact=True)).to_be_visible()
        expect(page.locator("#notif-count .badge")).to_have_count(0)  # the header's count refreshed on HX-Trigger
    finally:
        reset_settings(app)
