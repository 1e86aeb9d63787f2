"""Database engine hooks: SQLite pragmas (WAL, foreign keys), psycopg's query cache
for the engine's multi-row inserts, a fresh connection pool in forked RQ work
horses, and the flush-time check that values fit their columns."""
from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.util import InputRejected, row_errors

_installed = False


# psycopg converts each query's ``%(name)s`` placeholders to ``$n`` in Python and caches
# the result only for queries under 4,096 characters and 50 parameters (its guard
# against ORMs' ``INSERT … VALUES (…), (…)`` of ever-changing sizes filling the cache).
# The dispatcher's batches insert the same tables with the same few row counts over and
# over (one statement per table per batch), and converting them anew was over a quarter
# of a dispatch batch's CPU. The cache keeps its 128 entries, so it stays bounded.
PSYCOPG_CACHED_QUERY_LENGTH = 1_000_000
PSYCOPG_CACHED_QUERY_PARAMS = 20_000


def tune_psycopg() -> None:
    """Let psycopg cache the conversion of large queries (see the constants above).
    Does nothing without psycopg."""
    try:
        from psycopg import _queries
    except ImportError:  # pragma: no cover - SQLite-only installs
        return
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_QUERY_LENGTH)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, PSYCOPG_CACHED_QUERY_PARAMS)


#: SQLite's page cache per connection, in MB (``SQLITE_CACHE_MB``; pages are cached as read)
SQLITE_CACHE_MB = max(2, int(os.environ.get("SQLITE_CACHE_MB", "32")))


def install(app: Flask) -> None:
    global _installed
    if _installed:
        return
    _installed = True
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        tune_psycopg()

    @event.listens_for(Engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - driver hook
        module = type(dbapi_connection).__module__
        if "sqlite" in module:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: no corruption, fsync at checkpoints
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # a page cache of SQLITE_CACHE_MB per connection (SQLite's default is 2 MB): a list
            # search reads its search index's pages and the matching rows' pages from memory
            # instead of from the file on every request (kept while no other connection writes)
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_MB * 1024}")
            cur.close()

    def _after_fork() -> None:
        # A forked work horse must not share the parent's pooled connections.
        try:
            with app.app_context():
                db.engine.dispose(close=False)
        except Exception:  # noqa: BLE001 - no engine yet
            pass

    os.register_at_fork(after_in_child=_after_fork)

    @event.listens_for(Session, "before_flush")
    def _values_fit_columns(session, _context, _instances) -> None:
        # The safety net behind every form's field checks: a value longer than its
        # column, a number beyond its precision or a NUL byte is refused on SQLite as
        # on PostgreSQL, before anything is written (InputRejected → 422, rollback).
        errors: dict[str, str] = {}
        for obj in (*session.new, *session.dirty):
            errors.update(row_errors(obj))
        if errors:
            raise InputRejected(errors)
