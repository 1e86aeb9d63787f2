"""Flask CLI commands: ``flask worker``, ``flask scheduler``, ``flask up``,
``flask import-northwind`` and ``flask setup-demo``."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import click
from flask import Flask, current_app

from portal.extensions import db

DEMO_SIGN_INS = [
    ("msuyama", "northwind", "Michael Suyama, sales representative (limit 1,000)"),
    ("lcallahan", "northwind", "Laura Callahan, inside sales coordinator (flow maker, limit 2,000)"),
    ("sbuchanan", "northwind", "Steven Buchanan, sales manager (limit 5,000)"),
    ("afuller", "northwind", "Andrew Fuller, vice president of sales (unlimited, admin)"),
    ("admin", "admin", "Portal administrator, approval administrator"),
]


def setup_demo(directory: str | None = None) -> list[str]:
    """Import what is missing of the Northwind data, the default notification
    templates and the demo workflows, refresh the read-only workflow template library
    and create the number series that don't exist yet; commit. Existing records are
    left as they are and nothing the import added once is added again (see
    :mod:`portal.importers.northwind` and :mod:`portal.importers.demo`), so it is safe
    on every start (``flask up``).

    ``directory``: the Northwind CSV files (default: ``NORTHWIND_DIR``). Returns
    printable report lines: per file / part "N new, M already there", the total, the
    skipped rows by file and line. Raises what :func:`import_northwind` raises (before
    anything is written)."""
    from portal.importers.demo import install_demo_workflows, install_notification_templates
    from portal.importers.northwind import SOURCE, import_northwind
    from portal.records.numbering import ensure_series
    from portal.workflow.library import TEMPLATES, install_templates

    directory = directory or current_app.config["NORTHWIND_DIR"]
    report = import_northwind(directory, db.session)
    install_notification_templates(db.session, report)
    install_demo_workflows(db.session, report, SOURCE)
    templates = install_templates(db.session)
    series = ensure_series(db.session)
    db.session.commit()
    lines = [f"Import from {directory}:", *report.summary()]
    lines.append(f"workflow templates (read-only library, refreshed): {len(templates)} new, "
                 f"{len(TEMPLATES) - len(templates)} already there")
    lines.append(f"number series created: {', '.join(series) or 'none (already there)'}")
    return lines


def run_worker(burst: bool = False, simple: bool = False) -> None:
    """Run an RQ worker on the portal queue (with RQ's scheduler for retries).
    ``simple`` runs jobs in the worker process itself (RQ's SimpleWorker: no fork per
    job, several times the throughput for short jobs; a crash takes the worker down,
    which the job queue's run leases notice) instead of a forked work horse."""
    from rq import SimpleWorker, Worker

    from portal.queue import get_queues, get_redis

    worker = (SimpleWorker if simple else Worker)(get_queues(), connection=get_redis())
    worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")


def gunicorn_command(host: str, port: int) -> list[str]:
    """The production web server's command line: gunicorn serving ``app:app`` with
    ``WEB_CONCURRENCY`` worker processes (default 2) of 4 threads each, access log on
    standard output, no ``Server`` version banner beyond its name."""
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", workers, "--threads", "4",
            "--worker-class", "gthread", "--access-logfile", "-", "--timeout", "60", "app:app"]


def register(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Quit when the queue is empty.")
    @click.option("--simple", is_flag=True, help="Run jobs in this process (no fork per job): faster for many short jobs.")
    def worker_command(burst: bool, simple: bool):
        """Run an RQ worker (starts the embedded Redis-compatible server if needed)."""
        from portal.embedded import ensure_redis

        logging.basicConfig(level=logging.INFO)
        server = ensure_redis(current_app)
        try:
            run_worker(burst, simple)
        finally:
            if server:
                server.stop()

    @app.cli.command("scheduler")
    @click.option("--seconds", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")
    def scheduler_command(seconds: float | None):
        """Run the job queue scheduler: about every second the active scheduler (one
        at a time, by a database lease; others stand by) claims due job queue entries
        and enqueues them on RQ. SIGTERM / Ctrl+C stop it and release the lease."""
        import threading

        from portal.jobqueue.scheduler import Scheduler

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        Scheduler(db.session).run(seconds=seconds, stop=stop)

    @app.cli.command("import-northwind")
    @click.argument("directory", required=False)
    def import_northwind_command(directory: str | None):
        """Import the Northwind CSV files from DIRECTORY (default: the bundled copy),
        plus default notification templates and the demo workflows: only what is
        missing and was never imported before; existing records are left as they
        are. Reports "N new, M already there" per file and the bad rows by line; a
        missing file or one that isn't UTF-8 CSV stops it with a message (file and
        line) before anything is written."""
        try:
            lines = setup_demo(directory)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None
        for line in lines:
            click.echo(line)

    @app.cli.command("up")
    @click.option("--host", default=os.environ.get("PORTAL_HOST", "127.0.0.1"))
    @click.option("--port", default=int(os.environ.get("PORTAL_PORT", "5000")), type=int)
    @click.option("--no-import", is_flag=True, help="Skip the Northwind import.")
    @click.option("--production", is_flag=True,
                  help="Serve with gunicorn (WEB_CONCURRENCY processes, 4 threads each) instead of the development server.")
    def up_command(host: str, port: int, no_import: bool, production: bool):
        """Everything at once: migrate, import Northwind, start the embedded
        Redis-compatible server and SMTP sink (when not configured), a worker, the
        scheduler and the web server (gunicorn with ``--production``)."""
        from flask_migrate import upgrade
        from werkzeug.serving import run_simple

        from portal.embedded import ensure_redis, ensure_smtp_sink

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        upgrade()
        if not no_import:
            for line in setup_demo():
                click.echo(line)
        redis_server = ensure_redis(current_app)
        sink = ensure_smtp_sink(current_app)
        env = dict(os.environ)
        env.setdefault("FLASK_APP", "app")
        env.setdefault("PORTAL_BASE_URL", f"http://{host}:{port}")  # links in e-mails sent by the worker
        children = [
            subprocess.Popen([sys.executable, "-m", "flask", "worker"], env=env),
            subprocess.Popen([sys.executable, "-m", "flask", "scheduler"], env=env),
        ]

        stopped = []

        def shutdown() -> None:
            """Stop the children, the SMTP sink and the embedded server, once (a second
            call, e.g. from the signal handler and the ``finally``, does nothing) and
            without a traceback: a part that already stopped is left as it is."""
            if stopped:
                return
            stopped.append(True)
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
            for part in (sink, redis_server):
                if part:
                    try:
                        part.stop()
                    except Exception as exc:  # noqa: BLE001 - stopping; say what didn't stop cleanly
                        click.echo(f"(while stopping: {exc})", err=True)

        def on_signal(*_):
            # SIGTERM (and Ctrl+C while gunicorn serves): leave the serving loop; the
            # ``finally`` below stops everything once
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        url = f"http://{host}:{port}/"
        click.echo("")
        click.echo(f"Workflow Portal is running at {url}")
        click.echo(f"  Redis: {current_app.config['REDIS_URL']}{' (embedded)' if current_app.config['EMBEDDED_REDIS'] else ''}")
        click.echo(f"  SMTP:  {current_app.config['MAIL_SERVER']}:{current_app.config['MAIL_PORT']}{' (local sink; see Mailbox)' if current_app.config['MAIL_SINK'] else ''}")
        click.echo("  Demo sign-ins (user / password):")
        for user, password, who in DEMO_SIGN_INS:
            click.echo(f"    {user:10} / {password:10} {who}")
        click.echo("Press Ctrl+C to stop.")
        try:
            if production:
                children.append(subprocess.Popen(gunicorn_command(host, port), env=env))
                children[-1].wait()
            else:
                run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C doesn't interrupt the stopping
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            shutdown()
        click.echo("Stopped.")
