"""``flask scheduler`` processes against the test database and Redis, with a real
``flask worker``: two schedulers at once (one active, no run twice), the active one
killed with SIGKILL (the standby takes over within seconds), every scheduler killed
and one restarted (nothing lost, nothing doubled), and a clean stop handing over at
once.

The entries are one-time entries due every ~0.7 s over the test: each due time must
produce exactly one run. The lease lasts 2 s here (``SCHEDULER_LEASE_SECONDS``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from portal.jobqueue import service
from portal.jobqueue.models import JobQueueEntry, JobQueueLogEntry, SchedulerLease
from portal.util import utcnow

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2.0
JQ_TABLES = ("job_queue_log_entry", "job_queue_entry", "job_queue_category", "scheduler_lease")


@pytest.fixture
def s(app, clean_state):
    from portal.extensions import db

    with app.app_context():
        for table in JQ_TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        yield db.session
        db.session.rollback()
        for table in JQ_TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        db.session.remove()


class Processes:
    """Subprocesses of the test (``flask scheduler`` / ``flask worker``), each logging
    to a file; all killed at the end."""

    def __init__(self, services, tmp_path):
        self.env = {**os.environ, **services, "SCHEDULER_LEASE_SECONDS": str(LEASE)}
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        out = open(self.tmp_path / f"{args[0]}-{len(self.procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp_path.glob("*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def procs(services, tmp_path):
    p = Processes(services, tmp_path)
    yield p
    p.stop_all()


def one_time_entries(s, count: int, first_in: float, every: float) -> list[int]:
    """``count`` one-time entries (archive clean-up) due ``first_in`` s from now, then
    every ``every`` s."""
    start = utcnow() + timedelta(seconds=first_in)
    ids = []
    for i in range(count):
        data = service.EntryData(description=f"due +{first_in + i * every:.1f}s", target="system_job:archive_cleanup",
                                 timeout_seconds=60)
        entry = service.save_entry(s, None, data, None)
        s.flush()
        due = start + timedelta(seconds=i * every)
        entry.earliest_start_at = entry.next_run_at = entry.due_at = due
        ids.append(entry.id)
    s.commit()
    return ids


def active_pid(s) -> int | None:
    """The pid of the scheduler holding a live lease, or None."""
    s.expire_all()
    lease = s.get(SchedulerLease, "scheduler")
    s.rollback()
    if lease is None or lease.expires_at is None or lease.expires_at <= utcnow():
        return None
    return int(lease.holder.split(":")[1])


def wait_for(predicate, timeout: float, what: str, procs: Processes):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{procs.output()}")


def assert_each_ran_once(s, ids: list[int], procs: Processes) -> None:
    def all_finished():
        s.expire_all()
        n = s.scalar(select(func.count()).where(JobQueueEntry.id.in_(ids), JobQueueEntry.status == "Finished"))
        s.rollback()
        return n == len(ids)

    wait_for(all_finished, 30, "every entry to finish", procs)
    rows = s.execute(
        select(JobQueueLogEntry.entry_id, JobQueueLogEntry.due_at, JobQueueLogEntry.status).where(JobQueueLogEntry.entry_id.in_(ids))
    ).all()
    assert sorted(r.entry_id for r in rows) == sorted(ids), "each due time ran exactly once"
    assert {r.status for r in rows} == {"Success"}
    entries = {e.id: e for e in s.scalars(select(JobQueueEntry).where(JobQueueEntry.id.in_(ids)))}
    assert all(r.due_at == entries[r.entry_id].earliest_start_at for r in rows)
    text_out = procs.output()
    assert "IntegrityError" not in text_out and "scheduler pass failed" not in text_out and "not queued any more" not in text_out


def test_two_schedulers_one_active_and_the_standby_takes_over_when_it_is_killed(s, procs):
    ids = one_time_entries(s, 16, first_in=2.0, every=0.7)  # due over ~12.5 s
    procs.start("worker")
    a, b = procs.start("scheduler"), procs.start("scheduler")
    first = wait_for(lambda: active_pid(s), 20, "an active scheduler", procs)
    assert first in (a.pid, b.pid)
    standby = b if first == a.pid else a
    time.sleep(4.0)  # both running: the active one enqueues, the other stands by
    assert active_pid(s) == first
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    second = wait_for(lambda: (pid := active_pid(s)) not in (None, first) and pid, 20, "the standby to take over", procs)
    took = time.monotonic() - killed_at
    assert second == standby.pid and took < LEASE + 3.0, f"took over after {took:.1f} s"
    assert_each_ran_once(s, ids, procs)


def test_scheduler_killed_and_restarted_loses_nothing_and_doubles_nothing(s, procs):
    ids = one_time_entries(s, 12, first_in=1.0, every=0.7)  # due over ~8.7 s
    procs.start("worker")
    first = procs.start("scheduler")
    wait_for(lambda: active_pid(s) == first.pid, 20, "the scheduler to be active", procs)
    time.sleep(2.0)
    os.killpg(first.pid, signal.SIGKILL)  # down while several entries come due
    first.wait(10)
    time.sleep(3.0)
    ran_before_restart = s.scalar(select(func.count()).where(JobQueueLogEntry.entry_id.in_(ids)))
    s.rollback()
    assert ran_before_restart < len(ids)
    restarted = procs.start("scheduler")
    wait_for(lambda: active_pid(s) == restarted.pid, 20, "the restarted scheduler to take over", procs)
    # A second scheduler started now stands by; stopping the active one cleanly hands over at once.
    standby = procs.start("scheduler")
    time.sleep(1.5)
    assert active_pid(s) == restarted.pid
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(10) == 0
    wait_for(lambda: active_pid(s) == standby.pid, LEASE + 2.0, "the standby to take over after a clean stop", procs)
    assert_each_ran_once(s, ids, procs)
