"""One-click Approve / Reject links in the approval request mail (real worker, real
SMTP sink, Flask test client): a valid link decides exactly as the portal's buttons
do; a link used twice, expired, tampered, for an entry already decided or opened by
someone else says so in words with a 4xx page; a visitor who is not signed in signs
in first and comes back."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from conftest import body_of
from portal.approvals.models import ApprovalCommentLine, ApprovalEntry, ApprovalLinkUse
from portal.records.models import SalesHeader
from portal.util import utcnow
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")
TITLE = "Sales Order 10249"


@pytest.fixture
def client(app):
    return app.test_client()


def text_part(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""


def order(app) -> SalesHeader:
    from portal.extensions import db

    with app.app_context():
        doc = db.session.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
        db.session.expunge(doc)
        return doc


def request_links(app, client, run_jobs, sink) -> dict[str, str]:
    """msuyama sends order 10249; the worker mails Buchanan the request. Returns the
    paths of the mail's Approve and Reject links (client signed out)."""
    doc = order(app)
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{doc.id}").get_data(as_text=True)
    client.post(f"/approvals/send/sales_header/{doc.id}", data={"csrf_token": csrf(page)})
    run_jobs()
    [mail] = sink.wait_for("sbuchanan@northwind.test", "Approval requested")
    html = body_of(mail)
    found = dict(re.findall(r'href="([^"]+/approvals/link/[^"]+)"[^>]*>(Approve|Reject)<', html))
    links = {label.lower(): urlsplit(url).path for url, label in found.items()}
    assert set(links) == {"approve", "reject"}, html
    # the plain-text alternative carries them too
    text = text_part(mail)
    assert "Approve: http" in text and "Reject: http" in text
    page = client.get("/").get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf(page)})
    return links


def entry_status(app) -> str:
    from portal.extensions import db

    with app.app_context():
        return db.session.scalar(select(ApprovalEntry.status).join(SalesHeader, SalesHeader.id == ApprovalEntry.record_id)
                                 .where(SalesHeader.no == "10249", ApprovalEntry.approver_id != ApprovalEntry.sender_id)
                                 .order_by(ApprovalEntry.id.desc()).limit(1))


def confirm(client, path, comment=""):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True)), "comment": comment})


def test_approve_from_the_mail_link_records_the_decision_like_the_portal(app, client, run_jobs, sink):
    links = request_links(app, client, run_jobs, sink)
    sign_in(client, "sbuchanan", "northwind")
    page = client.get(links["approve"]).get_data(as_text=True)
    assert f"Approve the request for {TITLE}" in page and 'name="comment"' in page and "Michael Suyama" in page
    done = confirm(client, links["approve"], "Approved from my phone")
    assert done.status_code == 200 and "Approved: Sales Order 10249" in done.get_data(as_text=True)
    run_jobs()
    assert entry_status(app) == "Approved"
    assert order(app).status == "Released"  # the workflow's event ran, as with the portal's button
    from portal.extensions import db

    with app.app_context():
        assert db.session.scalar(select(ApprovalCommentLine.comment).order_by(ApprovalCommentLine.id.desc()).limit(1)) == "Approved from my phone"
        assert db.session.scalar(select(ApprovalLinkUse.action)) == "approve"

    # used twice
    again = client.get(links["approve"])
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    # the other link of the same request: the entry is decided
    other = client.get(links["reject"])
    assert other.status_code == 409 and "already been decided (Approved)" in other.get_data(as_text=True)


def test_reject_from_the_mail_link_reopens_and_tells_the_sender(app, client, run_jobs, sink):
    links = request_links(app, client, run_jobs, sink)
    sign_in(client, "sbuchanan", "northwind")
    done = confirm(client, links["reject"], "Too expensive")
    assert "Rejected: Sales Order 10249" in done.get_data(as_text=True)
    run_jobs()
    assert entry_status(app) == "Rejected"
    assert order(app).status == "Open"
    [mail] = sink.wait_for("msuyama@northwind.test", "Rejected")
    assert "Too expensive" in body_of(mail)
    assert sink.to("sbuchanan@northwind.test", "Rejected") == []


def test_tampered_expired_decided_and_foreign_links_are_refused_in_words(app, client, run_jobs, sink):
    from portal.extensions import db

    links = request_links(app, client, run_jobs, sink)
    path = links["approve"]
    # tampered (not signed in: the signature is checked before anything else)
    token = path.rsplit("/", 1)[1]
    bad = path[: -len(token)] + token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    r = client.get(bad)
    assert r.status_code == 400 and "not valid" in r.get_data(as_text=True)
    # someone else's link
    sign_in(client, "msuyama", "northwind")
    r = client.get(path)
    assert r.status_code == 403 and "This request is for Steven Buchanan" in r.get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf(page)})
    sign_in(client, "sbuchanan", "northwind")
    # expired: due yesterday (the link worked until the end of its due date)
    with app.app_context():
        db.session.execute(update(ApprovalEntry).where(ApprovalEntry.status == "Open").values(due_date=(utcnow() - timedelta(days=2)).date()))
        db.session.commit()
    r = client.get(path)
    assert r.status_code == 410 and "expired at the end of the request" in r.get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(ApprovalEntry).where(ApprovalEntry.status == "Open").values(due_date=(utcnow() + timedelta(days=3)).date()))
        db.session.commit()
    # decided in the portal meanwhile
    page = client.get("/approvals/requests").get_data(as_text=True)
    with app.app_context():
        entry_id = db.session.scalar(select(ApprovalEntry.id).where(ApprovalEntry.status == "Open"))
    client.post("/approvals/decide", data={"csrf_token": csrf(page), "entry_id": entry_id, "action": "approve"})
    r = client.get(path)
    assert r.status_code == 409 and "already been decided (Approved)" in r.get_data(as_text=True)
    r = client.post(path, data={"csrf_token": csrf(page), "comment": ""})
    assert r.status_code == 409


def test_not_signed_in_signs_in_first_and_comes_back(app, client, run_jobs, sink):
    links = request_links(app, client, run_jobs, sink)
    r = client.get(links["approve"])
    assert r.status_code == 302
    target = r.headers["Location"]
    assert "/sign-in" in target and "next=" in target
    page = client.get(target).get_data(as_text=True)
    r = client.post(target, data={"user_name": "sbuchanan", "password": "northwind", "csrf_token": csrf(page)})
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == links["approve"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"Approve the request for {TITLE}" in page
    # a sign-in "next" that leaves the portal is not followed
    page = client.get("/sign-in").get_data(as_text=True)
    r = client.post("/sign-in?next=//evil.example/x", data={"user_name": "sbuchanan", "password": "northwind", "csrf_token": csrf(page)})
    assert "evil.example" not in r.headers.get("Location", "")
