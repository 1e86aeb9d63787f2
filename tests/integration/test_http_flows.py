"""HTTP in and out: a flow started by a signed HTTP request (good, bad, missing and
replayed signatures, a body that is not JSON, too big, rate-limited) whose values
reach a webhook call that carries encrypted secrets (bearer token, secret headers)
to a real local HTTP server — and those secrets never appear on a page, in an
export, in an effect's payload or in an error text."""
from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import select

from effect_helpers import WebhookStub
from portal.workflow.http_in import sign
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

BEARER = "tok-Bearer-5f1c9e"
API_KEY = "key-Secret-77aa21"
CODE = "HTTP-ORDERS"


@pytest.fixture
def receiver():
    """A real local HTTP server keeping each request's headers and body."""
    r = WebhookStub()
    r.answer["/deny"] = (403, "refused {authorization}")  # a receiver that echoes the secret back
    yield r
    r.stop()


@pytest.fixture
def maker(app):
    client = app.test_client()
    sign_in(client, "lcallahan", "northwind")
    return client


def _token(client, path: str = "/workflows/") -> str:
    return csrf(client.get(path).get_data(as_text=True))


def _op(client, op: str, **data) -> str:
    res = client.post(f"/workflows/{CODE}/edit/{op}", data={"csrf_token": _token(client), **data},
                      headers={"HX-Request": "true"})
    assert res.status_code == 200, res.status_code
    return res.get_data(as_text=True)


def build_http_flow(client, url: str) -> tuple[str, str]:
    """Build, in the editor as a flow maker, an automated flow: when an HTTP request is
    received and its body's amount > 100, call ``url`` with a header, a bearer token
    and a secret header, the body carrying the request's order number. Create its
    address and secret, enable it. Returns (hook address path, signing secret)."""
    res = client.post("/workflows/new", data={"csrf_token": _token(client, "/workflows/new"), "code": CODE,
                                               "description": "Orders from the web shop", "trigger_kind": "automated"})
    assert res.status_code == 302, res.get_data(as_text=True)
    html = _op(client, "add-event", function="http_request_received")
    assert "An HTTP request is received" in html and "Create address and secret" in html
    _op(client, "set-event", step_id="1", function="http_request_received", cond_field="body.amount",
        cond_operator=">", cond_compare="value", cond_value="100")
    _op(client, "add-response", step_id="1", function="call_webhook")
    html = _op(client, "set-response", step_id="2", opt_url=url, opt_method="POST",
               opt_headers="X-Source: portal-test", opt_body='{"order": "{{ trigger.body.order_no }}", "n": {{ event.body.amount }}}',
               opt_bearer_token=BEARER, opt_secret_headers=f"X-Api-Key: {API_KEY}", opt_timeout="5", opt_retries="0")
    assert "role=\"alert\"" not in html, html
    assert BEARER not in html and API_KEY not in html and "•••• (set)" in html
    # saving the options again with the secrets left blank keeps them
    html = _op(client, "set-response", step_id="2", opt_url=url, opt_method="POST",
               opt_headers="X-Source: portal-test", opt_body='{"order": "{{ trigger.body.order_no }}", "n": {{ event.body.amount }}}',
               opt_timeout="5", opt_retries="0")
    assert html.count("•••• (set)") >= 2
    page = client.post(f"/workflows/{CODE}/http-secret", data={"csrf_token": _token(client, f"/workflows/{CODE}/edit")})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    secret = re.search(r'class="hook-secret">([^<]+)<', text).group(1)
    path = re.search(r'class="hook-url">http://[^/]+(/hooks/[^<]+)<', text).group(1)
    assert "openssl dgst -sha256 -hmac" in text and "hmac.new(" in text  # the signing recipe, ready to copy
    res = client.post(f"/workflows/{CODE}/enable", data={"csrf_token": _token(client)}, follow_redirects=True)
    assert f"Workflow {CODE} is enabled." in res.get_data(as_text=True)
    return path, secret


def post_signed(client, path: str, secret: str, body: bytes, ts: int | None = None, signature: str | None = None):
    ts = int(time.time()) if ts is None else ts
    return client.post(path, data=body, content_type="application/json",
                       headers={"X-Portal-Timestamp": str(ts), "X-Portal-Signature": signature or sign(secret, ts, body)})


def test_signed_request_runs_the_flow_and_the_webhook_gets_the_decrypted_secrets(app, maker, receiver, run_jobs):
    path, secret = build_http_flow(maker, receiver.url + "/orders")
    outside = app.test_client()  # a caller from outside: no session, no CSRF token
    res = post_signed(outside, path, secret, json.dumps({"order_no": "WEB-1001", "amount": 250}).encode())
    assert res.status_code == 202, res.get_data(as_text=True)
    run_id = res.get_json()["run_id"]
    assert res.get_json()["status"] == "Queued"
    run_jobs()
    [call] = receiver.requests
    assert call["path"] == "/orders"
    assert call["headers"]["Authorization"] == f"Bearer {BEARER}"
    assert call["headers"]["X-Api-Key"] == API_KEY and call["headers"]["X-Source"] == "portal-test"
    assert call["headers"]["Idempotency-Key"]
    assert json.loads(call["body"]) == {"order": "WEB-1001", "n": 250}  # the request's body reached the action
    run = maker.get(f"/flows/history/{run_id}").get_data(as_text=True)
    assert "Succeeded" in run and "An HTTP request is received" in run and "→ 201" in run
    # a request whose amount fails the condition starts a run that calls nothing
    res = post_signed(outside, path, secret, json.dumps({"order_no": "WEB-1002", "amount": 5}).encode())
    assert res.status_code == 202
    run_jobs()
    assert len(receiver.requests) == 1

    # the secrets are stored encrypted: in the step options and the effect's payload
    from portal.extensions import db
    from portal.workflow.models import Effect, Workflow, WorkflowHttpTrigger

    with app.app_context():
        wf = db.session.scalar(select(Workflow).where(Workflow.code == CODE))
        stored = json.dumps([s.options for s in wf.steps]) + json.dumps([e.payload for e in db.session.scalars(select(Effect))])
        stored += db.session.scalar(select(WorkflowHttpTrigger.secret).where(WorkflowHttpTrigger.workflow_id == wf.id))
        assert "fernet:" in stored
        for plain in (BEARER, API_KEY, secret):
            assert plain not in stored
    # ... and never rendered: the flow's card, editor, run pages, run lists, export
    maker.post(f"/workflows/{CODE}/disable", data={"csrf_token": _token(maker)})
    pages = [maker.get(p).get_data(as_text=True) for p in (
        f"/workflows/{CODE}", f"/workflows/{CODE}/edit", f"/flows/history/{run_id}", "/flows/history", "/flows/my-runs",
        "/workflows/", f"/workflows/archive?workflow={CODE}")]
    pages.append(maker.post("/workflows/export", data={"csrf_token": _token(maker), "code": CODE}).get_data(as_text=True))
    for html in pages:
        for plain in (BEARER, API_KEY, secret):
            assert plain not in html
    assert "•••• (set)" in pages[0] and "bearer_token" in pages[0]
    exported = json.loads(pages[-1])["workflows"][0]["steps"][1]["options"]
    assert "bearer_token" not in exported and "secret_headers" not in exported and exported["headers"] == "X-Source: portal-test"


def test_bad_missing_and_replayed_signatures_are_refused_and_counted(app, maker, receiver, run_jobs, caplog):
    path, secret = build_http_flow(maker, receiver.url + "/orders")
    outside = app.test_client()
    body = json.dumps({"order_no": "WEB-2001", "amount": 300}).encode()
    with caplog.at_level("WARNING", logger="portal.workflow.http_in"):
        assert post_signed(outside, path, "not-the-secret", body).status_code == 401  # wrong secret
        assert post_signed(outside, path, secret, body, signature="sha256=" + "0" * 64).status_code == 401
        assert outside.post(path, data=body, content_type="application/json").status_code == 401  # no signature
        old = int(time.time()) - 301
        res = post_signed(outside, path, secret, body, ts=old)  # correctly signed, but replayed after 5 minutes
        assert res.status_code == 401 and res.get_json() == {"error": "Invalid or missing signature."}
        tampered = post_signed(outside, path, secret, body, signature=sign(secret, int(time.time()), b'{"amount": 1}'))
        assert tampered.status_code == 401
    assert sum("refused a request" in r.getMessage() for r in caplog.records) == 5
    assert any("a replay" in r.getMessage() for r in caplog.records)
    # a good signature over a body that is not JSON: 400; an unknown address: 404
    assert post_signed(outside, path, secret, b"order=1").status_code == 400
    assert post_signed(outside, "/hooks/no-such-token", secret, body).status_code == 404
    run_jobs()
    assert receiver.requests == []
    from portal.extensions import db
    from portal.workflow.models import WorkflowInstance

    with app.app_context():
        assert db.session.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == CODE)).all() == []
    card = maker.get(f"/workflows/{CODE}").get_data(as_text=True)
    assert '<span class="hook-rejected">6</span> refused' in card and "the body is not JSON" in card
    # a regenerated secret replaces the old one
    maker.post(f"/workflows/{CODE}/disable", data={"csrf_token": _token(maker)})
    text = maker.post(f"/workflows/{CODE}/http-secret", data={"csrf_token": _token(maker)}).get_data(as_text=True)
    new = re.search(r'class="hook-secret">([^<]+)<', text).group(1)
    assert new != secret and path in text
    maker.post(f"/workflows/{CODE}/enable", data={"csrf_token": _token(maker)})
    assert post_signed(outside, path, secret, body).status_code == 401
    assert post_signed(outside, path, new, body).status_code == 202


def test_body_size_and_rate_limits(app, maker, receiver):
    path, secret = build_http_flow(maker, receiver.url + "/orders")
    outside = app.test_client()
    big = json.dumps({"pad": "x" * app.config["HOOK_MAX_BODY_BYTES"]}).encode()
    assert post_signed(outside, path, secret, big).status_code == 413
    app.config["HOOK_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [outside.post(path, data=b"{}", content_type="application/json").status_code for _ in range(4)]
    finally:
        app.config["HOOK_RATE_LIMIT"] = "120 per minute"
    assert codes == [401, 401, 401, 429]


def test_a_webhook_error_text_never_shows_the_secret(app, maker, receiver, run_jobs):
    """A receiver that answers 403 with the Authorization header in its reason: the
    run fails and its error reads •••• where the token was."""
    path, secret = build_http_flow(maker, receiver.url + "/deny")
    res = post_signed(app.test_client(), path, secret, json.dumps({"order_no": "WEB-3001", "amount": 999}).encode())
    run_id = res.get_json()["run_id"]
    run_jobs()
    assert receiver.requests[0]["headers"]["Authorization"] == f"Bearer {BEARER}"
    page = maker.get(f"/flows/history/{run_id}").get_data(as_text=True)
    assert "Failed" in page and "answered 403 refused Bearer ••••" in page
    assert BEARER not in page
    from portal.extensions import db
    from portal.workflow.models import Effect, WorkflowInstance

    with app.app_context():
        errors = [e.error for e in db.session.scalars(select(Effect))] + [i.error for i in db.session.scalars(select(WorkflowInstance))]
        assert errors and all(BEARER not in (e or "") for e in errors)


def test_basic_authentication_and_option_checks(app, maker, receiver, run_jobs):
    """Basic authentication sends the decrypted password; a bearer token with basic
    authentication, and a malformed header line, are refused with a message."""
    import base64

    path, secret = build_http_flow(maker, receiver.url + "/orders")
    maker.post(f"/workflows/{CODE}/disable", data={"csrf_token": _token(maker)})
    html = _op(maker, "set-response", step_id="2", opt_url=receiver.url + "/orders", opt_method="POST",
               opt_basic_username="shop", opt_basic_password="pw-Basic-9911", opt_body="{}")
    assert "Use either a bearer token or basic authentication, not both." in html
    html = _op(maker, "set-response", step_id="2", opt_url=receiver.url + "/orders", opt_method="POST",
               opt_headers="not a header", opt_body="{}", clear_bearer_token="on")
    assert "line 1 is not a header" in html
    html = _op(maker, "set-response", step_id="2", opt_url=receiver.url + "/orders", opt_method="POST",
               opt_basic_username="shop", opt_basic_password="pw-Basic-9911", opt_body="{}", clear_bearer_token="on")
    assert 'role="alert"' not in html and "pw-Basic-9911" not in html
    maker.post(f"/workflows/{CODE}/enable", data={"csrf_token": _token(maker)})
    assert post_signed(app.test_client(), path, secret, b'{"amount": 500}').status_code == 202
    run_jobs()
    [call] = receiver.requests
    assert call["headers"]["Authorization"] == "Basic " + base64.b64encode(b"shop:pw-Basic-9911").decode()
    assert call["headers"]["X-Api-Key"] == API_KEY


def test_an_imported_secret_is_stored_encrypted(app, maker):
    """A workflow file carrying a plain bearer token (written by hand): the import
    stores it encrypted and the card shows it masked."""
    import io

    data = {"format": "workflow-portal/workflows", "version": 1, "workflows": [{
        "code": "HTTP-IMP", "description": "Imported webhook", "trigger": "automated", "record_type": "customer",
        "steps": [{"id": 1, "type": "event", "function": "record_modified", "entry_point": True},
                  {"id": 2, "previous": 1, "type": "response", "function": "call_webhook",
                   "options": {"url": "http://127.0.0.1:9/x", "method": "POST", "bearer_token": BEARER}}]}]}
    res = maker.post("/workflows/import", data={"csrf_token": _token(maker), "file": (io.BytesIO(json.dumps(data).encode()), "w.json")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert "Imported 1 workflow(s): HTTP-IMP." in res.get_data(as_text=True)
    card = maker.get("/workflows/HTTP-IMP").get_data(as_text=True)
    assert BEARER not in card and "bearer_token: •••• (set)" in card
    from portal.extensions import db
    from portal.workflow.models import Workflow
    from portal.workflow.vault import open_sealed

    with app.app_context():
        wf = db.session.scalar(select(Workflow).where(Workflow.code == "HTTP-IMP"))
        stored = next(s.options["bearer_token"] for s in wf.steps if s.type == "response")
        assert stored.startswith("fernet:") and open_sealed(stored) == BEARER
