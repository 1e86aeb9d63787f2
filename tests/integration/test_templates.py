"""Templates of the library run end to end on Northwind data (real Redis-compatible
server, RQ worker): each is copied ("New workflow from template"), enabled, and driven
through its branches."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.approvals import service as approvals
from portal.auth.models import User
from portal.records.models import Customer, Item, SalesHeader, SalesLine
from portal.records.service import modify_record
from portal.workflow import service as workflows
from portal.workflow.models import Workflow, WorkflowInstance, WorkflowRecordChange

pytestmark = pytest.mark.usefixtures("clean_state")


def user(s, name) -> User:
    return s.scalar(select(User).where(User.user_name == name))


def use_template(s, template_code: str) -> Workflow:
    """Disable the shipped demo workflows, copy the template and enable the copy."""
    for wf in s.scalars(select(Workflow).where(Workflow.template.is_(False))).unique():
        wf.enabled = False
    wf = workflows.copy(s, workflows.get(s, template_code))
    workflows.set_enabled(s, wf, True)
    s.commit()
    return wf


def entries(s, record_type, record_id):
    s.expire_all()
    return [(e.approver.user_name, e.status) for e in approvals.entries_for_record(s, record_type, record_id)]


def decide(s, run_jobs, record_type, record_id, approver, action="approve", comment=None):
    who = user(s, approver)
    entry = approvals.open_entry_for(s, record_type, record_id, who.id)
    assert entry is not None, entries(s, record_type, record_id)
    getattr(approvals, action)(s, entry.id, who, comment)
    s.commit()
    run_jobs()
    s.expire_all()


def delegate_then_approve(s, run_jobs, record_type, record_id, pending_status=None, model=None):
    """The template's delegated branch: Buchanan delegates his open request (no
    substitute: to his approver, Fuller); the workflow waits again (the record still
    ``pending_status`` if given), and Fuller's approval finishes the request."""
    decide(s, run_jobs, record_type, record_id, "sbuchanan", "delegate", "Away this week")
    assert ("afuller", "Open") in entries(s, record_type, record_id)
    if pending_status is not None:
        assert s.get(model, record_id).status == pending_status
    decide(s, run_jobs, record_type, record_id, "afuller")


@pytest.fixture
def restore_credit_limits(db_session):
    saved = {c.id: c.credit_limit for c in db_session.scalars(select(Customer))}
    prices = {i.id: i.unit_price for i in db_session.scalars(select(Item))}
    yield
    db_session.rollback()
    for c in db_session.scalars(select(Customer)):
        c.credit_limit = saved[c.id]
    for i in db_session.scalars(select(Item)):
        i.unit_price = prices[i.id]
    db_session.commit()


def make_document(s, doc_type: str, no: str, salesperson="MSUYAMA") -> SalesHeader:
    """A sales document of ``doc_type`` for Toms Spezialitäten worth 1,863.40."""
    existing = s.scalar(select(SalesHeader).where(SalesHeader.document_type == doc_type, SalesHeader.no == no))
    if existing is not None:
        return existing
    order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    doc = SalesHeader(document_type=doc_type, no=no, customer_id=order.customer_id, salesperson_code=salesperson)
    for line in order.lines:
        new = SalesLine(line_no=line.line_no, item_id=line.item_id, description=line.description, quantity=line.quantity,
                        unit_price=line.unit_price, line_discount_pct=line.line_discount_pct)
        new.calculate()
        doc.lines.append(new)
    doc.recalculate()
    s.add(doc)
    s.commit()
    return doc


@pytest.mark.parametrize("template,doc_type", [("MS-SQAPW", "Quote"), ("MS-SOAPW", "Order"), ("MS-SIAPW", "Invoice"), ("MS-SCMAPW", "Credit Memo")])
def test_sales_document_approval_templates_through_each_branch(db_session, run_jobs, restore_credit_limits, template, doc_type):
    s = db_session
    use_template(s, template)
    doc = make_document(s, doc_type, f"T-{doc_type[:2].upper()}-1")
    msuyama = user(s, "msuyama")

    # approve: up the chain, then released
    approvals.send_approval_request(s, "sales_header", doc, msuyama)
    s.commit()
    run_jobs()
    assert entries(s, "sales_header", doc.id) == [("msuyama", "Approved"), ("sbuchanan", "Open")]
    assert s.get(SalesHeader, doc.id).status == "Pending Approval"
    decide(s, run_jobs, "sales_header", doc.id, "sbuchanan")
    assert s.get(SalesHeader, doc.id).status == "Released"

    # reject: all entries rejected, reopened
    doc = s.get(SalesHeader, doc.id)
    doc.status = "Open"
    s.commit()
    approvals.send_approval_request(s, "sales_header", doc, msuyama)
    s.commit()
    run_jobs()
    decide(s, run_jobs, "sales_header", doc.id, "sbuchanan", "reject", "No")
    assert s.get(SalesHeader, doc.id).status == "Open"
    assert entries(s, "sales_header", doc.id)[:2] == [("msuyama", "Rejected"), ("sbuchanan", "Rejected")]

    # cancel by the sender: entries canceled, reopened
    approvals.send_approval_request(s, "sales_header", s.get(SalesHeader, doc.id), msuyama)
    s.commit()
    run_jobs()
    approvals.cancel_approval_request(s, "sales_header", s.get(SalesHeader, doc.id), msuyama)
    s.commit()
    run_jobs()
    s.expire_all()
    assert s.get(SalesHeader, doc.id).status == "Open"
    assert ("sbuchanan", "Canceled") in entries(s, "sales_header", doc.id)

    # delegate: to Buchanan's approver, who approves: released
    approvals.send_approval_request(s, "sales_header", s.get(SalesHeader, doc.id), msuyama)
    s.commit()
    run_jobs()
    delegate_then_approve(s, run_jobs, "sales_header", doc.id, "Pending Approval", SalesHeader)
    assert s.get(SalesHeader, doc.id).status == "Released"


def test_credit_limit_check_routes_over_the_limit_to_approval(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-SOCLAPW")
    doc = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    doc.customer.credit_limit = Decimal("1000.00")  # 1,863.40 is over it
    s.commit()
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert s.get(SalesHeader, doc.id).status == "Pending Approval"
    assert entries(s, "sales_header", doc.id) == [("msuyama", "Approved"), ("sbuchanan", "Open")]
    delegate_then_approve(s, run_jobs, "sales_header", doc.id, "Pending Approval", SalesHeader)
    assert s.get(SalesHeader, doc.id).status == "Released"
    inst = s.scalar(select(WorkflowInstance).where(WorkflowInstance.record_id == doc.id))
    assert inst.status == "Completed" and "exceeds the credit limit" in inst.result


def test_credit_limit_check_releases_within_the_limit_at_once(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-SOCLAPW")
    doc = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    doc.customer.credit_limit = Decimal("10000.00")
    s.commit()
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert s.get(SalesHeader, doc.id).status == "Released"
    assert entries(s, "sales_header", doc.id) == [("msuyama", "Approved")]


def test_sales_invoice_credit_limit_template(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-SICLAPW")
    doc = make_document(s, "Invoice", "T-IN-CL")
    doc.customer.credit_limit = Decimal("0")  # no limit
    s.commit()
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert s.get(SalesHeader, doc.id).status == "Released"

    over = make_document(s, "Invoice", "T-IN-CL2")
    over.customer.credit_limit = Decimal("1.00")  # over the limit: approval, delegated
    s.commit()
    approvals.send_approval_request(s, "sales_header", over, user(s, "msuyama"))
    s.commit()
    run_jobs()
    assert s.get(SalesHeader, over.id).status == "Pending Approval"
    delegate_then_approve(s, run_jobs, "sales_header", over.id, "Pending Approval", SalesHeader)
    assert s.get(SalesHeader, over.id).status == "Released"


def change(s, record_type, record, field, value, user_name):
    modify_record(s, record_type, record, {field: Decimal(value)}, user(s, user_name).id)
    s.commit()


def test_credit_limit_change_is_held_until_approved(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-CCLCAPW")
    alfki = s.scalar(select(Customer).where(Customer.no == "ALFKI"))
    change(s, "customer", alfki, "credit_limit", "5000", "msuyama")
    run_jobs()
    s.expire_all()
    assert s.get(Customer, alfki.id).credit_limit == Decimal("0.00")  # reverted at once
    assert entries(s, "customer", alfki.id) == [("sbuchanan", "Open")]
    delegate_then_approve(s, run_jobs, "customer", alfki.id)
    assert s.get(Customer, alfki.id).credit_limit == Decimal("5000.00")
    assert s.scalar(select(WorkflowRecordChange.status)) == "Applied"


def test_rejected_credit_limit_change_is_discarded(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-CCLCAPW")
    anatr = s.scalar(select(Customer).where(Customer.no == "ANATR"))
    change(s, "customer", anatr, "credit_limit", "7000", "msuyama")
    run_jobs()
    decide(s, run_jobs, "customer", anatr.id, "sbuchanan", "reject")
    assert s.get(Customer, anatr.id).credit_limit == Decimal("0.00")
    assert s.scalar(select(WorkflowRecordChange.status)) == "Discarded"
    assert entries(s, "customer", anatr.id) == [("sbuchanan", "Rejected")]


def test_held_change_is_not_applied_if_the_field_changed_meanwhile(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-CCLCAPW")
    around = s.scalar(select(Customer).where(Customer.no == "AROUT"))
    around.credit_limit = Decimal("1000.00")
    s.commit()
    change(s, "customer", around, "credit_limit", "3000", "msuyama")
    run_jobs()
    s.expire_all()
    assert s.get(Customer, around.id).credit_limit == Decimal("1000.00")
    change(s, "customer", s.get(Customer, around.id), "credit_limit", "800", "msuyama")  # a decrease: no approval needed
    run_jobs()
    decide(s, run_jobs, "customer", around.id, "sbuchanan")
    assert s.get(Customer, around.id).credit_limit == Decimal("800.00")
    assert s.scalar(select(WorkflowRecordChange.status)) == "Not Applied"


def test_item_unit_price_change_approval(db_session, run_jobs, restore_credit_limits):
    s = db_session
    use_template(s, "MS-IUPCAPW")
    chai = s.scalar(select(Item).where(Item.no == "I0001"))
    before = chai.unit_price
    change(s, "item", chai, "unit_price", str(before + 2), "rking")
    run_jobs()
    s.expire_all()
    assert s.get(Item, chai.id).unit_price == before
    delegate_then_approve(s, run_jobs, "item", chai.id)
    assert s.get(Item, chai.id).unit_price == before + 2


def test_a_line_condition_picks_which_orders_need_approval(db_session, run_jobs, restore_credit_limits):
    """A copy of the sales order approval whose entry condition asks for "any line of
    item I0051": order 10249 has one and goes for approval; 10248 hasn't and doesn't."""
    s = db_session
    wf = use_template(s, "MS-SOAPW")
    wf.enabled = False
    entry = next(st for st in wf.steps if st.entry_point)
    entry.conditions = [*entry.conditions, {"field": "lines.item_no", "operator": "=", "value": "I0051"}]
    assert workflows.enable_problems(s, wf) == []
    wf.enabled = True
    s.commit()
    has_line = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
    approvals.send_approval_request(s, "sales_header", has_line, user(s, "msuyama"))
    s.commit()
    without = s.scalar(select(SalesHeader).where(SalesHeader.no == "10248", SalesHeader.document_type == "Order"))
    with pytest.raises(approvals.ApprovalError, match="No enabled approval workflow applies to this sales order"):
        approvals.send_approval_request(s, "sales_header", without, user(s, "sbuchanan"))
    run_jobs()
    assert s.get(SalesHeader, has_line.id).status == "Pending Approval"
