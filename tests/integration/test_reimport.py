"""Running the Northwind import again (``flask import-northwind``, which ``flask up``
runs on every start, and :func:`portal.cli.setup_demo`) after users worked through the
pages: their edits survive, a Released order stays Released, a posted order does not
come back as an open order, a deleted customer stays deleted, an edited demo workflow
and notification template stay as edited; the report says "0 new, N already there".
A fresh import into an empty database reports everything new.

These tests edit, post and delete Northwind records, so they run on a database of
their own (a SQLite file; a scratch PostgreSQL database when ``DATABASE_URL`` names
PostgreSQL) with their own RQ queue, not on the session's shared one."""
from __future__ import annotations

import os
import re
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from portal.extensions import db
from portal.importers.models import ImportLogEntry
from portal.notifications.models import NotificationTemplate
from portal.records.models import Customer, Item, PostedDocument, SalesHeader
from portal.workflow.models import Workflow
from test_pages import csrf, sign_in

TOTAL_ROWS = 3206  # Northwind rows: 8 + 6 + 29 + 91 + 9 employees + 77 + 830 + 2155, + the admin user


@pytest.fixture(scope="module")
def scratch(services, tmp_path_factory):
    """A portal app on an empty, migrated database of its own (see the module docstring)."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.queue import get_queues

    url = os.environ.get("DATABASE_URL", "")
    admin_engine = scratch_name = None
    if url.startswith("postgres"):
        pg = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url)
        scratch_name = f"portal_reimport_{uuid.uuid4().hex[:8]}"
        admin_engine = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{scratch_name}"'))
        database_uri = pg.set(database=scratch_name).render_as_string(hide_password=False)
    else:
        database_uri = f"sqlite:///{tmp_path_factory.mktemp('reimport') / 'portal.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_uri, "RQ_QUEUE": f"reimport-{uuid.uuid4().hex[:8]}"})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        for queue in get_queues():
            queue.delete(delete_jobs=True)
        db.session.remove()
        db.engine.dispose()
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="module")
def imported(scratch):
    """The scratch portal with the Northwind demo imported: ``setup_demo`` adds only
    what is missing, so after the fresh-import test this changes nothing, and a test
    picked alone (``-k``) still finds the demo data."""
    from portal.cli import setup_demo

    with scratch.app_context():
        setup_demo()
        db.session.remove()
    return scratch


def part(lines: list[str], name: str) -> str:
    """The counts on the report line of ``name`` ("0 new, 91 already there")."""
    for line in lines:
        if line.startswith(name + " "):
            return line[len(name):].strip()
    raise AssertionError(f"no report line for {name}: {lines}")


def record_id(app, model, **where) -> int | None:
    with app.app_context():
        return db.session.scalar(select(model.id).filter_by(**where))


def post_form(client, path: str, **data):
    page = client.get(path.rsplit("/", 1)[0] if path.endswith(("/release", "/post", "/delete")) else path)
    return client.post(path, data={**data, "csrf_token": csrf(page.get_data(as_text=True))})


def test_a_fresh_import_reports_everything_new(scratch):
    from portal.cli import setup_demo

    with scratch.app_context():
        lines = setup_demo()
        db.session.remove()
    assert part(lines, "customers.csv") == "91 new, 0 already there"
    assert part(lines, "order_details.csv") == "2155 new, 0 already there"
    assert part(lines, "demo workflows") == "3 new, 0 already there"
    assert re.fullmatch(r"\d+ new, 0 already there", part(lines, "notification templates"))
    assert re.fullmatch(rf"{TOTAL_ROWS + 3 + int(part(lines, 'notification templates').split()[0])} new, 0 already there",
                        part(lines, "total"))
    assert "No errors." in lines
    assert any(line.startswith("number series created: S-QUO, S-ORD") for line in lines)


def test_edits_through_the_pages_survive_the_import(imported):
    from portal.cli import setup_demo
    from portal.importers.northwind import import_northwind

    app = imported
    with app.app_context():
        # an admin's edits to the demo content: a workflow disabled, a template reworded
        db.session.scalar(select(Workflow).where(Workflow.code == "SO-APPROVAL")).enabled = False
        db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "approval_request")).subject = "Please approve {{ entry.record_title }}"
        db.session.delete(db.session.scalar(select(Workflow).where(Workflow.code == "CUST-STATEMENT")))
        db.session.commit()
        db.session.remove()

    client = app.test_client()
    sign_in(client, "afuller", "northwind")
    alfki = record_id(app, Customer, no="ALFKI")
    res = post_form(client, f"/customers/{alfki}/edit", name="Alfreds Futterkiste (edited)")
    assert res.status_code == 302
    item = record_id(app, Item, no="I0011")
    assert post_form(client, f"/items/{item}/edit", unit_price="25.50").status_code == 302
    released = record_id(app, SalesHeader, document_type="Order", no="10250")
    assert post_form(client, f"/sales-orders/{released}/release").status_code == 302
    to_post = record_id(app, SalesHeader, document_type="Order", no="10251")
    res = post_form(client, f"/sales-orders/{to_post}/post")
    assert res.status_code == 302 and "/posted-sales-invoices/" in res.headers["Location"]
    paris = record_id(app, Customer, no="PARIS")
    res = post_form(client, f"/customers/{paris}/delete")
    assert res.status_code == 302 and res.headers["Location"].endswith("/customers")

    def check():
        with app.app_context():
            s = db.session
            assert s.scalar(select(Customer.name).where(Customer.no == "ALFKI")) == "Alfreds Futterkiste (edited)"
            assert str(s.scalar(select(Item.unit_price).where(Item.no == "I0011"))) == "25.50"
            assert s.get(SalesHeader, released).status == "Released"
            assert s.scalar(select(SalesHeader.id).where(SalesHeader.no == "10251")) is None
            assert s.scalar(select(PostedDocument.no).where(PostedDocument.order_no == "10251")).startswith("PSI")
            assert s.scalar(select(Customer.id).where(Customer.no == "PARIS")) is None
            assert s.scalar(select(Workflow.enabled).where(Workflow.code == "SO-APPROVAL")) is False
            assert s.scalar(select(Workflow.id).where(Workflow.code == "CUST-STATEMENT")) is None
            assert s.scalar(select(NotificationTemplate.subject).where(NotificationTemplate.code == "approval_request")) == "Please approve {{ entry.record_title }}"
            assert s.scalar(select(func.count()).select_from(ImportLogEntry)) == TOTAL_ROWS + 3
            s.remove()

    check()
    # the CLI command (what `flask up` runs on every start)
    result = app.test_cli_runner().invoke(args=["import-northwind"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert part(lines, "customers.csv") == "0 new, 91 already there"
    assert part(lines, "orders.csv") == "0 new, 830 already there"
    assert part(lines, "order_details.csv") == "0 new, 2155 already there"
    assert part(lines, "demo workflows") == "0 new, 3 already there"
    assert re.fullmatch(r"0 new, \d+ already there", part(lines, "total"))
    assert "No errors." in lines
    assert "number series created: none (already there)" in lines
    check()

    # the function, twice over
    with app.app_context():
        report = import_northwind(app.config["NORTHWIND_DIR"], db.session)
        db.session.commit()
        db.session.remove()
    assert report.ok and str(report.total) == f"0 new, {TOTAL_ROWS} already there"
    with app.app_context():
        lines = setup_demo()
        db.session.remove()
    assert part(lines, "total").startswith("0 new, ")
    check()


def test_a_deleted_default_notification_template_comes_back(imported):
    """Default notification templates are system set-up the workflows render with:
    created whenever missing (the demo workflows, by contrast, are created once)."""
    from portal.cli import setup_demo

    with imported.app_context():
        # an edited default (as the pages test leaves it) stays as edited while a missing one comes back
        db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "approval_request")).subject = "Please approve {{ entry.record_title }}"
        db.session.delete(db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == "workflow_failed")))
        db.session.commit()
        lines = setup_demo()
        assert db.session.scalar(select(NotificationTemplate.id).where(NotificationTemplate.code == "workflow_failed"))
        assert db.session.scalar(select(NotificationTemplate.subject).where(NotificationTemplate.code == "approval_request")) == "Please approve {{ entry.record_title }}"
        db.session.remove()
    assert part(lines, "notification templates").startswith("1 new, ")
    assert part(lines, "demo workflows") == "0 new, 3 already there"
