"""Mail for notifications and the Send email response: building a message (HTML with
its CSS inlined by ``css-inline``, a plain-text alternative, a stable Message-ID from
an idempotency key) and sending a batch over one SMTP connection (Flask-Mail's
configured connection). Called in workers, never in a web request, and never while a
database transaction is open.

Building is kept cheap (the notification benchmark sends hundreds a second through
it): :func:`build_message` writes the one fixed layout with the stdlib's encoders
instead of Flask-Mail's ``Message`` or the ``email`` package's generator."""
from __future__ import annotations

import binascii
import html as html_lib
import os
import re
import smtplib
import socket
from dataclasses import dataclass
from functools import lru_cache
from email.utils import formatdate, parseaddr

import css_inline
from flask import current_app

from portal.extensions import mail


_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def _header(value: str) -> str:
    """A header value as ASCII: unchanged when it is, else RFC 2047 base64 words of
    at most 45 bytes of UTF-8 each (75 characters; a character's bytes are never
    split), one per folded line; line breaks (header injection) become spaces."""
    value = value.replace("\r", " ").replace("\n", " ")
    if value.isascii():
        return value
    data = value.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = min(start + 45, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: inside a character
            end -= 1
        words.append(f"=?utf-8?b?{binascii.b2a_base64(data[start:end], newline=False).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)


@lru_cache(maxsize=4096)
def _address(value: str) -> str:
    """A From/To header value: the display name encoded when it isn't ASCII."""
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


class BadAddress(ValueError):
    """A recipient address that can't be mailed to (no ``@``, line breaks)."""


def build_messages(specs: list[tuple]) -> tuple[list[tuple[int, "OutgoingMail"]], dict[int, Exception]]:
    """Build the messages ``specs`` (``(to, subject, html, key)`` each). Returns
    ``([(index, message)], {index: error})``: one bad address fails its own message,
    never the batch."""
    built, errors = [], {}
    for index, (to, subject, html, key) in enumerate(specs):
        try:
            built.append((index, build_message(to, subject, html, key)))
        except BadAddress as exc:
            errors[index] = exc
    return built, errors


def build_message(to: str, subject: str, html: str, key: str | None = None, text: str | None = None) -> OutgoingMail:
    """An HTML e-mail (CSS inlined, :func:`inline_css`) with a plain-text alternative
    (``text``, default :func:`html_to_text` of ``html``): ``multipart/alternative``
    with two UTF-8 base64 parts. ``key`` (an idempotency key) becomes a stable
    ``Message-ID`` ``<key@domain>``: a retry of the same mail carries the same id, and
    receivers (the SMTP sink, the Mailbox) keep one message per id. Uses
    ``MAIL_DEFAULT_SENDER``. Needs an app context.

    The message is written with the stdlib's ``binascii`` base64 encoder (the bodies,
    and RFC 2047 words for non-ASCII headers, :func:`_header`) into the one
    fixed layout, without the ``email`` package's generic generator, which costs about
    ten times as much per message."""
    if not to or "\r" in to or "\n" in to or not _deliverable(to):
        raise BadAddress(f"“{to}” is not an e-mail address that mail can be sent to.")
    sender = str(current_app.config["MAIL_DEFAULT_SENDER"])
    boundary = "=_" + os.urandom(12).hex()
    headers = [f"From: {_address(sender)}", f"To: {_address(to)}", f"Subject: {_header(subject)}", f"Date: {formatdate()}"]
    msgid = None
    if key:
        msgid = f"<{_header(key).replace(' ', '')}@{_domain(sender)}>"
        headers.append(f"Message-ID: {msgid}")
    plain = text if text is not None else html_to_text(html)
    data = "\r\n".join([
        *headers, "MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', "",
        f"--{boundary}", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
        _b64(plain),
        f"--{boundary}", 'Content-Type: text/html; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
        _b64(inline_css(html)),
        f"--{boundary}--", "",
    ])
    return OutgoingMail(_bare(sender), _bare(to), data.encode("ascii"), msgid)


def _b64(content: str) -> str:
    """``content`` as UTF-8 in base64 lines of 76 characters (RFC 2045), CRLF between them."""
    raw = binascii.b2a_base64(content.encode("utf-8"), newline=False).decode("ascii")
    return "\r\n".join([raw[i:i + 76] for i in range(0, len(raw), 76)])


@lru_cache(maxsize=64)
def _domain(sender: str) -> str:
    found = re.search(r"@([A-Za-z0-9.-]+)", sender)
    return found.group(1) if found else "workflow-portal"


@lru_cache(maxsize=4096)
def _deliverable(value: str) -> bool:
    """True if ``value`` parses to an address with an @ (parsed once per address: a
    batch mails the same people again and again)."""
    return "@" in parseaddr(value)[1]


@lru_cache(maxsize=4096)
def _bare(value: str) -> str:
    """The address alone (the SMTP envelope's)."""
    return parseaddr(value)[1] or value


def send_messages(messages: list[OutgoingMail]) -> list[Exception | None]:
    """Send ``messages`` over one SMTP connection (Flask-Mail's configured server,
    TLS and login) with the configured ``MAIL_TIMEOUT`` (seconds). Returns, per
    message, None (sent) or the exception (``OSError``, ``smtplib.SMTPException``);
    a broken connection fails the rest. With ``MAIL_SUPPRESS_SEND`` nothing is sent
    and every message counts as sent."""
    with SmtpSession() as smtp:
        return smtp.send(messages)


class SmtpSession:
    """One SMTP connection kept open across batches (opened at the first batch that
    has mail, opened again after a connection failure), closed (QUIT) at the end of
    the ``with`` block. Made inside an application context (it reads Flask-Mail's
    configuration then). A new connection's greeting and EHLO cost about 40 ms
    (the server's multi-line EHLO answer meets the client's delayed ACK), as much as
    sending 25 mails."""

    def __init__(self) -> None:
        self._connection = mail.connect()  # (Flask-Mail's settings, read here, in the app context)
        self._timeout = current_app.config["MAIL_TIMEOUT"]
        self._open = False

    def __enter__(self) -> "SmtpSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT (errors closing change nothing already sent)."""
        if self._open:
            self._open = False
            try:
                self._connection.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the server may have gone already
                pass

    def send(self, messages: list[OutgoingMail]) -> list[Exception | None]:
        """Send ``messages``; returns per message None (sent) or the exception. A
        failure to connect fails them all; a broken connection fails the rest and is
        opened again for the next batch."""
        results: list[Exception | None] = []
        if not messages:
            return results
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self._timeout)
        try:
            if not self._open:
                self._connection.__enter__()
                self._open = True
            conn = self._connection
            for msg in messages:
                try:
                    if conn.host is not None:
                        conn.host.sendmail(msg.sender, [msg.to], msg.data)
                    results.append(None)
                except Exception as exc:  # noqa: BLE001 - reported per message
                    if exc.__class__.__name__ == "JobTimeoutException":
                        raise
                    results.append(exc)
                    if isinstance(exc, smtplib.SMTPServerDisconnected) or (
                            isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)):
                        raise  # the connection is gone (or in an unknown state): the rest fail with it
        except Exception as exc:  # noqa: BLE001 - connecting failed or the connection broke
            if exc.__class__.__name__ == "JobTimeoutException":
                raise
            self._open = False
            results += [exc] * (len(messages) - len(results))
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
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def perform_emails(items: list[dict]) -> list:
    """Effect performer for e-mails (``payload`` = ``{"to", "subject", "html"}``): all
    of a batch over one SMTP connection, each with the Message-ID of its effect key.
    Returns one :class:`portal.workflow.effects.Outcome` per item."""
    from portal.workflow.effects import Outcome

    built, errors = build_messages([(i["payload"]["to"], i["payload"]["subject"], i["payload"]["html"], i["key"]) for i in items])
    errors.update(zip([index for index, _ in built], send_messages([m for _, m in built])))
    out = []
    for index, item in enumerate(items):
        p, error = item["payload"], errors.get(index)
        if isinstance(error, BadAddress):
            out.append(Outcome("failed", f"Email to {p['to']}: {error}"))
        elif error is None:
            out.append(Outcome("done", f"Email “{p['subject']}” sent to {p['to']}"))
        else:
            status = "failed" if is_permanent_smtp_error(error) else "retry"
            out.append(Outcome(status, f"Email to {p['to']}: {error.__class__.__name__}: {error}"))
    return out
