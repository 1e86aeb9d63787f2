"""Benchmark: instant notification mails per second against the SMTP sink's ceiling.

10,000 pending instant notification entries (template ``workflow_notification`` about
a Northwind customer, a short message) for 500 recipients are sent by ``flask worker``
processes (the ``send_notifications`` job: claim with a lease, render in the sandbox,
build the MIME message, send over one SMTP connection per batch, record the sent
entries) to the portal's local SMTP sink (aiosmtpd with the portal's
``DedupMailbox``, storing every mail in a Maildir — or ``--no-store``: count only).
In the same run, on the same sink, it measures the **ceiling**: a bare ``smtplib``
loop sending pre-built messages of the same size over one connection (before and
after each repeat; their mean counts). Printed per
repeat and as min and median: mails per second, the ceiling, their ratio, and every
mail counted at the sink; per repeat also the sink process's CPU per mail and how busy
it was (CPU seconds per second) during the first ceiling loop and during the workers'
run (Linux).

``--sink-procs N`` runs the sink as N processes sharing the port (``SO_REUSEPORT``:
the kernel spreads connections over them), a sink that can take more than one core's
worth; the ceiling is then also measured with one bare ``smtplib`` loop per sink
process in parallel.

Usage::

    .venv/bin/python bench/notification_dispatch.py                      # SQLite + embedded Valkey
    .venv/bin/python bench/notification_dispatch.py --only postgres      # PostgreSQL + Redis (127.0.0.1)
    options: --workers 2 --entries 10000 --recipients 500 --repeat 3 --sink-procs 1 --no-store --profile

``--profile`` runs one ``send_due`` in this process under cProfile (no workers) and
prints the top functions. Figures only, no assertions: the machine is shared and
noisy — repeat and compare ratios.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import free_port, scratch_services, wait_until_notifications_sent  # noqa: E402  (bench/ is on sys.path when run)
FLASK = str(Path(sys.executable).parent / "flask")


# ---------------------------------------------------------------- the sink

def _sink_process(port: int, maildir: str, store: bool, counter, ready) -> None:
    import asyncio
    import socket

    from aiosmtpd.smtp import SMTP

    from portal.embedded import DedupMailbox

    class Counting:
        def __init__(self):
            self.inner = DedupMailbox(maildir) if store else None

        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            if self.inner is not None:
                return await self.inner.handle_DATA(server, session, envelope)
            return "250 OK"

    handler = Counting()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(handler, hostname="sink", ident="bench sink"), sock=sock))
    ready.set()
    try:
        loop.run_forever()
    finally:
        server.close()


def start_sink(procs: int, maildir: str, store: bool):
    """Start ``procs`` sink processes on one free port. Returns (port, counter, processes)."""
    for sub in ("tmp", "new", "cur"):
        (Path(maildir) / sub).mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("fork")
    port = free_port()
    counter = ctx.Value("l", 0)
    processes = []
    for _ in range(procs):
        ready = ctx.Event()
        p = ctx.Process(target=_sink_process, args=(port, maildir, store, counter, ready), daemon=True)
        p.start()
        ready.wait(10)
        processes.append(p)
    return port, counter, processes


def cpu_seconds(pids) -> float | None:
    """User + system CPU seconds used so far by the processes ``pids`` (Linux
    ``/proc``; None elsewhere)."""
    try:
        total = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _pids_named(*names: str) -> list[int]:
    """Pids of this machine's processes whose command name is one of ``names`` (Linux)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in names:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


class CpuSplit:
    """CPU per mail sent over a stretch of time, split by who spent it: the workers,
    the database server's processes (PostgreSQL), the Redis-compatible server, and the
    whole machine (``/proc/stat``; other tenants included). Milliseconds per mail."""

    def __init__(self, worker_pids):
        self.groups = {"workers": list(worker_pids), "postgres": _pids_named("postgres"),
                       "redis": _pids_named("redis-server", "valkey-server")}
        self.cpu0 = {k: cpu_seconds(v) for k, v in self.groups.items()}
        self.machine0 = self._machine()

    @staticmethod
    def _machine() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            busy = sum(int(x) for x in fields[:3]) + sum(int(x) for x in fields[5:8])  # user nice system irq softirq steal
            return busy / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            return None

    def done(self, mails: int) -> dict:
        if not mails:
            return {}
        out = {}
        for k, pids in self.groups.items():
            now = cpu_seconds([p for p in pids if Path(f"/proc/{p}").exists()]) if pids else None
            if now is not None and self.cpu0[k] is not None:
                out[k] = round((now - self.cpu0[k]) / mails * 1000, 3)
        m = self._machine()
        if m is not None and self.machine0 is not None:
            out["machine"] = round((m - self.machine0) / mails * 1000, 3)
        return out


class SinkLoad:
    """The sink's CPU over a stretch of time: ``per_mail_ms`` (CPU per mail received)
    and ``busy`` (CPU seconds per wall-clock second: 1.0 is one core all the time)."""

    def __init__(self, sinks, counter):
        self.pids, self.counter = [p.pid for p in sinks], counter
        self.cpu0, self.mails0, self.t0 = cpu_seconds(self.pids), counter.value, time.perf_counter()

    def done(self) -> dict:
        cpu, mails, wall = cpu_seconds(self.pids), self.counter.value - self.mails0, time.perf_counter() - self.t0
        if cpu is None or self.cpu0 is None or not mails:
            return {}
        return {"per_mail_ms": round((cpu - self.cpu0) / mails * 1000, 2), "busy": round((cpu - self.cpu0) / wall, 2)}


# ---------------------------------------------------------------- the ceiling

def _smtplib_loop(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
        t0 = time.perf_counter()
        for sender, to, data in messages:
            conn.sendmail(sender, [to], data)
        return time.perf_counter() - t0


def _ceiling_worker(port, messages, out):
    out.put(_smtplib_loop(port, messages))


def ceiling(port: int, messages: list[tuple[str, str, bytes]], connections: int = 1) -> float:
    """Mails per second of bare ``smtplib`` loops (``connections`` processes, each
    over one connection) sending ``messages`` (split between them)."""
    if connections == 1:
        return len(messages) / _smtplib_loop(port, messages)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    chunks = [messages[i::connections] for i in range(connections)]
    t0 = time.perf_counter()
    procs = [ctx.Process(target=_ceiling_worker, args=(port, c, out)) for c in chunks]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return len(messages) / (time.perf_counter() - t0)


# ---------------------------------------------------------------- one configuration

def run_config(name: str, args) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import delete, func, insert, select

    tmp = Path(os.environ["PORTAL_INSTANCE"])
    port, counter, sinks = start_sink(args.sink_procs, str(tmp / "mail"), not args.no_store)
    os.environ["MAIL_PORT"] = str(port)

    from portal import create_app
    from portal.auth.models import User
    from portal.cli import setup_demo
    from portal.extensions import db
    from portal.notifications.mail import build_message
    from portal.notifications.models import NotificationEntry, SentNotificationEntry
    from portal.queue import get_queue
    from portal.records.models import Customer
    from portal.util import utcnow

    app = create_app()
    procs: list[subprocess.Popen] = []
    try:
        with app.app_context():
            upgrade()
            setup_demo()
            s = db.session
            have = set(s.scalars(select(User.user_name).where(User.user_name.like("bench%"))))
            s.execute(insert(User), [
                {"user_name": f"bench{i:04d}", "full_name": f"Bench Recipient {i:04d}", "email": f"bench{i:04d}@bench.test",
                 "password_hash": "-", "active": True}
                for i in range(args.recipients) if f"bench{i:04d}" not in have])
            s.commit()
            recipients = list(s.scalars(select(User.id).where(User.user_name.like("bench%")).order_by(User.id)))[: args.recipients]
            customers = list(s.scalars(select(Customer.id).order_by(Customer.id)))

            def add_entries(tag: str) -> None:
                now = utcnow()
                rows = [{"type": "New Record", "recipient_id": recipients[i % len(recipients)], "record_type": "customer",
                         "record_id": customers[i % len(customers)], "template_code": "workflow_notification",
                         "link": f"/customers/{customers[i % len(customers)]}", "custom_message": f"Bench {tag} message {i}",
                         "created_at": now, "send_after": now, "attempts": 0} for i in range(args.entries)]
                for i in range(0, len(rows), 2000):
                    s.execute(insert(NotificationEntry), rows[i:i + 2000])
                s.commit()

            # messages of the same size as the portal's for the ceiling (unique Message-IDs)
            add_entries("sample")
            from portal.notifications.service import _entry_context, render_template_code

            sample = s.scalars(select(NotificationEntry).limit(1)).first()
            subject, body = render_template_code(s, "workflow_notification", _entry_context(s, sample))
            s.execute(delete(NotificationEntry))
            s.commit()
            ceiling_messages = []
            for i in range(args.ceiling_mails):
                m = build_message(f"bench{i % 500:04d}@bench.test", subject, body, key=f"ceiling-{os.getpid()}-{time.time_ns()}-{i}")
                ceiling_messages.append((m.sender, m.to, m.data))

            if args.profile:
                import cProfile
                import pstats

                from portal.notifications.service import send_due

                add_entries("profile")
                prof = cProfile.Profile()
                ceil = ceiling(port, ceiling_messages, 1)
                t0 = time.perf_counter()
                cpu0 = time.process_time()
                if args.profile_sort != "none":
                    prof.enable()
                result = send_due(s)
                prof.disable()
                took = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
                print(f"CPU of this process: {cpu / max(1, result['sent']) * 1000:.2f} ms per mail", file=sys.stderr)
                print(f"ceiling (same sink, one smtplib connection): {ceil:.0f} mails/s", file=sys.stderr)
                print(f"in-process send_due: {result} in {took:.2f} s = {result['sent'] / took:.0f} mails/s", file=sys.stderr)
                if args.profile_sort != "none":
                    pstats.Stats(prof, stream=sys.stderr).sort_stats(args.profile_sort).print_stats(35)
                s.execute(delete(SentNotificationEntry))
                s.commit()
                return {"config": name, "profile": True}

            env = dict(os.environ, FLASK_APP="app", PYTHONPATH=str(ROOT))
            procs = [subprocess.Popen([FLASK, "worker", "--simple"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(args.workers)]
            time.sleep(4)
            queue = get_queue()

            runs = []
            for r in range(args.repeat):
                load = SinkLoad(sinks, counter)
                ceil_one = ceiling(port, ceiling_messages, 1)
                sink_at_ceiling = load.done()
                ceil_all = ceiling(port, ceiling_messages, args.sink_procs) if args.sink_procs > 1 else ceil_one
                s.execute(delete(SentNotificationEntry))
                s.commit()
                add_entries(f"r{r}")
                before = counter.value
                load = SinkLoad(sinks, counter)
                split = CpuSplit([p.pid for p in procs])
                t0 = utcnow()
                for _ in range(args.workers):
                    queue.enqueue("jobs.notifications.send_notifications", result_ttl=0)
                wait_until_notifications_sent(s, time.monotonic() + 600, step=0.1)
                sink_in_run = load.done()
                cpu_split = split.done(counter.value - before)
                first = s.scalar(select(func.min(SentNotificationEntry.sent_at)))
                last = s.scalar(select(func.max(SentNotificationEntry.sent_at)))
                sent = s.scalar(select(func.count(SentNotificationEntry.id)))
                failed = s.scalar(select(func.count(NotificationEntry.id)))
                s.rollback()
                time.sleep(0.3)
                received = counter.value - before
                took = (last - t0).total_seconds()
                # the ceiling again right after: the machine is shared, its load drifts; the mean of both counts
                ceil_one = (ceil_one + ceiling(port, ceiling_messages, 1)) / 2
                if args.sink_procs > 1:
                    ceil_all = (ceil_all + ceiling(port, ceiling_messages, args.sink_procs)) / 2
                else:
                    ceil_all = ceil_one
                runs.append({"mails_per_s": round(sent / took, 1), "ceiling_per_s": round(ceil_one, 1),
                             "ceiling_all_per_s": round(ceil_all, 1), "ratio": round(sent / took / ceil_one, 2),
                             "sent": sent, "left": failed, "received_at_sink": received, "seconds": round(took, 2),
                             "start_lag_s": round((first - t0).total_seconds(), 2),
                             "sink_at_ceiling": sink_at_ceiling, "sink_in_run": sink_in_run,
                             "cpu_ms_per_mail": cpu_split})
                print(json.dumps({"repeat": r, **runs[-1]}), file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in sinks:
            p.terminate()

    def summary(key):
        values = [r[key] for r in runs]
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {"config": name, "workers": args.workers, "entries": args.entries, "recipients": args.recipients,
            "sink_procs": args.sink_procs, "store": not args.no_store, "runs": runs,
            "mails_per_s": summary("mails_per_s"), "ceiling_per_s": summary("ceiling_per_s"),
            "ceiling_all_per_s": summary("ceiling_all_per_s"), "ratio": summary("ratio")}


def child(name: str, args) -> None:
    with scratch_services(name, "notification-bench-", "notificationbench", "notification_bench", 14,
                          PORTAL_BASE_URL="http://127.0.0.1:5000"):
        print(json.dumps(run_config(name, args)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--recipients", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ceiling-mails", type=int, default=3000)
    parser.add_argument("--sink-procs", type=int, default=1, help="sink processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--no-store", action="store_true", help="the sink counts mails instead of storing them in a Maildir")
    parser.add_argument("--profile", action="store_true", help="profile one in-process send_due instead")
    parser.add_argument("--profile-sort", default="cumulative", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    passthrough = [a for a in sys.argv[1:] if not a.startswith("--only") and a not in ("sqlite", "postgres")]
    out = subprocess.run([sys.executable, __file__, "--child", args.only, *passthrough], stdout=subprocess.PIPE, text=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
    if line is None:
        print(f"{args.only}: failed\n{out.stdout[-3000:]}")
        return
    r = json.loads(line)
    if r.get("profile"):
        return
    m, c, q = r["mails_per_s"], r["ceiling_per_s"], r["ratio"]
    print(f"{r['config']} · {r['workers']} workers · {r['entries']:,} notifications for {r['recipients']} recipients · "
          f"sink: {r['sink_procs']} process(es), {'stores to a Maildir' if r['store'] else 'counts only'}")
    for i, run in enumerate(r["runs"]):
        print(f"  run {i + 1}: {run['mails_per_s']:.0f} mails/s ({run['sent']:,} sent in {run['seconds']:.1f} s, "
              f"{run['received_at_sink']:,} received at the sink, {run['left']} left) · ceiling {run['ceiling_per_s']:.0f}/s "
              f"(one smtplib connection)" + (f", {run['ceiling_all_per_s']:.0f}/s ({r['sink_procs']} connections)" if r['sink_procs'] > 1 else "")
              + f" · ratio {run['ratio']:.2f}")
        for label, key in (("ceiling loop", "sink_at_ceiling"), ("workers' run", "sink_in_run")):
            if run.get(key):
                print(f"          sink during the {label}: {run[key]['per_mail_ms']:.2f} ms CPU a mail, busy {run[key]['busy']:.0%} of the time")
    print(f"  mails/s min {m['min']:.0f} median {m['median']:.0f} · ceiling min {c['min']:.0f} median {c['median']:.0f} · "
          f"ratio min {q['min']:.2f} median {q['median']:.2f}"
          + (f" · {r['sink_procs']}-connection ceiling median {r['ceiling_all_per_s']['median']:.0f}" if r['sink_procs'] > 1 else ""))


if __name__ == "__main__":
    main()
