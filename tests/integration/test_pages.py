"""Pages through the Flask test client: sign-in, permissions, CSRF, list search and
sort (full page and htmx fragment), card and document pages, edit with field errors,
Run flow pane, approval actions, mailbox."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.records.models import Customer, SalesHeader

pytestmark = pytest.mark.usefixtures("clean_state")


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client, user, password):
    page = client.get("/sign-in").get_data(as_text=True)
    return client.post("/sign-in", data={"user_name": user, "password": password, "csrf_token": csrf(page)}, follow_redirects=True)


@pytest.fixture
def client(app):
    return app.test_client()


def record_id(app, model, no) -> int:
    from portal.extensions import db

    with app.app_context():
        return db.session.scalar(select(model.id).where(model.no == no))


def test_anonymous_users_are_sent_to_sign_in(client):
    res = client.get("/customers")
    assert res.status_code == 302 and "/sign-in" in res.headers["Location"]


def test_wrong_password_is_refused_with_a_message(client):
    res = sign_in(client, "msuyama", "wrong")
    assert "The user name or password is incorrect." in res.get_data(as_text=True)


def test_forms_without_csrf_token_are_rejected(client):
    sign_in(client, "msuyama", "northwind")
    doc_id = record_id(client.application, SalesHeader, "10249")
    res = client.post(f"/approvals/send/sales_header/{doc_id}")
    assert res.status_code == 400


def test_list_search_sort_and_htmx_fragment(client):
    sign_in(client, "msuyama", "northwind")
    full = client.get("/customers?q=berlin")
    html = full.get_data(as_text=True)
    assert "Alfreds Futterkiste" in html and "<html" in html and "Automate" in html
    assert "Vary" in full.headers and "HX-Request" in full.headers["Vary"]
    frag = client.get("/customers?q=futter", headers={"HX-Request": "true", "HX-Target": "list-results"})
    text = frag.get_data(as_text=True)
    assert "<html" not in text and "Alfreds Futterkiste" in text and "Around the Horn" not in text
    by_name_desc = client.get("/customers?sort=-name", headers={"HX-Request": "true", "HX-Target": "list-results"}).get_data(as_text=True)
    assert by_name_desc.index("Wolski") < by_name_desc.index("Wilman Kala")
    page2 = client.get("/customers?page=2").get_data(as_text=True)
    assert "Page 2 of 4" in page2
    orders = client.get("/sales-orders?q=10249").get_data(as_text=True)
    assert "Toms Spezialitäten" in orders and "1,863.40" in orders


def test_card_and_document_pages(client):
    home = sign_in(client, "msuyama", "northwind").get_data(as_text=True)
    client.post("/flows/get-started", data={"csrf_token": csrf(home)})  # the automation notice (once per user)
    alfki = record_id(client.application, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Obere Str. 57" in card and "Email the customer a statement of open orders" in card and "Manage flows" in card
    doc = record_id(client.application, SalesHeader, "10249")
    page = client.get(f"/sales-orders/{doc}").get_data(as_text=True)
    assert "Send Approval Request" in page and "Approvals" in page and "Manjimup Dried Apples" in page and "1,863.40" in page
    assert client.get("/items").status_code == 200 and client.get("/vendors").status_code == 200
    assert client.get("/customers/999999").status_code == 404


def test_edit_rerenders_with_field_errors_and_keeps_input(client):
    sign_in(client, "msuyama", "northwind")
    alfki = record_id(client.application, Customer, "ALFKI")
    page = client.get(f"/customers/{alfki}/edit").get_data(as_text=True)
    res = client.post(f"/customers/{alfki}/edit", data={"csrf_token": csrf(page), "name": "Alfreds Futterkiste", "credit_limit": "lots", "city": "Hamburg"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "is not a valid number" in html and 'value="Hamburg"' in html and 'value="lots"' in html
    from portal.extensions import db

    with client.application.app_context():
        assert db.session.get(Customer, alfki).city == "Berlin"


def test_run_flow_pane_validates_and_queues(client):
    sign_in(client, "msuyama", "northwind")
    alfki = record_id(client.application, Customer, "ALFKI")
    card = client.get(f"/customers/{alfki}").get_data(as_text=True)
    token = csrf(card)
    pane = client.get(f"/flows/CUST-STATEMENT/run?ids={alfki}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Run flow" in pane and "Continue" in pane and "Alfreds Futterkiste" in pane
    empty = client.get("/flows/CUST-STATEMENT/run", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Select at least one" in empty
    too_long = client.post("/flows/CUST-STATEMENT/run", data={"ids": alfki, "message": "x" * 2001}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert too_long.status_code == 422 and "too long" in too_long.get_data(as_text=True)
    ok = client.post("/flows/CUST-STATEMENT/run", data={"ids": alfki, "message": "Hello"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert ok.status_code == 200 and "Waiting for a worker" in ok.get_data(as_text=True)


def test_send_approval_request_from_the_page(client):
    sign_in(client, "msuyama", "northwind")
    doc = record_id(client.application, SalesHeader, "10249")
    page = client.get(f"/sales-orders/{doc}").get_data(as_text=True)
    res = client.post(f"/approvals/send/sales_header/{doc}", data={"csrf_token": csrf(page)}, follow_redirects=True)
    html = res.get_data(as_text=True)
    assert "is being sent" in html and "Processing" in html
    again = client.post(f"/approvals/send/sales_header/{doc}", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "is already being sent" in again.get_data(as_text=True)


def test_mailbox_is_for_admins_only(client):
    sign_in(client, "msuyama", "northwind")
    assert client.get("/mailbox").status_code == 403
    client2 = client.application.test_client()
    sign_in(client2, "admin", "admin")
    assert client2.get("/mailbox").status_code == 200


def test_send_and_cancel_from_the_sales_orders_list_with_the_factbox(client, app, run_jobs):
    sign_in(client, "msuyama", "northwind")
    doc = record_id(app, SalesHeader, "10249")
    page = client.get("/sales-orders?q=10249").get_data(as_text=True)
    assert 'form="list-selection"' in page and "Select a row to see its approval entries." in page
    res = client.post("/approvals/send/sales_header", data={"csrf_token": csrf(page), "ids": [doc], "q": "10249"}, follow_redirects=True)
    assert "An approval request for Sales Order 10249 is being sent." in res.get_data(as_text=True)
    run_jobs()
    box = client.get(f"/approvals/factbox/sales_header/{doc}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Sales Order 10249" in box and "Steven Buchanan" in box and "Open" in box
    res = client.post("/approvals/cancel/sales_header", data={"csrf_token": csrf(page), "ids": [doc]}, follow_redirects=True)
    assert "is being canceled" in res.get_data(as_text=True)
    nothing = client.post("/approvals/send/sales_header", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Select at least one record." in nothing.get_data(as_text=True)
