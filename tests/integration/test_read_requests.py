"""Read-only requests end with COMMIT on PostgreSQL, so psycopg keeps its prepared
statements (it forgets them at every ROLLBACK); a request that wrote anything is rolled
back as before, and so is one that failed."""
from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import event, select, update

from portal.db_events import _end_read_only_request, reads_only
from portal.extensions import db
from portal.records.models import Customer
from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.mark.parametrize("statement, expected", [
    ("SELECT customer.id FROM customer", True),
    ("  select 1", True),
    ("WITH found AS (SELECT id FROM customer) SELECT id FROM found", True),
    ("WITH gone AS (DELETE FROM customer RETURNING id) SELECT id FROM gone", False),
    ("UPDATE customer SET name = 'x'", False),
    ("INSERT INTO customer (no) VALUES ('x')", False),
    ("DELETE FROM customer", False),
    ("SHOW server_version", True),
])
def test_what_counts_as_only_reading(statement, expected):
    assert reads_only(statement) is expected


def ended(app, method: str, work, ok: bool = True) -> tuple[bool, bool]:
    """Run ``work(session)`` in a request of ``method`` and end it as the portal does
    (the hook, then the session's removal). Returns (committed, rolled back)."""
    seen = {"commit": False, "rollback": False}
    with app.test_request_context("/customers", method=method):
        engine = db.engine

        def on_commit(_conn):
            seen["commit"] = True

        def on_rollback(_conn):
            seen["rollback"] = True

        event.listen(engine, "commit", on_commit)
        event.listen(engine, "rollback", on_rollback)
        try:
            g._read_request_ok = ok
            work(db.session)
            _end_read_only_request(None)
            db.session.remove()
        finally:
            event.remove(engine, "commit", on_commit)
            event.remove(engine, "rollback", on_rollback)
    return seen["commit"], seen["rollback"]


def test_a_read_only_get_commits_and_a_get_that_wrote_rolls_back(app):
    with app.app_context():
        first = db.session.scalar(select(Customer).order_by(Customer.id).limit(1))
        name = first.name
        db.session.remove()
        assert ended(app, "GET", lambda s: s.scalars(select(Customer.id)).all()) == (True, False)
        # an UPDATE (not committed by the view): rolled back, nothing kept
        committed, rolled_back = ended(app, "GET", lambda s: s.execute(update(Customer).where(Customer.id == first.id).values(name="Changed in a GET")))
        assert (committed, rolled_back) == (False, True)
        assert db.session.get(Customer, first.id).name == name
        db.session.remove()

        def pending(s):
            s.get(Customer, first.id).name = "Pending in a GET"

        assert ended(app, "GET", pending) == (False, True)
        assert ended(app, "POST", lambda s: s.scalars(select(Customer.id)).all()) == (False, True)
        assert ended(app, "GET", lambda s: s.scalars(select(Customer.id)).all(), ok=False) == (False, True)
        assert db.session.get(Customer, first.id).name == name


def test_pages_keep_their_prepared_statements_on_postgresql(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0] != "postgresql":
        pytest.skip("prepared statements are psycopg's (PostgreSQL)")
    c = app.test_client()
    sign_in(c, "msuyama", "northwind")
    kept = []

    def on_commit(conn):
        kept.append(len(conn.connection.driver_connection._prepared._names))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "commit", on_commit)
    try:
        for _ in range(8):  # psycopg prepares a statement at its sixth run on a connection (the pool hands out the last used one)
            assert c.get("/customers").status_code == 200
    finally:
        event.remove(engine, "commit", on_commit)
    assert len(kept) == 8 and max(kept) > 0
