"""Benchmark: automated flow runs per second against the RQ no-op ceiling.

The flow: when a customer's phone changes → update a field (fax := phone), create a
notification (for lcallahan, mailed to a local SMTP server), call a webhook (a local
HTTP stub). Per configuration it prints, measured in the same run on the same
`flask worker` processes and the same Redis:

- **ceiling**: RQ no-op jobs per second (``os.getpid``) drained by the workers;
- **sustained**: flow runs per second draining a backlog of automated events (first
  claim → last run Completed, webhook answered), and the same until the last
  notification mail was sent;
- the **ratio** sustained / ceiling;
- **latency**: event → run Completed, p50 / p99 / max, at a steady 100 events/s
  (each change its own transaction, as users make them).

Usage::

    .venv/bin/python bench/flow_throughput.py                # both configurations
    .venv/bin/python bench/flow_throughput.py --only sqlite   # SQLite + embedded Valkey
    .venv/bin/python bench/flow_throughput.py --only postgres # PostgreSQL + Redis (127.0.0.1)
    options: --workers 2 --events 5000 --noops 5000 --rate 100 --seconds 10 [--forking]

PostgreSQL: a scratch database ``flow_bench`` is created (and dropped) on
127.0.0.1:5432; Redis: database 15 of 127.0.0.1:6379 (flushed). Figures only, no
assertions: the machine is shared and noisy — repeat and compare ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLASK = str(Path(sys.executable).parent / "flask")

from harness import free_port, scratch_services, wait_until_notifications_sent  # noqa: E402  (bench/ is on sys.path when run)


def webhook_stub() -> tuple[ThreadingHTTPServer, list]:
    """A local HTTP receiver: POST records the Idempotency-Key and answers 201; GET
    answers ``{"calls": n, "keys": distinct}``."""
    calls: list = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection per worker

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.headers.get("Idempotency-Key"))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # noqa: N802
            body = json.dumps({"calls": len(calls), "keys": len(set(calls))}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


def smtp_sink():
    from aiosmtpd.controller import Controller

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.count += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def cpu_seconds(pids) -> float:
    """CPU time (user + system, seconds) used so far by the processes ``pids``
    (Linux ``/proc``; a process that is gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def db_backends(session) -> list[int]:
    """PostgreSQL: the server processes serving the bench database (empty on SQLite)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return []
    pids = [r[0] for r in session.execute(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
    session.rollback()
    return pids


def receivers() -> None:
    """``--receivers``: the webhook stub and the SMTP sink in a process of their own
    (in the benchmark's process they would wait for the interpreter lock while it
    writes events, and every call would look slower than it is). Prints
    ``<http port> <smtp port>`` and serves until stdin closes."""
    hook, _ = webhook_stub()
    sink, sink_port = smtp_sink()
    print(hook.server_address[1], sink_port, flush=True)
    sys.stdin.read()
    hook.shutdown()
    sink.stop()


def start_receivers() -> tuple[subprocess.Popen, int, int]:
    proc = subprocess.Popen([sys.executable, __file__, "--receivers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    http_port, smtp_port = map(int, proc.stdout.readline().split())
    return proc, http_port, smtp_port


def webhook_stats(http_port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=10) as r:
        return json.loads(r.read())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def run_config(name: str, args) -> dict:
    """One configuration in this process (env already points at its database and Redis)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select
    from sqlalchemy.orm.exc import StaleDataError

    from portal import create_app
    from portal.cli import setup_demo
    from portal.extensions import db
    from portal.queue import get_queue, get_queues, get_redis
    from portal.records import service as records
    from portal.records.models import Customer
    from portal.workflow.library import build_workflow
    from portal.notifications.models import SentNotificationEntry
    from portal.workflow.models import OutboxEvent, WorkflowInstance

    receiver, hook_port, sink_port = start_receivers()
    os.environ["MAIL_PORT"] = str(sink_port)
    app = create_app()
    procs = []
    try:
        with app.app_context():
            upgrade()
            setup_demo()
            s = db.session
            s.add(build_workflow({
                "code": "BENCH", "description": "Bench flow", "record_type": "customer", "trigger_kind": "automated",
                "steps": [
                    (1, None, None, 1, "event", "record_modified", {}, [{"field": "phone", "operator": "changed"}]),
                    (2, 1, None, 1, "response", "update_field", {"field": "fax", "value": "{{ record.phone }}"}, []),
                    (3, 2, None, 1, "response", "create_notification",
                     {"recipient": "Specific User", "user": "lcallahan", "message": "Phone of {{ record.name }}: {{ record.phone }}"}, []),
                    (4, 3, None, 1, "response", "call_webhook",
                     {"url": f"http://127.0.0.1:{hook_port}/hook", "method": "POST",
                      "body": '{"customer": "{{ record.no }}", "phone": "{{ record.phone }}"}'}, []),
                ],
            }))
            s.commit()
            customers = list(s.scalars(select(Customer).order_by(Customer.no)))
            for q in get_queues():
                q.empty()
            redis = get_redis()
            env = dict(os.environ, FLASK_APP="app")
            worker_args = [FLASK, "worker"] + ([] if args.forking else ["--simple"])
            procs = [subprocess.Popen(worker_args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(args.workers)]
            procs.append(subprocess.Popen([FLASK, "scheduler"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(4)  # workers up and idle

            # ceiling: RQ no-op jobs on the same workers and Redis
            queue = get_queue()
            from rq import Queue

            worker_pids = [p.pid for p in procs[:-1]]
            backends = db_backends(s)
            c0 = cpu_seconds(worker_pids), cpu_seconds(backends)
            t0 = time.perf_counter()
            with redis.pipeline() as pipe:
                queue.enqueue_many([Queue.prepare_data("os.getpid", result_ttl=0) for _ in range(args.noops)], pipeline=pipe)
                pipe.execute()
            while queue.count or queue.started_job_registry.count:
                time.sleep(0.01)
            noop_rate = args.noops / (time.perf_counter() - t0)
            noop_cpu_ms = 1000 * (cpu_seconds(worker_pids) - c0[0]) / args.noops

            # sustained: a backlog of automated events drained by the workers
            def change(n_events: int, tag: str, commit_every: int) -> None:
                for i in range(n_events):
                    c = customers[i % len(customers)]
                    records.modify_record(s, "customer", c, {"phone": f"{tag}-{i}"}, None)
                    if (i + 1) % commit_every == 0:
                        s.commit()
                s.commit()

            def change_one(i: int) -> None:
                """One user's change in its own transaction; one that raced with a flow's
                change of the same customer (the row version moved) is made again."""
                for _ in range(5):
                    try:
                        records.modify_record(s, "customer", customers[i % len(customers)], {"phone": f"L-{i}"}, None)
                        s.commit()
                        return
                    except StaleDataError:
                        s.rollback()

            first_id = (s.scalar(select(func.max(OutboxEvent.id))) or 0) + 1
            s.rollback()
            for p in procs[:-1]:
                p.send_signal(19)  # SIGSTOP: the backlog builds while the workers are paused
            change(args.events, "B", 200)
            backends = sorted(set(backends) | set(db_backends(s)))
            c0 = cpu_seconds(worker_pids), cpu_seconds(backends)
            for p in procs[:-1]:
                p.send_signal(18)  # SIGCONT
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                done = s.scalar(select(func.count(WorkflowInstance.id)).where(
                    WorkflowInstance.workflow_code == "BENCH", WorkflowInstance.status == "Completed"))
                s.rollback()
                if done >= args.events:
                    break
                time.sleep(0.2)
            start = s.scalar(select(func.min(OutboxEvent.claimed_at)).where(OutboxEvent.id >= first_id))
            end = s.scalar(select(func.max(WorkflowInstance.ended_at)).where(WorkflowInstance.workflow_code == "BENCH"))
            s.rollback()
            sustained = done / max(1e-6, (end - start).total_seconds())
            run_cpu_ms = 1000 * (cpu_seconds(worker_pids) - c0[0]) / max(1, done)
            # and everything the runs caused: the notification mails too
            wait_until_notifications_sent(s, deadline)
            last_mail = s.scalar(select(func.max(SentNotificationEntry.sent_at)))
            s.rollback()
            with_mail = done / max(1e-6, (last_mail - start).total_seconds())
            backends = sorted(set(backends) | set(db_backends(s)))
            all_cpu_ms = 1000 * (cpu_seconds(worker_pids) - c0[0]) / max(1, done)
            db_cpu_ms = 1000 * (cpu_seconds(backends) - c0[1]) / max(1, done)

            # latency at a steady rate: each change its own transaction
            first_id = (s.scalar(select(func.max(OutboxEvent.id))) or 0) + 1
            s.rollback()
            n = int(args.rate * args.seconds)
            t0 = time.perf_counter()
            for i in range(n):
                change_one(i)
                ahead = t0 + (i + 1) / args.rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            offered = n / (time.perf_counter() - t0)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                events_left = s.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.status.in_(["pending", "processing"])))
                pending = s.scalar(select(func.count(WorkflowInstance.id)).where(
                    WorkflowInstance.workflow_code == "BENCH", WorkflowInstance.status != "Completed"))
                s.rollback()
                if not pending and not events_left:
                    break
                time.sleep(0.2)
            # latency per run: its event's creation → its end (instances keep their trigger event in step runs)
            from portal.workflow.models import WorkflowStepRun

            rows = s.execute(
                select(OutboxEvent.created_at, WorkflowInstance.ended_at)
                .join(WorkflowStepRun, WorkflowStepRun.event_id == OutboxEvent.id)
                .join(WorkflowInstance, WorkflowInstance.id == WorkflowStepRun.instance_id)
                .where(OutboxEvent.id >= first_id, WorkflowInstance.workflow_code == "BENCH", WorkflowStepRun.function_name == "record_modified")
            ).all()
            s.rollback()
            latencies = [(end - created).total_seconds() for created, end in rows if end]
            from portal.workflow.models import Effect

            unfinished = dict(s.execute(select(WorkflowInstance.status, func.count()).where(
                WorkflowInstance.workflow_code == "BENCH", WorkflowInstance.status != "Completed").group_by(WorkflowInstance.status)).all())
            effects = dict(s.execute(select(Effect.status, func.count()).group_by(Effect.status)).all())
            s.rollback()
    finally:  # the workers and the scheduler stop even when the run fails
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    calls = webhook_stats(hook_port)
    receiver.stdin.close()
    receiver.wait(timeout=10)
    return {
        "config": name, "workers": args.workers, "worker": "forking" if args.forking else "simple",
        "noop_jobs_per_s": round(noop_rate, 1), "flow_runs_per_s": round(sustained, 1),
        "ratio": round(sustained / noop_rate, 2), "noop_cpu_ms": round(noop_cpu_ms, 2), "run_cpu_ms": round(run_cpu_ms, 2), "all_cpu_ms": round(all_cpu_ms, 2),
        "run_db_cpu_ms": round(db_cpu_ms, 2), "backlog": args.events, "with_mail_per_s": round(with_mail, 1),
        "rate_offered": round(offered, 1), "latency_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
        "latency_p99_ms": round(pct(latencies, 0.99) * 1000, 1), "latency_max_ms": round(max(latencies) * 1000, 1),
        "latency_runs": len(latencies), "webhook_calls": calls["calls"], "distinct_keys": calls["keys"],
        "unfinished_runs": unfinished, "effects": effects,
    }


def child(name: str, args) -> None:
    with scratch_services(name, "flow-bench-", "flowbench", "flow_bench", 15):
        print(json.dumps(run_config(name, args)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--noops", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--forking", action="store_true", help="forking workers (a work horse per job) instead of --simple")
    parser.add_argument("--receivers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receivers:
        receivers()
        return
    if args.child:
        child(args.child, args)
        return
    passthrough = [a for a in sys.argv[1:] if not a.startswith("--only") and a not in ("sqlite", "postgres")]
    for name in ([args.only] if args.only else ["sqlite", "postgres"]):
        out = subprocess.run([sys.executable, __file__, "--child", name, *passthrough], capture_output=True, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            print(f"{name}: failed\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
            continue
        r = json.loads(line)
        print(f"{r['config']:>8} · {r['workers']} {r['worker']} workers · ceiling {r['noop_jobs_per_s']:.0f} RQ no-op jobs/s · "
              f"sustained {r['flow_runs_per_s']:.0f} flow runs/s (backlog {r['backlog']}; {r['with_mail_per_s']:.0f}/s until "
              f"every notification was mailed) · ratio {r['ratio']:.2f} · worker CPU per no-op job {r['noop_cpu_ms']:.2f} ms, "
              f"per flow run {r['run_cpu_ms']:.2f} ms ({r['all_cpu_ms']:.2f} ms with its mail; database {r['run_db_cpu_ms']:.2f} ms) · "
              f"at {r['rate_offered']:.0f} events/s: p50 {r['latency_p50_ms']:.0f} ms, p99 {r['latency_p99_ms']:.0f} ms, "
              f"max {r['latency_max_ms']:.0f} ms ({r['latency_runs']} runs) · webhook calls {r['webhook_calls']} "
              f"({r['distinct_keys']} keys)" + (f" · NOT FINISHED: {r['unfinished_runs']} {r['effects']}" if r["unfinished_runs"] else ""))


if __name__ == "__main__":
    main()
