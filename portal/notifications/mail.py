"""Mail for notifications and the Send email response: building a message (HTML with
a plain-text alternative, a stable Message-ID from an idempotency key) and sending a
batch over one SMTP connection. Called in workers, never in a web request, and never
while a database transaction is open."""
from __future__ import annotations

import html as html_lib
import re
import socket

from flask import current_app
from flask_mail import Message

from portal.extensions import mail


def build_message(to: str, subject: str, html: str, key: str | None = None) -> Message:
    """An HTML e-mail with a plain-text alternative. ``key`` (an idempotency key)
    becomes a stable ``Message-ID`` ``<key@domain>``: a retry of the same mail carries
    the same id, and receivers (the SMTP sink, the Mailbox) keep one message per id."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<(br|/p|/tr)\s*/?>", "\n", html))).strip()
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    msg = Message(subject=subject, recipients=[to], html=html, body=text, sender=sender)
    if key:
        domain = re.search(r"@([A-Za-z0-9.-]+)", str(sender))
        msg.msgId = f"<{key}@{domain.group(1) if domain else 'workflow-portal'}>"
    return msg


def send_messages(messages: list[Message]) -> list[Exception | None]:
    """Send ``messages`` over one SMTP connection (Flask-Mail) with the configured
    ``MAIL_TIMEOUT`` (seconds). Returns, per message, None (sent) or the exception
    (``OSError``, ``smtplib.SMTPException``); a broken connection fails the rest."""
    results: list[Exception | None] = []
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        with mail.connect() as conn:
            for msg in messages:
                try:
                    conn.send(msg)
                    results.append(None)
                except Exception as exc:  # noqa: BLE001 - reported per message
                    if exc.__class__.__name__ == "JobTimeoutException":
                        raise
                    results.append(exc)
    except Exception as exc:  # noqa: BLE001 - connecting or closing failed
        if exc.__class__.__name__ == "JobTimeoutException":
            raise
        results += [exc] * (len(messages) - len(results))  # (closing alone failing changes nothing sent)
    finally:
        socket.setdefaulttimeout(previous)
    return results


def send_mail(to: str, subject: str, html: str, key: str | None = None) -> None:
    """Send one e-mail (see :func:`build_message`). Raises ``OSError`` /
    ``smtplib.SMTPException`` on failure."""
    error = send_messages([build_message(to, subject, html, key)])[0]
    if error is not None:
        raise error


def is_permanent_smtp_error(exc: Exception) -> bool:
    """True when retrying can't help: the server refused the recipients or answered
    a 5xx code. Timeouts, connection errors and 4xx answers may be temporary."""
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def perform_emails(items: list[dict]) -> list:
    """Effect performer for e-mails (``payload`` = ``{"to", "subject", "html"}``): all
    of a batch over one SMTP connection, each with the Message-ID of its effect key.
    Returns one :class:`portal.workflow.effects.Outcome` per item."""
    from portal.workflow.effects import Outcome

    messages = [build_message(i["payload"]["to"], i["payload"]["subject"], i["payload"]["html"], i["key"]) for i in items]
    out = []
    for item, error in zip(items, send_messages(messages)):
        p = item["payload"]
        if error is None:
            out.append(Outcome("done", f"Email “{p['subject']}” sent to {p['to']}"))
        else:
            status = "failed" if is_permanent_smtp_error(error) else "retry"
            out.append(Outcome(status, f"Email to {p['to']}: {error.__class__.__name__}: {error}"))
    return out
