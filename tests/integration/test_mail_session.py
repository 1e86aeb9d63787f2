"""One SMTP connection for a batch (:class:`portal.notifications.mail.SmtpSession`):
a recipient the server refuses fails that mail alone — the others of the batch go
out over the same connection — against a real SMTP server (aiosmtpd) that answers
550 for one address."""
from __future__ import annotations

import smtplib

import pytest

from conftest import free_port

REFUSED = "nobody@refused.test"


class RefusingHandler:
    """Refuses RCPT TO ``REFUSED`` (550), keeps every other message's recipients."""

    def __init__(self):
        self.received: list[str] = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REFUSED:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received += envelope.rcpt_tos
        return "250 OK"


@pytest.fixture
def refusing_server(app, monkeypatch):
    from aiosmtpd.controller import Controller

    handler = RefusingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    state = app.extensions["mail"]
    monkeypatch.setattr(state, "server", "127.0.0.1")
    monkeypatch.setattr(state, "port", controller.port)
    monkeypatch.setattr(state, "use_tls", False)
    monkeypatch.setattr(state, "use_ssl", False)
    yield handler
    controller.stop()


def test_a_refused_recipient_fails_its_own_mail_and_the_batch_goes_on(app, refusing_server):
    from portal.notifications.mail import SmtpSession, build_message

    with app.app_context():
        batch = [build_message(to, f"Mail to {to}", "<p>Hello</p>", key=f"session-test-{i}")
                 for i, to in enumerate(["first@example.test", REFUSED, "third@example.test"])]
        with SmtpSession() as smtp:
            results = smtp.send(batch)
            again = smtp.send([build_message("fourth@example.test", "Next batch", "<p>Hi</p>", key="session-test-4")])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], smtplib.SMTPRecipientsRefused)
    assert again == [None]
    assert refusing_server.received == ["first@example.test", "third@example.test", "fourth@example.test"]
    assert refusing_server.connections == 1  # the refusal didn't cost the connection
