"""Words, not codes: a run page, the workflows card and the Flow runs list show
events, responses, options and conditions as sentences (codes only in tooltips);
the Flow runs filter lists no template; the editor numbers its steps, offers only
the events and responses that fit the workflow's record type, and a workflow with an
event but no response can't be enabled."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from page_text import visible_text
from portal.approvals import service as approvals
from portal.auth.models import User
from portal.records.models import SalesHeader
from portal.workflow.models import WorkflowInstance
from portal.workflow.service import NO_RESPONSE
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

CODES = ("sales_document_approval_requested", "run_from_automate", "notify_sender", "document_type =", "pending_approvals",
         "approval_request_approved", "create_approval_requests", "approver_type", "True", "False")


@pytest.fixture
def admin(app):
    client = app.test_client()
    sign_in(client, "afuller", "northwind")
    return client


def _send_order_for_approval(app, run_jobs) -> int:
    from portal.extensions import db

    with app.app_context():
        doc = db.session.scalar(select(SalesHeader).where(SalesHeader.no == "10249", SalesHeader.document_type == "Order"))
        sender = db.session.scalar(select(User).where(User.user_name == "msuyama"))
        approvals.send_approval_request(db.session, "sales_header", doc, sender)
        db.session.commit()
    run_jobs()
    with app.app_context():
        run = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "SO-APPROVAL"))
        assert run is not None and run.result and "\n" in run.result  # several messages
        return run.id


def test_a_run_page_shows_steps_in_words_and_results_one_per_line(app, admin, run_jobs):
    run_id = _send_order_for_approval(app, run_jobs)
    page = admin.get(f"/flows/history/{run_id}").get_data(as_text=True)
    text = visible_text(page)
    for code in CODES:
        assert code not in text, code
    assert "When approval of a sales document is requested" in text
    assert "where Document Type is Order and Status is Open" in text
    assert "Approver Type: Salesperson/Purchaser, Approver Limit Type: Approver Chain" in text
    assert "Notify Sender: Yes" in text and "where Pending approval requests is greater than 0" in text
    # the codes are still there for whoever hovers (tooltips)
    assert 'title="sales_document_approval_requested; document_type = Order and status = Open"' in page
    # each response's message on a line of its own
    status = page[page.index('id="run-status"'):page.index("</div>", page.index('id="run-status"'))]
    assert re.search(r"<li>Sales Order 10249 is pending approval</li>\s*<li>Approval requests created for", status)


def test_the_workflow_card_and_diagram_show_words(admin):
    page = admin.get("/workflows/SO-APPROVAL").get_data(as_text=True)
    text = visible_text(page)
    for code in CODES:
        assert code not in text, code
    assert "Document Type is Order and Status is Open" in text and "Notify Sender: No" in text
    assert "Go to step 4" in text and "Notification Template: Approval request" in text
    assert "1. When approval of a sales document is requested" in text  # the diagram numbers its steps


def test_the_flow_runs_filter_lists_no_template(app, admin):
    from portal.extensions import db
    from portal.workflow.models import Workflow

    with app.app_context():
        templates = db.session.execute(select(Workflow.code, Workflow.description).where(Workflow.template.is_(True))).all()
        assert templates
    page = admin.get("/flows/history").get_data(as_text=True)
    flow_filter = page[page.index('<select name="flow">'):page.index("</select>", page.index('<select name="flow">'))]
    offered = set(re.findall(r'<option value="([^"]*)"', flow_filter)) - {""}
    assert "SO-APPROVAL" in offered
    assert not offered & {code for code, _ in templates}


def _new_workflow(admin, code, record_type, trigger="automated") -> tuple[str, dict]:
    form = admin.get(f"/workflows/new?record_type={record_type}&trigger_kind={trigger}").get_data(as_text=True)
    page = admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": code, "description": f"Test {code}",
                                              "record_type": record_type, "trigger_kind": trigger},
                      follow_redirects=True).get_data(as_text=True)
    return page, {"HX-Request": "true", "X-CSRFToken": csrf(page)}


def _select(html: str, name: str, nth: int = -1) -> list[str]:
    """The option values of the ``nth`` select named ``name``."""
    selects = re.findall(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', selects[nth])


def test_a_purchase_workflow_is_offered_purchase_events_and_fitting_responses(admin):
    page, hx = _new_workflow(admin, "PO-WORDS", "purchase_header")
    events = _select(page, "function")  # the add-event line
    assert events[0] == "purchase_document_approval_requested"  # the default: the first fitting event
    assert not [e for e in events if e.startswith("sales_") or e.startswith("customer_")]
    assert "run_from_automate" not in events
    frag = admin.post("/workflows/PO-WORDS/edit/add-event", data={"function": events[0]}, headers=hx).get_data(as_text=True)
    responses = _select(frag, "function", nth=-2)  # the line's add-response list
    assert "release_document" in responses and "create_approval_requests" in responses
    assert "check_customer_credit_limit" not in responses and "check_journal_batch_balanced" not in responses
    follow_up = _select(frag, "function")
    assert not [e for e in follow_up if e.startswith("sales_")]


def test_the_editor_numbers_its_steps_and_says_go_to_step(admin):
    page, hx = _new_workflow(admin, "NUMBERS", "customer", "instant")
    assert _select(page, "function")[0] == "run_from_automate"
    admin.post("/workflows/NUMBERS/edit/add-event", data={"function": "run_from_automate"}, headers=hx)
    admin.post("/workflows/NUMBERS/edit/add-response", data={"step_id": 1, "function": "show_message"}, headers=hx)
    admin.post("/workflows/NUMBERS/edit/add-response", data={"step_id": 1, "function": "show_message"}, headers=hx)
    frag = admin.post("/workflows/NUMBERS/edit/set-response", headers=hx,
                      data={"step_id": 3, "opt_message": "Again", "next_step_id": "2"}).get_data(as_text=True)
    text = visible_text(frag)
    assert "→ go to step 2" in text
    assert re.search(r'<span class="step-no"[^>]*>2</span> <strong>Then</strong> show a message', frag)
    assert re.search(r'<span class="step-no"[^>]*>1</span> <strong>When</strong> a user runs the flow', frag)
    assert "run_from_automate" not in text and "show_message" not in text


def test_a_workflow_with_an_event_and_no_response_is_refused_at_enable(admin):
    page, hx = _new_workflow(admin, "NO-RESPONSE", "customer")
    frag = admin.post("/workflows/NO-RESPONSE/edit/add-event", data={"function": "customer_approval_requested"},
                      headers=hx).get_data(as_text=True)
    assert NO_RESPONSE.replace("'", "&#39;") in frag  # the editor's live check says so
    res = admin.post("/workflows/NO-RESPONSE/enable", data={"csrf_token": csrf(page)}, follow_redirects=True)
    html = res.get_data(as_text=True)
    assert "Workflow NO-RESPONSE can&#39;t be enabled" in html and NO_RESPONSE.replace("'", "&#39;") in html
    assert "Workflow NO-RESPONSE is enabled." not in html
    admin.post("/workflows/NO-RESPONSE/edit/add-response", data={"step_id": 1, "function": "add_record_restriction"}, headers=hx)
    res = admin.post("/workflows/NO-RESPONSE/enable", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Workflow NO-RESPONSE is enabled." in res.get_data(as_text=True)
