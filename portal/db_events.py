"""Database engine hooks: SQLite pragmas (WAL, foreign keys, page cache), psycopg's
query cache for the engine's multi-row inserts, read-only requests ending with COMMIT on
PostgreSQL (their statements stay prepared), a fresh connection pool in forked RQ work
horses, and the flush-time check that values fit their columns."""
from __future__ import annotations

import os
import re

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


#: the first word of statements that only read (``WITH`` only when it changes nothing)
_READS = ("select", "show", "explain")
_CHANGES = re.compile(r"\b(insert|update|delete|merge)\b", re.I)


def reads_only(statement: str) -> bool:
    """True if the SQL ``statement`` only reads: a ``SELECT`` (a volatile function it
    calls aside), ``SHOW``, ``EXPLAIN``, or a ``WITH`` without INSERT, UPDATE, DELETE or
    MERGE."""
    head = statement.lstrip()[:7].lower()
    if head.startswith(_READS):
        return True
    return head.startswith("with") and not _CHANGES.search(statement)


def _end_read_only_request(exc) -> None:
    """At the end of a GET or HEAD request answered without an error whose transaction
    only read (PostgreSQL): COMMIT instead of the session's ROLLBACK. The same one round
    trip, but psycopg forgets its prepared statements at every ROLLBACK (an object they
    use may have been dropped in the rolled-back transaction), so with a ROLLBACK at the
    end of every request no statement was ever executed prepared and each one was
    planned anew; now the pages' statements are prepared after their fifth run on a
    connection (psycopg's ``prepare_threshold``) and planned once. A transaction that
    wrote anything (see :func:`reads_only`; a flush, an INSERT, an UPDATE …) is rolled
    back as before."""
    from flask import g, request

    if exc is not None or request.method not in ("GET", "HEAD") or not g.get("_read_request_ok"):
        return
    session = db.session()  # (the request's session itself, not its scoped proxy)
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    try:
        if session.connection().info.get("wrote"):
            return
        session.commit()
    except Exception:  # noqa: BLE001 - the ROLLBACK at the end of the request follows
        session.rollback()


def _note_read_request_ok(response):
    from flask import g

    g._read_request_ok = response.status_code < 400
    return response


def install(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.after_request(_note_read_request_ok)
        app.teardown_request(_end_read_only_request)
    global _installed
    if _installed:
        return
    _installed = True
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        tune_psycopg()

    @event.listens_for(Engine, "before_cursor_execute")
    def _note_writes(conn, _cursor, statement, _parameters, _context, _executemany):
        if "wrote" not in conn.info and not reads_only(statement):
            conn.info["wrote"] = True

    @event.listens_for(Engine, "begin")
    @event.listens_for(Engine, "commit")
    @event.listens_for(Engine, "rollback")
    def _transaction_bounds(conn):
        conn.info.pop("wrote", None)

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
