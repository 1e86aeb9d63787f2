"""The dispatcher: workers claim outbox events in batches and hand them to the engine.

- **Claiming** is one statement: ``UPDATE outbox_event SET status = 'processing',
  claimed_by = me, lease_until = … WHERE id IN (SELECT … ORDER BY id LIMIT n
  [FOR UPDATE SKIP LOCKED]) RETURNING id``. On PostgreSQL any number of workers claim
  at once without waiting for each other (``SKIP LOCKED``); on SQLite the statement
  runs under the database's single write lock, so it is a conditional UPDATE.
- **Order per record**: an event is claimable only when no earlier event of the same
  record is pending or being processed, so one record's events run one after the
  other, in order, while different records run in parallel.
- **A batch is one transaction**: the events of a claimed batch run and commit
  together (cheaper than a transaction per event). If any of them fails, the batch is
  rolled back and its events run again one transaction each, so one failure never
  undoes another event's work.
- **Leases**: claims carry ``lease_until``, renewed while the worker lives
  (:mod:`portal.workflow.leases`); a dead worker's claims become claimable again when
  the lease runs out, and :func:`watchdog` (called by the scheduler every few
  seconds) enqueues a dispatcher for them.
- An unexpected error puts the event back to pending after a back-off, up to
  :data:`MAX_EVENT_ATTEMPTS` attempts; then the run is recorded as failed.
"""
from __future__ import annotations

import logging
import time
import traceback
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.util import utcnow
from portal.workflow.effects import deliver_inline, forget_inline
from portal.workflow.engine import ResponseError, forget_prefetch, handle_event, prefetch, record_failure
from portal.workflow.leases import KEEPER, claim_rows, worker_id
from portal.workflow.models import OUTBOX_DONE, OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_PROCESSING, OutboxEvent

log = logging.getLogger(__name__)

MAX_EVENT_ATTEMPTS = 3
BATCH_SIZE = 50
DISPATCH_JOB = "jobs.outbox.dispatch_outbox"

_OE = OutboxEvent.__table__


def _claimable(table, now):
    """Rows that may be claimed now: pending (past any back-off) or processing with an
    expired lease (its worker died)."""
    return or_(
        and_(table.c.status == OUTBOX_PENDING, or_(table.c.lease_until.is_(None), table.c.lease_until < now)),
        and_(table.c.status == OUTBOX_PROCESSING, table.c.lease_until < now),
    )


def claim_batch(session: Session, limit: int = BATCH_SIZE) -> list[int]:
    """Claim up to ``limit`` outbox events for this worker, oldest first, at most the
    first unfinished event of each record. Commits. Returns the claimed ids in order."""
    now = utcnow()
    earlier = _OE.alias("earlier")

    def claimable(c):
        blocked = exists().where(
            earlier.c.record_type == c.c.record_type,
            earlier.c.record_id == c.c.record_id,
            earlier.c.id < c.c.id,
            # literal values, as in the partial index ix_outbox_event_unfinished_record
            text("earlier.status IN ('pending', 'processing')"),
        )
        return and_(_claimable(c, now), ~blocked)

    return claim_rows(session, _OE, claimable, limit, status=OUTBOX_PROCESSING, claimed_at=now,
                      attempts=_OE.c.attempts + 1)


def claim(session: Session, event_id: int) -> bool:
    """Claim the single pending outbox event ``event_id`` for this worker (the same
    conditional claim as :func:`claim_batch`; commits). Returns True if this worker
    won it."""
    now = utcnow()
    return bool(claim_rows(session, _OE, lambda c: and_(c.c.id == event_id, c.c.status == OUTBOX_PENDING), 1,
                           status=OUTBOX_PROCESSING, claimed_at=now, attempts=_OE.c.attempts + 1))


def _done(ev: OutboxEvent) -> None:
    ev.status, ev.processed_at, ev.lease_until = OUTBOX_DONE, utcnow(), None


def process_batch(session: Session, ids: list[int]) -> dict[str, int]:
    """Run the claimed events ``ids`` in one transaction; if any fails, roll back and
    run each in its own transaction (:func:`process_event`). Returns counts by final
    status (``done``, ``failed``, ``pending``)."""
    counts = {OUTBOX_DONE: 0, OUTBOX_FAILED: 0, OUTBOX_PENDING: 0}
    if not ids:
        return counts
    try:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids)).order_by(OutboxEvent.id)).all()
        prefetch(session, [ev for ev in events if ev.claimed_by == worker_id()])
        for ev in events:
            if ev.claimed_by != worker_id():
                continue  # taken over meanwhile (our lease ran out): not ours any more
            handle_event(session, ev)
            _done(ev)
            counts[OUTBOX_DONE] += 1
        forget_prefetch(session)
        session.commit()
        return counts
    except Exception:  # noqa: BLE001 - fall back to one transaction per event
        forget_prefetch(session)
        session.rollback()
        forget_inline(session)
        counts = {OUTBOX_DONE: 0, OUTBOX_FAILED: 0, OUTBOX_PENDING: 0}
        for event_id in ids:
            counts[process_event(session, event_id)] += 1
        return counts


def process_event(session: Session, event_id: int) -> str:
    """Handle one claimed outbox event in its own transaction. Returns the event's
    final status: ``done``, ``failed`` (a business failure: the run is recorded as
    Failed with the message), or ``pending`` (an unexpected error: retried after a
    back-off, up to :data:`MAX_EVENT_ATTEMPTS`, then failed)."""
    ev = session.get(OutboxEvent, event_id)
    if ev is None or ev.status != OUTBOX_PROCESSING or ev.claimed_by != worker_id():
        session.rollback()
        return OUTBOX_DONE if ev is not None and ev.status == OUTBOX_DONE else OUTBOX_PENDING
    try:
        handle_event(session, ev)
        _done(ev)
        session.commit()
        return OUTBOX_DONE
    except ResponseError as exc:
        session.rollback()
        ev = session.get(OutboxEvent, event_id)
        record_failure(session, ev, str(exc))
        ev.status, ev.error, ev.processed_at, ev.lease_until = OUTBOX_FAILED, str(exc), utcnow(), None
        session.commit()
        return OUTBOX_FAILED
    except Exception as exc:  # noqa: BLE001 - retried, then failed and visible
        log.exception("outbox event %s failed", event_id)
        session.rollback()
        ev = session.get(OutboxEvent, event_id)
        ev.error = f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        if ev.attempts >= MAX_EVENT_ATTEMPTS:
            record_failure(session, ev, f"{exc.__class__.__name__}: {exc}")
            ev.status, ev.processed_at, ev.lease_until = OUTBOX_FAILED, utcnow(), None
        else:  # back to pending, not claimable before the back-off has passed
            ev.status, ev.lease_until = OUTBOX_PENDING, utcnow() + timedelta(seconds=5 * ev.attempts)
        session.commit()
        return ev.status


def dispatch_pending(session: Session | None = None, max_events: int = 100_000, batch: int = BATCH_SIZE,
                     max_seconds: float | None = None) -> int:
    """Claim and process outbox events batch after batch until none is claimable
    (events raised meanwhile included) or ``max_events`` were handled. When a batch
    comes back full, another dispatcher job is enqueued so idle workers join in.
    ``max_seconds``: hand the rest to a new job after this long, so a steady stream
    of events never keeps a worker from the queue's other jobs (effect delivery,
    notifications). Returns the number of events handled."""
    from portal.queue import enqueue_once

    session = session or db.session
    session.info["in_dispatcher"] = True
    handled = 0
    started = time.monotonic()
    try:
        with KEEPER.holding(session.get_bind(), _OE):
            while handled < max_events:
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    enqueue_once(DISPATCH_JOB)  # the rest goes to the back of the queue
                    break
                ids = claim_batch(session, batch)
                if not ids:
                    break
                if len(ids) == batch:
                    enqueue_once(DISPATCH_JOB)  # a backlog: let another worker take the next batch
                process_batch(session, ids)
                deliver_inline(session)  # the batch's webhooks and mails, now that it is committed
                handled += len(ids)
    finally:
        session.info.pop("in_dispatcher", None)
        forget_inline(session)
    return handled


def requeue_stale(session: Session, older_than_seconds: float = 0) -> int:
    """Put events whose claim's lease has run out (their worker died) back to pending
    (they are claimable anyway; this makes it visible). Commits. Returns the count."""
    res = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.status == OUTBOX_PROCESSING,
               OutboxEvent.lease_until < utcnow() - timedelta(seconds=older_than_seconds))
        .values(status=OUTBOX_PENDING, lease_until=None)
    )
    session.commit()
    return res.rowcount


def watchdog(session: Session, idle_seconds: float = 2.0) -> list[str]:
    """Enqueue the jobs for work nobody is doing: outbox events pending for more than
    ``idle_seconds`` (their enqueue was lost, e.g. Redis was down) or claimed by a
    worker whose lease ran out, and effects due or abandoned the same way (see
    :mod:`portal.workflow.effects`). Called by the active scheduler every few seconds.
    Returns the jobs enqueued."""
    from portal.queue import enqueue_once
    from portal.workflow.effects import DELIVERY_JOB, effects_waiting

    now = utcnow()
    enqueued = []
    waiting = session.scalar(
        select(func.count()).select_from(
            select(OutboxEvent.id).where(or_(
                and_(OutboxEvent.status == OUTBOX_PENDING, OutboxEvent.created_at < now - timedelta(seconds=idle_seconds),
                     or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now)),
                and_(OutboxEvent.status == OUTBOX_PROCESSING, OutboxEvent.lease_until < now),
            )).limit(1).subquery()
        )
    )
    effects = effects_waiting(session, now)
    session.rollback()
    if waiting and enqueue_once(DISPATCH_JOB):
        enqueued.append(DISPATCH_JOB)
    if effects and enqueue_once(DELIVERY_JOB):
        enqueued.append(DELIVERY_JOB)
    return enqueued


def wait_idle(session: Session, timeout: float = 30.0) -> bool:
    """Wait until no outbox event is pending or processing (tests, benchmarks).
    Returns False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.status.in_([OUTBOX_PENDING, OUTBOX_PROCESSING])))
        session.rollback()
        if not n:
            return True
        time.sleep(0.05)
    return False
