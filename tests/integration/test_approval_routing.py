"""Approval routing and acting on requests, end to end on Northwind users and orders
with a real RQ worker: every approver type × limit type, workflow user groups (series,
parallel any-one, all-must-approve), delegation (manual, automatic, each fallback, no
path), overdue notifications, reject after partial approval, cancel by sender and by
the approval administrator, concurrent decisions, self-approval.

Northwind's chain: sales reps (limit 1,000) → Steven Buchanan (5,000) → Andrew Fuller
(unlimited); Laura Callahan (2,000) → Fuller. ``admin`` is the approval administrator.
Order 10249 is 1,863.40 (salesperson Suyama), 10678 is 5,256.50 (salesperson King)."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from conftest import body_of
from portal.approvals import service as approvals
from portal.approvals.models import ApprovalEntry, ApprovalUserSetup, OverdueApprovalEntry, WorkflowUserGroup, WorkflowUserGroupMember
from portal.auth.models import User
from portal.records.models import SalesHeader
from portal.util import utcnow
from portal.workflow.library import build_workflow, document_approval
from portal.workflow.models import OutboxEvent, Workflow, WorkflowInstance

pytestmark = pytest.mark.usefixtures("clean_state")

ORDER = [{"field": "document_type", "operator": "=", "value": "Order"}]


def user(s, name) -> User:
    return s.scalar(select(User).where(User.user_name == name))


def setup_of(s, name) -> ApprovalUserSetup:
    return s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == user(s, name).id))


def order(s, no) -> SalesHeader:
    doc = s.scalar(select(SalesHeader).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
    s.refresh(doc)
    return doc


def install(s, approver_type, limit_type, **options) -> Workflow:
    """A sales order approval workflow (the standard tree) routing with the given
    options, in place of the shipped SO-APPROVAL."""
    definition = document_approval("T-ROUTING", "Test routing", "Sales documents", "sales_header",
                                   "sales_document_approval_requested", "sales_document_approval_canceled", ORDER, approver_type)
    steps = []
    for step in definition["steps"]:
        step = list(step)
        if step[5] == "create_approval_requests":
            step[6] = {"approver_type": approver_type, "limit_type": limit_type, "due_date_days": 2, **options}
        steps.append(tuple(step))
    definition["steps"] = steps
    s.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL")).enabled = False
    wf = build_workflow(definition)
    s.add(wf)
    s.commit()
    return wf


def group(s, code, members, all_must_approve=False) -> WorkflowUserGroup:
    g = WorkflowUserGroup(code=code, description=f"Group {code}", all_must_approve=all_must_approve)
    for name, seq in members:
        g.members.append(WorkflowUserGroupMember(user_id=user(s, name).id, sequence_no=seq))
    s.add(g)
    s.commit()
    return g


def send(s, run_jobs, no, sender) -> SalesHeader:
    approvals.send_approval_request(s, "sales_header", order(s, no), user(s, sender))
    s.commit()
    run_jobs()
    return order(s, no)


def entries(s, doc) -> list[tuple[int, str, str]]:
    s.expire_all()
    return [(e.sequence_no, e.approver.user_name, e.status)
            for e in sorted(approvals.entries_for_record(s, "sales_header", doc.id), key=lambda e: (e.sequence_no, e.approver.user_name))]


def act(s, run_jobs, doc, who, action="approve", comment=None) -> SalesHeader:
    """``who`` acts on their Open entry of ``doc`` (the administrator: on the first Open one)."""
    u = user(s, who)
    entry = approvals.open_entry_for(s, "sales_header", doc.id, u.id, admin=True)
    assert entry is not None, f"{who} has no open entry on {doc.no}: {entries(s, doc)}"
    getattr(approvals, action)(s, entry.id, u, comment)
    s.commit()
    run_jobs()
    return order(s, doc.no)


def failure(s, doc) -> str | None:
    s.expire_all()
    inst = s.scalars(select(WorkflowInstance).where(WorkflowInstance.record_id == doc.id, WorkflowInstance.record_type == "sales_header")
                     .order_by(WorkflowInstance.id.desc())).first()
    return inst.error if inst is not None and inst.status == "Failed" else None


# ---------------------------------------------------------------- approver type × limit type

@pytest.mark.parametrize("approver_type, limit_type, extra, sender, expected", [
    # Salesperson/Purchaser starts at King, the salesperson of 10678 (5,256.50).
    ("Salesperson/Purchaser", "Approver Chain", {}, "lcallahan",
     [(1, "rking", "Open"), (2, "sbuchanan", "Created"), (3, "afuller", "Created")]),
    ("Salesperson/Purchaser", "Direct Approver", {}, "lcallahan", [(1, "rking", "Open")]),
    ("Salesperson/Purchaser", "First Qualified Approver", {}, "lcallahan", [(1, "afuller", "Open")]),
    ("Salesperson/Purchaser", "Specific Approver", {"specific_approver": "jleverling"}, "lcallahan", [(1, "jleverling", "Open")]),
    # Approver: the sender's own entry first (approved at once: Suyama's 1,000 doesn't
    # cover it), then up from the sender's approver: Suyama → Buchanan → Fuller.
    ("Approver", "Approver Chain", {}, "msuyama", [(1, "msuyama", "Approved"), (2, "sbuchanan", "Open"), (3, "afuller", "Created")]),
    ("Approver", "Direct Approver", {}, "msuyama", [(1, "sbuchanan", "Open")]),
    ("Approver", "First Qualified Approver", {}, "msuyama", [(1, "msuyama", "Approved"), (2, "afuller", "Open")]),
    ("Approver", "Specific Approver", {"specific_approver": "mpeacock"}, "msuyama", [(1, "mpeacock", "Open")]),
])
def test_every_approver_type_and_limit_type(db_session, run_jobs, approver_type, limit_type, extra, sender, expected):
    s = db_session
    install(s, approver_type, limit_type, **extra)
    doc = send(s, run_jobs, "10678", sender)
    assert failure(s, doc) is None
    assert doc.status == "Pending Approval"
    assert entries(s, doc) == expected
    # Everyone in turn approves (the sender's own entry already is); the last approval releases the order.
    for _, approver, status in expected:
        if status != "Approved":
            doc = act(s, run_jobs, doc, approver)
    assert doc.status == "Released"
    assert {status for _, _, status in entries(s, doc)} == {"Approved"}


def test_first_qualified_within_the_first_approvers_limit_is_that_approver(db_session, run_jobs):
    s = db_session
    install(s, "Approver", "First Qualified Approver")
    doc = send(s, run_jobs, "10249", "msuyama")  # 1,863.40: Buchanan's 5,000 covers it
    assert entries(s, doc) == [(1, "msuyama", "Approved"), (2, "sbuchanan", "Open")]


def limit_fuller(s, approver: str | None = None) -> None:
    """Fuller's sales limit becomes 5,000 (below 10678's 5,256.50), his approver ``approver``."""
    fuller = setup_of(s, "afuller")
    fuller.unlimited_sales_approval, fuller.sales_amount_approval_limit = False, Decimal("5000")
    fuller.approver_id = user(s, approver).id if approver else None
    s.commit()


def test_the_chain_ending_before_a_limit_covers_the_amount_is_a_clear_error(db_session, run_jobs):
    s = db_session
    limit_fuller(s)
    install(s, "Approver", "Approver Chain")
    doc = send(s, run_jobs, "10678", "msuyama")
    assert doc.status == "Open" and entries(s, doc) == []
    assert "No approver in the chain of Michael Suyama has an approval limit covering 5,256.50: the chain ends at Andrew Fuller" in failure(s, doc)


def test_a_loop_in_the_chain_is_a_clear_error(db_session, run_jobs):
    s = db_session
    limit_fuller(s, "sbuchanan")
    install(s, "Approver", "Approver Chain")
    doc = send(s, run_jobs, "10678", "msuyama")
    assert "loops back to Steven Buchanan" in failure(s, doc)


def test_a_sender_without_an_approver_is_told_so(db_session, run_jobs):
    s = db_session
    install(s, "Approver", "Direct Approver")
    doc = send(s, run_jobs, "10249", "afuller")
    assert "Andrew Fuller has no approver in Approval User Setup" in failure(s, doc)


def test_self_approval_the_senders_own_entry_is_created_approved(db_session, run_jobs):
    s = db_session
    # Buchanan sends an order of his own (10248, 440.00): his limit covers it.
    doc = send(s, run_jobs, "10248", "sbuchanan")
    assert doc.status == "Released"
    assert entries(s, doc) == [(1, "sbuchanan", "Approved")]
    assert "Approved automatically" in approvals.comments_for_record(s, "sales_header", doc.id)[0].comment


# ---------------------------------------------------------------- workflow user groups

def test_group_members_with_different_numbers_approve_in_series(db_session, run_jobs, sink):
    s = db_session
    group(s, "FINANCE", [("ndavolio", 1), ("jleverling", 2), ("mpeacock", 3)])
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="FINANCE")
    doc = send(s, run_jobs, "10249", "msuyama")
    assert entries(s, doc) == [(1, "ndavolio", "Open"), (2, "jleverling", "Created"), (3, "mpeacock", "Created")]
    sink.wait_for("ndavolio@northwind.test", "Approval requested")
    doc = act(s, run_jobs, doc, "ndavolio")
    assert entries(s, doc) == [(1, "ndavolio", "Approved"), (2, "jleverling", "Open"), (3, "mpeacock", "Created")]
    doc = act(s, run_jobs, doc, "jleverling")
    assert doc.status == "Pending Approval"
    doc = act(s, run_jobs, doc, "mpeacock")
    assert doc.status == "Released"
    assert s.scalars(select(ApprovalEntry.workflow_user_group_code).where(ApprovalEntry.record_id == doc.id)).all() == ["FINANCE"] * 3


def test_group_members_sharing_a_number_are_opened_together_and_any_one_suffices(db_session, run_jobs, sink):
    s = db_session
    group(s, "BOARD", [("ndavolio", 1), ("jleverling", 1), ("mpeacock", 2)])
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="BOARD")
    doc = send(s, run_jobs, "10249", "msuyama")
    assert entries(s, doc) == [(1, "jleverling", "Open"), (1, "ndavolio", "Open"), (2, "mpeacock", "Created")]
    sink.wait_for("ndavolio@northwind.test", "Approval requested")
    sink.wait_for("jleverling@northwind.test", "Approval requested")
    doc = act(s, run_jobs, doc, "jleverling")
    # Leverling's approval settles sequence 1: Davolio's entry is canceled, Peacock's opens.
    assert entries(s, doc) == [(1, "jleverling", "Approved"), (1, "ndavolio", "Canceled"), (2, "mpeacock", "Open")]
    assert approvals.requests_to_approve(s, user(s, "ndavolio")) == []
    doc = act(s, run_jobs, doc, "mpeacock")
    assert doc.status == "Released"


def test_group_that_says_all_must_approve(db_session, run_jobs):
    s = db_session
    group(s, "ALL", [("ndavolio", 1), ("jleverling", 1)], all_must_approve=True)
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="ALL")
    doc = send(s, run_jobs, "10249", "msuyama")
    assert entries(s, doc) == [(1, "jleverling", "Open"), (1, "ndavolio", "Open")]
    doc = act(s, run_jobs, doc, "ndavolio")
    assert doc.status == "Pending Approval"
    assert entries(s, doc) == [(1, "jleverling", "Open"), (1, "ndavolio", "Approved")]
    doc = act(s, run_jobs, doc, "jleverling")
    assert doc.status == "Released"


def test_the_response_can_say_all_must_approve_for_a_group_that_does_not(db_session, run_jobs):
    s = db_session
    group(s, "ANY", [("ndavolio", 1), ("jleverling", 1)])
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="ANY", group_approval="All must approve")
    doc = send(s, run_jobs, "10249", "msuyama")
    doc = act(s, run_jobs, doc, "ndavolio")
    assert doc.status == "Pending Approval"
    assert act(s, run_jobs, doc, "jleverling").status == "Released"


def test_the_sender_in_a_parallel_group_settles_that_sequence(db_session, run_jobs):
    s = db_session
    group(s, "MIXED", [("msuyama", 1), ("ndavolio", 1), ("jleverling", 2)])
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="MIXED")
    doc = send(s, run_jobs, "10249", "msuyama")
    assert entries(s, doc) == [(1, "msuyama", "Approved"), (1, "ndavolio", "Canceled"), (2, "jleverling", "Open")]


def test_a_missing_or_empty_group_is_a_clear_error(db_session, run_jobs):
    s = db_session
    install(s, "Workflow User Group", "Approver Chain", workflow_user_group="NOPE")
    doc = send(s, run_jobs, "10249", "msuyama")
    assert "The workflow user group NOPE does not exist" in failure(s, doc)
    group(s, "EMPTY", [])
    wf = s.scalar(select(Workflow).where(Workflow.code == "T-ROUTING"))
    for step in wf.steps:
        if step.function_name == "create_approval_requests":
            step.options = {**step.options, "workflow_user_group": "EMPTY"}
    s.commit()
    doc = send(s, run_jobs, "10249", "msuyama")
    assert "The workflow user group EMPTY has no members" in failure(s, doc)


# ---------------------------------------------------------------- reject, cancel

def test_reject_after_partial_approval_rejects_every_entry(db_session, run_jobs, sink):
    s = db_session
    doc = send(s, run_jobs, "10678", "rking")  # SO-APPROVAL: King (own) → Buchanan → Fuller
    doc = act(s, run_jobs, doc, "sbuchanan")
    assert entries(s, doc) == [(1, "rking", "Approved"), (2, "sbuchanan", "Approved"), (3, "afuller", "Open")]
    doc = act(s, run_jobs, doc, "afuller", "reject", "Not this quarter")
    assert doc.status == "Open"
    assert entries(s, doc) == [(1, "rking", "Rejected"), (2, "sbuchanan", "Rejected"), (3, "afuller", "Rejected")]
    [mail] = sink.wait_for("rking@northwind.test", "Rejected")
    assert "Not this quarter" in body_of(mail)


def test_the_approval_administrator_cancels_a_request_someone_else_sent(db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    with pytest.raises(approvals.ApprovalError, match="Only the sender or the approval administrator"):
        approvals.cancel_approval_request(s, "sales_header", doc, user(s, "sbuchanan"))
    approvals.cancel_approval_request(s, "sales_header", doc, user(s, "admin"))
    s.commit()
    run_jobs()
    doc = order(s, "10249")
    assert doc.status == "Open"
    assert entries(s, doc) == [(1, "msuyama", "Canceled"), (2, "sbuchanan", "Canceled")]


# ---------------------------------------------------------------- concurrency

def test_two_people_deciding_at_the_same_moment_make_exactly_one_decision(app, db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    entry_id = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id).id
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(name: str, action: str) -> None:
        from portal.extensions import db

        with app.app_context():
            session = db.session
            who = session.scalar(select(User).where(User.user_name == name))
            barrier.wait()
            try:
                getattr(approvals, action)(session, entry_id, who, f"{name} says {action}")
                session.commit()
                outcomes[name] = "done"
            except approvals.ApprovalError as exc:
                session.rollback()
                outcomes[name] = str(exc)
            finally:
                session.remove()

    threads = [threading.Thread(target=decide, args=("sbuchanan", "approve")), threading.Thread(target=decide, args=("admin", "reject"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["admin", "sbuchanan"]
    done = [name for name, outcome in outcomes.items() if outcome == "done"]
    assert len(done) == 1, outcomes
    loser = "admin" if done == ["sbuchanan"] else "sbuchanan"
    assert "already been decided" in outcomes[loser]
    s.expire_all()
    decided = s.scalars(select(OutboxEvent.event_code).where(
        OutboxEvent.record_id == doc.id, OutboxEvent.event_code.in_(["approval_request_approved", "approval_request_rejected"]))).all()
    assert len(decided) == 1
    run_jobs()
    assert order(s, "10249").status == ("Released" if done == ["sbuchanan"] else "Open")


# ---------------------------------------------------------------- delegation

def test_delegate_goes_to_the_approvers_approver_when_there_is_no_substitute(db_session, run_jobs, sink):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    doc = act(s, run_jobs, doc, "sbuchanan", "delegate", "I am on leave")
    assert entries(s, doc) == [(1, "msuyama", "Approved"), (2, "afuller", "Open")]
    assert doc.status == "Pending Approval"
    [mail] = sink.wait_for("afuller@northwind.test", "Approval requested: Sales Order 10249")
    [told] = sink.wait_for("msuyama@northwind.test", "Delegated: Sales Order 10249")
    assert "Andrew Fuller" in body_of(told) and "I am on leave" in body_of(told)
    comments = [c.comment for c in approvals.comments_for_record(s, "sales_header", doc.id)]
    assert "Delegated by Steven Buchanan from Steven Buchanan to Andrew Fuller. I am on leave" in comments
    # The workflow waits again: Fuller's approval releases the order.
    assert act(s, run_jobs, doc, "afuller").status == "Released"


def test_delegate_goes_to_the_substitute_first(db_session, run_jobs):
    s = db_session
    setup_of(s, "sbuchanan").substitute_id = user(s, "lcallahan").id
    s.commit()
    doc = send(s, run_jobs, "10249", "msuyama")
    doc = act(s, run_jobs, doc, "sbuchanan", "delegate")
    assert entries(s, doc) == [(1, "msuyama", "Approved"), (2, "lcallahan", "Open")]
    assert act(s, run_jobs, doc, "lcallahan").status == "Released"


def test_delegate_falls_back_to_the_approval_administrator_and_fails_with_no_path(db_session, run_jobs):
    s = db_session
    install(s, "Approver", "Specific Approver", specific_approver="afuller")  # Fuller has no approver
    doc = send(s, run_jobs, "10249", "msuyama")
    doc = act(s, run_jobs, doc, "afuller", "delegate")
    assert entries(s, doc) == [(1, "admin", "Open")]
    # The administrator has no substitute or approver and is the administrator: no path.
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "admin").id)
    with pytest.raises(approvals.ApprovalError, match="can't be delegated: Portal Administrator has no substitute and no approver"):
        approvals.delegate(s, entry.id, user(s, "admin"))
    s.rollback()
    assert act(s, run_jobs, doc, "admin").status == "Released"


def test_who_may_delegate(db_session, run_jobs):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    with pytest.raises(approvals.ApprovalError, match="not permitted to delegate"):
        approvals.delegate(s, entry.id, user(s, "ndavolio"))
    s.rollback()
    approvals.delegate(s, entry.id, user(s, "msuyama"), "Steven is away")  # the sender may
    s.commit()
    assert entries(s, doc) == [(1, "msuyama", "Approved"), (2, "afuller", "Open")]
    with pytest.raises(approvals.ApprovalError, match="not permitted to delegate"):
        approvals.delegate(s, entry.id, user(s, "sbuchanan"))  # no longer his
    s.rollback()
    run_jobs()


def test_entries_past_their_delegation_date_are_delegated_by_the_job(db_session, run_jobs, sink):
    s = db_session
    install(s, "Approver", "Direct Approver", delegate_after_days=2)
    doc = send(s, run_jobs, "10249", "msuyama")
    [entry] = [e for e in approvals.entries_for_record(s, "sales_header", doc.id)]
    assert entry.delegation_date == utcnow().date() + timedelta(days=2)
    # Not yet due: nothing happens.
    assert approvals.delegate_due(s) == []
    # Three days later (sent 3 days ago, delegation date yesterday):
    s.execute(update(ApprovalEntry).where(ApprovalEntry.id == entry.id).values(
        date_time_sent=utcnow() - timedelta(days=3), delegation_date=utcnow().date() - timedelta(days=1)))
    s.commit()
    # The registered system job, run by a real worker.
    from portal.queue import enqueue

    assert enqueue("jobs.approvals.delegate_approval_requests")
    run_jobs()
    assert entries(s, doc) == [(1, "afuller", "Open")]
    s.expire_all()
    assert s.get(ApprovalEntry, entry.id).delegation_date == utcnow().date() + timedelta(days=2)  # the same interval again
    sink.wait_for("afuller@northwind.test", "Approval requested: Sales Order 10249")
    [told] = sink.wait_for("msuyama@northwind.test", "Delegated: Sales Order 10249")
    assert "Andrew Fuller" in body_of(told)


# ---------------------------------------------------------------- overdue

def test_overdue_requests_notify_approver_their_approver_and_sender_once_a_day(db_session, run_jobs, sink):
    s = db_session
    doc = send(s, run_jobs, "10249", "msuyama")
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    from portal.queue import enqueue

    assert enqueue("jobs.approvals.overdue_approvals")
    run_jobs()
    assert s.scalars(select(OverdueApprovalEntry)).all() == []  # due in 2 days: not overdue
    s.execute(update(ApprovalEntry).where(ApprovalEntry.id == entry.id).values(due_date=utcnow().date() - timedelta(days=1)))
    s.commit()
    assert enqueue("jobs.approvals.overdue_approvals")
    run_jobs()
    s.expire_all()
    rows = s.scalars(select(OverdueApprovalEntry).order_by(OverdueApprovalEntry.id)).all()
    assert [(r.sent_to.user_name, r.sent_to_role) for r in rows] == [
        ("sbuchanan", "Approver"), ("afuller", "Approver's approver"), ("msuyama", "Sender")]
    assert {r.approval_entry_id for r in rows} == {entry.id}
    for address in ("sbuchanan", "afuller", "msuyama"):
        [mail] = sink.wait_for(f"{address}@northwind.test", "Overdue approval request: Sales Order 10249")
        assert "Steven Buchanan" in body_of(mail)
    inst = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "OVERDUE-APPROVALS")).all()
    assert inst and inst[-1].status == "Completed"
    # The same day again: nobody is told twice.
    assert enqueue("jobs.approvals.overdue_approvals")
    run_jobs()
    s.expire_all()
    assert len(s.scalars(select(OverdueApprovalEntry)).all()) == 3


def test_without_the_overdue_workflow_the_job_only_reports(db_session, run_jobs):
    s = db_session
    s.scalar(select(Workflow).where(Workflow.code == "OVERDUE-APPROVALS")).enabled = False
    s.commit()
    from jobs.approvals import overdue_approvals

    assert "no enabled workflow reacts" in overdue_approvals()


def test_notifications_go_to_the_approval_user_setup_email_when_set(db_session, run_jobs, sink):
    s = db_session
    setup_of(s, "sbuchanan").email = "steven.approvals@northwind.test"
    s.commit()
    send(s, run_jobs, "10249", "msuyama")
    [mail] = sink.wait_for("steven.approvals@northwind.test", "Approval requested: Sales Order 10249")
    assert sink.to("sbuchanan@northwind.test", "Sales Order 10249") == []
