"""Notifications: create notification entries, render templates (sandboxed), send
due entries by email and keep them as sent notification entries.

Sending happens in workers (the ``jobs.notifications.send_notifications`` job), never
in a web request."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.notifications.defaults import all_defaults
from portal.notifications.mail import build_message, send_messages
from portal.notifications.placeholders import add_template_extras, preload_batch
from portal.notifications.models import METHOD_EMAIL, METHOD_NOTE, NotificationEntry, NotificationTemplate, SentNotificationEntry
from portal.notifications.rendering import TemplateRenderError, render
from portal.records.registry import RECORD_TYPES, SLUG_OF
from portal.util import utcnow
from portal.workflow.engine import ResponseError, enqueue_after_commit
from portal.workflow.rendering import record_context

log = logging.getLogger(__name__)
MAX_SEND_ATTEMPTS = 5
SEND_JOB = "jobs.notifications.send_notifications"


def ensure_default_templates(session: Session) -> int:
    """Create the default notification templates (per code and method) that don't
    exist yet. Returns count."""
    existing = {(c, m) for c, m in session.execute(select(NotificationTemplate.code, NotificationTemplate.method))}
    n = 0
    for t in all_defaults():
        if (t["code"], t["method"]) not in existing:
            session.add(NotificationTemplate(**t))
            n += 1
    session.flush()
    return n


def create_notification(
    session: Session,
    recipient_id: int,
    type_: str,
    record_type: str | None = None,
    record_id: int | None = None,
    template_code: str | None = None,
    approval_entry_id: int | None = None,
    sender_id: int | None = None,
    custom_message: str | None = None,
    link: str | None = None,
) -> NotificationEntry:
    """Add a notification entry (sent by the dispatcher after the commit)."""
    if link is None and record_type:
        link = record_link(record_type, record_id)
    entry = NotificationEntry(
        type=type_, recipient_id=recipient_id, sender_id=sender_id, record_type=record_type, record_id=record_id,
        approval_entry_id=approval_entry_id, template_code=template_code, custom_message=custom_message,
        link=link, created_by_id=sender_id,
    )
    session.add(entry)
    enqueue_after_commit(session, SEND_JOB)
    return entry


def record_link(record_type: str, record_id: int | None) -> str:
    """The portal path of a record's card or document page."""
    slug = SLUG_OF.get(record_type)
    return f"/{slug}/{record_id}" if slug else "/"


def _template(session: Session, code: str | None, method: str = METHOD_EMAIL) -> NotificationTemplate:
    tmpl = session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == (code or ""),
                                                             NotificationTemplate.method == method))
    if tmpl is None:
        raise ResponseError(f"Notification template {code!r} does not exist.")
    return tmpl


def render_template_code(session: Session, code: str | None, context: dict, tmpl: NotificationTemplate | None = None) -> tuple[str, str]:
    """Render template ``code`` (or the already loaded ``tmpl``) → ``(subject,
    html_body)``. Raises ResponseError."""
    tmpl = tmpl or _template(session, code)
    try:
        return render(tmpl.subject, context, html=False).strip(), render(tmpl.body, context)
    except TemplateRenderError as exc:
        raise ResponseError(f"Template {code}: {exc}") from exc


def _entry_context(session: Session, n: NotificationEntry, needs: str | None = None) -> dict:
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    record = None
    if n.record_type in RECORD_TYPES and n.record_id is not None:
        record = session.get(RECORD_TYPES[n.record_type].model, n.record_id)
    ctx = record_context(session, n.record_type, record, needs=needs)
    recipient = n.recipient
    ctx["recipient"] = {"full_name": recipient.full_name, "user_name": recipient.user_name, "email": recipient.email}
    ctx["link"] = base + (n.link or "/")
    ctx["requests_link"] = base + "/approvals/requests"
    ctx["message"] = n.custom_message or ""
    entry = session.get(ApprovalEntry, n.approval_entry_id) if n.approval_entry_id else None
    ctx["entry"] = (
        {
            "record_title": entry.record_title,
            "amount": entry.amount,
            "currency_code": entry.currency_code,
            "due_date": entry.due_date.isoformat() if entry.due_date else "",
            "sender": entry.sender.full_name,
            "approver": entry.approver.full_name,
            "status": entry.status,
        }
        if entry
        else {"record_title": ctx["record"].get("title", ""), "amount": 0, "currency_code": "", "due_date": "", "sender": "", "approver": "", "status": ""}
    )
    add_template_extras(session, ctx, n, entry, needs)  # settings link, one-click links, comments
    return ctx


def claim_due(session: Session, limit: int = 100) -> list[int]:
    """Claim up to ``limit`` due notification entries for this worker (a conditional
    UPDATE with a lease; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL): two workers never
    send the same entry; a dead worker's claims are taken over when their lease runs
    out. Commits. Returns the ids."""
    from sqlalchemy import or_

    from portal.workflow.leases import claim_rows

    now = utcnow()
    table = NotificationEntry.__table__

    def claimable(c):
        return (c.c.send_after <= now) & (c.c.attempts < MAX_SEND_ATTEMPTS) & or_(c.c.lease_until.is_(None), c.c.lease_until < now)

    return claim_rows(session, table, claimable, limit, attempts=table.c.attempts + 1)


def send_due(session: Session, limit: int = 100, max_seconds: float | None = None) -> dict[str, int]:
    """Send the notification entries that are due, batch after batch: claim a batch
    (:func:`claim_due`), render it, end the transaction, e-mail the ones whose
    recipient has an address over one SMTP connection (each with the stable
    Message-ID ``<notification-<id>-<created>@…>``), then in one transaction move the sent ones
    to sent notification entries (Notes go straight there) and keep failures with
    their error, retried after a back-off up to ``MAX_SEND_ATTEMPTS`` times.
    ``max_seconds``: after this long the rest goes to a new job (other jobs get their
    turn). Returns ``{"sent": n, "failed": n}``."""
    from portal.workflow.leases import KEEPER, worker_id

    sent = failed = 0
    templates: dict[str, NotificationTemplate] = {}
    started = time.monotonic()
    with KEEPER.holding(session.get_bind(), NotificationEntry.__table__):
        while True:
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                from portal.queue import enqueue_once

                enqueue_once(SEND_JOB)
                break
            ids = claim_due(session, limit)
            if not ids:
                break
            if len(ids) == limit:
                from portal.queue import enqueue_once

                enqueue_once(SEND_JOB)  # a full batch: more may be due, another worker can help
            prepared: list[tuple[int, dict | None, Exception | None]] = []
            batch = list(session.scalars(select(NotificationEntry).where(NotificationEntry.id.in_(ids)).order_by(NotificationEntry.id)).unique())
            addresses, _loaded = preload_batch(session, batch)  # records, approval entries, addresses: a query per kind
            for n in batch:
                try:
                    code = n.template_code or "approval_request"
                    if code not in templates:
                        templates[code] = _template(session, code)
                    tmpl = templates[code]
                    subject, body = render_template_code(session, code, _entry_context(session, n, tmpl.subject + tmpl.body), tmpl)
                    address = addresses[n.recipient_id] if n.recipient_id in addresses else recipient_address(session, n.recipient)
                    prepared.append((n.id, {"subject": subject, "body": body, "address": address,
                                            "key": f"notification-{n.id}-{n.created_at:%Y%m%d%H%M%S%f}",
                                            "method": METHOD_EMAIL if address else METHOD_NOTE}, None))
                except Exception as exc:  # noqa: BLE001 - kept with its error
                    prepared.append((n.id, None, exc))
            session.rollback()  # no transaction stays open while mail goes out
            mails = [(i, p) for i, p, e in prepared if p and p["method"] == METHOD_EMAIL]
            errors = dict(zip([i for i, _ in mails], send_messages(
                [build_message(p["address"], p["subject"], p["body"], p["key"]) for i, p in mails])))
            claimed = {n.id: n for n in session.scalars(select(NotificationEntry).where(NotificationEntry.id.in_(ids))).unique()}
            done: list[dict] = []  # the sent ones: moved with two statements, not an ORM flush per row
            moved: list[int] = []
            for entry_id, p, error in prepared:
                error = error or errors.get(entry_id)
                n = claimed.get(entry_id)
                if n is None or n.claimed_by != worker_id():
                    continue  # taken over meanwhile: the other worker records it
                if error is None:
                    done.append(dict(
                        type=n.type, recipient_id=n.recipient_id, record_type=n.record_type, record_id=n.record_id,
                        approval_entry_id=n.approval_entry_id, method=p["method"], subject=p["subject"], body=p["body"],
                        link=n.link, created_at=n.created_at, sent_at=utcnow(),
                    ))
                    moved.append(entry_id)
                    sent += 1
                else:
                    log.warning("notification %s failed: %s", entry_id, error)
                    n.error = f"{error.__class__.__name__}: {error}"
                    n.send_after = utcnow() + timedelta(seconds=30 * n.attempts)
                    n.lease_until = None
                    failed += 1
            if done:
                session.execute(insert(SentNotificationEntry), done)
                session.execute(delete(NotificationEntry).where(NotificationEntry.id.in_(moved))
                                .execution_options(synchronize_session=False))
            session.commit()
    return {"sent": sent, "failed": failed}


def recipient_address(session: Session, user: User) -> str | None:
    """Where a user's notifications are e-mailed: the e-mail of their Approval User
    Setup when filled in (Business Central's User Setup e-mail), else their own;
    None when neither exists (the notification becomes a Note in the inbox)."""
    from portal.approvals.models import ApprovalUserSetup

    setup_email = session.scalar(select(ApprovalUserSetup.email).where(ApprovalUserSetup.user_id == user.id))
    return (setup_email or "").strip() or user.email or None


def inbox(session: Session, user: User, limit: int = 50) -> list[SentNotificationEntry]:
    """The user's sent notifications, newest first."""
    return list(
        session.scalars(
            select(SentNotificationEntry).where(SentNotificationEntry.recipient_id == user.id).order_by(SentNotificationEntry.id.desc()).limit(limit)
        ).unique()
    )
