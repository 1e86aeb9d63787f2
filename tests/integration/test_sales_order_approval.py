"""The Sales Order Approval workflow end to end on Northwind data: outbox → RQ
worker → engine → approval entries → notification email through the SMTP sink."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from conftest import body_of, subject_of
from portal.approvals import service as approvals
from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.records import service as records
from portal.records.models import SalesHeader
from portal.workflow.models import OutboxEvent, Workflow, WorkflowInstance

pytestmark = pytest.mark.usefixtures("clean_state")


def user(session, name) -> User:
    return session.scalar(select(User).where(User.user_name == name))


def order(session, no) -> SalesHeader:
    doc = session.scalar(select(SalesHeader).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
    session.refresh(doc)
    return doc


def send(session, run_jobs, no, sender) -> SalesHeader:
    """``sender`` sends order ``no`` for approval; the worker runs the workflow."""
    approvals.send_approval_request(session, "sales_header", order(session, no), user(session, sender))
    session.commit()
    run_jobs()
    return order(session, no)


def decide(session, run_jobs, doc, approver, action="approve", comment=None) -> SalesHeader:
    """``approver`` approves (or rejects) their open entry; the worker runs the workflow."""
    who = user(session, approver)
    entry = approvals.open_entry_for(session, "sales_header", doc.id, who.id)
    getattr(approvals, action)(session, entry.id, who, comment)
    session.commit()
    run_jobs()
    return order(session, doc.no)


def entries(session, doc):
    session.expire_all()
    return [(e.approver.user_name, e.status) for e in approvals.entries_for_record(session, "sales_header", doc.id)]


def test_order_10249_goes_up_the_chain_and_is_released(db_session, run_jobs, sink):
    s = db_session
    doc = order(s, "10249")
    assert doc.amount == Decimal("1863.40") and doc.salesperson_code == "MSUYAMA"

    doc = send(s, run_jobs, "10249", "msuyama")
    assert doc.status == "Pending Approval"
    # Suyama's own entry (limit 1,000) is approved at once; Buchanan's (limit 5,000) is open.
    assert entries(s, doc) == [("msuyama", "Approved"), ("sbuchanan", "Open")]
    [mail] = sink.wait_for("sbuchanan@northwind.test", "10249")
    assert "Approval requested" in subject_of(mail)

    # Pending approval: no edits and no manual release.
    with pytest.raises(records.RecordError, match="pending approval"):
        records.modify_record(s, "sales_header", doc, {"freight": Decimal("1.00")}, user(s, "msuyama").id)
    with pytest.raises(records.RecordError, match="pending approval"):
        records.release(s, doc, user(s, "msuyama").id)
    s.rollback()

    doc = decide(s, run_jobs, doc, "sbuchanan", comment="Fine by me")
    assert doc.status == "Released"
    assert entries(s, doc) == [("msuyama", "Approved"), ("sbuchanan", "Approved")]
    inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.record_id == doc.id))
    assert inst.status == "Completed" and inst.workflow_code == "SO-APPROVAL"
    assert [c.comment for c in approvals.comments_for_record(s, "sales_header", doc.id)][-1] == "Fine by me"


def test_large_order_climbs_the_whole_chain_in_series(db_session, run_jobs):
    s = db_session
    # 10678 (Robert King) is 5,256.50: above the sales manager's 5,000, so the chain
    # runs King (sender, approved at once) → Buchanan → Fuller, one at a time.
    assert order(s, "10678").amount == Decimal("5256.50")
    doc = send(s, run_jobs, "10678", "rking")
    assert entries(s, doc) == [("rking", "Approved"), ("sbuchanan", "Open"), ("afuller", "Created")]
    doc = decide(s, run_jobs, doc, "sbuchanan")
    assert doc.status == "Pending Approval"
    assert entries(s, doc) == [("rking", "Approved"), ("sbuchanan", "Approved"), ("afuller", "Open")]
    assert decide(s, run_jobs, doc, "afuller").status == "Released"


def test_order_within_the_senders_limit_is_released_at_once(db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10248", "sbuchanan")  # 440.00, salesperson Steven Buchanan
    assert doc.status == "Released"
    assert entries(s, doc) == [("sbuchanan", "Approved")]


def test_reject_rejects_all_reopens_and_tells_the_sender(db_session, run_jobs, sink):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    doc = decide(s, run_jobs, doc, "sbuchanan", "reject", "Discount too high")
    assert doc.status == "Open"
    assert entries(s, doc) == [("msuyama", "Rejected"), ("sbuchanan", "Rejected")]
    [mail] = sink.wait_for("msuyama@northwind.test", "Rejected: Sales Order 10249")
    assert "Discount too high" in body_of(mail)


def test_sender_cancels_and_the_document_reopens(db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    with pytest.raises(approvals.ApprovalError, match="Only the sender"):
        approvals.cancel_approval_request(s, "sales_header", doc, user(s, "ndavolio"))
    approvals.cancel_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    doc = order(s, "10249")
    assert doc.status == "Open"
    # Every entry of the request is canceled, the sender's automatically approved one included.
    assert entries(s, doc) == [("msuyama", "Canceled"), ("sbuchanan", "Canceled")]
    # And it can be sent again.
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()


def test_only_the_approver_or_the_administrator_decides_and_only_once(db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    with pytest.raises(approvals.ApprovalError, match="not permitted"):
        approvals.approve(s, entry.id, user(s, "ndavolio"))
    s.rollback()
    approvals.approve(s, entry.id, user(s, "admin"), "approved by the approval administrator")
    s.commit()
    with pytest.raises(approvals.ApprovalError, match="already been decided"):
        approvals.approve(s, entry.id, user(s, "sbuchanan"))
    s.rollback()
    run_jobs()
    assert order(s, "10249").status == "Released"


def test_concurrent_decisions_produce_one(db_session, app):
    """The approver and the approval administrator approve the same entry at the same
    moment, each in its own thread and session: exactly one decision is recorded and
    the other is told the entry has already been decided."""
    import threading

    from sqlalchemy.orm import Session

    from portal.extensions import db

    s = db_session
    doc = order(s, "10249")
    sender, approver, admin = user(s, "msuyama"), user(s, "sbuchanan"), user(s, "admin")
    entry = ApprovalEntry(record_type="sales_header", record_id=doc.id, sequence_no=1, sender_id=sender.id,
                          approver_id=approver.id, status="Open", record_title="Sales Order 10249")
    s.add(entry)
    s.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(user_id: int) -> None:
        with app.app_context(), Session(db.engine) as session:
            who = session.get(User, user_id)
            barrier.wait()
            try:
                approvals.approve(session, entry.id, who)
                session.commit()
                outcomes.append("approved")
            except approvals.ApprovalError as exc:
                session.rollback()
                outcomes.append(str(exc))

    threads = [threading.Thread(target=decide, args=(uid,)) for uid in (approver.id, admin.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 2 and outcomes.count("approved") == 1, outcomes
    assert "already been decided" in [o for o in outcomes if o != "approved"][0]
    s.expire_all()
    events = s.scalars(select(OutboxEvent).where(OutboxEvent.event_code == "approval_request_approved")).all()
    assert len(events) == 1


def test_send_without_an_enabled_workflow_says_so(db_session):
    s = db_session
    wf = s.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL"))
    wf.enabled = False
    s.commit()
    with pytest.raises(approvals.ApprovalError, match="No enabled approval workflow applies to this sales order"):
        approvals.send_approval_request(s, "sales_header", order(s, "10249"), user(s, "msuyama"))


def test_a_retried_dispatch_does_not_run_twice(db_session, run_jobs):
    from portal.workflow.engine import claim, dispatch_pending

    s = db_session
    doc = order(s, "10249")
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    assert dispatch_pending(s) >= 1
    first = entries(s, doc)
    ev = s.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "sales_document_approval_requested"))
    assert ev.status == "done"
    assert claim(s, ev.id) is False  # a retried job can't claim a handled event
    run_jobs()
    dispatch_pending(s)
    assert entries(s, doc) == first
    assert s.scalar(select(WorkflowInstance.id).where(WorkflowInstance.record_id == doc.id).offset(1)) is None


def test_a_rolled_back_change_emits_no_event(db_session):
    s = db_session
    before = len(s.scalars(select(OutboxEvent)).all())
    approvals.send_approval_request(s, "sales_header", order(s, "10249"), user(s, "msuyama"))
    s.rollback()
    assert len(s.scalars(select(OutboxEvent)).all()) == before


def test_events_wait_in_the_outbox_while_redis_is_down(db_session, app, run_jobs):
    """Enqueue fails (Redis unreachable): the outbox row stays pending and the sweep
    job handles it once Redis is back."""
    s = db_session
    url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        approvals.send_approval_request(s, "sales_header", order(s, "10249"), user(s, "msuyama"))
        s.commit()  # the after-commit enqueue fails quietly
    finally:
        app.config["REDIS_URL"] = url
    ev = s.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "sales_document_approval_requested"))
    assert ev.status == "pending"
    from portal.queue import enqueue

    assert enqueue("jobs.outbox.sweep_outbox", retry=0)
    run_jobs()
    assert order(s, "10249").status == "Pending Approval"


def test_canceling_the_approval_run_cancels_its_entries_and_reopens_the_order(db_session, run_jobs, sink):
    """Flow runs → Cancel on a running approval run: as Cancel Approval Request, every
    entry of the request is Canceled (the sender's approved one too), Buchanan is told
    he needn't answer, and the order is Open again — his old entry can't be decided."""
    from portal.flows import service as flows

    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    assert doc.status == "Pending Approval"
    [run] = s.scalars(select(WorkflowInstance).where(WorkflowInstance.record_id == doc.id,
                                                     WorkflowInstance.status == "Running")).unique().all()
    buchanan_entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    flows.cancel_run(s, run, user(s, "admin"))
    s.commit()
    run_jobs()
    assert order(s, "10249").status == "Open"
    assert {status for _, status in entries(s, doc)} == {"Canceled"}
    sink.wait_for("sbuchanan@northwind.test", "canceled")
    with pytest.raises(approvals.ApprovalError):
        approvals.approve(s, buchanan_entry.id, user(s, "sbuchanan"))
    s.rollback()
