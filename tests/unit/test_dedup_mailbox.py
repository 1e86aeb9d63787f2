"""The SMTP sink's handler (:class:`portal.embedded.DedupMailbox`): a message is stored
as the bytes received (CRLF as LF), once per Message-ID — also after a restart, which
reads the ids of what is already stored — and messages without an id always."""
from __future__ import annotations

import email
import mailbox

from portal.embedded import DedupMailbox


class Envelope:
    def __init__(self, data: bytes):
        self.original_content = self.content = data


def message(msgid: str | None, body: str = "Hello") -> bytes:
    head = "From: portal@northwind.test\r\nTo: sbuchanan@northwind.test\r\nSubject: Please approve\r\n"
    if msgid is not None:
        head += f"Message-ID:\r\n {msgid}\r\n"  # a folded header
    return (head + "MIME-Version: 1.0\r\n\r\n" + body + "\r\n").encode("ascii")


def deliver(box: DedupMailbox, data: bytes) -> str:
    """The handler's answer (its coroutine run to the end here: it never waits, and the
    suite may already have an event loop running in this thread)."""
    step = box.handle_DATA(None, None, Envelope(data))
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the handler waited on something")


def test_stored_as_received_once_per_message_id(tmp_path):
    box = DedupMailbox(str(tmp_path / "mail"))
    first = message("<notification-1@northwind.test>", "Line one\r\n\r\nMessage-ID: <not-a-header@x>")
    assert deliver(box, first) == "250 OK"
    assert deliver(box, first) == "250 OK (already received)"
    assert deliver(box, message("<notification-2@northwind.test>")) == "250 OK"
    assert deliver(box, message(None)) == deliver(box, message(None)) == "250 OK"
    stored = mailbox.Maildir(str(tmp_path / "mail"), create=False)
    assert len(stored) == 4
    raw = sorted(stored.get_bytes(k) for k in stored.keys())
    assert first.replace(b"\r\n", b"\n") in raw
    parsed = [email.message_from_bytes(r) for r in raw]
    assert sorted((m["Message-ID"] or "").strip() for m in parsed) == [
        "", "", "<notification-1@northwind.test>", "<notification-2@northwind.test>"]


def test_a_restarted_sink_knows_what_it_stored(tmp_path):
    deliver(DedupMailbox(str(tmp_path / "mail")), message("<notification-7@northwind.test>"))
    again = DedupMailbox(str(tmp_path / "mail"))
    assert deliver(again, message("<notification-7@northwind.test>")) == "250 OK (already received)"
    assert len(mailbox.Maildir(str(tmp_path / "mail"), create=False)) == 1
