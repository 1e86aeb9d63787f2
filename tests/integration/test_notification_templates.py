"""Notification templates: the editor refuses unsafe templates at save time (words
under the field, nothing saved), the live preview renders with a real record, export
and import (all or nothing), a template that slipped past the checks is stopped at
send time without holding up other mail, and a real mail through the SMTP sink has
its CSS inlined and a plain-text alternative."""
from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select

from conftest import body_of
from portal.notifications.models import NotificationTemplate
from portal.records.models import SalesHeader
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.fixture
def client(app):
    c = app.test_client()
    sign_in(c, "admin", "admin")
    return c


@pytest.fixture
def restore_templates(app):
    """Put every template back as it was after the test."""
    from portal.extensions import db

    with app.app_context():
        saved = {t.id: (t.subject, t.body, t.description, t.type) for t in db.session.scalars(select(NotificationTemplate))}
    yield
    with app.app_context():
        for t in db.session.scalars(select(NotificationTemplate)):
            if t.id in saved:
                t.subject, t.body, t.description, t.type = saved[t.id]
            else:
                db.session.delete(t)
        db.session.commit()


def template(app, code="approval_request", method="Email") -> NotificationTemplate:
    from portal.extensions import db

    with app.app_context():
        t = db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == code, NotificationTemplate.method == method))
        db.session.expunge(t)
        return t


@pytest.mark.parametrize("body, words", [
    ("<p>{{ record.__class__.__mro__ }}</p>", "names starting with _ are not offered"),
    ("<p>{{ recipient.password_hash }}</p>", "outside the offered data"),
    ("<p>{{ entry.sender.upper() }}</p>", "can't call methods or functions"),
    ("{% for i in range(10**9) %}.{% endfor %}", "without a fixed bound"),
    ("<p>{{ 'x' * 10**8 }}</p>", "longer than 100,000 characters"),
])
def test_the_editor_refuses_unsafe_templates_at_save_time(app, client, restore_templates, body, words):
    t = template(app)
    page = client.get(f"/notification-templates/{t.id}").get_data(as_text=True)
    r = client.post(f"/notification-templates/{t.id}", data={
        "csrf_token": csrf(page), "subject": t.subject, "body": body, "description": t.description or ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "field-error" in html and words in html.replace("&#39;", "'").replace("&amp;", "&")
    assert template(app).body == t.body  # nothing saved


def test_the_editor_saves_a_good_template_and_previews_it_with_a_real_record(app, client, restore_templates):
    from portal.extensions import db

    t = template(app)
    with app.app_context():
        doc_id = db.session.scalar(select(SalesHeader.id).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    page = client.get(f"/notification-templates/{t.id}").get_data(as_text=True)
    assert "{{ entry.approve_link }}" in page.replace("&#34;", '"') or "entry.approve_link" in page  # the placeholders help
    options = client.get(f"/notification-templates/records?record_type=sales_header&record_q=10249").get_data(as_text=True)
    assert f'value="{doc_id}"' in options and "Sales Order 10249" in options
    body = "<style>p.x { color: #c00000; }</style><p class='x'>Order {{ record.no }} for {{ record.customer_name }}</p>" \
           "{% for line in record.lines %}<p>{{ line.description }}</p>{% endfor %}"
    r = client.post(f"/notification-templates/{t.id}/preview", data={
        "csrf_token": csrf(page), "subject": "Please look at {{ record.title }}", "body": body,
        "record_type": "sales_header", "record_id": str(doc_id)})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Please look at Sales Order 10249" in html
    # the mail's HTML is a document of its own for the sandboxed frame (its inline CSS
    # allowed there only; the portal's pages allow no inline styles)
    frame = re.search(r'<iframe class="mail-body" id="preview-html" sandbox src="([^"]+)"', html).group(1)
    body_res = client.get(frame)
    mail = body_res.get_data(as_text=True)
    assert body_res.status_code == 200 and body_res.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'; style-src 'unsafe-inline'")
    assert "Order 10249 for Toms Spezialit" in mail and "color: #c00000" in mail  # CSS inlined
    assert client.get(frame[:-4] + "nope").status_code == 404
    r = client.post(f"/notification-templates/{t.id}/preview", data={
        "csrf_token": csrf(page), "subject": "x", "body": "{{ record.name.lower() }}", "record_type": "sales_header", "record_id": str(doc_id)})
    assert "can&#39;t call methods" in r.get_data(as_text=True)
    r = client.post(f"/notification-templates/{t.id}", data={
        "csrf_token": csrf(page), "subject": "Please look at {{ record.title }}", "body": body, "description": "Edited"})
    assert r.status_code == 302
    assert template(app).subject == "Please look at {{ record.title }}"


def test_import_is_all_or_nothing(app, client, restore_templates):
    page = client.get("/notification-templates").get_data(as_text=True)
    exported = client.post("/notification-templates/export", data={"csrf_token": csrf(page)})
    data = json.loads(exported.get_data(as_text=True))
    assert data["format"] == "workflow-portal/notification-templates" and len(data["templates"]) >= 18
    first = next(t for t in data["templates"] if t["code"] == "approval_request" and t["method"] == "Email")
    first["subject"] = "Changed: {{ entry.record_title }}"
    bad = next(t for t in data["templates"] if t["code"] == "approval_canceled" and t["method"] == "Note")
    bad["body"] = "{{ 'x' * 10**8 }}"
    data["templates"].append({"code": "brand_new", "type": "Approval", "method": "Email", "subject": "New", "body": "<p>{{ secret }}</p>"})

    def upload(doc):
        return client.post("/notification-templates/import", data={
            "csrf_token": csrf(page), "file": (io.BytesIO(json.dumps(doc).encode()), "templates.json")},
            content_type="multipart/form-data")

    r = upload(data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Nothing was imported" in html
    assert "templates[" in html and "(approval_canceled, Note)" in html and "(brand_new, Email)" in html
    assert "“secret”, which is not a placeholder" in html
    assert template(app).subject != "Changed: {{ entry.record_title }}"  # the good one was not imported either
    from portal.extensions import db

    with app.app_context():
        assert db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "brand_new")) is None

    bad["body"] = "The request for {{ entry.record_title }} was canceled."
    data["templates"][-1]["body"] = "<p>Hello {{ recipient.full_name }}</p>"
    r = upload(data)
    assert r.status_code == 302
    assert template(app).subject == "Changed: {{ entry.record_title }}"
    assert template(app, "brand_new").body == "<p>Hello {{ recipient.full_name }}</p>"
    r = client.post("/notification-templates/import", data={
        "csrf_token": csrf(page), "file": (io.BytesIO(b"not json"), "x.json")}, content_type="multipart/form-data")
    assert r.status_code == 422 and "not valid JSON" in r.get_data(as_text=True)


def test_a_template_stopped_at_send_time_keeps_its_error_and_others_still_go_out(app, run_jobs, sink, restore_templates):
    """A template that got past the save-time checks (written straight to the
    database) is stopped by the render limits when the dispatcher sends it; the
    notification keeps the error and the other notifications are mailed."""
    from portal.extensions import db
    from portal.auth.models import User
    from portal.notifications.models import NotificationEntry
    from portal.notifications.service import create_notification

    with app.app_context():
        t = db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "workflow_failed", NotificationTemplate.method == "Email"))
        t.body = "{% for a in range(1000) %}{% for b in range(1000) %}{{ 'x' * 99 }}{% endfor %}{% endfor %}"
        users = {u.user_name: u.id for u in db.session.scalars(select(User).where(User.user_name.in_(["sbuchanan", "msuyama"])))}
        create_notification(db.session, recipient_id=users["sbuchanan"], type_="New Record", template_code="workflow_failed", custom_message="boom")
        create_notification(db.session, recipient_id=users["msuyama"], type_="New Record", template_code="workflow_notification", custom_message="still sent")
        db.session.commit()
    run_jobs()
    [mail] = sink.wait_for("msuyama@northwind.test")
    assert "still sent" in body_of(mail)
    with app.app_context():
        left = db.session.scalar(select(NotificationEntry).where(NotificationEntry.recipient_id == users["sbuchanan"]))
        assert left is not None and "output is longer than 200,000 characters" in (left.error or "")
        db.session.delete(left)
        db.session.commit()


def test_a_mail_at_the_sink_has_inlined_css_and_a_text_alternative(app, run_jobs, sink):
    from portal.approvals import service as approvals
    from portal.auth.models import User
    from portal.extensions import db

    with app.app_context():
        doc = db.session.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
        approvals.send_approval_request(db.session, "sales_header", doc, db.session.scalar(select(User).where(User.user_name == "msuyama")))
        db.session.commit()
    run_jobs()
    [mail] = sink.wait_for("sbuchanan@northwind.test", "Approval requested")
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in mail.walk() if not p.is_multipart()]
    assert kinds == ["text/plain", "text/html"]
    html = body_of(mail)
    assert "<style" not in html  # moved into the elements
    assert re.search(r'<a[^>]*class="button approve"[^>]*style="[^"]*background: #107c10', html) or \
        re.search(r'<a[^>]*style="[^"]*background: #107c10[^"]*"[^>]*class="button approve"', html), html
    assert "/notifications/settings" in html
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "<" not in text and "Michael Suyama asks you to approve" in text
    assert re.search(r"Approve: http\S+/approvals/link/", text)
    assert "change notification settings: http" in text


def test_flow_option_templates_are_checked_when_saved(app):
    from portal.workflow.service import validate_options

    with app.app_context():
        errors = validate_options("call_webhook", {"url": "http://example.test/x", "method": "POST", "body": "{{ 'x' * 10**8 }}"})
        assert "longer than 100,000 characters" in errors["body"]
        errors = validate_options("update_field", {"field": "fax", "value": "{{ record.phone.strip() }}"})
        assert "can't call methods" in errors["value"]
        assert validate_options("update_field", {"field": "fax", "value": "{{ record.phone }}"}) == {}
