"""Approval pages through the Flask test client, on a request the real RQ worker
opened: Requests to Approve (delegate; the administrator's "every open request"),
Requests Sent for Approval (delegate, cancel), the record's Approval Entries page with
approval comments (who may read and add them), the Overdue Approval Entries page and
the actions a record page offers to whom."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.approvals.models import ApprovalEntry
from portal.records.models import SalesHeader
from portal.util import utcnow
from action_bar import actions_shown
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.fixture
def client(app):
    return app.test_client()


def order_id(app, no="10249") -> int:
    from portal.extensions import db

    with app.app_context():
        return db.session.scalar(select(SalesHeader.id).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))


def sent(app, client, run_jobs, no="10249") -> int:
    """msuyama sends the order from its page; the worker opens Buchanan's entry.
    Returns the order's id (client left signed in as msuyama)."""
    doc = order_id(app, no)
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{doc}").get_data(as_text=True)
    client.post(f"/approvals/send/sales_header/{doc}", data={"csrf_token": csrf(page)})
    run_jobs()
    return doc


def open_entry(app, doc) -> ApprovalEntry:
    from portal.extensions import db

    with app.app_context():
        entry = db.session.scalar(select(ApprovalEntry).where(ApprovalEntry.record_id == doc, ApprovalEntry.status == "Open"))
        db.session.expunge(entry)
        return entry


def switch(client, user, password="northwind"):
    client.get("/sign-out")
    page = client.get("/").get_data(as_text=True)
    if "Sign out" in page:
        client.post("/sign-out", data={"csrf_token": csrf(page)})
    sign_in(client, user, password)


def test_record_page_offers_each_user_only_what_they_may_do(app, client, run_jobs):
    doc = sent(app, client, run_jobs)
    html = client.get(f"/sales-orders/{doc}").get_data(as_text=True)  # the sender
    shown = actions_shown(html)
    assert shown["cancel"].enabled and shown["send"] == (False, "An approval request for Sales Order 10249 already exists.")
    assert "approve" not in shown and shown["delegate"].enabled  # the sender may delegate
    switch(client, "sbuchanan")
    html = client.get(f"/sales-orders/{doc}").get_data(as_text=True)  # the approver
    shown = actions_shown(html)
    assert shown["approve"].enabled and shown["reject"].enabled and shown["delegate"].enabled
    assert shown["cancel"] == (False, "Only the sender or the approval administrator can cancel this approval request.")
    switch(client, "ndavolio")
    html = client.get(f"/sales-orders/{doc}").get_data(as_text=True)  # neither
    shown = actions_shown(html)
    assert "approve" not in shown and "delegate" not in shown
    assert not shown["cancel"].enabled and not shown["send"].enabled
    # ...and is told so when posting anyway.
    entry = open_entry(app, doc)
    res = client.post("/approvals/decide", data={"csrf_token": csrf(html), "entry_id": entry.id, "action": "approve"}, follow_redirects=True)
    assert "You are not permitted to act on the request for Sales Order 10249" in res.get_data(as_text=True)
    res = client.post("/approvals/decide", data={"csrf_token": csrf(html), "entry_id": entry.id, "action": "delegate"}, follow_redirects=True)
    assert "You are not permitted to delegate the request for Sales Order 10249" in res.get_data(as_text=True)


def test_delegate_from_requests_to_approve_and_the_administrators_view(app, client, run_jobs):
    doc = sent(app, client, run_jobs)
    switch(client, "sbuchanan")
    page = client.get("/approvals/requests").get_data(as_text=True)
    assert "Sales Order 10249 — Toms Spezialitäten — 1,863.40" in page and 'value="delegate"' in page
    entry = open_entry(app, doc)
    res = client.post("/approvals/decide", data={"csrf_token": csrf(page), "entry_id": entry.id, "action": "delegate",
                                                 "comment": "On leave"}, follow_redirects=True)
    html = res.get_data(as_text=True)
    assert "Delegated: Sales Order 10249" in html and "There are no requests waiting for your approval." in html
    run_jobs()
    switch(client, "afuller")
    assert "Sales Order 10249" in client.get("/approvals/requests").get_data(as_text=True)
    # The approval administrator sees every open request on demand.
    switch(client, "admin", "admin")
    assert "Sales Order 10249" not in client.get("/approvals/requests").get_data(as_text=True)
    every = client.get("/approvals/requests?all=1").get_data(as_text=True)
    assert "Sales Order 10249" in every and "Andrew Fuller" in every
    # ...but ordinary approvers can't switch to it.
    switch(client, "sbuchanan")
    assert "Sales Order 10249" not in client.get("/approvals/requests?all=1").get_data(as_text=True)


def test_requests_sent_page_cancels(app, client, run_jobs):
    doc = sent(app, client, run_jobs)
    page = client.get("/approvals/sent").get_data(as_text=True)
    assert "Cancel Request" in page and "Steven Buchanan" in page
    res = client.post(f"/approvals/cancel/sales_header/{doc}", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "is being canceled" in res.get_data(as_text=True)
    run_jobs()
    page = client.get("/approvals/sent").get_data(as_text=True)
    assert "Canceled" in page and "Cancel Request" not in page


def test_approval_comments_are_for_the_sender_and_the_approvers(app, client, run_jobs):
    doc = sent(app, client, run_jobs)
    page = client.get(f"/approvals/entries/sales_header/{doc}").get_data(as_text=True)
    assert "Approval Entries — Sales Order 10249" in page and "Steven Buchanan" in page
    res = client.post(f"/approvals/comments/sales_header/{doc}", data={"csrf_token": csrf(page), "comment": "  "}, follow_redirects=True)
    assert "Write a comment first." in res.get_data(as_text=True)
    res = client.post(f"/approvals/comments/sales_header/{doc}", data={"csrf_token": csrf(page), "comment": "Customer asked for speed"},
                      follow_redirects=True)
    assert "Comment added." in res.get_data(as_text=True) and "Customer asked for speed" in res.get_data(as_text=True)
    switch(client, "sbuchanan")
    assert "Customer asked for speed" in client.get(f"/approvals/entries/sales_header/{doc}").get_data(as_text=True)
    assert "Customer asked for speed" in client.get(f"/sales-orders/{doc}").get_data(as_text=True)
    switch(client, "ndavolio")
    page = client.get(f"/approvals/entries/sales_header/{doc}").get_data(as_text=True)
    assert "Customer asked for speed" not in page and "visible to the sender and the approvers" in page
    assert "Customer asked for speed" not in client.get(f"/sales-orders/{doc}").get_data(as_text=True)
    res = client.post(f"/approvals/comments/sales_header/{doc}", data={"csrf_token": csrf(page), "comment": "me too"}, follow_redirects=True)
    assert "You are not permitted to comment" in res.get_data(as_text=True)


def test_overdue_page_lists_the_notifications_sent(app, client, run_jobs):
    from portal.extensions import db
    from portal.queue import enqueue

    doc = sent(app, client, run_jobs)
    with app.app_context():
        db.session.execute(update(ApprovalEntry).where(ApprovalEntry.record_id == doc, ApprovalEntry.status == "Open")
                           .values(due_date=utcnow().date() - timedelta(days=3)))
        db.session.commit()
        db.session.remove()
    page = client.get("/approvals/overdue").get_data(as_text=True)
    assert 'id="open-overdue">1<' in page and "No overdue notifications have been sent." in page
    with app.app_context():
        assert enqueue("jobs.approvals.overdue_approvals")
    run_jobs()
    page = client.get("/approvals/overdue").get_data(as_text=True)  # msuyama: the sender
    for who in ("Steven Buchanan", "Andrew Fuller", "Michael Suyama"):
        assert who in page
    assert "Approver&#39;s approver" in page
    switch(client, "ndavolio")  # not involved: sees none
    assert "No overdue notifications have been sent." in client.get("/approvals/overdue").get_data(as_text=True)
