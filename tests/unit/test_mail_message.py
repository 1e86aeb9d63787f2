"""The notification mail's bytes (:func:`portal.notifications.mail.build_message`),
read back with the standard library's e-mail parser: non-ASCII subjects and names as
RFC 2047 words of at most 75 characters that never split a character, bodies in
base64 lines of 76 characters, and no header injection."""
from __future__ import annotations

import email
from email import policy
from email.header import decode_header, make_header

import pytest
from flask import Flask

from portal.notifications.mail import build_message

SUBJECTS = [
    "Please approve Sales Order 10249",
    "Genehmigungsanfrage: Verkaufsauftrag 10249 für Toms Spezialitäten über 1.863,40 € — bitte bis Freitag",
    "中文主题" * 30,
    "𝄞 music " * 12,
    "ä" * 23,  # 46 bytes: one byte past a word
]


@pytest.fixture
def app_context():
    app = Flask(__name__)
    app.config["MAIL_DEFAULT_SENDER"] = "Workflow Portal Ünïcode <portal@northwind.test>"
    with app.app_context():
        yield


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_and_bodies_read_back_unchanged(app_context, subject):
    html = "<p>Grüße aus Köln — " + "Ünïcödé " * 200 + "</p>"
    raw = build_message("Steven Buchanan <sbuchanan@northwind.test>", subject, html, key="notification-1-20261201").data
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998 and line.isascii()
        if line.startswith(b"=?") or line.startswith(b" =?") or line.startswith(b"Subject: =?"):
            for word in line.split():
                if word.startswith(b"=?"):
                    assert len(word) <= 75
    message = email.message_from_bytes(raw, policy=policy.default)
    assert str(make_header(decode_header(message["Subject"]))) == subject
    assert str(message["From"]) == "Workflow Portal Ünïcode <portal@northwind.test>"
    assert message["Message-ID"] == "<notification-1-20261201@northwind.test>"
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part.get_content() == html
    assert "Ünïcödé" in text_part.get_content()
    body_lines = [ln for ln in raw.split(b"\r\n\r\n")[2].split(b"\r\n") if ln and not ln.startswith(b"--")]
    assert max(len(ln) for ln in body_lines) == 76


def test_line_breaks_in_a_subject_cannot_add_headers(app_context):
    raw = build_message("a@northwind.test", "Hello\r\nBcc: victim@example.com", "<p>x</p>").data
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Bcc"] is None and message["Subject"] == "Hello  Bcc: victim@example.com"
