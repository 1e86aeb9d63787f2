"""General journal batches: balanced or not (a line with a balancing account balances
itself), the batch page with its lines and the Balanced indicator, New batch and line
forms with field errors, release / reopen, approval settings."""
from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.records import service as records
from portal.records.models import GenJournalBatch, GenJournalLine
from portal.records.registry import RECORD_TYPES
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

HX = {"HX-Request": "true", "HX-Target": "doc-lines"}


def batch_of(*lines) -> GenJournalBatch:
    """An unsaved batch with lines given as (amount, bal. account no. or None)."""
    batch = GenJournalBatch(journal_template_name="GENERAL", name="T")
    for i, (amount, bal) in enumerate(lines, start=1):
        batch.lines.append(GenJournalLine(line_no=i * 10000, account_no="6100", amount=Decimal(amount), bal_account_no=bal))
    return batch


def test_balanced_or_not():
    assert batch_of().balanced and batch_of().balance == 0
    both = batch_of(("100.00", None), ("-100.00", None))
    assert both.balanced and both.amount == Decimal("100.00")
    short = batch_of(("100.00", None), ("-60.00", None))
    assert not short.balanced and short.balance == Decimal("40.00")
    # a line with a balancing account balances itself, whatever its sign
    self_balanced = batch_of(("250.00", "2910"), ("-75.50", "2910"))
    assert self_balanced.balanced and self_balanced.amount == Decimal("325.50")
    mixed = batch_of(("250.00", "2910"), ("30.00", None))
    assert not mixed.balanced and mixed.balance == Decimal("30.00")


def test_batch_lines_through_the_services(db_session):
    s = db_session
    rt = RECORD_TYPES["gen_journal_batch"]
    batch = records.create_record(s, rt, {"journal_template_name": "PAYMENT", "name": f"P{uuid.uuid4().hex[:8]}",
                                          "description": "Vendor payments"}, None)
    line = records.add_line(s, "gen_journal_batch", batch, {"posting_date": date(2026, 1, 31), "document_type": "Payment",
                                                            "account_type": "Vendor", "account_no": "V00001", "amount": Decimal("500.00")}, None)
    assert line.line_no == 10000 and line.bal_account_type == "G/L Account" and not batch.balanced
    records.update_line(s, "gen_journal_batch", batch, line.id, {"bal_account_type": "Bank Account", "bal_account_no": "CHECKING"}, None)
    assert batch.balanced and batch.amount == Decimal("500.00")
    records.update_line(s, "gen_journal_batch", batch, line.id, {"bal_account_no": None}, None)
    assert line.bal_account_no is None and not batch.balanced
    with pytest.raises(records.FieldErrors) as exc:
        records.parse_fields(rt.line_fields, {"account_type": "Planet", "account_no": "", "amount": "x"})
    assert set(exc.value.errors) == {"account_type", "account_no", "amount"}
    records.release(s, batch, None)
    assert batch.status == "Released"
    with pytest.raises(records.RecordError, match="Current value is 'Released'. Its lines can't be added, changed or removed until it is reopened"):
        records.delete_line(s, "gen_journal_batch", batch, line.id, None)
    records.reopen(s, batch, None)
    records.delete_line(s, "gen_journal_batch", batch, line.id, None)
    assert batch.lines == [] and batch.balanced
    s.rollback()


def test_journal_batch_page_shows_whether_it_is_balanced(app):
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    listing = client.get("/general-journal-batches").get_data(as_text=True)
    assert "General Journal Batches" in listing and 'href="/general-journal-batches/new"' in listing
    form = client.get("/general-journal-batches/new").get_data(as_text=True)
    token = csrf(form)
    bad = client.post("/general-journal-batches/new", data={"csrf_token": token, "journal_template_name": "GENERAL", "name": ""})
    assert bad.status_code == 422 and "Name must have a value." in bad.get_data(as_text=True)
    res = client.post("/general-journal-batches/new", data={"csrf_token": token, "journal_template_name": "GENERAL", "name": "month-end",
                                                            "description": "Month-end accruals"})
    assert res.status_code == 302
    url = res.headers["Location"]
    again = client.post("/general-journal-batches/new", data={"csrf_token": token, "journal_template_name": "GENERAL", "name": "MONTH-END"})
    assert again.status_code == 422 and "already has a batch named MONTH-END" in again.get_data(as_text=True)

    page = client.get(url).get_data(as_text=True)
    assert "General Journal Batch GENERAL MONTH-END" in page and 'aria-label="Approvals"' in page
    assert "Automate" in page and 'id="batch-balanced" class="ok">Yes<' in page

    headers = {**HX, "X-CSRFToken": csrf(page)}
    frag = client.post(f"{url}/lines", data={"posting_date": "2026-01-31", "document_type": "", "document_no": "G0001", "account_type": "G/L Account",
                                            "account_no": "6100", "description": "Rent accrual", "amount": "1200.00", "bal_account_type": "G/L Account",
                                            "bal_account_no": ""}, headers=headers).get_data(as_text=True)
    assert "Rent accrual" in frag and 'id="batch-balanced" class="bad">No<' in frag and "(difference 1,200.00)" in frag
    bad = client.post(f"{url}/lines", data={"account_type": "Planet", "account_no": "2910", "amount": "-1200.00"}, headers=headers)
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "Account Type must be one of: G/L Account, Customer, Vendor, Bank Account." in text
    frag = client.post(f"{url}/lines", data={"posting_date": "2026-01-31", "document_no": "G0001", "account_type": "G/L Account",
                                            "account_no": "2910", "description": "Accrued rent", "amount": "-1,200.00"}, headers=headers).get_data(as_text=True)
    assert 'id="batch-balanced" class="ok">Yes<' in frag and re.search(r'id="batch-balance" class="money">0\.00<', frag)

    from portal.extensions import db

    with app.app_context():
        batch = db.session.scalar(select(GenJournalBatch).where(GenJournalBatch.name == "MONTH-END"))
        assert [l.amount for l in batch.lines] == [Decimal("1200.00"), Decimal("-1200.00")] and batch.balanced
        assert batch.description == "Month-end accruals"
    listing = client.get("/general-journal-batches?q=month").get_data(as_text=True)
    assert "MONTH-END" in listing and "Yes" in listing


def test_journal_batches_are_approvable_with_the_request_limit():
    from portal.approvals.models import ApprovalUserSetup
    from portal.approvals.service import limit_covers
    from portal.workflow.catalog import EVENTS

    rt = RECORD_TYPES["gen_journal_batch"]
    assert rt.approvable and rt.approval_event == "general_journal_batch_approval_requested"
    assert EVENTS[rt.cancel_event].record_types == ("gen_journal_batch",)
    setup = ApprovalUserSetup(request_amount_approval_limit=Decimal("500"), purchase_amount_approval_limit=Decimal("0"))
    assert limit_covers(setup, "gen_journal_batch", Decimal("500")) and not limit_covers(setup, "gen_journal_batch", Decimal("501"))
