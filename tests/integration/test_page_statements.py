"""A record page asks each question of the database once (issue 12, page speed): the
sales order page of an order with an Open approval entry for the signed-in approver
reads the order's approval entries once (for the request under way, the entry to
decide, who may see the comments and the entries fact box), its events in flight once,
its lines with the order, and the user's roles with the user."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from portal.records.models import SalesHeader
from test_pages import sign_in
from test_query_plans import approver_with_requests  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("clean_state")


def test_the_sales_order_page_reads_each_thing_once(app, approver_with_requests):  # noqa: F811
    from portal.extensions import db

    with app.app_context():
        order = db.session.scalar(select(SalesHeader.id).order_by(SalesHeader.id).limit(1))
        engine = db.engine
    client = app.test_client()
    sign_in(client, approver_with_requests, "northwind")
    url = f"/sales-orders/{order}"
    assert client.get(url).status_code == 200
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200 and "Approve" in page.get_data(as_text=True)
    selects = [s for s in statements if s.upper().startswith("SELECT")]
    entries = [s for s in selects if "FROM approval_entry" in s and "count(" not in s]
    assert len(entries) == 1, entries  # the header's Requests to Approve count aside
    assert sum("FROM user_role" in s for s in selects) == 0, "roles come with the signed-in user"
    assert sum("FROM sales_line" in s for s in selects) == 0, "the lines come with the order"
    in_flight = [s for s in selects if "FROM outbox_event" in s and "outbox_event.status IN" in s]
    assert len(in_flight) == 1, in_flight
    assert len(selects) <= 15, "\n".join(selects)  # 14 for this Open order
