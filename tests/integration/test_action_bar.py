"""The record page's action bar tells the truth: for each demo role — the business user
msuyama (the sender), the approver sbuchanan, the flow maker lcallahan and the
administrator (approval administrator) — on an Open, a Pending Approval and a Released
sales order, every action the page shows enabled is accepted by the server, and every
action it shows disabled (or leaves out) is refused, with the very reason the page
gave. Through the test client, on orders the real RQ worker sent for approval."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from action_bar import actions_shown
from portal.approvals.models import ApprovalEntry
from portal.approvals import service as approvals
from portal.auth.models import User
from portal.records import posting
from portal.records import service as records
from portal.records.models import SalesHeader
from portal.workflow.models import OutboxEvent
from test_approval_controls import new_batch, new_purchase, new_sales, uid
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

PASSWORDS = {"msuyama": "northwind", "sbuchanan": "northwind", "lcallahan": "northwind", "admin": "admin"}
STATES = ("Open", "Pending Approval", "Released")
#: every action of a sales order's bar the user can POST (or open, for New and Edit)
KEYS = ("new", "edit", "delete", "release", "reopen", "post", "send", "cancel", "approve", "reject", "delegate")


def make_orders(app, run_jobs, state: str, n: int) -> list[int]:
    """``n`` new 1,500.00 sales orders of msuyama in ``state`` (Pending Approval: sent by
    msuyama, the worker opened Buchanan's entry)."""
    from portal.extensions import db

    with app.app_context():
        s = db.session
        ids = [new_sales(s).id for _ in range(n)]
        for order_id in ids:
            order = s.get(SalesHeader, order_id)
            if state == "Pending Approval":
                approvals.send_approval_request(s, "sales_header", order, s.get(User, uid(s)))
            elif state == "Released":
                records.release(s, order, uid(s), by_workflow=True)
        s.commit()
        db.session.remove()
    if state == "Pending Approval":
        run_jobs()
    return ids


def status_of(app, order_id: int) -> str | None:
    from portal.extensions import db

    with app.app_context():
        order = db.session.get(SalesHeader, order_id)
        status = order.status if order else None
        db.session.remove()
    return status


def open_entry_id(app, order_id: int) -> int | None:
    from portal.extensions import db

    with app.app_context():
        found = db.session.scalar(select(ApprovalEntry.id).where(
            ApprovalEntry.record_type == "sales_header", ApprovalEntry.record_id == order_id, ApprovalEntry.status == "Open"))
        db.session.remove()
    return found


def sends_of(app, order_id: int) -> int:
    from portal.extensions import db

    with app.app_context():
        n = db.session.scalar(select(func.count(OutboxEvent.id)).where(
            OutboxEvent.record_id == order_id, OutboxEvent.event_code.in_(["sales_document_approval_requested",
                                                                           "sales_document_approval_canceled"])))
        db.session.remove()
    return n


def attempt(app, client, order_id: int, key: str, token: str):
    """Do action ``key`` on the order as the signed-in user. Returns (accepted, the
    answer's text)."""
    url = f"/sales-orders/{order_id}"
    before = (status_of(app, order_id), sends_of(app, order_id))
    if key == "new":
        res = client.get("/sales-orders/new")
        return res.status_code == 200, html.unescape(res.get_data(as_text=True))
    if key == "edit":
        res = client.get(f"{url}/edit")
        if res.status_code == 302:
            res = client.get(res.headers["Location"])
            return False, html.unescape(res.get_data(as_text=True))
        return res.status_code == 200, html.unescape(res.get_data(as_text=True))
    if key in ("approve", "reject", "delegate"):
        entry = open_entry_id(app, order_id)
        res = client.post("/approvals/decide", data={"csrf_token": token, "entry_id": entry or 0, "action": key,
                                                     "next": url}, follow_redirects=True)
        text = html.unescape(res.get_data(as_text=True))
        verb = {"approve": "Approved: ", "reject": "Rejected: ", "delegate": "Delegated: "}[key]
        return verb in text, text
    path = {"send": f"/approvals/send/sales_header/{order_id}", "cancel": f"/approvals/cancel/sales_header/{order_id}"}.get(
        key, f"{url}/{key}")
    res = client.post(path, data={"csrf_token": token}, follow_redirects=True)
    text = html.unescape(res.get_data(as_text=True))
    if res.status_code in (403, 404):
        return False, text
    after = (status_of(app, order_id), sends_of(app, order_id))
    return after != before, text


@pytest.mark.parametrize("user", list(PASSWORDS))
def test_the_action_bar_shows_what_the_server_allows(app, run_jobs, user):
    client = app.test_client()
    sign_in(client, user, PASSWORDS[user])
    for state in STATES:
        (order_id,) = make_orders(app, run_jobs, state, 1)
        assert status_of(app, order_id) == state
        page = client.get(f"/sales-orders/{order_id}").get_data(as_text=True)
        token = csrf(page)
        shown = actions_shown(page)
        assert {"changes", "approval_entries", "flow_runs"} <= set(shown)  # Related
        assert "delete" not in shown  # never on a document
        enabled = [k for k in KEYS if k in shown and shown[k].enabled]
        # refused: what the page shows disabled (with its reason) or leaves out
        for key in KEYS:
            if key in enabled:
                continue
            if key in ("approve", "reject", "delegate") and open_entry_id(app, order_id) is None:
                continue  # nothing to decide on this order at all
            accepted, text = attempt(app, client, order_id, key, token)
            assert not accepted, f"{user}, {state}: {key} is not offered but the server accepted it"
            if key in shown:
                assert shown[key].reason and shown[key].reason in text, f"{user}, {state}: {key} refused for another reason"
        assert status_of(app, order_id) == state
        # accepted: each action the page shows enabled, on an order of its own in the same state
        fresh = make_orders(app, run_jobs, state, len(enabled))
        for key, other in zip(enabled, fresh):
            again = actions_shown(client.get(f"/sales-orders/{other}").get_data(as_text=True))
            assert again[key].enabled
            accepted, text = attempt(app, client, other, key, token)
            assert accepted, f"{user}, {state}: {key} is offered but the server refused it"
    # what each role is offered, in words (the rules themselves)
    expected = {
        "msuyama": {"Open": {"new", "edit", "send"}, "Pending Approval": {"new", "cancel", "delegate"},
                    "Released": {"new", "edit", "reopen", "post"}},
        "sbuchanan": {"Open": {"new", "edit", "send"}, "Pending Approval": {"new", "approve", "reject", "delegate"},
                      "Released": {"new", "edit", "reopen", "post"}},
        "lcallahan": {"Open": {"new", "edit", "send"}, "Pending Approval": {"new"},
                      "Released": {"new", "edit", "reopen", "post"}},
        "admin": {"Open": {"new", "edit", "send"}, "Pending Approval": {"new", "cancel", "approve", "reject", "delegate"},
                  "Released": {"new", "edit", "reopen", "post"}},
    }[user]
    for state in STATES:
        (order_id,) = make_orders(app, run_jobs, state, 1)
        shown = actions_shown(client.get(f"/sales-orders/{order_id}").get_data(as_text=True))
        assert {k for k in KEYS if k in shown and shown[k].enabled} == expected[state], (user, state)


def test_send_on_a_customer_without_a_customer_workflow_is_disabled_with_the_reason(app):
    from portal.extensions import db
    from portal.records.models import Customer

    with app.app_context():
        alfki = db.session.scalar(select(Customer.id).where(Customer.no == "ALFKI"))
        enabled = approvals.approval_workflow_enabled(db.session, "customer")
        db.session.remove()
    assert not enabled  # the demo ships no customer approval workflow
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/customers/{alfki}").get_data(as_text=True)
    shown = actions_shown(page)
    reason = "No enabled approval workflow applies to this customer."
    assert shown["send"] == (False, reason)
    assert "post" not in shown and "release" not in shown and shown["delete"].enabled is False  # ALFKI has orders
    res = client.post(f"/approvals/send/customer/{alfki}", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert reason in html.unescape(res.get_data(as_text=True))
    res = client.post(f"/customers/{alfki}/delete", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert shown["delete"].reason in html.unescape(res.get_data(as_text=True))


def test_breadcrumbs_lead_back_to_the_list(app):
    from portal.extensions import db

    with app.app_context():
        order_id = new_sales(db.session).id
        no = db.session.get(SalesHeader, order_id).no
        db.session.remove()
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get(f"/sales-orders/{order_id}").get_data(as_text=True)
    crumbs = page[page.index('<nav class="breadcrumbs"'):page.index("</nav>", page.index('<nav class="breadcrumbs"'))]
    assert "Sales" in crumbs and '<a href="/sales-orders">Sales Orders</a>' in crumbs
    assert f'<span aria-current="page">Sales Order {no}</span>' in crumbs


@pytest.mark.parametrize("user", ["msuyama", "admin"])
def test_every_card_and_document_page_has_its_action_bar(app, user):
    """One record of every list (customers, items, every document type, journal batches
    and lines, posted documents, ...) opens with breadcrumbs and an action bar that
    leaves out what can never apply."""
    from portal.extensions import db
    from portal.records.registry import LIST_VIEWS

    with app.app_context():
        s = db.session
        new_purchase(s)
        new_batch(s, ("100.00", "2910"))
        for doc_type in ("Quote", "Invoice", "Credit Memo"):
            new_sales(s, doc_type)
        order = new_sales(s)
        records.release(s, order, uid(s), by_workflow=True)
        posting.post(s, order, uid(s))
        s.commit()
        firsts = {slug: db.session.scalar(rt.filter_query(select(rt.model.id)).limit(1)) for slug, rt in LIST_VIEWS.items()}
        db.session.remove()
    client = app.test_client()
    sign_in(client, user, PASSWORDS[user])
    opened = 0
    for slug, record_id in firsts.items():
        if record_id is None:
            continue
        rt = LIST_VIEWS[slug]
        res = client.get(f"/{slug}/{record_id}")
        assert res.status_code == 200, slug
        page = res.get_data(as_text=True)
        assert 'aria-label="Breadcrumb"' in page and 'id="action-bar"' in page, slug
        shown = actions_shown(page)
        assert "changes" in shown and ("post" in shown) == (rt.postable and rt.doc_type in (None, "Order", "Invoice", "Credit Memo"))
        assert ("edit" in shown) == (not rt.read_only) and ("send" in shown) == rt.approvable, slug
        opened += 1
    assert opened >= 10
