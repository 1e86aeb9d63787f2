"""Workflow steps in words (portal.workflow.describe): events, responses with their
options, conditions by field label with operators as words; the catalog's lists of
events and responses that fit a workflow's record type."""
from __future__ import annotations

import portal.auth.models  # noqa: F401  (every model mapped before steps are built)
from portal.areas import register
from portal.workflow import describe as words
from portal.workflow.catalog import EVENTS, RESPONSES, events_for, responses_for
from portal.workflow.library import SALES_ORDER_APPROVAL, build_workflow
from portal.workflow.models import WorkflowStep

register()  # the areas register their record types, whose field labels are used


def event(code, conditions=None):
    return WorkflowStep(step_id=1, type="event", function_name=code, conditions=conditions or [], options={})


def response(code, options=None):
    return WorkflowStep(step_id=2, type="response", function_name=code, conditions=[], options=options or {})


def test_an_event_with_conditions_reads_as_a_sentence():
    step = event("sales_document_approval_requested",
                 [{"field": "document_type", "operator": "=", "value": "Order"}, {"field": "status", "operator": "=", "value": "Open"}])
    assert words.describe_event(step, "sales_header") == (
        "When approval of a sales document is requested — where Document Type is Order and Status is Open")
    assert words.describe_event(event("record_created"), "customer") == "When a record is created"
    assert words.describe_event(event("http_request_received")) == "When an HTTP request is received"  # acronym kept


def test_a_response_reads_with_its_options_by_label():
    step = response("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": 2})
    assert words.describe_response(step, "sales_header") == (
        "Then create approval requests for the record — Approver Type: Approver, Approver Limit Type: Approver Chain, "
        "Due Date Formula: 2 days")
    assert words.describe_response(response("release_document")) == "Then release the document"


def test_yes_no_field_template_and_secret_options_are_words():
    assert words.options_text("reject_all_approval_requests", {"notify_sender": True}) == "Notify Sender: Yes"
    assert words.options_text("cancel_all_approval_requests", {"notify_sender": False}) == "Notify Sender: No"
    assert words.options_text("revert_field_value", {"field": "credit_limit"}, "customer") == "Field: Credit Limit (LCY)"
    assert words.options_text("send_approval_request", {"notification_template": "approval_request"}) == (
        "Notification Template: Approval request")
    text = words.options_text("call_webhook", {"url": "https://example.test/hook", "method": "POST",
                                               "bearer_token": "fernet:sealed-value"})
    assert "Bearer token (secret): set" in text and "sealed" not in text
    assert words.options_text("do_nothing", {}) == ""


def test_operators_are_words():
    def one(op, value="5", field="amount"):
        return words.describe_condition({"field": field, "operator": op, "value": value}, "sales_header")

    assert one("=") == "Amount is 5"
    assert one("<>") == "Amount is not 5"
    assert one(">") == "Amount is greater than 5"
    assert one(">=") == "Amount is at least 5"
    assert one("<") == "Amount is less than 5"
    assert one("<=") == "Amount is at most 5"
    assert one("contains", "Alfreds", "customer_name") == "Customer Name contains Alfreds"
    assert one("in", "Order,Invoice", "document_type") == "Document Type is one of Order, Invoice"
    assert one("=", "") == "Amount is blank"
    assert one("<>", "") == "Amount is not blank"


def test_field_change_rules_read_as_increased_decreased_changed():
    conditions = [{"field": "credit_limit", "operator": "increased"}, {"field": "name", "operator": "changed"},
                  {"field": "credit_limit", "operator": "decreased"}]
    assert words.describe_conditions(conditions, "customer") == (
        "Credit Limit (LCY) increased and Name changed and Credit Limit (LCY) decreased")


def test_comparison_with_another_field_names_its_label():
    assert words.describe_condition({"field": "inventory", "operator": "<", "value_field": "reorder_point"}, "item") == (
        "Inventory is less than Reorder Point")


def test_line_conditions_read_as_any_line():
    assert words.describe_condition({"field": "lines.item_no", "operator": "=", "value": "I0011"}, "sales_header") == (
        "any line's Item No. is I0011")
    assert words.describe_condition({"field": "lines.quantity", "operator": ">", "value_field": "lines.line_no"},
                                    "sales_header") == "any line's Quantity is greater than the line's Line No."
    assert words.describe_condition({"field": "lines.line_amount", "operator": ">", "value_field": "amount"},
                                    "sales_header") == "any line's Line Amount is greater than the sales document's Amount"


def test_event_data_and_yes_no_fields_are_words():
    assert words.describe_condition({"field": "pending_approvals", "operator": ">", "value": "0"}, "sales_header") == (
        "Pending approval requests is greater than 0")
    assert words.describe_condition({"field": "blocked", "operator": "=", "value": "true"}, "customer") == "Blocked is Yes"


def test_no_code_of_the_sales_order_approval_workflow_is_left_in_words():
    wf = build_workflow(SALES_ORDER_APPROVAL, enabled=False)
    text = "\n".join(words.describe_step(s, "sales_header") for s in wf.steps)
    for code in ("sales_document_approval_requested", "document_type", "pending_approvals", "notify_sender", "_"):
        assert code not in text
    assert "Then reject the approval request for the record and create a notification — Notify Sender: Yes" in text
    # the codes are kept for tooltips and exports
    first = next(s for s in wf.steps if s.entry_point)
    assert words.technical(first) == "sales_document_approval_requested; document_type = Order and status = Open"


def test_result_lines_split_a_runs_messages():
    assert words.result_lines("A done\n\nB done\n") == ["A done", "B done"]
    assert words.result_lines(None) == []


def test_events_offered_fit_the_record_type_and_trigger():
    purchase = events_for("purchase_header", "automated")
    assert not any(code.startswith("sales_") for code in purchase)
    assert next(iter(purchase)) == "purchase_document_approval_requested"  # not "A record is created"
    assert "run_from_automate" not in purchase and "schedule_fired" not in purchase
    assert next(iter(events_for("customer", "instant"))) == "run_from_automate"
    assert next(iter(events_for(None, "scheduled"))) == "schedule_fired"
    assert set(events_for("sales_header")) <= set(EVENTS)


def test_responses_offered_fit_the_record_type():
    customer = responses_for("customer")
    assert "create_approval_requests" in customer and "show_message" in customer
    assert not {"release_document", "post_document", "check_customer_credit_limit", "check_journal_batch_balanced"} & set(customer)
    assert "check_customer_credit_limit" in responses_for("sales_header")
    assert "create_payment_journal_line" not in responses_for("sales_header")
    assert "create_approval_requests" not in responses_for("posted_sales_invoice")
    assert len(responses_for("sales_header")) < len(RESPONSES)
