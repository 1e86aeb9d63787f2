"""Instant flows with typed inputs, Get started, Automate off, flow permissions per role,
My runs / Flow runs, the run page in words, retry from the failed step and cancel —
through the Flask test client, with a real RQ worker in burst mode, the SMTP sink and a
local webhook server."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, func, select

from portal.auth.models import User
from portal.records.models import Customer, Vendor
from portal.workflow import inputs as flow_inputs
from portal.workflow.library import build_workflow
from portal.workflow.models import Effect, FlowSetup, OutboxEvent, Workflow, WorkflowInstance
from page_text import visible_text
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

TYPED_INPUTS = [
    {"name": "note", "caption": "Note", "type": "text", "required": True, "help": "Shown in the result."},
    {"name": "count", "caption": "Count", "type": "integer", "default": "3"},
    {"name": "amount", "caption": "Amount", "type": "decimal", "required": True},
    {"name": "due", "caption": "Due date", "type": "date"},
    {"name": "urgent", "caption": "Urgent", "type": "boolean"},
    {"name": "priority", "caption": "Priority", "type": "choice", "choices": ["Low", "High"], "required": True},
    {"name": "vendor", "caption": "Vendor", "type": "record", "record_type": "vendor", "required": True},
    {"name": "details", "caption": "Details", "type": "long_text"},
]
MESSAGE = ("{{ inputs.note }} | {{ inputs.count }} | {{ inputs.amount }} | {{ inputs.due }} | {{ inputs.urgent }} | "
           "{{ inputs.priority }} | {{ inputs.vendor }}")


@pytest.fixture
def client(app):
    return app.test_client()


def signed_in(client, user: str, password: str = "northwind", accept: bool = True) -> str:
    """Sign ``user`` in (accepting the automation notice unless ``accept`` is False);
    returns a page's HTML (for its CSRF token)."""
    page = sign_in(client, user, password).get_data(as_text=True)
    if accept:
        assert client.post("/flows/get-started", data={"csrf_token": csrf(page)}).status_code == 302
    return page


def add_flow(app, code: str, responses: list[tuple[str, dict]], input_fields=None, record_type="customer") -> None:
    from portal.extensions import db

    steps = [(1, None, None, 1, "event", "run_from_automate", {}, [])]
    for n, (fn, options) in enumerate(responses, start=2):
        steps.append((n, n - 1, None, 1, "response", fn, options, []))
    with app.app_context():
        db.session.add(build_workflow({"code": code, "description": f"Flow {code}", "record_type": record_type,
                                       "trigger_kind": "instant", "steps": steps,
                                       "input_fields": [flow_inputs.normalize(f) for f in (input_fields or [])]}))
        db.session.commit()


def ids_of(app, model, *nos) -> list[int]:
    from portal.extensions import db

    with app.app_context():
        return [db.session.scalar(select(model.id).where(model.no == no)) for no in nos]


def instances(app, code: str) -> list[WorkflowInstance]:
    from portal.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == code)
                                  .order_by(WorkflowInstance.id)).unique().all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def reset_setup(app):
    """Flow setup back to its defaults after the test (Automate on, default roles)."""
    yield
    from portal.extensions import db

    with app.app_context():
        db.session.execute(delete(FlowSetup))
        db.session.commit()


# ---------------------------------------------------------------- typed inputs

def test_typed_inputs_are_validated_per_field_and_nothing_starts(client, app):
    add_flow(app, "TYPED", [("show_message", {"message": MESSAGE})], TYPED_INPUTS)
    page = signed_in(client, "msuyama")
    alfki, anatr = ids_of(app, Customer, "ALFKI", "ANATR")
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}

    pane = client.get(f"/flows/TYPED/run?ids={alfki}&ids={anatr}", headers=hx).get_data(as_text=True)
    assert "On 2 customers" in pane and 'aria-required="true"' in pane and "Shown in the result." in pane
    assert 'type="date"' in pane and "Exotic Liquids" in pane and 'value="3"' in pane  # record picker, default

    bad = client.post("/flows/TYPED/run", headers=hx, data={
        "ids": [alfki, anatr], "note": "", "count": "three", "amount": "12,5x", "due": "2026-02-30",
        "priority": "Medium", "vendor": "V99999", "details": "x" * 2001})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    for message in ("Note is required.", "Count must be a whole number", "Amount must be an amount",
                    "Due date must be a date (YYYY-MM-DD)", "Priority must be one of: Low, High.",
                    "There is no vendor V99999.", "Details is too long"):
        assert message in html, message
    assert 'value="three"' in html  # what was typed is kept
    assert instances(app, "TYPED") == []  # nothing started

    missing = client.post("/flows/TYPED/run", headers=hx, data={"ids": [alfki], "note": "n", "amount": "1", "priority": "Low"})
    assert missing.status_code == 422 and "Vendor is required." in missing.get_data(as_text=True)
    assert instances(app, "TYPED") == []


def test_typed_inputs_reach_the_flow_as_values(client, app, run_jobs):
    add_flow(app, "TYPED", [("show_message", {"message": MESSAGE})], TYPED_INPUTS)
    page = signed_in(client, "msuyama")
    alfki, anatr = ids_of(app, Customer, "ALFKI", "ANATR")
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    res = client.post("/flows/TYPED/run", headers=hx, data={
        "ids": [alfki, anatr], "note": "Call back", "count": "7", "amount": "1,250.50", "due": "2026-12-31",
        "urgent": "true", "priority": "High", "vendor": "V00001"})
    assert res.status_code == 200 and "Run flow progress" in res.get_data(as_text=True)
    runs = instances(app, "TYPED")
    assert len(runs) == 2 and {r.record_id for r in runs} == {alfki, anatr}
    assert runs[0].inputs == {"note": "Call back", "count": 7, "amount": "1250.50", "due": "2026-12-31", "urgent": True,
                              "priority": "High", "vendor": "V00001", "details": ""}
    run_jobs()
    for run in instances(app, "TYPED"):
        assert run.status == "Completed", run.error
        assert run.result == "Call back | 7 | 1250.50 | 2026-12-31 | True | High | V00001"
    status = client.get(f"/flows/runs/status?ids={runs[0].id},{runs[1].id}", headers=hx).get_data(as_text=True)
    assert status.count("Succeeded") == 2 and "hx-trigger" not in status and "My runs" in status

    detail = client.get(f"/flows/history/{runs[0].id}").get_data(as_text=True)
    assert "Succeeded" in detail and "Amount" in detail and "1,250.50" in detail and "Vendor" in detail
    assert "A user runs the flow from the Automate menu" in detail and "show a message" in detail
    for code in ("run_from_automate", "show_message", "{'", "Completed"):
        assert code not in visible_text(detail), code  # words, not codes or option dicts (codes only in tooltips)


def test_old_message_input_reads_as_one_long_text_input(app):
    old = {"name": "message", "label": "Message", "type": "textarea", "required": False}
    [f] = [flow_inputs.normalize(old)]
    assert f["caption"] == "Message" and f["type"] == "long_text"
    assert flow_inputs.parse_values(None, [f], {"message": "  hi  "}) == ({"message": "hi"}, {})
    assert flow_inputs.definition_problems([f]) == []
    from portal.extensions import db

    with app.app_context():
        wf = db.session.scalar(select(Workflow).where(Workflow.code == "CUST-STATEMENT"))
        assert flow_inputs.definitions(wf) == [dict(f, help="A personal note placed at the top of the email.")]


def test_input_definitions_are_checked(app):
    bad = [flow_inputs.normalize(f) for f in (
        {"name": "Bad Name", "caption": "x"}, {"name": "a", "caption": ""}, {"name": "c", "caption": "C", "type": "choice"},
        {"name": "r", "caption": "R", "type": "record"}, {"name": "n", "caption": "N", "type": "integer", "default": "x"},
        {"name": "n", "caption": "N2"}, {"name": "z", "caption": "Z", "type": "colour"})]
    problems = flow_inputs.definition_problems(bad)
    assert len(problems) == 7, problems
    assert any("lower-case letters" in p for p in problems) and any("same name" in p for p in problems)
    assert any("at least one choice" in p for p in problems) and any("record type to pick" in p for p in problems)
    assert any("default is not valid" in p for p in problems) and any("caption must have a value" in p for p in problems)


def test_input_field_editor(client, app):
    add_flow(app, "EDITME", [("show_message", {"message": "hi"})], [{"name": "message", "caption": "Message", "type": "long_text"}])
    from portal.extensions import db

    with app.app_context():
        db.session.scalar(select(Workflow).where(Workflow.code == "EDITME")).enabled = False
        db.session.commit()
    page = signed_in(client, "lcallahan")
    card = client.get("/workflows/EDITME").get_data(as_text=True)
    assert "Input fields" in card and "Edit input fields" in card and "inputs.message" in card
    form = client.get("/flows/EDITME/inputs").get_data(as_text=True)
    token = csrf(form)
    rows = {"csrf_token": token, "in_order": ["2", "1"], "in_name": ["message", "vendor"], "in_caption": ["Message", "Vendor"],
            "in_type": ["long_text", "record"], "in_default": ["", ""], "in_help": ["", "Pick one"], "in_choices": ["", ""],
            "in_record_type": ["", ""], "in_required": ["1"]}
    res = client.post("/flows/EDITME/inputs", data=rows)
    assert res.status_code == 422 and "choose the record type to pick from" in res.get_data(as_text=True)
    rows["in_record_type"] = ["", "vendor"]
    assert client.post("/flows/EDITME/inputs", data=rows).status_code == 302
    with app.app_context():
        fields = flow_inputs.definitions(db.session.scalar(select(Workflow).where(Workflow.code == "EDITME")))
    assert [(f["name"], f["type"], f["required"], f["record_type"]) for f in fields] == [
        ("vendor", "record", True, "vendor"), ("message", "long_text", False, "")]
    # a business user may not edit input fields; an enabled flow can't be changed
    other = app.test_client()
    signed_in(other, "msuyama")
    assert other.get("/flows/EDITME/inputs").status_code == 403
    res = client.post("/flows/CUST-STATEMENT/inputs", data=dict(rows, in_record_type=["", "vendor"]))
    assert res.status_code == 422 and "is enabled; disable it before" in res.get_data(as_text=True)
    assert page


# ---------------------------------------------------------------- Get started, Automate off, permissions

def test_get_started_shows_alone_until_accepted(client, app):
    from portal.extensions import db

    with app.app_context():
        db.session.scalar(select(User).where(User.user_name == "msuyama")).automation_notice_accepted_at = None
        db.session.commit()
    signed_in(client, "msuyama", accept=False)
    alfki, = ids_of(app, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Get started" in card and "what flows" not in card
    assert "Email the customer a statement of open orders" not in card and "Manage flows" not in card
    pane = client.get(f"/flows/CUST-STATEMENT/run?ids={alfki}")
    assert pane.status_code == 403 and "Get started" in pane.get_data(as_text=True)
    assert client.post("/flows/get-started").status_code == 400  # no CSRF token
    res = client.post("/flows/get-started", data={"csrf_token": csrf(card), "next": f"/customers/{alfki}"})
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/customers/{alfki}")
    with app.app_context():
        assert db.session.scalar(select(User).where(User.user_name == "msuyama")).automation_notice_accepted_at is not None
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Get started" not in card and "Email the customer a statement of open orders" in card and "Manage flows" in card


def test_automate_off_for_everyone(client, app, reset_setup):
    admin = app.test_client()
    page = signed_in(admin, "admin", "admin")
    form = admin.get("/flows/setup").get_data(as_text=True)
    assert "Automate is on for everyone" in form
    res = admin.post("/flows/setup", data={"csrf_token": csrf(form), "run_roles": ["business_user", "flow_maker"],
                                           "instant_roles": ["flow_maker"], "automated_roles": ["flow_maker"]})
    assert res.status_code == 302
    signed_in(client, "msuyama")
    alfki, = ids_of(app, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Automate is turned off for everyone" in card and "Email the customer a statement" not in card
    listing = client.get("/customers").get_data(as_text=True)
    assert "Automate is turned off for everyone" in listing
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(card)}
    res = client.post("/flows/CUST-STATEMENT/run", headers=hx, data={"ids": alfki, "message": "x"})
    assert res.status_code == 200 and "turned off" in res.get_data(as_text=True)  # htmx shows it in the pane
    assert client.post("/flows/CUST-STATEMENT/run", data={"ids": alfki, "message": "x", "csrf_token": csrf(card)}).status_code == 403
    assert instances(app, "CUST-STATEMENT") == []
    assert "Automate is turned off" in admin.get(f"/customers/{alfki}").get_data(as_text=True)  # admins too
    assert page


def test_permissions_per_role(client, app, reset_setup):
    from portal.extensions import db

    signed_in(client, "msuyama")  # business user: runs flows, creates none, sees only their own runs
    alfki, = ids_of(app, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Email the customer a statement of open orders" in card and "Create a flow" not in card
    assert client.get("/workflows/new?trigger_kind=instant").status_code == 403
    assert client.get("/flows/history").status_code == 403 and client.get("/flows/setup").status_code == 403
    assert client.get("/flows/my-runs").status_code == 200

    maker = app.test_client()  # flow maker: creates instant and automated flows, sees everyone's runs
    page = signed_in(maker, "lcallahan")
    assert "Create a flow" in maker.get(f"/customers/{alfki}").get_data(as_text=True)
    assert maker.get("/flows/history").status_code == 200
    new = maker.get("/workflows/new?trigger_kind=automated").get_data(as_text=True)
    assert 'value="automated" selected' in new

    with app.app_context():  # an approver-only user may not run flows
        user = User(user_name="approveronly", full_name="Approver Only", email="ao@northwind.test")
        user.set_password("pw-approver")
        from portal.auth.models import UserRole

        user.roles = [UserRole(role="approver")]
        db.session.add(user)
        db.session.commit()
    try:
        approver = app.test_client()
        signed_in(approver, "approveronly", "pw-approver", accept=False)
        card = approver.get(f"/customers/{alfki}").get_data(as_text=True)
        assert "You are not permitted to run flows." in card and "Get started" not in card
        assert approver.get(f"/flows/CUST-STATEMENT/run?ids={alfki}").status_code == 403

        # the admin takes automated and scheduled flows away from flow makers
        admin = app.test_client()
        signed_in(admin, "admin", "admin")
        form = admin.get("/flows/setup").get_data(as_text=True)
        assert admin.post("/flows/setup", data={"csrf_token": csrf(form), "automate_enabled": "y",
                                                "run_roles": ["business_user", "flow_maker"], "instant_roles": ["flow_maker"],
                                                "automated_roles": []}).status_code == 302
        new = maker.get("/workflows/new?trigger_kind=automated").get_data(as_text=True)
        assert 'value="automated"' not in new and 'value="instant" selected' in new
        res = maker.post("/workflows/new", data={"csrf_token": csrf(page), "code": "AUTO1", "description": "Auto",
                                                 "record_type": "customer", "trigger_kind": "automated"})
        assert res.status_code == 422 and "You are not permitted to create automated flows." in res.get_data(as_text=True)
        res = maker.post("/workflows/new", data={"csrf_token": csrf(page), "code": "INST1", "description": "Inst",
                                                 "record_type": "customer", "trigger_kind": "instant"})
        assert res.status_code == 302
        assert "Create a flow" in maker.get(f"/customers/{alfki}").get_data(as_text=True)
        res = maker.post("/workflows/SO-APPROVAL/copy", data={"csrf_token": csrf(page)}, follow_redirects=True)
        assert "You are not permitted to create automated flows." in res.get_data(as_text=True)
        with app.app_context():
            assert db.session.scalar(select(func.count(Workflow.id)).where(Workflow.code.like("SO-APPROVAL-%"))) == 0
    finally:
        with app.app_context():
            db.session.delete(db.session.scalar(select(User).where(User.user_name == "approveronly")))
            db.session.commit()


# ---------------------------------------------------------------- runs

class FlakyWebhook:
    """A local webhook receiver answering ``status`` (changeable); counts calls per Idempotency-Key."""

    def __init__(self, status: int):
        hook = self
        self.status = status
        self.keys: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.keys.append(self.headers.get("Idempotency-Key"))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_retry_after_a_failed_effect_repeats_nothing_done(client, app, run_jobs, sink):
    hook = FlakyWebhook(400)
    try:
        add_flow(app, "MAILHOOK", [("send_email", {"template": "customer_statement", "to_field": "email"}),
                                   ("call_webhook", {"url": hook.url, "method": "POST", "body": '{"no": "{{ record.no }}"}'})],
                 [{"name": "message", "caption": "Message", "type": "long_text"}])
        page = signed_in(client, "msuyama")
        alfki, = ids_of(app, Customer, "ALFKI")
        hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
        assert client.post("/flows/MAILHOOK/run", headers=hx, data={"ids": alfki, "message": "Once only"}).status_code == 200
        run_jobs()
        [run] = instances(app, "MAILHOOK")
        assert run.status == "Failed" and "400" in run.error
        assert len(sink.wait_for("alfki@customers.northwind.test", "Statement of open orders")) == 1
        detail = client.get(f"/flows/history/{run.id}").get_data(as_text=True)
        assert "Retry" in detail and "Failed" in detail and "answered 400" in detail

        hook.status = 200  # the cause is fixed
        res = client.post(f"/flows/history/{run.id}/retry", data={"csrf_token": csrf(detail)}, follow_redirects=True)
        assert "is retried" in res.get_data(as_text=True)
        run_jobs()
        [run] = instances(app, "MAILHOOK")
        assert run.status == "Completed", run.error
        assert len(hook.keys) == 2 and hook.keys[0] == hook.keys[1]  # the same idempotency key
        from portal.extensions import db

        with app.app_context():
            assert db.session.scalar(select(func.count(Effect.id)).where(Effect.instance_id == run.id)) == 2
            assert {e.status for e in db.session.scalars(select(Effect).where(Effect.instance_id == run.id))} == {"done"}
        import time

        time.sleep(1.0)
        assert len(sink.to("alfki@customers.northwind.test", "Statement of open orders")) == 1  # the mail was not sent again
        assert "Retry" not in client.get(f"/flows/history/{run.id}").get_data(as_text=True)
    finally:
        hook.stop()


def test_retry_after_a_failed_step_goes_on_from_it(client, app, run_jobs, sink):
    from portal.extensions import db

    anatr_id, = ids_of(app, Customer, "ANATR")
    with app.app_context():
        anatr = db.session.get(Customer, anatr_id)
        saved, anatr.email = anatr.email, None
        db.session.commit()
    try:
        page = signed_in(client, "msuyama")
        hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
        client.post("/flows/CUST-STATEMENT/run", headers=hx, data={"ids": anatr_id, "message": "Second try"})
        run_jobs()
        [run] = instances(app, "CUST-STATEMENT")
        assert run.status == "Failed" and "has no value in 'email'" in run.error
        detail = client.get(f"/flows/history/{run.id}").get_data(as_text=True)
        assert "has no value in" in detail and "Not done: the run failed before this step" in detail
        with app.app_context():
            db.session.get(Customer, anatr_id).email = saved
            db.session.commit()
        client.post(f"/flows/history/{run.id}/retry", data={"csrf_token": csrf(detail)})
        run_jobs()
        [run] = instances(app, "CUST-STATEMENT")
        assert run.status == "Completed", run.error
        [mail] = sink.wait_for(saved, "Statement of open orders")
        assert "Second try" in sink.body(mail)
        with app.app_context():  # the retried event was a new one for the same run; the failed one stays failed
            assert db.session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.event_code == "run_from_automate")) == 2
        res = client.post(f"/flows/history/{run.id}/retry", data={"csrf_token": csrf(detail)}, follow_redirects=True)
        assert "only a failed run can be retried" in res.get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(Customer, anatr_id).email = saved
            db.session.commit()


def test_cancel_a_queued_run(client, app, run_jobs, sink):
    page = signed_in(client, "msuyama")
    alfki, = ids_of(app, Customer, "ALFKI")
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    client.post("/flows/CUST-STATEMENT/run", headers=hx, data={"ids": alfki, "message": "never"})
    [run] = instances(app, "CUST-STATEMENT")
    assert run.status == "Queued"
    detail = client.get(f"/flows/history/{run.id}").get_data(as_text=True)
    assert "Cancel run" in detail and "Queued" in detail
    res = client.post(f"/flows/history/{run.id}/cancel", data={"csrf_token": csrf(detail)}, follow_redirects=True)
    assert "is canceled" in res.get_data(as_text=True)
    run_jobs()
    [run] = instances(app, "CUST-STATEMENT")
    assert run.status == "Canceled"
    import time

    time.sleep(1.0)
    assert sink.to("alfki@customers.northwind.test", "Statement of open orders") == []
    res = client.post(f"/flows/history/{run.id}/cancel", data={"csrf_token": csrf(detail)}, follow_redirects=True)
    assert "only a queued or running run can be canceled" in res.get_data(as_text=True)


def test_my_runs_flow_runs_and_the_fact_box(client, app, run_jobs):
    add_flow(app, "HELLO2", [("show_message", {"message": "Hello {{ record.no }}"})])
    page = signed_in(client, "msuyama")
    alfki, anatr = ids_of(app, Customer, "ALFKI", "ANATR")
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    client.post("/flows/HELLO2/run", headers=hx, data={"ids": [alfki, anatr]})
    maker = app.test_client()
    mpage = signed_in(maker, "lcallahan")
    maker.post("/flows/HELLO2/run", headers={"HX-Request": "true", "X-CSRFToken": csrf(mpage)}, data={"ids": [alfki]})
    run_jobs()
    runs = instances(app, "HELLO2")
    mine = [r for r in runs if r.record_id in (alfki, anatr) and r.started_by_id != runs[-1].started_by_id]
    assert len(runs) == 3 and len(mine) == 2

    my = client.get("/flows/my-runs").get_data(as_text=True)
    assert my.count('data-status="Completed"') == 2 and "Succeeded" in my and f"Run {runs[-1].id}<" not in my
    assert client.get(f"/flows/history/{runs[-1].id}").status_code == 403  # someone else's run

    everyone = maker.get("/flows/history").get_data(as_text=True)
    assert everyone.count('data-status="Completed"') >= 3 and "Michael Suyama" in everyone
    options = re.search(r'<select name="flow">(.*?)</select>', everyone, re.S).group(1)
    assert "Flow HELLO2" in options and "Sales Order Approval Workflow" in options
    from portal.extensions import db

    with app.app_context():
        template_codes = db.session.scalars(select(Workflow.code).where(Workflow.template.is_(True))).all()
    assert template_codes and not any(f'value="{code}"' in options for code in template_codes)  # no read-only templates
    assert maker.get("/flows/history?status=failed&flow=HELLO2").get_data(as_text=True).count("data-status=") == 0
    assert maker.get("/flows/history?status=succeeded&flow=HELLO2").get_data(as_text=True).count('data-status="Completed"') == 3
    assert maker.get("/flows/history?record=anatr&flow=HELLO2").get_data(as_text=True).count('data-status="Completed"') == 1
    assert maker.get("/flows/history?trigger_kind=automated&flow=HELLO2").get_data(as_text=True).count("data-status=") == 0
    assert maker.get("/flows/history?since=2000-01-01&until=2000-01-02").get_data(as_text=True).count("data-status=") == 0
    assert maker.get("/flows/history?since=bad&page=x").status_code == 200

    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    box = card[card.index('aria-label="Flow runs"'):]
    assert box.count("Flow HELLO2") == 2 and "Succeeded" in box
    vendor, = ids_of(app, Vendor, "V00001")
    assert "No flow runs yet." in client.get(f"/vendors/{vendor}").get_data(as_text=True)


def test_automate_menu_on_every_list_and_record_page(client, app):
    """Every list page has the Automate menu (with Manage flows for its record type);
    every record page with a record (a purchase order and a journal batch and line are
    made for the test) has it too, with the Flow runs fact box."""
    from decimal import Decimal

    from portal.extensions import db
    from portal.records.models import GenJournalBatch, GenJournalLine
    from portal.records.registry import LIST_VIEWS
    from test_purchase_documents import new_purchase

    with app.app_context():
        po = new_purchase(db.session)
        batch = GenJournalBatch(journal_template_name="GENERAL", name="FLOWMENU")
        batch.lines.append(GenJournalLine(line_no=10000, account_no="6100", amount=Decimal("5.00"), bal_account_no="2910"))
        db.session.add(batch)
        db.session.commit()
        made = [(type(po), po.id), (GenJournalBatch, batch.id)]
    try:
        signed_in(client, "msuyama")
        checked = set()
        for slug, rt in LIST_VIEWS.items():
            listing = client.get(f"/{slug}").get_data(as_text=True)
            assert "Automate" in listing and f"/workflows/?record_type={rt.key}" in listing, slug
            with app.app_context():
                record_id = db.session.scalar(rt.filter_query(select(rt.model.id)).limit(1))
            if record_id is None:
                continue
            page = client.get(f"/{slug}/{record_id}").get_data(as_text=True)
            assert "Automate" in page and "Manage flows" in page and 'aria-label="Flow runs"' in page, slug
            checked.add(rt.key)
        assert {"customer", "vendor", "item", "sales_header", "purchase_header", "gen_journal_batch", "gen_journal_line"} <= checked
    finally:
        with app.app_context():
            for model, record_id in made:
                db.session.delete(db.session.get(model, record_id))
            db.session.commit()


def test_a_flow_maker_sets_a_scheduled_flows_schedule(client, app, run_jobs):
    """A scheduled flow's Schedule page (flow makers): a bad cron expression is a field
    error and saves nothing; a good one makes the flow's job queue entry — On Hold
    while the flow is disabled, owned by the maker — and each fire runs the flow for
    the records its conditions match. Business users may not open it."""
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry
    from portal.records.models import Item

    with app.app_context():
        db.session.add(build_workflow({
            "code": "LOW-STOCK", "description": "Items below their reorder point", "record_type": "item",
            "trigger_kind": "scheduled",
            "steps": [(1, None, None, 1, "event", "schedule_fired", {},
                       [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}]),
                      (2, 1, None, 1, "response", "show_message", {"message": "Reorder {{ record.no }}"}, [])]}))
        db.session.commit()
    page = signed_in(client, "msuyama")
    assert client.get("/flows/LOW-STOCK/schedule").status_code == 403
    client.post("/sign-out", data={"csrf_token": csrf(page)})
    page = signed_in(client, "lcallahan")
    card = client.get("/workflows/LOW-STOCK").get_data(as_text=True)
    assert "/flows/LOW-STOCK/schedule" in card
    form = client.get("/flows/LOW-STOCK/schedule").get_data(as_text=True)
    base = {"csrf_token": csrf(form), "recurrence_kind": "cron", "run_on_weekdays": ["0", "1", "2", "3", "4"], "time_zone": "Europe/Berlin"}
    bad = client.post("/flows/LOW-STOCK/schedule", data={**base, "cron_expression": "every monday"})
    assert bad.status_code == 422 and "The schedule was not saved" in bad.get_data(as_text=True)
    assert 'value="every monday"' in bad.get_data(as_text=True)  # what was typed stays
    with app.app_context():
        assert db.session.scalar(select(func.count(JobQueueEntry.id)).where(JobQueueEntry.description.like("%LOW-STOCK%"))) == 0
    ok = client.post("/flows/LOW-STOCK/schedule", data={**base, "cron_expression": "0 8 * * 1"}, follow_redirects=True)
    assert "Schedule of LOW-STOCK saved." in ok.get_data(as_text=True)
    with app.app_context():
        [entry] = db.session.scalars(select(JobQueueEntry).where(JobQueueEntry.description.like("%LOW-STOCK%"))).all()
        wf = db.session.scalar(select(Workflow).where(Workflow.code == "LOW-STOCK"))
        assert entry.workflow_id == wf.id and entry.status == "Ready" and entry.cron_expression == "0 8 * * 1"
        assert entry.owner.user_name == "lcallahan" and entry.time_zone == "Europe/Berlin"
        low = db.session.scalar(select(func.count(Item.id)).where(Item.inventory < Item.reorder_point))
        entry_id = entry.id
    again = client.get("/flows/LOW-STOCK/schedule").get_data(as_text=True)
    assert 'value="0 8 * * 1"' in again and "At 08:00" in again  # the saved schedule, in words too
    # a fire (Run now) starts one run per item below its reorder point
    with app.app_context():
        from portal.jobqueue import service as jobqueue

        jobqueue.run_now(db.session, db.session.get(JobQueueEntry, entry_id), None)
        db.session.commit()
        jobqueue.enqueue_runs(jobqueue.claim_due(db.session))  # the scheduler's step
    run_jobs()  # the job queue entry's run, then the flow runs it queued
    runs = instances(app, "LOW-STOCK")
    assert low > 0 and len(runs) == low and {r.status for r in runs} == {"Completed"}
