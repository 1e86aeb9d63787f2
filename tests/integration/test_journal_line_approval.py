"""General journal line approval (record type ``gen_journal_line``, template MS-GJLAPW),
end to end on a real RQ worker: every branch of the template (approved with more
pending → the next approver, approved → the restriction is lifted, rejected,
canceled, delegated), the record restriction that blocks changing or removing the
line and releasing its batch while the request is under way, and the pages: the
journal line list and card with the approval actions, reached from the batch page."""
from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.approvals import service as approvals
from portal.records import service as records
from portal.records.models import GenJournalBatch, GenJournalLine
from portal.records.registry import RECORD_TYPES
from portal.workflow.catalog import EVENTS
from portal.workflow.library import TEMPLATES
from portal.workflow.models import OutboxEvent, WorkflowInstance, WorkflowStepRun
from test_pages import csrf, sign_in
from test_templates import decide, entries, use_template, user

pytestmark = pytest.mark.usefixtures("clean_state")

LINE = "gen_journal_line"


def make_batch(s, *amounts) -> GenJournalBatch:
    """A GENERAL batch with one line per amount (no balancing accounts)."""
    b = records.create_record(s, RECORD_TYPES["gen_journal_batch"],
                              {"journal_template_name": "GENERAL", "name": f"L{uuid.uuid4().hex[:6].upper()}"}, None)
    for amount in amounts:
        records.add_line(s, "gen_journal_batch", b, {"posting_date": date(2026, 11, 30), "account_type": "G/L Account",
                                                     "account_no": "6100", "description": "Accrual", "amount": Decimal(amount)}, None)
    s.commit()
    return b


def line_of(s, batch_id: int, line_no: int) -> GenJournalLine:
    s.expire_all()
    return s.scalar(select(GenJournalLine).where(GenJournalLine.batch_id == batch_id, GenJournalLine.line_no == line_no))


def send(s, run_jobs, line, sender="msuyama"):
    approvals.send_approval_request(s, LINE, line, user(s, sender))
    s.commit()
    run_jobs()
    s.expire_all()


def restricted(s, line_id: int) -> bool:
    return bool(records.restrictions_for(s, LINE, line_id))


def instance(s, line_id: int) -> WorkflowInstance:
    return s.scalars(select(WorkflowInstance).where(WorkflowInstance.record_type == LINE, WorkflowInstance.record_id == line_id)
                     .order_by(WorkflowInstance.id.desc())).first()


def test_the_record_type_events_and_template():
    rt = RECORD_TYPES[LINE]
    assert rt.approvable and (rt.approval_event, rt.cancel_event) == ("general_journal_line_approval_requested",
                                                                      "general_journal_line_approval_canceled")
    assert EVENTS[rt.approval_event].record_types == (LINE,) and EVENTS[rt.cancel_event].record_types == (LINE,)
    batch = GenJournalBatch(journal_template_name="GENERAL", name="DEFAULT")
    line = GenJournalLine(line_no=10000, amount=Decimal("-1250.50"), batch=batch)
    assert rt.title(line) == "General Journal Line GENERAL DEFAULT 10000"
    assert rt.amount(line) == Decimal("1250.50")  # credit or debit: the size of the amount
    [template] = [t for t in TEMPLATES if t["code"] == "MS-GJLAPW"]
    assert (template["description"], template["category"], template["record_type"]) == (
        "General Journal Line Approval Workflow", "Finance", LINE)


def test_approved_up_the_chain_the_line_is_held_until_the_last_approval(db_session, run_jobs, sink):
    s = db_session
    use_template(s, "MS-GJLAPW")
    b = make_batch(s, "6000.00", "-6000.00")  # 6,000.00: above Buchanan's 5,000 request limit
    line = line_of(s, b.id, 10000)
    title = f"General Journal Line GENERAL {b.name} 10000"
    send(s, run_jobs, line)
    # the sender's own entry first (approved at once: his 1,000 request limit doesn't cover it), then up his chain
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("sbuchanan", "Open"), ("afuller", "Created")]
    entry = approvals.entries_for_record(s, LINE, line.id)[0]
    assert (entry.amount, entry.record_title) == (Decimal("6000.00"), title)
    sink.wait_for("sbuchanan@northwind.test", f"Approval requested: {title}")
    assert restricted(s, line.id)

    # While the request is under way the line can't be changed or removed, nor the batch released.
    with pytest.raises(records.RecordError, match="pending approval and can't be changed or removed"):
        records.update_line(s, "gen_journal_batch", s.get(GenJournalBatch, b.id), line.id, {"description": "Changed"}, None)
    s.rollback()
    with pytest.raises(records.RecordError, match="pending approval"):
        records.modify_record(s, LINE, line_of(s, b.id, 10000), {"amount": Decimal("10.00")}, None)
    s.rollback()
    with pytest.raises(records.RecordError, match="pending approval"):
        records.delete_record(s, LINE, line_of(s, b.id, 10000), None)
    s.rollback()
    with pytest.raises(records.RecordError, match="can't be released: line\\(s\\) 10000 have an approval request under way"):
        records.release(s, s.get(GenJournalBatch, b.id), user(s, "msuyama").id)
    s.rollback()
    # the batch's other line is not held
    records.update_line(s, "gen_journal_batch", s.get(GenJournalBatch, b.id), line_of(s, b.id, 20000).id, {"description": "Other"}, None)
    s.commit()

    decide(s, run_jobs, LINE, line.id, "sbuchanan")  # approved, one more pending → sent to Fuller
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("sbuchanan", "Approved"), ("afuller", "Open")]
    assert restricted(s, line.id) and instance(s, line.id).status == "Running"
    sink.wait_for("afuller@northwind.test", f"Approval requested: {title}")

    decide(s, run_jobs, LINE, line.id, "afuller")  # the last approval: the restriction is lifted
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("sbuchanan", "Approved"), ("afuller", "Approved")]
    assert not restricted(s, line.id)
    inst = instance(s, line.id)
    assert inst.status == "Completed" and inst.workflow_code.startswith("MS-GJLAPW-"), inst.error
    changes = records.modify_record(s, LINE, line_of(s, b.id, 10000), {"description": "Approved accrual"}, user(s, "msuyama").id)
    assert changes == {"description": ("Accrual", "Approved accrual")}
    s.commit()
    # changed after its approval, the line needs approval again (and line 20000 was never
    # sent): the batch can't be released by hand until the lines are approved
    with pytest.raises(records.RecordError, match=r"only be released when the approval process is complete. Line\(s\) 10000, 20000"):
        records.release(s, s.get(GenJournalBatch, b.id), user(s, "msuyama").id)
    s.rollback()
    ev = s.scalar(select(OutboxEvent).where(OutboxEvent.event_code == "record_modified", OutboxEvent.record_type == LINE,
                                            OutboxEvent.record_id == line.id).order_by(OutboxEvent.id.desc()))
    assert ev.payload == {"old_values": {"description": "Accrual"}, "new_values": {"description": "Approved accrual"}}


def test_rejected_the_sender_is_told_and_the_line_is_free_again(db_session, run_jobs, sink):
    s = db_session
    use_template(s, "MS-GJLAPW")
    b = make_batch(s, "-3000.00")  # above Suyama's 1,000: Buchanan's to approve
    line = line_of(s, b.id, 10000)
    send(s, run_jobs, line)
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("sbuchanan", "Open")] and restricted(s, line.id)
    decide(s, run_jobs, LINE, line.id, "sbuchanan", "reject", "Wrong account")
    assert entries(s, LINE, line.id) == [("msuyama", "Rejected"), ("sbuchanan", "Rejected")]
    assert not restricted(s, line.id) and instance(s, line.id).status == "Completed"
    [mail] = sink.wait_for("msuyama@northwind.test", f"Rejected: General Journal Line GENERAL {b.name} 10000")
    assert "Wrong account" in sink.body(mail)
    records.delete_record(s, LINE, line_of(s, b.id, 10000), user(s, "msuyama").id)  # free to remove now
    s.commit()
    assert line_of(s, b.id, 10000) is None


def test_canceled_by_the_sender_the_entries_are_canceled(db_session, run_jobs):
    s = db_session
    use_template(s, "MS-GJLAPW")
    b = make_batch(s, "4500.00")  # above Suyama's 1,000: Buchanan's to approve
    line = line_of(s, b.id, 10000)
    send(s, run_jobs, line)
    with pytest.raises(approvals.ApprovalError, match="Only the sender or the approval administrator"):
        approvals.cancel_approval_request(s, LINE, line_of(s, b.id, 10000), user(s, "rking"))
    approvals.cancel_approval_request(s, LINE, line_of(s, b.id, 10000), user(s, "msuyama"))
    s.commit()
    run_jobs()
    # every entry of the request is canceled, the sender's approved one included
    assert entries(s, LINE, line.id) == [("msuyama", "Canceled"), ("sbuchanan", "Canceled")]
    assert not restricted(s, line.id) and instance(s, line.id).status == "Completed"
    records.update_line(s, "gen_journal_batch", s.get(GenJournalBatch, b.id), line.id, {"amount": Decimal("4000.00")}, None)
    s.commit()
    assert line_of(s, b.id, 10000).amount == Decimal("4000.00")


def test_delegated_the_new_approver_decides(db_session, run_jobs, sink):
    """Delegated (by the approver, to his own approver as he has no substitute): the
    template sends the request again and waits (the loop back to the send step); the
    new approver's approval finishes it."""
    s = db_session
    use_template(s, "MS-GJLAPW")
    b = make_batch(s, "1800.00")  # above Suyama's 1,000: Buchanan's to approve
    line = line_of(s, b.id, 10000)
    title = f"General Journal Line GENERAL {b.name} 10000"
    send(s, run_jobs, line)
    entry = approvals.open_entry_for(s, LINE, line.id, user(s, "sbuchanan").id)
    approvals.delegate(s, entry.id, user(s, "sbuchanan"), "On leave")
    s.commit()
    run_jobs()
    s.expire_all()
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("afuller", "Open")]
    inst = instance(s, line.id)
    assert inst.status == "Running" and restricted(s, line.id)
    ran = s.scalars(select(WorkflowStepRun.function_name).where(WorkflowStepRun.instance_id == inst.id).order_by(WorkflowStepRun.id)).all()
    assert ran[-2:] == ["approval_request_delegated", "send_approval_request"]  # the delegated branch, back to waiting
    sink.wait_for("afuller@northwind.test", f"Approval requested: {title}")
    decide(s, run_jobs, LINE, line.id, "afuller")
    assert entries(s, LINE, line.id) == [("msuyama", "Approved"), ("afuller", "Approved")]
    assert not restricted(s, line.id) and instance(s, line.id).status == "Completed"


def test_journal_line_pages_and_approval_actions(app, run_jobs):
    from portal.extensions import db

    with app.app_context():
        use_template(db.session, "MS-GJLAPW")
        b = make_batch(db.session, "1200.00", "-1200.00")
        batch_id, batch_name = b.id, b.name
        line_id = line_of(db.session, b.id, 10000).id
        other_id = line_of(db.session, b.id, 20000).id
        db.session.remove()
    run_jobs()  # the lines' record created events
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    title = f"General Journal Line GENERAL {batch_name} 10000"

    # the batch page opens each line
    page = client.get(f"/general-journal-batches/{batch_id}").get_data(as_text=True)
    assert f'href="/general-journal-lines/{line_id}"' in page and f'href="/general-journal-lines/{other_id}"' in page
    # the list of journal lines
    listing = client.get(f"/general-journal-lines?q={batch_name.lower()}").get_data(as_text=True)  # by batch name
    assert "<h1>General Journal Lines</h1>" in listing and "Send Approval Request" in listing and "Cancel Approval Request" in listing
    assert f'href="/general-journal-lines/{line_id}"' in listing and f'href="/general-journal-lines/{other_id}"' in listing
    assert "· 2 general journal lines" in listing and f'aria-label="Select {title}"' in listing
    sorted_page = client.get(f"/general-journal-lines?q={batch_name}&sort=-line_no").get_data(as_text=True)
    assert sorted_page.index(f"/general-journal-lines/{other_id}") < sorted_page.index(f"/general-journal-lines/{line_id}")
    # the card: title, link back to the batch, Automate, approval actions and fact box
    card = client.get(f"/general-journal-lines/{line_id}").get_data(as_text=True)
    assert f"<h1>{title}</h1>" in card and f'href="/general-journal-batches/{batch_id}"' in card
    assert "Automate" in card and "Send Approval Request" in card and 'aria-label="Approvals"' in card
    token = csrf(card)

    # edit the line on its card (not under approval yet)
    edit = client.get(f"/general-journal-lines/{line_id}/edit").get_data(as_text=True)
    assert '<select name="account_type">' in edit
    res = client.post(f"/general-journal-lines/{line_id}/edit", data={
        "csrf_token": token, "posting_date": "2026-11-30", "document_type": "", "document_no": "G42", "account_type": "G/L Account",
        "account_no": "6100", "description": "Rent accrual", "amount": "1500.00", "bal_account_type": "G/L Account", "bal_account_no": ""})
    assert res.status_code == 302
    page = client.get(f"/general-journal-batches/{batch_id}").get_data(as_text=True)
    assert "Rent accrual" in page and 'id="batch-balanced" class="bad">No<' in page

    # Send Approval Request on the card
    res = client.post(f"/approvals/send/{LINE}/{line_id}", data={"csrf_token": token}, follow_redirects=True)
    assert f"An approval request for {title} is being sent." in res.get_data(as_text=True)
    run_jobs()
    card = client.get(f"/general-journal-lines/{line_id}").get_data(as_text=True)
    assert "Cancel Approval Request" in card and "Steven Buchanan" in card and "Restricted by workflow MS-GJLAPW-" in card
    # the batch page marks the line and offers no Edit / Remove for it
    page = client.get(f"/general-journal-batches/{batch_id}").get_data(as_text=True)
    row = re.search(rf'<tr id="line-{line_id}"[^>]*>.*?</tr>', page, re.S).group(0)
    assert "Pending approval" in row and "Edit" not in row and "Remove" not in row
    other = re.search(rf'<tr id="line-{other_id}"[^>]*>.*?</tr>', page, re.S).group(0)
    assert "Edit" in other and "Pending approval" not in other
    # editing or deleting the line is refused with the reason; so is releasing the batch
    res = client.post(f"/general-journal-lines/{line_id}/edit", data={"csrf_token": token, "account_type": "G/L Account",
                                                                       "account_no": "6100", "amount": "1.00"})
    assert res.status_code == 422 and "is pending approval and can&#39;t be changed or removed" in res.get_data(as_text=True)
    res = client.post(f"/general-journal-lines/{line_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "pending approval" in res.get_data(as_text=True)
    res = client.post(f"/general-journal-batches/{batch_id}/lines/{line_id}/delete", data={"csrf_token": token},
                      headers={"HX-Request": "true", "HX-Target": "doc-lines", "X-CSRFToken": token})
    assert "pending approval" in res.get_data(as_text=True)
    res = client.post(f"/general-journal-batches/{batch_id}/release", data={"csrf_token": token}, follow_redirects=True)
    assert "can&#39;t be released: line(s) 10000 have an approval request under way" in res.get_data(as_text=True)

    # Cancel Approval Request on the list page (selected rows)
    res = client.post(f"/approvals/cancel/{LINE}", data={"csrf_token": token, "ids": [str(line_id)], "next": "/general-journal-lines"},
                      follow_redirects=True)
    assert f"An approval request for {title} is being canceled." in res.get_data(as_text=True)
    run_jobs()
    card = client.get(f"/general-journal-lines/{line_id}").get_data(as_text=True)
    assert "Send Approval Request" in card and "Canceled" in card and "Restricted by workflow" not in card
    res = client.post(f"/general-journal-lines/{line_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert f"{title} deleted." in res.get_data(as_text=True) and f"General Journal Batch GENERAL {batch_name}" in res.get_data(as_text=True)
