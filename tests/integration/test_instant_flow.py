"""The customer statement instant flow: queued from the Automate menu's Run flow
pane, run by a real RQ worker, mailed through the SMTP sink."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import body_of
from portal.auth.models import User
from portal.flows import service as flows
from portal.records.models import Customer
from portal.workflow.models import WorkflowInstance

pytestmark = pytest.mark.usefixtures("clean_state")


def _user(s, name):
    return s.scalar(select(User).where(User.user_name == name))


def _customer(s, no):
    return s.scalar(select(Customer).where(Customer.no == no))


def test_statement_of_open_orders_is_emailed(db_session, run_jobs, sink):
    s = db_session
    msuyama = _user(s, "msuyama")
    wf = flows.get_instant_flow(s, "CUST-STATEMENT", msuyama)
    assert [f.code for f in flows.instant_flows(s, "customer", msuyama)] == ["CUST-STATEMENT"]
    alfki = _customer(s, "ALFKI")
    runs = flows.start_runs(s, wf, [alfki.id], {"message": "Thank you for your business!"}, msuyama)
    s.commit()
    assert runs[0].status == "Queued"
    run_jobs()
    s.expire_all()
    run = s.get(WorkflowInstance, runs[0].id)
    assert run.status == "Completed", run.error
    assert "alfki@customers.northwind.test" in run.result
    [mail] = sink.wait_for("alfki@customers.northwind.test", "Statement of open orders")
    text = body_of(mail)
    assert "Thank you for your business!" in text
    for no in ("10643", "10692", "10702", "10835", "10952", "11011"):
        assert no in text


def test_a_customer_without_email_fails_visibly(db_session, run_jobs):
    s = db_session
    msuyama = _user(s, "msuyama")
    wf = flows.get_instant_flow(s, "CUST-STATEMENT", msuyama)
    anatr = _customer(s, "ANATR")
    saved, anatr.email = anatr.email, None
    s.commit()
    try:
        runs = flows.start_runs(s, wf, [anatr.id], {"message": ""}, msuyama)
        s.commit()
        run_jobs()
        s.expire_all()
        run = s.get(WorkflowInstance, runs[0].id)
        assert run.status == "Failed"
        assert "has no value in 'email'" in run.error
    finally:
        anatr = _customer(s, "ANATR")
        anatr.email = saved
        s.commit()


def test_inputs_are_validated(db_session):
    s = db_session
    wf = flows.get_instant_flow(s, "CUST-STATEMENT", _user(s, "msuyama"))
    with pytest.raises(flows.InputErrors) as err:
        flows.validate_inputs(wf, {"message": "x" * 2001})
    assert "too long" in err.value.errors["message"]
    with pytest.raises(flows.FlowError, match="Select at least one"):
        flows.start_runs(s, wf, [], {}, _user(s, "msuyama"))
