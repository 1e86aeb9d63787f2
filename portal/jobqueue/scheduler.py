"""The scheduler loop behind ``flask scheduler``.

Any number of scheduler processes may run (on any hosts); exactly one is *active*:
the holder of the database lease (``scheduler_lease``), renewed every second. The
others stand by, trying to take the lease each second, and take over within
``SCHEDULER_LEASE_SECONDS`` (default 5 s) when the active one dies. A clean stop
releases the lease at once.

The active scheduler, each pass (about every second, or sooner when an entry is due
sooner):

1. on the pass that made it active: registers missing system jobs, gives scheduled
   workflows their entries, applies the catch-up policy to runs missed while no
   scheduler was active, and enqueues the runs the previous holder claimed but never
   put on RQ (it was killed between the two);
2. claims due entries and enqueues them on RQ (batches of 1,000, renewing the lease
   between batches); at most once a second, renews the lease and finishes expired
   entries;
3. every 5 s: reconciles runs whose worker died or whose RQ job vanished;
   every 60 s: looks for new scheduled workflows.

The database is the source of truth: Redis only carries the runs being enqueued, so
restarting Redis or the scheduler loses no entry (see :mod:`portal.jobqueue.service`).
"""
from __future__ import annotations

import logging
import threading
import time as _time
from dataclasses import dataclass, field
from datetime import datetime

from portal.jobqueue import service
from portal.util import utcnow

log = logging.getLogger("portal.scheduler")

RENEW_EVERY = 1.0  # seconds: lease renewal and expired entries at most this often (passes can be more frequent)
RECONCILE_EVERY = 5.0  # seconds
SYNC_EVERY = 60.0  # seconds
WATCHDOG_EVERY = 2.0  # seconds: engine work nobody is doing (lost enqueues, dead workers' claims)


@dataclass
class PassReport:
    """What one pass did: whether this process is the active scheduler, whether it
    took over on this pass, how many runs it enqueued and the reconcile counts."""

    active: bool
    took_over: bool = False
    enqueued: int = 0
    catch_up: dict = field(default_factory=dict)
    reconciled: dict = field(default_factory=dict)


class Scheduler:
    """One scheduler process. ``session`` is a SQLAlchemy session (``db.session``
    inside an app context); ``holder`` identifies this process in the lease;
    ``tick`` is the longest sleep between passes (seconds); ``batch`` the most
    entries claimed per transaction."""

    def __init__(self, session, holder: str | None = None, tick: float = 1.0, batch: int = 1000):
        self.session = session
        self.holder = holder or service.new_holder_id()
        self.tick = tick
        self.batch = batch
        self.active = False
        self._last_reconcile = 0.0
        self._last_watchdog = 0.0
        self._last_sync = 0.0
        self._last_renewal = -RENEW_EVERY
        self._last_housekeeping = -RENEW_EVERY
        self._standing_by = False

    def run_pass(self, now: datetime | None = None) -> PassReport:
        """One pass (see the module docstring). Returns a :class:`PassReport`."""
        s = self.session
        mono = _time.monotonic()
        if self.active and now is None and mono - self._last_renewal < RENEW_EVERY:
            state = service.LeaseState(True)  # renewed less than a second ago: valid for seconds more
        else:
            state = service.hold_lease(s, self.holder, now)
            if state.active:
                self._last_renewal = mono
        if not state.active:
            if self.active:
                log.warning("scheduler %s lost the lease; standing by", self.holder)
            elif not self._standing_by:
                lease = service.lease_holder(s)
                s.rollback()
                log.info("scheduler %s stands by: %s is active", self.holder, lease.holder if lease else "another scheduler")
            self._standing_by = True
            self.active = False
            return PassReport(False)
        self._standing_by = False
        report = PassReport(True, took_over=state.took_over)
        housekeeping = state.took_over or not self.active or mono - self._last_housekeeping >= RENEW_EVERY
        if state.took_over or not self.active:
            log.info("scheduler %s is active (previous scheduler's last renewal: %s)", self.holder, state.gap_start or "none")
            service.ensure_job_failed_template(s)
            added = service.ensure_system_jobs(s)
            if added:
                log.info("registered system jobs: %s", ", ".join(added))
            service.sync_workflow_schedules(s)
            self._last_sync = _time.monotonic()
            report.catch_up = service.catch_up(s, state.gap_start)
            if any(report.catch_up.values()):
                log.info("missed runs: %s", report.catch_up)
            # The previous holder enqueues no more: runs it claimed but never put on RQ
            # (killed between the two) are enqueued now, not after the usual wait.
            self._last_reconcile = _time.monotonic()
            report.reconciled = service.reconcile(s, requeue_after=0)
            if any(report.reconciled.values()):
                log.warning("reconciled runs on taking over: %s", report.reconciled)
        self.active = True
        if housekeeping:
            self._last_housekeeping = mono
            service.finish_expired(s)
        while True:
            runs = service.claim_due(s, limit=self.batch)
            report.enqueued += service.enqueue_runs(runs)
            if len(runs) < self.batch:
                break
            if not service.hold_lease(s, self.holder).active:  # a long backlog: keep the lease between batches
                self.active = False
                break
            self._last_renewal = _time.monotonic()
        mono = _time.monotonic()
        if mono - self._last_reconcile >= RECONCILE_EVERY:
            self._last_reconcile = mono
            report.reconciled = service.reconcile(s)
            if any(report.reconciled.values()):
                log.warning("reconciled runs: %s", report.reconciled)
        if mono - self._last_watchdog >= WATCHDOG_EVERY:
            self._last_watchdog = mono
            from portal.workflow.dispatch import watchdog

            try:
                enqueued = watchdog(s)
                if enqueued:
                    log.info("watchdog enqueued %s", ", ".join(enqueued))
            except Exception as exc:  # noqa: BLE001 - the scheduler goes on; the next pass tries again
                s.rollback()
                log.warning("engine watchdog failed: %s", exc)
        if mono - self._last_sync >= SYNC_EVERY:
            self._last_sync = mono
            added = service.sync_workflow_schedules(s)
            if added:
                log.info("scheduled workflows given job queue entries: %s", ", ".join(added))
        return report

    def seconds_to_next_pass(self) -> float:
        """How long to sleep: until the next Ready entry is due, at most ``tick``
        seconds (standbys: ``tick``)."""
        if not self.active:
            return self.tick
        due = service.next_due_at(self.session)
        if due is None:
            return self.tick
        return max(0.005, min(self.tick, (due - utcnow()).total_seconds()))

    def run(self, seconds: float | None = None, stop: threading.Event | None = None) -> None:
        """Run passes until ``stop`` is set or ``seconds`` have passed (forever when
        None); then release the lease so a standby takes over at once."""
        stop = stop or threading.Event()
        deadline = _time.monotonic() + seconds if seconds is not None else None
        log.info("scheduler %s started", self.holder)
        try:
            while not stop.is_set() and (deadline is None or _time.monotonic() < deadline):
                try:
                    report = self.run_pass()
                    if report.enqueued:
                        log.info("enqueued %d run(s)", report.enqueued)
                    pause = self.seconds_to_next_pass()
                except Exception:  # noqa: BLE001 - keep going; the next pass retries
                    log.exception("scheduler pass failed")
                    self.session.rollback()
                    pause = self.tick
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - _time.monotonic()))
                stop.wait(pause)
        finally:
            try:
                self.session.rollback()
                if self.active:
                    service.release_lease(self.session, self.holder)
                    log.info("scheduler %s released the lease", self.holder)
            except Exception:  # noqa: BLE001 - the lease then expires by itself
                log.exception("could not release the scheduler lease")
