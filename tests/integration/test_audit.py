"""The audit trail: a row for each record field change (from → to), approval action,
workflow change, flow run, approval user setup change and sign-in, written in the
same transaction as the change (a rolled-back change leaves none); the admin Audit
page (filters, paging, admins only, read-only) and a record's Changes page (whoever
may open the record)."""
from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.approvals import service as approvals
from portal.audit.models import AuditEntry
from portal.audit.service import VALUE_LIMIT, AuditFilter, audit_page, record_audit
from portal.flows import service as flows
from portal.records import service as records
from portal.records.models import Customer
from portal.workflow.models import Workflow

from test_lost_updates import form_of
from test_pages import csrf, sign_in
from test_sales_order_approval import order as _order, send, user as _user

pytestmark = pytest.mark.usefixtures("clean_state")


def _customer(s, no) -> Customer:
    return s.scalar(select(Customer).where(Customer.no == no))


def _rows(s, **where) -> list[AuditEntry]:
    s.expire_all()
    q = select(AuditEntry).order_by(AuditEntry.id)
    for k, v in where.items():
        q = q.where(getattr(AuditEntry, k) == v)
    return list(s.scalars(q).unique())


def _client(app, user="admin", password="admin"):
    c = app.test_client()
    assert "Sign out" in sign_in(c, user, password).get_data(as_text=True)
    return c


# ---------------------------------------------------------------- record changes

def test_a_record_edit_writes_one_row_per_changed_field_from_and_to(db_session):
    s = db_session
    c = _customer(s, "BERGS")
    old_phone, old_limit = c.phone, c.credit_limit
    msuyama = _user(s, "msuyama")
    records.modify_record(s, "customer", c, {"phone": "0921-99 99 99", "credit_limit": Decimal("7500.00"), "city": c.city},
                          msuyama.id)
    s.commit()
    try:
        rows = _rows(s, record_type="customer", record_id=c.id)
        assert [(r.kind, r.action, r.field_name, r.old_value, r.new_value, r.user_id) for r in rows] == [
            ("record", "modify", "phone", old_phone, "0921-99 99 99", msuyama.id),
            ("record", "modify", "credit_limit", format(old_limit, "f"), "7500.00", msuyama.id),
        ]  # city was sent unchanged: no row
        assert rows[0].record_title == f"Customer BERGS — {c.name}"
        assert rows[0].at is not None
    finally:
        records.modify_record(s, "customer", c, {"phone": old_phone, "credit_limit": old_limit}, None)
        s.commit()


def test_create_delete_and_lines_are_audited(db_session):
    s = db_session
    admin = _user(s, "admin")
    rt = records.RECORD_TYPES["customer"]
    c = records.create_record(s, rt, {"no": "AUDIT1", "name": "Audit Test Ltd", "city": "Oslo"}, admin.id)
    s.commit()
    cid = c.id
    created = _rows(s, record_type="customer", record_id=cid)
    assert [(r.action, r.user_id) for r in created] == [("create", admin.id)]
    assert "Name: Audit Test Ltd" in created[0].detail and "City: Oslo" in created[0].detail
    records.delete_record(s, "customer", c, admin.id)
    s.commit()
    deleted = _rows(s, record_type="customer", record_id=cid, action="delete")
    assert deleted[0].record_title == "Customer AUDIT1 — Audit Test Ltd" and "Name: Audit Test Ltd" in deleted[0].detail

    doc = _order(s, "10250")
    line = doc.lines[0]
    old_qty, old_amount = line.quantity, doc.amount
    records.update_line(s, "sales_header", doc, line.id, {"quantity": old_qty + 1}, admin.id)
    s.commit()
    try:
        rows = _rows(s, record_type="sales_header", record_id=doc.id)
        assert rows[0].detail == f"Line {line.line_no} changed"
        by_field = {r.field_name: (r.old_value, r.new_value) for r in rows if r.field_name}
        assert by_field[f"line {line.line_no}.quantity"] == (format(old_qty, "f"), format(old_qty + 1, "f"))
        assert by_field["amount"][0] == format(old_amount, "f") and by_field["amount"][1] != by_field["amount"][0]
    finally:
        records.update_line(s, "sales_header", _order(s, "10250"), line.id, {"quantity": old_qty}, admin.id)
        s.commit()

    doc = _order(s, "10250")
    added = records.add_line(s, "sales_header", doc, {"item_no": doc.lines[0].item.no, "quantity": Decimal("2")}, admin.id)
    s.commit()
    records.delete_line(s, "sales_header", _order(s, "10250"), added.id, admin.id)
    s.commit()
    details = [r.detail for r in _rows(s, record_type="sales_header", record_id=doc.id) if r.detail]
    assert details[-2].startswith(f"Line {added.line_no} added: ") and "Quantity: 2" in details[-2]
    assert details[-1].startswith(f"Line {added.line_no} removed: ")


def test_large_values_are_cut(db_session):
    s = db_session
    row = record_audit(s, "record", "modify", record_type="customer", record_id=1, field_name="x" * 100,
                       old="a" * 5000, new=None, detail="d" * 10_000)
    s.flush()
    assert len(row.old_value) == VALUE_LIMIT and row.old_value.endswith("…")
    assert row.new_value is None and len(row.field_name) == 60 and len(row.detail) == 2000
    with pytest.raises(ValueError):
        record_audit(s, "nonsense", "x")
    s.rollback()


def test_a_rolled_back_change_leaves_no_audit_row(db_session, app):
    s = db_session
    c = _customer(s, "BERGS")
    before = s.scalar(select(func.count()).select_from(AuditEntry))
    records.modify_record(s, "customer", c, {"phone": "000 rolled back"}, None)
    s.flush()
    assert s.scalar(select(func.count()).select_from(AuditEntry)) == before + 1  # written in the change's transaction
    s.rollback()
    assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
    assert _customer(s, "BERGS").phone != "000 rolled back"

    # over HTTP: a save refused for a bad value writes neither the change nor a row
    client = _client(app, "msuyama", "northwind")
    path = f"/customers/{c.id}/edit"
    res = client.post(path, data={**form_of(client, path), "phone": "111", "credit_limit": "lots"})
    assert res.status_code == 422
    assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.kind == "record")) == before


# ---------------------------------------------------------------- approvals

def test_send_approve_reject_delegate_and_cancel_are_audited(db_session, run_jobs):
    s = db_session
    msuyama, sbuchanan = _user(s, "msuyama"), _user(s, "sbuchanan")
    doc = send(s, run_jobs, "10249", "msuyama")
    entry = approvals.open_entry_for(s, "sales_header", doc.id, sbuchanan.id)
    approvals.delegate(s, entry.id, sbuchanan, "on holiday")
    s.commit()
    run_jobs()
    s.expire_all()
    entry = approvals.open_entry_of_record(s, "sales_header", doc.id)
    approvals.approve(s, entry.id, entry.approver, "fine")
    s.commit()
    run_jobs()

    doc2 = send(s, run_jobs, "10251", "msuyama")
    approvals.cancel_approval_request(s, "sales_header", doc2, msuyama)
    s.commit()
    run_jobs()

    rows = [(r.action, r.user_id, r.record_id) for r in _rows(s, kind="approval")]
    assert rows[:3] == [("send_approval_request", msuyama.id, doc.id), ("delegate", sbuchanan.id, doc.id),
                        ("approved", entry.approver_id, doc.id)]
    assert rows[3:] == [("send_approval_request", msuyama.id, doc2.id), ("cancel_approval_request", msuyama.id, doc2.id)]
    delegated = _rows(s, action="delegate")[0]
    assert "Steven Buchanan →" in delegated.detail and delegated.record_title.startswith("Sales Order 10249")
    assert _rows(s, action="approved")[0].detail.endswith(": fine")
    # the workflow's release after the approval is audited as a status change, by the approver
    status = _rows(s, record_type="sales_header", record_id=doc.id, action="status")
    assert [(r.old_value, r.new_value) for r in status][-1] == ("Pending Approval", "Released")


def test_reject_is_audited(db_session, run_jobs):
    s = db_session
    sbuchanan = _user(s, "sbuchanan")
    doc = send(s, run_jobs, "10249", "msuyama")
    entry = approvals.open_entry_for(s, "sales_header", doc.id, sbuchanan.id)
    approvals.reject(s, entry.id, sbuchanan, "too expensive")
    s.commit()
    run_jobs()
    rejected = _rows(s, action="rejected")
    assert [(r.kind, r.user_id, r.record_id) for r in rejected] == [("approval", sbuchanan.id, doc.id)]
    assert "too expensive" in rejected[0].detail


# ---------------------------------------------------------------- workflows, flow runs, setup

def test_workflow_enable_disable_copy_edit_and_import_are_audited(app, db_session):
    s = db_session
    client = _client(app)
    token = csrf(client.get("/workflows/").get_data(as_text=True))
    assert client.post("/workflows/CUST-STATEMENT/disable", data={"csrf_token": token}).status_code == 302
    assert client.post("/workflows/CUST-STATEMENT/enable", data={"csrf_token": token}).status_code == 302
    assert client.post("/workflows/CUST-STATEMENT/copy", data={"csrf_token": token, "new_code": "AUDIT-COPY"}).status_code == 302
    s.expire_all()
    copy = s.scalar(select(Workflow).where(Workflow.code == "AUDIT-COPY"))
    response = next(st for st in copy.steps if st.type == "response")
    res = client.post("/workflows/AUDIT-COPY/edit/delete-response", data={"csrf_token": token, "step_id": response.step_id})
    assert res.status_code in (200, 302)
    exported = client.post("/workflows/export", data={"csrf_token": token, "code": "AUDIT-COPY"}).get_data()
    res = client.post("/workflows/import", data={"csrf_token": token, "file": (io.BytesIO(exported), "audit.json")},
                      content_type="multipart/form-data")
    assert res.status_code == 302

    admin = _user(s, "admin")
    cust = s.scalar(select(Workflow.id).where(Workflow.code == "CUST-STATEMENT"))
    rows = [(r.action, r.record_id, r.user_id) for r in _rows(s, kind="workflow")]
    assert rows == [("disable", cust, admin.id), ("enable", cust, admin.id), ("copy", copy.id, admin.id),
                    ("edit", copy.id, admin.id), ("import", copy.id, admin.id)]
    edit = _rows(s, action="edit")[0]
    assert edit.detail == f"Steps: response deleted (step {response.step_id})"
    assert _rows(s, action="import")[0].detail == "Imported from audit.json"

    # a refused change (an enabled workflow can't be edited) leaves no row
    res = client.post("/workflows/CUST-STATEMENT/edit/delete-response", data={"csrf_token": token, "step_id": response.step_id})
    assert len(_rows(s, kind="workflow")) == 5


def test_a_flow_run_is_audited_with_the_record(db_session):
    s = db_session
    msuyama = _user(s, "msuyama")
    wf = flows.get_instant_flow(s, "CUST-STATEMENT", msuyama)
    alfki = _customer(s, "ALFKI")
    runs = flows.start_runs(s, wf, [alfki.id], {"message": "Hello"}, msuyama)
    s.commit()
    rows = _rows(s, kind="flow_run", action="run_flow")
    assert [(r.user_id, r.record_type, r.record_id) for r in rows] == [(msuyama.id, "customer", alfki.id)]
    assert rows[0].record_title.startswith("Customer ALFKI") and f"(run {runs[0].id})" in rows[0].detail
    assert "CUST-STATEMENT" in rows[0].detail


def test_approval_user_setup_changes_are_audited_from_and_to(app, db_session):
    s = db_session
    client = _client(app)
    target = _user(s, "rking")
    path = f"/approvals/setup/users/{target.id}"
    form = form_of(client, path, "setup-form")
    old_email = form["email"]
    assert client.post(path, data={**form, "email": "robert.king@northwind.test"}).status_code == 302
    rows = _rows(s, kind="approval_setup")
    assert [(r.action, r.field_name, r.old_value, r.new_value, r.user_id) for r in rows] == [
        ("modify", "E-Mail", old_email or None, "robert.king@northwind.test", _user(s, "admin").id)]
    assert rows[0].record_title == "Approval user setup of rking"
    client.post(path, data={**form_of(client, path, "setup-form"), "email": old_email})


# ---------------------------------------------------------------- sign-ins

def test_sign_ins_failed_sign_ins_and_sign_outs_are_audited_without_telling_who_exists(app, db_session):
    s = db_session
    c = app.test_client()
    sign_in(c, "msuyama", "wrong password")
    sign_in(c, "nobody-here", "wrong password")
    sign_in(c, "msuyama", "northwind")
    c.post("/sign-out", data={"csrf_token": csrf(c.get("/").get_data(as_text=True))})
    rows = _rows(s, kind="sign_in")
    msuyama = _user(s, "msuyama")
    assert [(r.action, r.user_id, r.user_name) for r in rows] == [
        ("sign_in_failed", None, "msuyama"), ("sign_in_failed", None, "nobody-here"),
        ("sign_in", msuyama.id, "msuyama"), ("sign_out", msuyama.id, "msuyama")]
    # an existing and an unknown user's failed rows look alike (apart from the typed name)
    known, unknown = rows[0], rows[1]
    assert (known.detail, known.record_type, known.record_id) == (unknown.detail, unknown.record_type, unknown.record_id)
    assert known.detail.startswith("From ")


def test_a_sign_in_refused_by_the_rate_limit_is_audited_with_the_name_and_address(app, db_session):
    from portal.extensions import limiter

    s = db_session
    limiter.reset()
    try:
        c = app.test_client()
        for _ in range(5):
            assert sign_in(c, "msuyama", "wrong password").status_code == 200
        assert sign_in(c, "msuyama", "northwind").status_code == 429  # refused: too many attempts
        rows = _rows(s, kind="sign_in")
        assert [(r.action, r.user_id, r.user_name) for r in rows] == [("sign_in_failed", None, "msuyama")] * 5 + [
            ("sign_in_refused", None, "msuyama")]
        assert rows[-1].detail == rows[0].detail and rows[-1].detail.startswith("From ")
        from portal.audit.models import ACTIONS

        assert ACTIONS["sign_in_refused"] == "Sign-in refused (too many attempts)"
    finally:
        limiter.reset()


# ---------------------------------------------------------------- pages

def test_the_audit_page_is_for_admins_only_and_has_no_edit_routes(app):
    for user, password in (("msuyama", "northwind"), ("lcallahan", "northwind"), ("sbuchanan", "northwind")):
        assert _client(app, user, password).get("/audit").status_code == 403
    anonymous = app.test_client().get("/audit")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]
    changes = app.test_client().get("/customers/1/changes")  # a record's changes: sign in first, as for the record
    assert changes.status_code == 302 and "/sign-in" in changes.headers["Location"]
    admin = _client(app)
    page = admin.get("/audit")
    assert page.status_code == 200 and 'href="/audit"' in page.get_data(as_text=True)  # in the admin navigation
    assert 'href="/audit"' not in _client(app, "msuyama", "northwind").get("/").get_data(as_text=True)
    audit_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/audit") or r.rule.endswith("/changes")]
    assert audit_rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)
    token = csrf(page.get_data(as_text=True))
    assert admin.post("/audit", data={"csrf_token": token}).status_code == 405


def test_audit_page_filters_and_paging(app, db_session):
    s = db_session
    admin, msuyama = _user(s, "admin"), _user(s, "msuyama")
    alfki, bergs = _customer(s, "ALFKI"), _customer(s, "BERGS")
    for i in range(30):
        record_audit(s, "record", "modify", user_id=msuyama.id, record_type="customer", record_id=alfki.id,
                     record_title="Customer ALFKI — Alfreds Futterkiste", field_name="phone", old=str(i), new=str(i + 1))
    record_audit(s, "record", "modify", user_id=admin.id, record_type="customer", record_id=bergs.id,
                 record_title="Customer BERGS — Berglunds snabbköp", field_name="city", old="Luleå", new="Umeå")
    old = record_audit(s, "workflow", "enable", user_id=admin.id, record_type="workflow", record_id=1, record_title="Workflow OLD")
    s.flush()
    old.at = old.at - timedelta(days=10)
    s.commit()
    client = _client(app)

    def shown(query: str) -> str:
        res = client.get("/audit" + query)
        assert res.status_code == 200, res.status_code
        return res.get_data(as_text=True)

    first = shown("")
    assert first.count('class="audit-') - first.count('class="audit-table') >= 25 and "Older" in first
    second = shown("?page=2")
    assert "Newer" in second and "Workflow OLD" in second
    assert "Berglunds" in shown(f"?user={admin.id}") and "Alfreds" not in shown(f"?user={admin.id}&kind=record")
    assert "Workflow OLD" in shown("?kind=workflow") and "Berglunds" not in shown("?kind=workflow")
    assert "Berglunds" in shown("?record=bergs") and "Alfreds" not in shown("?record=bergs")
    assert "Berglunds" not in shown("?record_type=workflow")
    today = old.at.date() + timedelta(days=10)
    assert "Workflow OLD" not in shown(f"?from={today.isoformat()}")
    assert "Workflow OLD" in shown(f"?to={(today - timedelta(days=5)).isoformat()}")
    assert "Berglunds" not in shown(f"?to={(today - timedelta(days=5)).isoformat()}")
    # nonsense filters: a message, never a 500
    bad = shown("?from=yesterday&kind=x&record_type=nope&user=99999999999999999999&page=-3&record=%25")
    assert "is not a date" in bad and "Choose a kind of change" in bad
    # the service filter the page uses
    rows, more = audit_page(s, AuditFilter(record_type="customer", record_id=alfki.id), 1, 10)
    assert len(rows) == 10 and more and rows[0].old_value == "29"


def test_the_changes_page_follows_the_records_read_permission(app, db_session):
    s = db_session
    c = _customer(s, "BERGS")
    old_phone = c.phone
    records.modify_record(s, "customer", c, {"phone": "0921-11 22 33"}, _user(s, "msuyama").id)
    record_audit(s, "record", "modify", record_type="customer", record_id=c.id + 100_000, field_name="phone", new="other")
    s.commit()
    try:
        rking = _client(app, "rking", "northwind")  # one client: this test has an app context pushed (shared g)
        card = rking.get(f"/customers/{c.id}")
        assert f'href="/customers/{c.id}/changes"' in card.get_data(as_text=True)
        page = rking.get(f"/customers/{c.id}/changes")  # any signed-in user may read a customer
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "0921-11 22 33" in html and "Michael Suyama" in html and "Phone No." in html
        assert "other" not in html  # only this record's rows
        assert rking.get("/customers/99999999/changes").status_code == 404
        doc = _order(s, "10250")
        assert rking.get(f"/sales-orders/{doc.id}/changes").status_code == 200
    finally:
        records.modify_record(s, "customer", _customer(s, "BERGS"), {"phone": old_phone}, None)
        s.commit()



def test_a_deleted_users_rows_stay_and_still_name_them(db_session):
    from portal.auth.models import User

    s = db_session
    temp = User(user_name="auditgone", full_name="Gone Soon")
    s.add(temp)
    s.flush()
    row = record_audit(s, "flow_run", "accept_automation_notice", user_id=temp.id)
    s.commit()
    assert row.user_name == "auditgone"
    s.delete(temp)
    s.commit()
    (kept,) = _rows(s, id=row.id)
    assert kept.user_id is None and kept.user_name == "auditgone"


def test_a_field_a_workflow_changes_is_audited_as_the_workflows(db_session, run_jobs):
    from test_responses import instant, run

    s = db_session
    instant(s, "AUDIT-RAISE", "update_field", {"field": "credit_limit", "value": "{{ (record.credit_limit|float) + 750 }}"})
    customer = _customer(s, "ANTON")
    before = customer.credit_limit
    inst = run(s, run_jobs, "AUDIT-RAISE", customer.id)
    assert inst.status == "Completed", inst.error
    try:
        (row,) = _rows(s, record_type="customer", record_id=customer.id, action="workflow_modify")
        assert row.field_name == "credit_limit" and Decimal(row.old_value) == before and Decimal(row.new_value) == before + 750
        assert row.detail == f"By workflow AUDIT-RAISE (run {inst.id})" and row.user_id == _user(s, "msuyama").id
    finally:
        _customer(s, "ANTON").credit_limit = before
        s.commit()


def test_times_are_kept_in_utc_and_shown_in_the_viewers_time_zone():
    from datetime import datetime

    from portal.audit.service import utc_start_of, local_time

    assert local_time(datetime(2026, 1, 15, 12, 0), "Europe/Berlin") == "2026-01-15 13:00:00 CET"
    assert local_time(datetime(2026, 7, 15, 12, 0), "America/New_York") == "2026-07-15 08:00:00 EDT"
    assert local_time(datetime(2026, 7, 15, 12, 0), "Not/AZone") == "2026-07-15 12:00:00 UTC"
    # a date filter's day begins at the viewer's midnight
    assert utc_start_of(datetime(2026, 1, 15).date(), "Europe/Berlin") == datetime(2026, 1, 14, 23, 0)
