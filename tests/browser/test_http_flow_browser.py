"""An HTTP-triggered flow built in the browser by a flow maker: choose the trigger
"An HTTP request is received", set a webhook's bearer token (never shown back),
create the address and secret (shown once, with signing examples), enable it, send a
signed request and see the run succeed with the body's value in the webhook call."""
from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.integration.effect_helpers import WebhookStub
from portal.workflow.http_in import sign

SHOTS = "/tmp/http-flows"
TOKEN = "tok-browser-4b7d"


@pytest.fixture
def receiver():
    r = WebhookStub()
    yield r
    r.stop()


def test_build_sign_and_run_an_http_flow(page: Page, live_server, worker, clean_state, sign_in, receiver):
    import os

    os.makedirs(SHOTS, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "lcallahan", "northwind")
    page.goto("/workflows/new")
    page.get_by_label("Code *").fill("WEB-HOOK")
    page.get_by_label("Description *").fill("Orders posted by the web shop")
    page.get_by_role("button", name="Create and edit steps").click()
    page.wait_for_url(re.compile(r"/workflows/WEB-HOOK/edit$"))
    page.get_by_label("Event to add").select_option(label="An HTTP request is received")
    page.get_by_role("button", name="Add the entry-point event").click()
    panel = page.get_by_role("region", name="HTTP trigger")
    expect(panel).to_contain_text("This flow has no address yet")
    page.get_by_label("Response to add").select_option(label="Call an HTTP webhook")
    page.get_by_role("button", name="Add response").click()
    page.get_by_role("button", name="Options").click()
    dialog = page.get_by_role("dialog", name="Response options")
    dialog.get_by_label("URL *").fill(receiver.url + "/orders")
    dialog.get_by_role("textbox", name="Body (template)").fill('{"order": "{{ trigger.body.order_no }}"}')
    dialog.get_by_label("Bearer token (secret)").fill(TOKEN)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog", name="Response options")).to_have_count(0)
    page.get_by_role("button", name="Options").click()
    token_field = page.get_by_role("dialog", name="Response options").get_by_label("Bearer token (secret)")
    expect(token_field).to_have_value("")
    expect(token_field).to_have_attribute("placeholder", re.compile("•••• \\(set\\)"))
    page.screenshot(path=f"{SHOTS}-editor-1400.png", full_page=True)
    assert TOKEN not in page.content()
    page.get_by_role("dialog", name="Response options").get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Create address and secret").click()
    expect(page.get_by_role("heading", name=re.compile("Signing secret of WEB-HOOK"))).to_be_visible()
    secret = page.locator(".hook-secret").inner_text()
    url = page.locator(".hook-url").inner_text()
    expect(page.locator("pre.example").first).to_contain_text("openssl dgst -sha256 -hmac")
    page.screenshot(path=f"{SHOTS}-secret-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=f"{SHOTS}-secret-390.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("link", name="Done").click()
    page.goto("/workflows/WEB-HOOK")
    page.get_by_role("button", name="Enable").click()
    expect(page.locator("#wf-enabled")).to_have_text("Yes")
    assert secret not in page.content() and TOKEN not in page.content()

    body = json.dumps({"order_no": "WEB-77"}).encode()
    ts = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Portal-Timestamp": str(ts), "X-Portal-Signature": sign(secret, ts, body)})
    answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
    page.goto(f"/flows/history/{answer['run_id']}")
    for _ in range(60):
        if "Succeeded" in page.content():
            break
        time.sleep(0.5)
        page.reload()
    expect(page.locator("body")).to_contain_text("Succeeded")
    assert receiver.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(receiver.requests[0]["body"]) == {"order": "WEB-77"}
    page.goto("/workflows/WEB-HOOK")
    expect(page.get_by_role("region", name="HTTP trigger")).to_contain_text("1 accepted")
    page.screenshot(path=f"{SHOTS}-card-1400.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=f"{SHOTS}-card-390.png", full_page=True)
