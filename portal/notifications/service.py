"""Notifications: create notification entries, render templates (sandboxed), send
due entries by email and keep them as sent notification entries.

Sending happens in workers (the ``jobs.notifications.send_notifications`` job), never
in a web request."""
from __future__ import annotations

import html as html_lib
import logging
import re
import socket
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.extensions import mail
from portal.notifications.defaults import DEFAULT_TEMPLATES
from portal.notifications.models import METHOD_EMAIL, METHOD_NOTE, NotificationEntry, NotificationTemplate, SentNotificationEntry
from portal.notifications.rendering import TemplateRenderError, render
from portal.records.registry import RECORD_TYPES, SLUG_OF
from portal.util import utcnow
from portal.workflow.engine import ResponseError, enqueue_after_commit
from portal.workflow.rendering import record_context

log = logging.getLogger(__name__)
MAX_SEND_ATTEMPTS = 5


def ensure_default_templates(session: Session) -> int:
    """Create the default notification templates that don't exist yet. Returns count."""
    existing = set(session.scalars(select(NotificationTemplate.code)))
    n = 0
    for t in DEFAULT_TEMPLATES:
        if t["code"] not in existing:
            session.add(NotificationTemplate(method=METHOD_EMAIL, **t))
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
    enqueue_after_commit(session, "jobs.notifications.send_notifications")
    return entry


def record_link(record_type: str, record_id: int | None) -> str:
    """The portal path of a record's card or document page."""
    slug = SLUG_OF.get(record_type)
    return f"/{slug}/{record_id}" if slug else "/"


def _template(session: Session, code: str | None) -> NotificationTemplate:
    tmpl = session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == (code or "")))
    if tmpl is None:
        raise ResponseError(f"Notification template {code!r} does not exist.")
    return tmpl


def render_template_code(session: Session, code: str | None, context: dict) -> tuple[str, str]:
    """Render template ``code`` → ``(subject, html_body)``. Raises ResponseError."""
    tmpl = _template(session, code)
    try:
        return render(tmpl.subject, context, html=False).strip(), render(tmpl.body, context)
    except TemplateRenderError as exc:
        raise ResponseError(f"Template {code}: {exc}") from exc


def send_mail(to: str, subject: str, html: str) -> None:
    """Send one email through SMTP (Flask-Mail) with the configured timeout (seconds).
    Raises ``OSError`` / ``smtplib.SMTPException`` on failure."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<(br|/p|/tr)\s*/?>", "\n", html))).strip()
    msg = Message(subject=subject, recipients=[to], html=html, body=text, sender=current_app.config["MAIL_DEFAULT_SENDER"])
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        mail.send(msg)
    finally:
        socket.setdefaulttimeout(previous)


def _entry_context(session: Session, n: NotificationEntry) -> dict:
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    record = None
    if n.record_type in RECORD_TYPES and n.record_id is not None:
        record = session.get(RECORD_TYPES[n.record_type].model, n.record_id)
    ctx = record_context(session, n.record_type, record)
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
    return ctx


def send_due(session: Session, limit: int = 500) -> dict[str, int]:
    """Send notification entries whose ``send_after`` has passed: by email when the
    recipient has an address, else as a Note in the portal inbox. Sent entries move to
    sent notification entries; failures stay with the error and are retried up to
    ``MAX_SEND_ATTEMPTS`` times. Returns ``{"sent": n, "failed": n}``."""
    due = session.scalars(
        select(NotificationEntry)
        .where(NotificationEntry.send_after <= utcnow(), NotificationEntry.attempts < MAX_SEND_ATTEMPTS)
        .order_by(NotificationEntry.id)
        .limit(limit)
    ).unique().all()
    sent = failed = 0
    for n in due:
        try:
            subject, body = render_template_code(session, n.template_code or "approval_request", _entry_context(session, n))
            address = recipient_address(session, n.recipient)
            method = METHOD_EMAIL if address else METHOD_NOTE
            if method == METHOD_EMAIL:
                send_mail(address, subject, body)
            session.add(SentNotificationEntry(
                type=n.type, recipient_id=n.recipient_id, record_type=n.record_type, record_id=n.record_id,
                approval_entry_id=n.approval_entry_id, method=method, subject=subject, body=body, link=n.link,
                created_at=n.created_at,
            ))
            session.delete(n)
            session.commit()
            sent += 1
        except Exception as exc:  # noqa: BLE001 - kept with its error, retried later
            if exc.__class__.__name__ == "JobTimeoutException":
                raise  # the job ran out of time: let RQ and the job queue record it as failed
            session.rollback()
            log.warning("notification %s failed: %s", n.id, exc)
            n.attempts += 1
            n.error = f"{exc.__class__.__name__}: {exc}"
            n.send_after = utcnow() + timedelta(seconds=30 * n.attempts)
            session.commit()
            failed += 1
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
