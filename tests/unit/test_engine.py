"""The workflow engine on synthetic workflows: matching, the step tree, alternatives
and loops, copies of steps per instance, events raised during a chain, failures."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.records.models import Customer, SalesHeader, SalesLine
from portal.records.service import modify_record, release
from portal.workflow.engine import dispatch_pending
from portal.workflow.library import build_workflow
from portal.workflow.models import OutboxEvent, WorkflowInstance, WorkflowStepRun

E, R = "event", "response"


@pytest.fixture
def engine_app(services, tmp_path):
    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'engine.db'}"})
    with app.app_context():
        db.create_all()
        db.session.add(Customer(no="C1", name="Cust One", credit_limit=Decimal("100")))
        db.session.commit()
        yield app
        db.session.remove()


def customer() -> Customer:
    return db.session.scalar(select(Customer).where(Customer.no == "C1"))


def add(definition) -> None:
    db.session.add(build_workflow(definition))
    db.session.commit()


def change_credit_limit(value: str) -> None:
    modify_record(db.session, "customer", customer(), {"credit_limit": Decimal(value)}, None)
    db.session.commit()
    dispatch_pending(db.session)


def statuses(inst: WorkflowInstance) -> dict[int, str]:
    db.session.refresh(inst)
    return {s.step_id: s.status for s in inst.step_instances}


CREDIT_WATCH = {
    "code": "CREDIT-WATCH",
    "description": "Watch credit limit increases",
    "record_type": "customer",
    "steps": [
        (1, None, None, 1, E, "record_modified", {}, [{"field": "credit_limit", "operator": "increased"}]),
        (2, 1, None, 1, R, "show_message", {"message": "limit raised"}, []),
        (3, 2, None, 1, R, "show_message", {"message": "waiting"}, []),
        # alternatives after step 3, by priority
        (4, 3, None, 1, E, "record_modified", {}, [
            {"field": "credit_limit", "operator": "increased"}, {"field": "credit_limit", "operator": ">", "value": "1000"}]),
        (5, 4, 3, 1, R, "show_message", {"message": "big: keep watching"}, []),  # loop back to step 3
        (6, 3, None, 2, E, "record_modified", {}, [{"field": "credit_limit", "operator": "decreased"}]),
        (7, 6, None, 1, R, "show_message", {"message": "lowered: done"}, []),
    ],
}


def test_entry_point_conditions_decide_whether_an_instance_starts(engine_app):
    add(CREDIT_WATCH)
    change_credit_limit("50")  # decreased: the entry point wants "increased"
    assert db.session.scalar(select(WorkflowInstance)) is None
    change_credit_limit("500")
    inst = db.session.scalar(select(WorkflowInstance))
    assert inst.status == "Running"
    assert statuses(inst) == {1: "Completed", 2: "Completed", 3: "Completed", 4: "Active", 5: "Inactive", 6: "Active", 7: "Inactive"}
    assert inst.result == "limit raised\nwaiting"


def test_alternatives_loop_back_and_finish(engine_app):
    add(CREDIT_WATCH)
    change_credit_limit("500")
    inst = db.session.scalar(select(WorkflowInstance))
    change_credit_limit("2000")  # step 4 wins (priority 1), its response jumps back to 3
    assert statuses(inst) == {1: "Completed", 2: "Completed", 3: "Completed", 4: "Active", 5: "Completed", 6: "Active", 7: "Inactive"}
    assert inst.status == "Running"
    change_credit_limit("1500")  # decreased: step 6 wins, 4 is ignored, nothing is left Active
    assert statuses(inst) == {1: "Completed", 2: "Completed", 3: "Completed", 4: "Ignored", 5: "Completed", 6: "Completed", 7: "Completed"}
    assert inst.status == "Completed" and inst.ended_at is not None
    # The advancing events went to the running instance; none started another.
    assert len(db.session.scalars(select(WorkflowInstance)).all()) == 1
    runs = db.session.scalars(select(WorkflowStepRun).where(WorkflowStepRun.instance_id == inst.id).order_by(WorkflowStepRun.id)).all()
    assert [r.message for r in runs if r.function_name == "show_message"] == ["limit raised", "waiting", "big: keep watching", "lowered: done"]


def test_a_running_instance_keeps_its_copy_of_the_steps(engine_app):
    add(CREDIT_WATCH)
    change_credit_limit("500")
    inst = db.session.scalar(select(WorkflowInstance))
    wf = inst.workflow
    for step in wf.steps:
        if step.step_id == 7:
            step.options = {"message": "edited later"}
    db.session.commit()
    change_credit_limit("400")
    db.session.refresh(inst)
    assert inst.result.endswith("lowered: done")


def test_disabled_workflows_do_not_start(engine_app):
    from portal.workflow.models import Workflow

    add(CREDIT_WATCH)
    db.session.scalar(select(Workflow)).enabled = False
    db.session.commit()
    change_credit_limit("900")
    assert db.session.scalar(select(WorkflowInstance)) is None


def test_events_raised_by_responses_are_handled_after_the_chain(engine_app):
    """Releasing a document inside a chain raises "document released", which starts
    another workflow once the first chain has finished."""
    add({
        "code": "RELEASE-ON-CHANGE", "description": "Release when modified", "record_type": "sales_header",
        "steps": [(1, None, None, 1, E, "record_modified", {}, []), (2, 1, None, 1, R, "release_document", {}, [])],
    })
    add({
        "code": "ON-RELEASE", "description": "Say so when released", "record_type": "sales_header",
        "steps": [(1, None, None, 1, E, "document_released", {}, []), (2, 1, None, 1, R, "show_message", {"message": "released!"}, [])],
    })
    doc = SalesHeader(document_type="Order", no="S1", customer_id=customer().id)
    doc.lines.append(SalesLine(line_no=10000, description="x", quantity=Decimal(2), unit_price=Decimal("5.00")))
    doc.lines[0].calculate()
    doc.recalculate()
    db.session.add(doc)
    db.session.commit()
    modify_record(db.session, "sales_header", doc, {"freight": Decimal("3.00")}, None)
    db.session.commit()
    assert dispatch_pending(db.session) == 2
    first, second = db.session.scalars(select(WorkflowInstance).order_by(WorkflowInstance.id)).all()
    assert (first.workflow_code, first.status) == ("RELEASE-ON-CHANGE", "Completed")
    assert (second.workflow_code, second.status, second.result) == ("ON-RELEASE", "Completed", "released!")
    events = db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [e.event_code for e in events] == ["record_modified", "document_released"]


def test_a_failing_response_rolls_back_and_records_a_failed_run(engine_app):
    add({
        "code": "BAD", "description": "Release a customer (not a document)", "record_type": "customer",
        "steps": [(1, None, None, 1, E, "record_modified", {}, []), (2, 1, None, 1, R, "release_document", {}, [])],
    })
    change_credit_limit("700")
    inst = db.session.scalar(select(WorkflowInstance))
    assert inst.status == "Failed" and "needs a sales or purchase document or a general journal batch; the record is a customer" in inst.error
    assert db.session.scalar(select(OutboxEvent)).status == "failed"


def test_manual_release_is_refused_while_pending_approval(engine_app):
    doc = SalesHeader(document_type="Order", no="S2", customer_id=customer().id, status="Pending Approval")
    db.session.add(doc)
    db.session.commit()
    from portal.records.service import RecordError

    with pytest.raises(RecordError, match="only the approval workflow"):
        release(db.session, doc, None)


def test_new_runs_write_their_step_instances_in_one_go_with_every_link(engine_app):
    """A new run whose first chain needs no ids (update a field, a message, a webhook
    call) keeps its step instances out of the unit of work and inserts them after the
    chain: each is saved once, with its final status, and the step runs and the
    webhook's effect point at it — also when a query in the middle of the chain
    flushed the session (the create-notification response looks a user up)."""
    from portal.auth.models import User
    from portal.workflow.models import Effect, WorkflowStepInstance

    db.session.add(User(user_name="watcher", full_name="Watcher", email="watcher@example.test"))
    add({
        "code": "FAX", "description": "Copy phone to fax", "record_type": "customer",
        "steps": [
            (1, None, None, 1, E, "record_modified", {}, [{"field": "phone", "operator": "changed"}]),
            (2, 1, None, 1, R, "update_field", {"field": "fax", "value": "{{ record.phone }}"}, []),
            (3, 2, None, 1, R, "create_notification", {"recipient": "Specific User", "user": "watcher", "message": "x"}, []),
            (4, 3, None, 1, R, "call_webhook", {"url": "http://127.0.0.1:9/nothing-listens", "method": "POST", "body": "{}",
                                                "retries": 0, "timeout": 1}, []),
            (5, 4, None, 1, E, "record_modified", {}, [{"field": "phone", "operator": "changed"}]),
        ],
    })
    for phone in ("1", "2"):
        modify_record(db.session, "customer", customer(), {"phone": phone}, None)
        db.session.commit()
        dispatch_pending(db.session)
    db.session.expire_all()
    inst = db.session.scalars(select(WorkflowInstance).order_by(WorkflowInstance.id)).all()
    assert len(inst) == 1, "the second change advanced the running instance"
    rows = db.session.scalars(select(WorkflowStepInstance).where(WorkflowStepInstance.instance_id == inst[0].id)).all()
    assert sorted(s.step_id for s in rows) == [1, 2, 3, 4, 5]  # each saved once
    assert {s.step_id: s.status for s in rows} == {1: "Completed", 2: "Completed", 3: "Completed", 4: "Completed", 5: "Completed"}
    by_id = {s.id: s.step_id for s in rows}
    runs = db.session.scalars(select(WorkflowStepRun).where(WorkflowStepRun.instance_id == inst[0].id)).all()
    assert sorted(by_id[r.step_instance_id] for r in runs) == [1, 2, 3, 4, 5]
    effect = db.session.scalar(select(Effect).where(Effect.instance_id == inst[0].id))
    assert effect is not None and by_id[effect.step_instance_id] == 4
    assert customer().fax == "1"
