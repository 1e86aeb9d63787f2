"""Leases on claimed rows: a worker that claims outbox events or effects stamps them
with its id (``claimed_by``) and a ``lease_until``; a thread of its process renews the
lease every third of its length while the work goes on. A worker that dies stops
renewing, and once the lease has run out another worker takes the rows over.

One renewal thread per process (started on first use, again in a forked work horse),
on its own database connection: the renewal never waits for the work's transaction
except for SQLite's single write lock, which the work holds only briefly."""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import Table, select, update

from portal.util import utcnow

log = logging.getLogger(__name__)

LEASE_SECONDS = float(os.environ.get("ENGINE_LEASE_SECONDS", "15"))
"""How long a claim stays valid without renewal (seconds): a dead worker's claims are
taken over at most this long after its last renewal (well within 30 s)."""

_identity: dict[str, str] = {}


def worker_id() -> str:
    """This process's id in ``claimed_by``: host, pid and a random suffix (a reused
    pid never passes for an earlier process)."""
    pid = os.getpid()
    if _identity.get("pid") != str(pid):
        _identity.update(pid=str(pid), id=f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:6]}")
    return _identity["id"]


def lease_end(seconds: float | None = None):
    """The ``lease_until`` of a claim made now (UTC)."""
    return utcnow() + timedelta(seconds=seconds or LEASE_SECONDS)


def claim_rows(session, table: Table, claimable, limit: int, **values) -> list[int]:
    """Claim up to ``limit`` rows of ``table`` for this worker in one statement:
    ``UPDATE table SET claimed_by = me, lease_until = …, **values WHERE id IN (SELECT id
    FROM table AS c WHERE claimable(c) ORDER BY id LIMIT n [FOR UPDATE SKIP LOCKED])
    RETURNING id``. On PostgreSQL workers never wait for each other's claims; on SQLite
    the statement runs under the write lock. ``claimable(c)`` builds the condition on
    the alias ``c``; ``values`` are further columns to set (SQL expressions allowed).
    Commits. Returns the claimed ids in order."""
    c = table.alias("c")
    candidates = select(c.c.id).where(claimable(c)).order_by(c.c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = session.execute(
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(claimed_by=worker_id(), lease_until=lease_end(), **values)
        .returning(table.c.id)
    ).scalars().all()
    session.commit()
    return sorted(ids)


class LeaseKeeper:
    """Renews ``lease_until`` of the rows this process holds in each registered table
    (rows with ``claimed_by`` = :func:`worker_id` and a lease set). Use as
    ``with KEEPER.holding(engine, table): ...`` around the work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, int] = {}
        self._tables: dict[str, Table] = {}
        self._engine = None
        self._pid: int | None = None
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._holds, self._pid = {}, None

    def holding(self, engine, table: Table):
        keeper = self

        class _Hold:
            def __enter__(self_inner):
                keeper._hold(engine, table)

            def __exit__(self_inner, *exc):
                keeper._release(table)

        return _Hold()

    def _hold(self, engine, table: Table) -> None:
        with self._lock:
            self._engine = engine
            self._tables[table.name] = table
            self._holds[table.name] = self._holds.get(table.name, 0) + 1
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._loop, daemon=True, name="engine-lease-keeper").start()

    def _release(self, table: Table) -> None:
        with self._lock:
            self._holds[table.name] = max(0, self._holds.get(table.name, 0) - 1)

    def renew(self) -> int:
        """Renew this process's leases now. Returns the number of rows renewed."""
        with self._lock:
            tables = [self._tables[name] for name, n in self._holds.items() if n > 0]
            engine = self._engine
        renewed = 0
        for table in tables:
            try:
                with engine.begin() as conn:
                    mine = select(table.c.id).where(table.c.claimed_by == worker_id(), table.c.lease_until.is_not(None))
                    if conn.dialect.name == "postgresql":
                        # rows the work's own transaction holds are being finished: skip them
                        # rather than wait for them (waiting could deadlock with that transaction)
                        mine = mine.with_for_update(skip_locked=True)
                    renewed += conn.execute(
                        update(table).where(table.c.id.in_(mine.scalar_subquery())).values(lease_until=lease_end())
                    ).rowcount
            except Exception as exc:  # noqa: BLE001 - try again at the next renewal
                log.warning("could not renew leases in %s: %s", table.name, exc)
        return renewed

    def _loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            threading.Event().wait(LEASE_SECONDS / 3)
            self.renew()


KEEPER = LeaseKeeper()
