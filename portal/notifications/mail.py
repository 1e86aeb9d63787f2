"""Mail for notifications and the Send email response: building a message (HTML with
its CSS inlined by ``css-inline``, a plain-text alternative, a stable Message-ID from
an idempotency key) and sending a batch over one SMTP connection (Flask-Mail's
configured connection). Called in workers, never in a web request, and never while a
database transaction is open.

Building is kept cheap (the notification benchmark sends thousands a second through
it): the stdlib ``email.mime`` classes with a compact policy (header values are
encoded once, up front, as RFC 2047 base64 words and never re-folded; bodies are
base64) and an explicit multipart boundary, instead of Flask-Mail's ``Message``."""
from __future__ import annotations

import email.charset
import html as html_lib
import os
import re
import socket
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formatdate, parseaddr

import css_inline
from flask import current_app

from portal.extensions import mail


class _CompactPolicy(Compat32):
    """``compat32`` with CRLF line ends that writes each header as given: every value
    is ASCII already (see :func:`_header`), so the costly folding is skipped."""

    def fold(self, name, value):
        return f"{name}: {value}{self.linesep}"

    def fold_binary(self, name, value):
        return self.fold(name, value).encode("ascii")


_POLICY = _CompactPolicy(linesep="\r\n")
_UTF8 = email.charset.Charset("utf-8")
_UTF8.header_encoding = email.charset.BASE64
_UTF8.body_encoding = email.charset.BASE64
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def _header(value: str) -> str:
    """A header value as ASCII: unchanged when it is, else one RFC 2047 word; line
    breaks (header injection) become spaces."""
    value = value.replace("\r", " ").replace("\n", " ")
    return value if value.isascii() else _UTF8.header_encode(value)


def _address(value: str) -> str:
    name, addr = parseaddr(value)
    if not name:
        return _header(addr or value)
    return f"{_header(name)} <{addr}>"


def inline_css(html: str) -> str:
    """``html`` with the rules of its ``<style>`` blocks moved into ``style``
    attributes (``css-inline``; mail clients drop ``<style>``). HTML without a
    ``<style>`` block is returned as it is."""
    if "<style" not in html:
        return html
    return _INLINER.inline(html)


_STRIP_BLOCKS = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.S | re.I)
_LINK = re.compile(r"<a\b[^>]*?href=[\"']([^\"']+)[\"'][^>]*>(.*?)</a\s*>", re.S | re.I)
_BREAKS = re.compile(r"<(br|/p|/tr|/li|/h[1-6]|/div|/table)\b[^>]*>", re.I)
_CELL = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n[ \t]*(\n[ \t]*)+")


def html_to_text(html: str) -> str:
    """The plain-text alternative of an HTML mail: paragraphs and rows on their own
    lines, table cells separated by tabs, links as ``text: URL`` (so a text-only reader
    can still follow them), entities decoded."""
    text = _STRIP_BLOCKS.sub("", html)
    text = _LINK.sub(lambda m: f"{_TAG.sub('', m.group(2)).strip()}: {m.group(1)}" if m.group(2).strip() else m.group(1), text)
    text = _BREAKS.sub("\n", text)
    text = _CELL.sub("\t", text)
    text = html_lib.unescape(_TAG.sub("", text))
    lines = [" ".join(line.split()) if "\t" not in line else line.strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"


@dataclass
class OutgoingMail:
    """One message ready for SMTP: envelope sender and recipient and the bytes."""

    sender: str
    to: str
    data: bytes
    message_id: str | None = None


def build_message(to: str, subject: str, html: str, key: str | None = None, text: str | None = None) -> OutgoingMail:
    """An HTML e-mail (CSS inlined, :func:`inline_css`) with a plain-text alternative
    (``text``, default :func:`html_to_text` of ``html``). ``key`` (an idempotency key)
    becomes a stable ``Message-ID`` ``<key@domain>``: a retry of the same mail carries
    the same id, and receivers (the SMTP sink, the Mailbox) keep one message per id.
    Uses ``MAIL_DEFAULT_SENDER``. Needs an app context."""
    sender = str(current_app.config["MAIL_DEFAULT_SENDER"])
    msg = MIMEMultipart("alternative", boundary="=_" + os.urandom(12).hex(), policy=_POLICY)
    msg["From"] = _address(sender)
    msg["To"] = _address(to)
    msg["Subject"] = _header(subject)
    msg["Date"] = formatdate()
    msgid = None
    if key:
        domain = re.search(r"@([A-Za-z0-9.-]+)", sender)
        msgid = f"<{key}@{domain.group(1) if domain else 'workflow-portal'}>"
        msg["Message-ID"] = msgid
    msg.attach(MIMEText(text if text is not None else html_to_text(html), "plain", _UTF8, policy=_POLICY))
    msg.attach(MIMEText(inline_css(html), "html", _UTF8, policy=_POLICY))
    return OutgoingMail(parseaddr(sender)[1] or sender, parseaddr(to)[1] or to, msg.as_bytes(), msgid)


def send_messages(messages: list[OutgoingMail]) -> list[Exception | None]:
    """Send ``messages`` over one SMTP connection (Flask-Mail's configured server,
    TLS and login) with the configured ``MAIL_TIMEOUT`` (seconds). Returns, per
    message, None (sent) or the exception (``OSError``, ``smtplib.SMTPException``);
    a broken connection fails the rest. With ``MAIL_SUPPRESS_SEND`` nothing is sent
    and every message counts as sent."""
    results: list[Exception | None] = []
    if not messages:
        return results
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        with mail.connect() as conn:
            for msg in messages:
                try:
                    if conn.host is not None:
                        conn.host.sendmail(msg.sender, [msg.to], msg.data)
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
