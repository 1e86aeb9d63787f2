"""Customers, vendors and items: New and Delete raise record created / deleted
events; the customer, vendor and item approval templates run end to end (the record
is restricted while its request is under way)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.approvals import service as approvals
from portal.records import service as records
from portal.records.models import Customer, Item, Vendor
from portal.records.registry import RECORD_TYPES
from portal.workflow.library import build_workflow
from portal.workflow.models import OutboxEvent, WorkflowInstance
from test_pages import csrf, sign_in
from test_templates import decide, delegate_then_approve, entries, use_template, user

pytestmark = pytest.mark.usefixtures("clean_state")


def test_new_customer_in_the_ui_raises_record_created(app):
    from portal.extensions import db

    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    form = client.get("/customers/new").get_data(as_text=True)
    dup = client.post("/customers/new", data={"csrf_token": csrf(form), "no": "alfki", "name": "Copy"})
    assert dup.status_code == 422 and "Customer ALFKI already exists." in dup.get_data(as_text=True)
    res = client.post("/customers/new", data={"csrf_token": csrf(form), "no": "zzz01", "name": "Zeta Foods", "city": "Oslo",
                                              "credit_limit": "2500"}, follow_redirects=True)
    assert "Customer ZZZ01 — Zeta Foods created." in res.get_data(as_text=True)
    with app.app_context():
        c = db.session.scalar(select(Customer).where(Customer.no == "ZZZ01"))
        ev = db.session.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "record_created", OutboxEvent.record_id == c.id))
        assert ev.record_type == "customer" and str(c.credit_limit) == "2500.00"
    page = client.get(f"/customers/{c.id}").get_data(as_text=True)
    res = client.post(f"/customers/{c.id}/delete", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Customer ZZZ01 — Zeta Foods deleted." in res.get_data(as_text=True)
    with app.app_context():
        ev = db.session.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "record_deleted"))
        assert ev.payload["old_values"]["name"] == "Zeta Foods"


def test_records_in_use_cannot_be_deleted(db_session):
    s = db_session
    with pytest.raises(records.RecordError, match="sales documents refer to it"):
        records.delete_record(s, "customer", s.scalar(select(Customer).where(Customer.no == "ALFKI")), None)
    with pytest.raises(records.RecordError, match="(items|purchase documents) refer to it"):  # other tests may leave purchase documents
        records.delete_record(s, "vendor", s.scalar(select(Vendor).where(Vendor.no == "V00001")), None)
    with pytest.raises(records.RecordError, match="sales lines refer to it"):
        records.delete_record(s, "item", s.scalar(select(Item).where(Item.no == "I0001")), None)


def test_a_deleted_record_starts_a_workflow_with_its_last_values(db_session, run_jobs):
    s = db_session
    s.add(build_workflow({
        "code": "ON-DELETE", "description": "Tell when a big customer is deleted", "record_type": "customer",
        "steps": [(1, None, None, 1, "event", "record_deleted", {}, [{"field": "credit_limit", "operator": ">", "value": "1000"}]),
                  (2, 1, None, 1, "response", "show_message", {"message": "{{ record.name }} was deleted"}, [])],
    }))
    item = records.create_record(s, RECORD_TYPES["customer"], {"no": "ZZZ02", "name": "Big Buyer", "credit_limit": 5000}, None)
    s.commit()
    records.delete_record(s, "customer", item, user(s, "msuyama").id)
    s.commit()
    run_jobs()
    inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "ON-DELETE"))
    assert inst.status == "Completed" and inst.result == "Big Buyer was deleted", inst.error


@pytest.mark.parametrize("template,record_type,model,no", [
    ("MS-CUSTAPW", "customer", Customer, "BERGS"),
    ("MS-VENDAPW", "vendor", Vendor, "V00002"),
    ("MS-ITEMAPW", "item", Item, "I0002"),
])
def test_master_data_approval_restricts_until_approved(db_session, run_jobs, template, record_type, model, no):
    s = db_session
    use_template(s, template)
    rec = s.scalar(select(model).where(model.no == no))
    approvals.send_approval_request(s, record_type, rec, user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert entries(s, record_type, rec.id) == [("sbuchanan", "Open")]
    assert records.is_restricted(record_type, s.get(model, rec.id))
    with pytest.raises(records.RecordError):
        records.modify_record(s, record_type, s.get(model, rec.id), {"blocked": True}, None)
    s.rollback()
    decide(s, run_jobs, record_type, rec.id, "sbuchanan", "delegate")
    assert entries(s, record_type, rec.id) == [("afuller", "Open")]
    assert records.is_restricted(record_type, s.get(model, rec.id))  # still under way
    decide(s, run_jobs, record_type, rec.id, "afuller")
    assert not records.is_restricted(record_type, s.get(model, rec.id))
    assert entries(s, record_type, rec.id) == [("afuller", "Approved")]


def test_rejected_and_canceled_master_data_requests_lift_the_restriction(db_session, run_jobs):
    s = db_session
    use_template(s, "MS-CUSTAPW")
    rec = s.scalar(select(Customer).where(Customer.no == "BLAUS"))
    approvals.send_approval_request(s, "customer", rec, user(s, "msuyama"))
    s.commit()
    run_jobs()
    decide(s, run_jobs, "customer", rec.id, "sbuchanan", "reject", "Incomplete address")
    assert not records.is_restricted("customer", s.get(Customer, rec.id))
    approvals.send_approval_request(s, "customer", s.get(Customer, rec.id), user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert records.is_restricted("customer", s.get(Customer, rec.id))
    approvals.cancel_approval_request(s, "customer", s.get(Customer, rec.id), user(s, "msuyama"))
    s.commit()
    run_jobs()
    s.expire_all()
    assert not records.is_restricted("customer", s.get(Customer, rec.id))


def test_create_a_document_response_orders_an_item_from_its_vendor(db_session, run_jobs):
    """An instant flow on items: "Order from the vendor" creates a purchase order to the
    item's vendor with a line for the item (quantity from the reorder point)."""
    from portal.flows import service as flows
    from portal.records.models import PurchaseHeader

    s = db_session
    s.add(build_workflow({
        "code": "REORDER", "description": "Order from the vendor", "record_type": "item", "trigger_kind": "instant",
        "steps": [(1, None, None, 1, "event", "run_from_automate", {}, []),
                  (2, 1, None, 1, "response", "create_record",
                   {"document": "Purchase Order", "partner_no": "{{ record.vendor_no }}", "item_no": "{{ record.no }}",
                    "quantity": "{{ record.reorder_point|int + 5 }}"}, [])],
    }))
    s.commit()
    item = s.scalar(select(Item).where(Item.no == "I0003"))  # Aniseed Syrup, Exotic Liquids, reorder point 25
    wf = flows.get_instant_flow(s, "REORDER", user(s, "msuyama"))
    [run] = flows.start_runs(s, wf, [item.id], {}, user(s, "msuyama"))
    s.commit()
    run_jobs()
    s.expire_all()
    run = s.get(WorkflowInstance, run.id)
    assert run.status == "Completed", run.error
    po = s.scalar(select(PurchaseHeader).order_by(PurchaseHeader.id.desc()))
    assert po.document_type == "Order" and po.vendor.no == "V00001" and run.result == f"Purchase Order {po.no} created for Exotic Liquids"
    assert [(l.item.no, int(l.quantity)) for l in po.lines] == [("I0003", 30)]
