"""No lost updates: a form loaded before someone else's save (another user, or a flow
changing the record) is refused with both values shown, and nothing is overwritten;
saving again from the conflict page keeps the user's values. Record cards, document
headers, approval user setup and job queue entries (row versions, SQLAlchemy
``version_id_col``)."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


class FormFields(HTMLParser):
    """The fields of the page's form with class ``form_class``, as a browser would
    post them (checked checkboxes only, selected options, text areas)."""

    def __init__(self, form_class: str):
        super().__init__()
        self.form_class, self.inside, self.fields = form_class, False, {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form_class in (a.get("class") or "").split():
            self.inside = True
        if not self.inside or not a.get("name") and tag != "option":
            return
        if tag == "input":
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value") or "on"
            elif a.get("type") not in ("submit", "button"):
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a["name"]
            self.fields.setdefault(a["name"], "")
        elif tag == "option" and self._select:
            if "selected" in a:
                self.fields[self._select] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_of(client, path: str, form_class: str = "edit-form") -> dict:
    parser = FormFields(form_class)
    parser.feed(client.get(path).get_data(as_text=True))
    assert "version" in parser.fields and "csrf_token" in parser.fields, path
    return parser.fields


def two_clients(app, user, password):
    first, second = app.test_client(), app.test_client()
    sign_in(first, user, password)
    sign_in(second, user, password)
    return first, second


def customer_id(app, no="ALFKI") -> int:
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        return db.session.scalar(select(Customer.id).where(Customer.no == no))


def test_a_customer_card_saved_meanwhile_is_not_overwritten(app):
    from portal.extensions import db
    from portal.records.models import Customer

    cid = customer_id(app)
    first, second = two_clients(app, "msuyama", "northwind")
    path = f"/customers/{cid}/edit"
    mine, theirs = form_of(first, path), form_of(second, path)

    assert first.post(path, data={**mine, "phone": "030-1111111"}).status_code == 302
    res = second.post(path, data={**theirs, "phone": "030-2222222", "fax": "030-2222223"})
    assert res.status_code == 409
    html = res.get_data(as_text=True)
    assert "Someone else saved this since you opened it. Nothing was saved" in html
    assert "030-1111111" in html and "030-2222222" in html  # both values, side by side
    with app.app_context():
        c = db.session.get(Customer, cid)
        assert (c.phone, c.fax) == ("030-1111111", mine["fax"])

    # saving again from the conflict page (it carries the new version) keeps theirs
    parser = FormFields("edit-form")
    parser.feed(html)
    assert second.post(path, data=parser.fields).status_code == 302
    with app.app_context():
        c = db.session.get(Customer, cid)
        assert (c.phone, c.fax) == ("030-2222222", "030-2222223")


def test_a_change_made_by_a_flow_counts_as_a_save(app):
    """A form loaded before a flow (or any service) changed the record is refused."""
    from portal.extensions import db
    from portal.records import service
    from portal.records.models import Customer

    cid = customer_id(app, "BERGS")
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    path = f"/customers/{cid}/edit"
    loaded = form_of(client, path)
    with app.app_context():
        c = db.session.get(Customer, cid)
        service.modify_record(db.session, "customer", c, {"fax": "0921-99 99 99"}, None)  # e.g. an Update field response
        db.session.commit()
    res = client.post(path, data={**loaded, "phone": "0921-00 00 00"})
    assert res.status_code == 409
    with app.app_context():
        c = db.session.get(Customer, cid)
        assert c.fax == "0921-99 99 99" and c.phone != "0921-00 00 00"


def test_a_sales_order_header_saved_meanwhile_is_not_overwritten(app):
    from portal.extensions import db
    from portal.records.models import SalesHeader

    with app.app_context():
        doc_id = db.session.scalar(select(SalesHeader.id).where(SalesHeader.no == "10250"))
    first, second = two_clients(app, "msuyama", "northwind")
    path = f"/sales-orders/{doc_id}/edit"
    mine, theirs = form_of(first, path), form_of(second, path)
    field = "ship_name" if "ship_name" in mine else next(k for k in mine if k not in ("csrf_token", "version") and not k.endswith("date"))
    assert first.post(path, data={**mine, field: "First saves"}).status_code == 302
    res = second.post(path, data={**theirs, field: "Second saves"})
    assert res.status_code == 409
    with app.app_context():
        assert getattr(db.session.get(SalesHeader, doc_id), field) == "First saves"


def test_approval_user_setup_saved_meanwhile_is_not_overwritten(app):
    from portal.approvals.models import ApprovalUserSetup
    from portal.auth.models import User
    from portal.extensions import db

    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.user_name == "msuyama"))
    first, second = two_clients(app, "admin", "admin")
    path = f"/approvals/setup/users/{user_id}"
    mine, theirs = form_of(first, path, "setup-form"), form_of(second, path, "setup-form")
    assert first.post(path, data={**mine, "email": "first@northwind.test"}).status_code == 302
    res = second.post(path, data={**theirs, "email": "second@northwind.test"})
    assert res.status_code == 409
    html = res.get_data(as_text=True)
    assert "first@northwind.test" in html and "second@northwind.test" in html
    with app.app_context():
        setup = db.session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == user_id))
        assert setup.email == "first@northwind.test"


def test_a_job_queue_entry_saved_meanwhile_is_not_overwritten(app):
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry

    from portal.auth.models import User
    from portal.jobqueue import service

    with app.app_context():
        owner = db.session.scalar(select(User).where(User.user_name == "admin"))
        entry = service.save_entry(db.session, None, service.EntryData(description="Lost updates", target="system_job:outbox_sweep",
                                                                       recurrence_kind="minutes", minutes_between_runs=60), owner)
        db.session.commit()
        entry_id = entry.id
    first, second = two_clients(app, "admin", "admin")
    path = f"/job-queue/{entry_id}"
    mine, theirs = form_of(first, path, "jq-form"), form_of(second, path, "jq-form")
    assert first.post(path, data={**mine, "description": "Saved first"}).status_code == 302
    res = second.post(path, data={**theirs, "description": "Saved second"})
    assert res.status_code == 409
    assert "Saved first" in res.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(JobQueueEntry, entry_id).description == "Saved first"


def test_any_save_that_races_with_another_answers_409_not_500(app, monkeypatch):
    """A save whose row version moved between its read and its write (SQLAlchemy
    raises StaleDataError at the flush) is refused with a message, not a 500, and
    nothing of it is saved."""
    from sqlalchemy.orm.exc import StaleDataError

    from portal.extensions import db
    from portal.records import service
    from portal.records.models import SalesHeader
    from test_pages import csrf

    with app.app_context():
        # Released (as by its approval workflow), so Reopen by hand is allowed
        doc = db.session.scalar(select(SalesHeader).where(SalesHeader.no == "10251"))
        service.release(db.session, doc, None, by_workflow=True)
        db.session.commit()
        doc_id = doc.id

    def reopen_that_loses_the_race(session, doc, user_id):
        doc.ship_to_name = "Half-written"
        session.flush()
        raise StaleDataError("UPDATE statement on table 'sales_header' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(service, "reopen", reopen_that_loses_the_race)
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{doc_id}").get_data(as_text=True)
    res = client.post(f"/sales-orders/{doc_id}/reopen", data={"csrf_token": csrf(page)})
    assert res.status_code == 409
    assert "Nothing of yours was saved" in res.get_data(as_text=True)
    with app.app_context():
        doc = db.session.get(SalesHeader, doc_id)
        assert doc.status == "Released" and doc.ship_to_name != "Half-written"
