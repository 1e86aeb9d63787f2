"""Responses with outside effects, run by a real RQ worker: an HTTP webhook to a real
local HTTP server (with retries), a field update, a notification to a chosen user,
and the journal-line-created event."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.flows import service as flows
from portal.records import service as records
from portal.records.models import Customer
from portal.records.registry import RECORD_TYPES
from portal.workflow.library import build_workflow
from portal.workflow.models import WorkflowInstance
from test_templates import user

pytestmark = pytest.mark.usefixtures("clean_state")


class Hook(BaseHTTPRequestHandler):
    received: list = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Hook.received.append((self.path, self.headers.get("Content-Type"), body.decode()))
        if Hook.fail_first > 0:
            Hook.fail_first -= 1
            self.send_response(503)
        else:
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    Hook.received, Hook.fail_first = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def instant(s, code, response, options, record_type="customer"):
    s.add(build_workflow({
        "code": code, "description": code.title(), "record_type": record_type, "trigger_kind": "instant",
        "steps": [(1, None, None, 1, "event", "run_from_automate", {}, []), (2, 1, None, 1, "response", response, options, [])],
    }))
    s.commit()


def run(s, run_jobs, code, record_id, message=""):
    wf = flows.get_instant_flow(s, code, user(s, "msuyama"))
    [inst] = flows.start_runs(s, wf, [record_id], {"message": message}, user(s, "msuyama"))
    s.commit()
    run_jobs()
    s.expire_all()
    return s.get(WorkflowInstance, inst.id)


def alfki(s) -> Customer:
    return s.scalar(select(Customer).where(Customer.no == "ALFKI"))


def test_webhook_posts_the_rendered_body_and_retries_5xx(db_session, run_jobs, hook_server):
    s = db_session
    instant(s, "HOOK", "call_webhook", {"url": f"{hook_server}/orders", "method": "POST",
                                        "body": '{"customer": "{{ record.no }}", "note": "{{ inputs.message }}"}', "retries": 2, "timeout": 5})
    Hook.fail_first = 1
    inst = run(s, run_jobs, "HOOK", alfki(s).id, "hello")
    assert inst.status == "Completed", inst.error
    assert inst.result == f"POST {hook_server}/orders → 201"
    assert len(Hook.received) == 2  # one 503, retried
    path, ctype, body = Hook.received[-1]
    assert (path, ctype, json.loads(body)) == ("/orders", "application/json", {"customer": "ALFKI", "note": "hello"})


def test_webhook_failure_fails_the_run_visibly(db_session, run_jobs, hook_server):
    s = db_session
    instant(s, "HOOK2", "call_webhook", {"url": f"{hook_server}/x", "method": "POST", "body": "plain text", "retries": 1, "timeout": 5})
    Hook.fail_first = 5
    inst = run(s, run_jobs, "HOOK2", alfki(s).id)
    assert inst.status == "Failed" and "answered 503" in inst.error


def test_a_webhook_step_without_retries_gets_the_default_two_more_tries(db_session, run_jobs, hook_server):
    """A step saved without ``retries`` (an imported or older flow) is retried as the
    step editor's default says (2 more tries), not called once."""
    s = db_session
    instant(s, "HOOK3", "call_webhook", {"url": f"{hook_server}/y", "method": "POST", "body": "{}"})
    Hook.fail_first = 2
    inst = run(s, run_jobs, "HOOK3", alfki(s).id)
    assert inst.status == "Completed", inst.error
    assert len(Hook.received) == 3


def test_update_field_sets_a_typed_value_from_a_template(db_session, run_jobs):
    s = db_session
    instant(s, "RAISE", "update_field", {"field": "credit_limit", "value": "{{ (record.credit_limit|float) + 750 }}"})
    customer = s.scalar(select(Customer).where(Customer.no == "ANTON"))
    before = customer.credit_limit
    inst = run(s, run_jobs, "RAISE", customer.id)
    assert inst.status == "Completed", inst.error
    assert s.get(Customer, customer.id).credit_limit == before + Decimal("750")
    s.get(Customer, customer.id).credit_limit = before
    s.commit()


def test_create_notification_for_a_specific_user(db_session, run_jobs, sink):
    s = db_session
    instant(s, "NOTE", "create_notification", {"recipient": "Specific User", "user": "sbuchanan", "notification_type": "New Record",
                                              "message": "Please call {{ record.name }} ({{ inputs.message }})."})
    inst = run(s, run_jobs, "NOTE", alfki(s).id, "about the invoice")
    assert inst.status == "Completed" and inst.result == "Notification for Steven Buchanan"
    run_jobs()  # the notification dispatcher
    [mail] = sink.wait_for("sbuchanan@northwind.test", "Alfreds Futterkiste")
    assert "Please call Alfreds Futterkiste (about the invoice)." in sink.body(mail)


def test_a_later_step_uses_an_earlier_steps_output(db_session, run_jobs):
    """``steps.step_<id>`` (offered by the editor's value picker) is the output of a
    response that ran before in the same chain."""
    s = db_session
    s.add(build_workflow({
        "code": "CHAIN", "description": "Chain", "record_type": "customer", "trigger_kind": "instant",
        "steps": [(1, None, None, 1, "event", "run_from_automate", {}, []),
                  (2, 1, None, 1, "response", "create_notification", {"recipient": "Specific User", "user": "sbuchanan", "message": "Hi"}, []),
                  (3, 2, None, 1, "response", "show_message", {"message": "Done: {{ steps.step_2 }} for {{ record.no }}"}, [])]}))
    s.commit()
    inst = run(s, run_jobs, "CHAIN", alfki(s).id)
    assert inst.status == "Completed", inst.error
    assert inst.result.splitlines() == ["Notification for Steven Buchanan", "Done: Notification for Steven Buchanan for ALFKI"]


def test_a_later_event_whose_response_fails_fails_its_running_run(db_session, run_jobs):
    """A run waiting for a second change of the record: when the response that change
    runs fails, that run ends Failed with the reason (it used to stay Running, and a
    new Failed run appeared instead)."""
    s = db_session
    s.add(build_workflow({
        "code": "TWO-STEPS", "description": "Two steps", "record_type": "customer", "trigger_kind": "automated",
        "steps": [(1, None, None, 1, "event", "record_modified", {}, [{"field": "phone", "operator": "changed"}]),
                  (2, 1, None, 1, "response", "show_message", {"message": "Phone changed"}, []),
                  (3, 2, None, 1, "event", "record_modified", {}, [{"field": "fax", "operator": "changed"}]),
                  (4, 3, None, 1, "response", "update_field", {"field": "credit_limit", "value": "not a number"}, [])]}))
    s.commit()
    customer = s.scalar(select(Customer).where(Customer.no == "BERGS"))
    records.modify_record(s, "customer", customer, {"phone": "0921-12 34 99"}, None)
    s.commit()
    run_jobs()
    [inst] = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "TWO-STEPS")).all()
    assert inst.status == "Running"
    records.modify_record(s, "customer", s.get(Customer, customer.id), {"fax": "0921-12 34 98"}, None)
    s.commit()
    run_jobs()
    s.expire_all()
    runs = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "TWO-STEPS")).all()
    assert [(r.id, r.status) for r in runs] == [(inst.id, "Failed")]
    assert "not a valid value" in runs[0].error


def test_journal_line_created_event(db_session, run_jobs):
    s = db_session
    s.add(build_workflow({
        "code": "BIG-LINE", "description": "Large journal lines", "record_type": "gen_journal_batch",
        "steps": [(1, None, None, 1, "event", "general_journal_line_created", {}, [{"field": "line_amount", "operator": ">", "value": "1000"}]),
                  (2, 1, None, 1, "response", "show_message", {"message": "Large line in {{ record.title }}"}, [])],
    }))
    s.commit()
    batch = records.create_record(s, RECORD_TYPES["gen_journal_batch"], {"journal_template_name": "GENERAL", "name": f"L{uuid.uuid4().hex[:6].upper()}"}, None)
    for amount in ("50.00", "2500.00"):
        records.add_line(s, "gen_journal_batch", batch, {"posting_date": date(2026, 11, 30), "account_type": "G/L Account",
                                                         "account_no": "6100", "amount": Decimal(amount)}, user(s, "msuyama").id)
    s.commit()
    run_jobs()
    runs = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "BIG-LINE")).all()
    assert [r.result for r in runs] == [f"Large line in {batch.title}"]
