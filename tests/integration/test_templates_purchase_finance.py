"""Purchase document approval templates, the general journal batch approval
template (balanced check first) and the purchase invoice post-and-pay template, end to
end with a real RQ worker."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.approvals import service as approvals
from portal.records import service as records
from portal.records.models import GenJournalBatch, GenJournalLine, PostedDocument, PurchaseHeader
from portal.records.registry import LIST_VIEWS, RECORD_TYPES
from portal.workflow.models import Workflow, WorkflowInstance
from test_templates import decide, delegate_then_approve, entries, use_template, user

pytestmark = pytest.mark.usefixtures("clean_state")


def purchase(s, doc_type: str, cost="25.00", qty="10") -> PurchaseHeader:
    rt = LIST_VIEWS[f"purchase-{doc_type.lower().replace(' ', '-')}s"]
    uid = user(s, "msuyama").id
    doc = records.create_record(s, rt, {"vendor_no": "V00001", "vendor_invoice_no": f"EXT-{uuid.uuid4().hex[:6]}"}, uid)
    records.add_line(s, "purchase_header", doc, {"item_no": "I0003", "quantity": Decimal(qty), "direct_unit_cost": Decimal(cost)}, uid)
    s.commit()
    return doc


def send(s, run_jobs, record_type, doc, sender="msuyama"):
    approvals.send_approval_request(s, record_type, doc, user(s, sender))
    s.commit()
    run_jobs()
    s.expire_all()


@pytest.mark.parametrize("template,doc_type", [("MS-PQAPW", "Quote"), ("MS-POAPW", "Order"), ("MS-PIAPW", "Invoice"), ("MS-PCMAPW", "Credit Memo")])
def test_purchase_document_approval_templates_through_each_branch(db_session, run_jobs, template, doc_type):
    s = db_session
    use_template(s, template)
    # 2,500.00: above the requester's own 1,000 limit (his entry comes first, approved at
    # once), so his approver (Buchanan, 5,000) is asked and suffices
    doc = purchase(s, doc_type, cost="250.00")
    send(s, run_jobs, "purchase_header", doc)
    assert s.get(PurchaseHeader, doc.id).status == "Pending Approval"
    assert entries(s, "purchase_header", doc.id) == [("msuyama", "Approved"), ("sbuchanan", "Open")]
    decide(s, run_jobs, "purchase_header", doc.id, "sbuchanan")
    assert s.get(PurchaseHeader, doc.id).status == "Released"

    records.reopen(s, s.get(PurchaseHeader, doc.id), None)
    s.commit()
    send(s, run_jobs, "purchase_header", s.get(PurchaseHeader, doc.id))
    decide(s, run_jobs, "purchase_header", doc.id, "sbuchanan", "reject", "Too expensive")
    assert s.get(PurchaseHeader, doc.id).status == "Open"

    send(s, run_jobs, "purchase_header", s.get(PurchaseHeader, doc.id))
    approvals.cancel_approval_request(s, "purchase_header", s.get(PurchaseHeader, doc.id), user(s, "msuyama"))
    s.commit()
    run_jobs()
    s.expire_all()
    assert s.get(PurchaseHeader, doc.id).status == "Open"
    assert entries(s, "purchase_header", doc.id)[:2] == [("msuyama", "Canceled"), ("sbuchanan", "Canceled")]

    send(s, run_jobs, "purchase_header", s.get(PurchaseHeader, doc.id))
    delegate_then_approve(s, run_jobs, "purchase_header", doc.id, "Pending Approval", PurchaseHeader)
    assert s.get(PurchaseHeader, doc.id).status == "Released"


def test_a_large_purchase_order_climbs_to_the_vice_president(db_session, run_jobs):
    s = db_session
    use_template(s, "MS-POAPW")
    doc = purchase(s, "Order", cost="600.00", qty="10")  # 6,000.00: above Buchanan's 5,000
    send(s, run_jobs, "purchase_header", doc)
    assert entries(s, "purchase_header", doc.id) == [("msuyama", "Approved"), ("sbuchanan", "Open"), ("afuller", "Created")]
    decide(s, run_jobs, "purchase_header", doc.id, "sbuchanan")
    decide(s, run_jobs, "purchase_header", doc.id, "afuller")
    assert s.get(PurchaseHeader, doc.id).status == "Released"


def batch(s, *amounts_and_bal) -> GenJournalBatch:
    rt = RECORD_TYPES["gen_journal_batch"]
    b = records.create_record(s, rt, {"journal_template_name": "GENERAL", "name": f"B{uuid.uuid4().hex[:6].upper()}", "description": "Accruals"}, None)
    for amount, bal in amounts_and_bal:
        records.add_line(s, "gen_journal_batch", b, {"posting_date": date(2026, 11, 30), "account_type": "G/L Account",
                                                     "account_no": "6100", "amount": Decimal(amount), "bal_account_no": bal}, None)
    s.commit()
    return b


def test_journal_batch_approval_checks_the_balance_first(db_session, run_jobs, sink):
    s = db_session
    use_template(s, "MS-GJBAPW")
    unbalanced = batch(s, ("300.00", None), ("-250.00", None))
    send(s, run_jobs, "gen_journal_batch", unbalanced)
    assert s.get(GenJournalBatch, unbalanced.id).status == "Open"
    assert entries(s, "gen_journal_batch", unbalanced.id) == []
    inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.record_type == "gen_journal_batch", WorkflowInstance.record_id == unbalanced.id))
    assert inst.status == "Completed" and "is not balanced" in inst.result
    [note] = sink.wait_for("msuyama@northwind.test", "General Journal Batch")
    assert "is not balanced" in sink.body(note)

    balanced = batch(s, ("3000.00", None), ("-3000.00", None))  # above the sender's own 1,000 request limit
    send(s, run_jobs, "gen_journal_batch", balanced)
    assert s.get(GenJournalBatch, balanced.id).status == "Pending Approval"
    delegate_then_approve(s, run_jobs, "gen_journal_batch", balanced.id, "Pending Approval", GenJournalBatch)
    assert s.get(GenJournalBatch, balanced.id).status == "Released"


def test_released_purchase_invoice_is_posted_and_a_payment_line_created(db_session, run_jobs, sink):
    s = db_session
    use_template(s, "MS-PIW")
    doc = purchase(s, "Invoice")
    doc_id = doc.id
    records.release(s, doc, user(s, "msuyama").id)
    s.commit()
    run_jobs()
    s.expire_all()
    assert s.get(PurchaseHeader, doc_id) is None  # posted, so gone
    posted = s.scalar(select(PostedDocument).where(PostedDocument.kind == "Purchase Invoice").order_by(PostedDocument.id.desc()))
    assert posted.amount == Decimal("250.00")
    line = s.scalar(select(GenJournalLine).where(GenJournalLine.document_no == posted.no))
    assert (line.account_type, line.account_no, line.amount, line.document_type) == ("Vendor", "V00001", Decimal("250.00"), "Payment")
    assert line.batch.journal_template_name == "PAYMENT"
    inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.workflow_code.like("MS-PIW-%")))
    assert inst.status == "Completed", inst.error
    sink.wait_for("msuyama@northwind.test")


def test_group_template_is_enabled_only_once_it_names_a_group_then_routes_through_it(db_session, run_jobs):
    from portal.approvals.models import WorkflowUserGroup, WorkflowUserGroupMember
    from portal.workflow import editor
    from portal.workflow import service as workflows

    s = db_session
    for wf in s.scalars(select(Workflow).where(Workflow.template.is_(False))).unique():
        wf.enabled = False
    wf = workflows.copy(s, workflows.get(s, "MS-PIUGAPW"))
    s.commit()
    assert wf.code == "MS-PIUGAPW-01"
    with pytest.raises(workflows.WorkflowError, match="needs a workflow user group code"):
        workflows.set_enabled(s, wf, True)
    s.rollback()
    g = WorkflowUserGroup(code="PURCHASING", description="Purchasing")
    g.members += [WorkflowUserGroupMember(user_id=user(s, "ndavolio").id, sequence_no=1),
                  WorkflowUserGroupMember(user_id=user(s, "jleverling").id, sequence_no=2)]
    s.add(g)
    step = next(st for st in wf.steps if st.function_name == "create_approval_requests")
    editor.set_response(wf, step.step_id, {**step.options, "workflow_user_group": "purchasing"}, step.next_step_id, session=s)
    workflows.set_enabled(s, wf, True)  # a group code in any case names the group
    s.commit()

    doc = purchase(s, "Invoice")
    send(s, run_jobs, "purchase_header", doc)
    assert entries(s, "purchase_header", doc.id) == [("ndavolio", "Open"), ("jleverling", "Created")]
    decide(s, run_jobs, "purchase_header", doc.id, "ndavolio")
    decide(s, run_jobs, "purchase_header", doc.id, "jleverling", "delegate")  # Leverling → Fuller
    assert s.get(PurchaseHeader, doc.id).status == "Pending Approval"
    decide(s, run_jobs, "purchase_header", doc.id, "afuller")
    assert s.get(PurchaseHeader, doc.id).status == "Released"
    assert entries(s, "purchase_header", doc.id) == [("ndavolio", "Approved"), ("afuller", "Approved")]
