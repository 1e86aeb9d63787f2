"""Database engine hooks: SQLite pragmas (WAL, foreign keys) and a fresh
connection pool in forked RQ work horses."""
from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.extensions import db

_installed = False


def install(app: Flask) -> None:
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - driver hook
        module = type(dbapi_connection).__module__
        if "sqlite" in module:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: no corruption, fsync at checkpoints
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    def _after_fork() -> None:
        # A forked work horse must not share the parent's pooled connections.
        try:
            with app.app_context():
                db.engine.dispose(close=False)
        except Exception:  # noqa: BLE001 - no engine yet
            pass

    os.register_at_fork(after_in_child=_after_fork)
