"""Query plans of the pages that must stay fast at scale (issue 12, "Page speed at
scale"): every SELECT the customers and sales orders lists (first page, search,
sort), a sales order, a customer card, Requests to Approve, the home page's cues and
Tell me run — with the header's counts — is captured as the page runs it and EXPLAINed; a full scan of a large table
(customer, sales_header, sales_line, approval_entry) fails the test.

- SQLite: ``EXPLAIN QUERY PLAN``; ``SCAN <table>`` without an index is a full scan
  (``SCAN <table> USING INDEX`` walks an index in the list's order and stops at the
  page's LIMIT). Searches of 3 characters or more go through the FTS5 trigram tables.
- PostgreSQL: ``EXPLAIN (FORMAT JSON)`` with ``enable_seqscan = off`` (and, for a
  search, ``enable_indexscan = off``: the rows must come from an index lookup — the
  trigram indexes — not from an index walked in the list's order and filtered): a
  ``Seq Scan`` that remains means no index can serve the query (the test tables are
  small, so the planner would otherwise scan them)."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import delete, event, func, insert, select

from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.records.models import Customer, SalesHeader
from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

LARGE = ("customer", "sales_header", "sales_line", "approval_entry")
SQLITE_FULL_SCAN = re.compile(rf"^SCAN ({'|'.join(LARGE)})(?: AS \w+)?$")


def captured_selects(app, client, urls: list[str]) -> list[tuple[str, object, str]]:
    """``(statement, parameters, url)`` of each SELECT run while getting ``urls``."""
    from portal.extensions import db

    seen: list[tuple[str, object, str]] = []
    current = {"url": ""}

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            seen.append((statement, parameters, current["url"]))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        for url in urls:
            current["url"] = url
            res = client.get(url)
            assert res.status_code == 200, f"{url}: HTTP {res.status_code}"
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


def full_scans(app, selects) -> list[str]:
    """The full scans of large tables in the plans of ``selects``, as
    ``"url: table — statement"``."""
    from portal.extensions import db

    found = []
    with app.app_context(), db.engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, params, url in selects:
            if postgres:
                # a search must be answered by an index lookup, not an index walked in
                # the list's order and filtered (which the planner may prefer on the
                # small test tables)
                conn.exec_driver_sql(f"SET enable_indexscan = {'off' if '?q=' in url else 'on'}")
                plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar()
                tables = [n["Relation Name"] for n in _nodes(plan[0]["Plan"])
                          if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in LARGE]
            else:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
                tables = [m.group(1) for m in (SQLITE_FULL_SCAN.match(row[-1]) for row in rows) if m]
            found += [f"{url}: {t} — {' '.join(statement.split())[:300]}" for t in tables]
        conn.rollback()
    return found


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture
def approver_with_requests(app):
    """Three Open approval entries (sales orders) for Nancy Davolio; removed after."""
    from portal.extensions import db

    with app.app_context():
        user = db.session.scalar(select(User).where(func.lower(User.user_name) == "ndavolio"))
        sender = db.session.scalar(select(User).where(func.lower(User.user_name) == "msuyama"))
        docs = db.session.execute(select(SalesHeader.id, SalesHeader.no).order_by(SalesHeader.id).limit(3)).all()
        ids = db.session.scalars(insert(ApprovalEntry).returning(ApprovalEntry.id), [
            dict(record_type="sales_header", record_id=d.id, document_type="Order", document_no=d.no,
                 record_title=f"Sales Order {d.no}", sender_id=sender.id, approver_id=user.id, status="Open",
                 due_date=date(2026, 1, 1)) for d in docs]).all()
        db.session.commit()
    yield "ndavolio"
    with app.app_context():
        db.session.execute(delete(ApprovalEntry).where(ApprovalEntry.id.in_(ids)))
        db.session.commit()


@pytest.fixture
def many_records(app):
    """20,000 more customers and as many sales orders (PostgreSQL: analyzed), so the
    planner plans for tables of some size; removed after."""
    from portal.extensions import db
    from portal.records.models import natural_sort_key

    n = 20_000
    with app.app_context():
        db.session.execute(insert(Customer), [dict(no=f"QP{i:06d}", name=f"Plan Customer {i}", city="Springfield",
                                                    country="USA", contact=f"Contact {i}") for i in range(n)])
        first = db.session.scalar(select(func.min(Customer.id)).where(Customer.no.like("QP%")))
        db.session.execute(insert(SalesHeader), [dict(document_type="Order", no=f"QP{i}", no_sort=natural_sort_key(f"QP{i}"),
                                                      status="Open", customer_id=first + i, salesperson_code="QP")
                                                 for i in range(n)])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE customer, sales_header")
    yield
    with app.app_context():
        db.session.execute(delete(SalesHeader).where(SalesHeader.salesperson_code == "QP"))
        db.session.execute(delete(Customer).where(Customer.no.like("QP%")))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE customer, sales_header")


def test_list_search_and_sort_queries_use_indexes(app, many_records, approver_with_requests):
    from portal.extensions import db

    with app.app_context():
        order = db.session.scalar(select(SalesHeader.id).where(SalesHeader.no == "10249"))
        customer = db.session.scalar(select(Customer.id).where(Customer.no == "ALFKI"))
    client = app.test_client()
    sign_in(client, approver_with_requests, "northwind")
    urls = [
        "/customers", "/customers?q=futter", "/customers?sort=-name", "/customers?page=2",
        "/sales-orders", "/sales-orders?q=futter", "/sales-orders?q=10249", "/sales-orders?sort=-amount",
        "/sales-orders?sort=no", "/approvals/requests", f"/sales-orders/{order}", f"/customers/{customer}",
        # the role center's cues and the lists they open, and Tell me's record search
        "/", "/sales-orders?status=Open&mine=1", "/approvals/requests?overdue=1", "/approvals/requests?delegated=1",
        "/search?q=futter", "/search?q=10249",
    ]
    selects = captured_selects(app, client, urls)
    assert any("customer" in s for s, _, _ in selects) and any("approval_entry" in s for s, _, _ in selects)
    assert full_scans(app, selects) == []


def test_a_full_scan_is_caught(app):
    """The check itself: a search on a column without a search index is a full scan."""
    from portal.extensions import db

    with app.app_context():
        stmt = select(Customer.id).where(Customer.phone.like("%030%"))
        compiled = stmt.compile(db.engine)
        params = compiled.params if db.engine.dialect.name == "postgresql" else tuple(compiled.params.values())
        found = full_scans(app, [(str(compiled), params, "/check")])
    assert found and "customer" in found[0]

