"""Job queue entries on real RQ workers and the test database: one-time entries
finish, recurring ones get their next run, failures are retried then end in Error
with a notification (and e-mail) to the owner, categories run one entry at a time in
priority order, Run now, the catch-up policy after a scheduler outage, scheduled flows
(one workflow instance per matching record), runs lost with Redis, and a worker killed
in the middle of a run."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from portal.auth.models import User
from portal.jobqueue import service
from portal.jobqueue.models import (
    JobQueueCategory,
    JobQueueEntry,
    JobQueueLogEntry,
    SchedulerLease,
)
from portal.jobqueue.scheduler import Scheduler
from portal.records.models import Customer
from portal.util import utcnow
from portal.workflow.library import build_workflow
from portal.workflow.models import OutboxEvent, Workflow, WorkflowInstance

ROOT = Path(__file__).resolve().parents[2]
JQ_TABLES = ("job_queue_log_entry", "job_queue_entry", "job_queue_category", "scheduler_lease")


def clear_job_queue(session) -> None:
    for table in JQ_TABLES:
        session.execute(text(f"DELETE FROM {table}"))
    session.commit()


@pytest.fixture
def s(app, clean_state):
    """A session on an empty job queue (emptied again afterwards, with the test's
    scheduled workflows)."""
    from portal.extensions import db

    with app.app_context():
        clear_job_queue(db.session)
        yield db.session
        db.session.rollback()
        clear_job_queue(db.session)
        for wf in db.session.scalars(select(Workflow).where(Workflow.code.like("JQTEST-%"))).unique():
            db.session.execute(delete(WorkflowInstance).where(WorkflowInstance.workflow_id == wf.id))
            db.session.delete(wf)
        db.session.commit()
        db.session.remove()


def admin(s) -> User:
    return s.scalar(select(User).where(User.user_name == "admin"))


def new_entry(s, target: str, **fields) -> JobQueueEntry:
    data = service.EntryData(description=fields.pop("description", f"Test {target}"), target=target, **fields)
    entry = service.save_entry(s, None, data, admin(s))
    s.commit()
    return entry


def tick(s) -> list:
    """One scheduler step without the loop: claim what is due and enqueue it."""
    runs = service.claim_due(s)
    service.enqueue_runs(runs)
    return runs


def work(s, run_jobs) -> None:
    s.commit()
    run_jobs()
    s.expire_all()


def logs(s, entry) -> list[JobQueueLogEntry]:
    s.expire_all()
    return s.scalars(select(JobQueueLogEntry).where(JobQueueLogEntry.entry_id == entry.id).order_by(JobQueueLogEntry.id)).all()


def old_outbox_event(s, days: int, status: str = "done") -> int:
    ev = OutboxEvent(event_code="record_modified", record_type="customer", record_id=1, payload={}, status=status,
                     created_at=utcnow() - timedelta(days=days))
    s.add(ev)
    s.commit()
    return ev.id


def test_one_time_entry_runs_once_then_is_finished(s, run_jobs):
    old, recent = old_outbox_event(s, 10), old_outbox_event(s, 1)
    entry = new_entry(s, "system_job:archive_cleanup", parameters={"older_than_days": 5})
    assert entry.status == "Ready" and entry.next_run_at is not None
    [run] = tick(s)
    assert s.get(JobQueueEntry, entry.id).status == "In Process"
    assert tick(s) == []  # claimed once only
    work(s, run_jobs)
    [log] = logs(s, entry)
    assert (log.status, log.attempt, log.started_by, log.rq_job_id) == ("Success", 1, "Scheduler", run.rq_job_id)
    assert '"outbox_events": 1' in log.result and log.started_at >= log.enqueued_at and log.duration_seconds is not None
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Finished" and entry.next_run_at is None
    assert s.get(OutboxEvent, old) is None and s.get(OutboxEvent, recent) is not None
    assert tick(s) == []


def test_search_index_maintenance_merges_the_search_indexes_and_search_still_finds(s, run_jobs):
    """The nightly system job: on SQLite the customers' FTS5 table, written in one
    segment per transaction by its triggers, ends in one segment (FTS5 ``optimize``);
    on PostgreSQL the trigram indexes' pending lists are merged. A search finds the
    same customers before and after."""
    from portal.jobqueue.system_jobs import SYSTEM_JOBS
    from portal.records.listing import list_query
    from portal.records.registry import LIST_VIEWS

    assert SYSTEM_JOBS["search_index_maintenance"].recurrence == {"recurrence_kind": "cron", "cron_expression": "45 3 * * *"}
    added = []
    for i in range(12):  # one transaction each: one FTS5 segment each on SQLite
        c = Customer(no=f"MAINT{i:02d}", name=f"Wartungshandel {i}", credit_limit=0)
        s.add(c)
        s.commit()
        added.append(c.id)
    rt = LIST_VIEWS["customers"]

    def found():
        return sorted(s.scalars(list_query(rt, "wartungshandel", "no", s.get_bind().dialect.name).ids))

    before = found()
    assert before == sorted(added)
    sqlite = s.get_bind().dialect.name == "sqlite"
    if sqlite:
        # the index of the FTS5 segments' leaf pages: a row per segment and page run
        segments = lambda: s.execute(text("SELECT count(DISTINCT segid) FROM customer_fts_idx")).scalar()  # noqa: E731
        assert segments() > 1
    entry = new_entry(s, "system_job:search_index_maintenance")
    tick(s)
    work(s, run_jobs)
    [log] = logs(s, entry)
    assert log.status == "Success", log.error_message
    assert ("customer_fts: merged into one segment" if sqlite else "ix_customer_name_trgm:") in log.result
    if sqlite:
        assert segments() == 1
    assert found() == before
    s.execute(delete(Customer).where(Customer.id.in_(added)))
    s.commit()


def test_failures_are_retried_then_error_and_the_owner_is_told(s, run_jobs, sink):
    # older_than_days=0 is refused by the clean-up job: a real failure every time.
    entry = new_entry(s, "system_job:archive_cleanup", parameters={"older_than_days": 0}, max_attempts=2, rerun_delay_seconds=0,
                      recurrence_kind="minutes", minutes_between_runs=60)
    service.run_now(s, entry, admin(s))
    tick(s)
    work(s, run_jobs)
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Ready" and entry.attempt == 1 and "older_than_days must be 1 or more" in entry.last_error
    [first] = logs(s, entry)
    assert first.status == "Error" and "JobError" in first.error_traceback and "older_than_days" in first.error_message

    tick(s)  # the retry (rerun delay 0 s)
    work(s, run_jobs)
    first, second = logs(s, entry)
    assert second.status == "Error" and second.attempt == 2 and second.due_at == first.due_at
    assert first.started_by.startswith("Run now by ") and second.started_by == "Scheduler (retry, attempt 2 of 2)"
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Error" and entry.next_run_at is None  # stopped, visibly, not silently disabled
    assert tick(s) == []
    [mail] = sink.wait_for("admin@", "Job failed")
    assert "older_than_days must be 1 or more" in sink.body(mail) and f"/job-queue/{entry.id}" in sink.body(mail)

    # Set Status to Ready brings it back with a fresh count of attempts.
    service.set_ready(s, entry, admin(s))
    s.commit()
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Ready" and entry.attempt == 0 and entry.last_error is None


def test_a_category_runs_one_entry_at_a_time_in_priority_order(s, run_jobs):
    low = new_entry(s, "system_job:archive_cleanup", description="low", category_code="cleanup", priority=3)
    high = new_entry(s, "system_job:archive_cleanup", description="high", category_code="CLEANUP", priority=1)
    normal = new_entry(s, "system_job:archive_cleanup", description="normal", category_code="CLEANUP", priority=2)
    free = new_entry(s, "system_job:archive_cleanup", description="no category", priority=3)
    assert s.get(JobQueueCategory, "CLEANUP") is not None and low.category_code == "CLEANUP"
    order = []
    for _ in range(3):
        runs = tick(s)
        in_process = s.scalar(select(func.count()).where(JobQueueEntry.category_code == "CLEANUP", JobQueueEntry.status == "In Process"))
        assert in_process == 1
        assert tick(s) == []  # the category is busy
        order += [r.entry_id for r in runs]
        work(s, run_jobs)
    assert order == [free.id, high.id, normal.id, low.id]
    assert s.get(JobQueueCategory, "CLEANUP").running_entry_id is None
    assert {e.status for e in s.scalars(select(JobQueueEntry))} == {"Finished"}


def test_run_now_then_the_regular_schedule_continues(s, run_jobs):
    entry = new_entry(s, "system_job:archive_cleanup", recurrence_kind="cron", cron_expression="0 3 * * *", time_zone="Europe/Berlin")
    regular = entry.next_run_at
    assert regular > utcnow() and tick(s) == []
    service.run_now(s, entry, admin(s))
    s.commit()
    [run] = tick(s)
    work(s, run_jobs)
    [log] = logs(s, entry)
    assert log.status == "Success" and log.started_by == "Run now by Administrator" or log.started_by.startswith("Run now by ")
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Ready" and entry.next_run_at == regular and entry.run_requested_by_id is None


def test_actions_refuse_what_does_not_fit_the_status(s):
    entry = new_entry(s, "system_job:archive_cleanup", recurrence_kind="minutes", minutes_between_runs=5)
    with pytest.raises(service.JobQueueError, match="only On Hold, Error and Finished"):
        service.set_ready(s, entry)
    service.set_on_hold(s, entry)
    s.commit()
    assert s.get(JobQueueEntry, entry.id).status == "On Hold"
    service.run_now(s, entry)
    s.commit()
    tick(s)
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "In Process"
    for action in (service.set_on_hold, service.restart, service.run_now):
        with pytest.raises(service.JobQueueError, match="In Process"):
            action(s, entry)


def test_catch_up_policy_after_the_scheduler_was_down(s, run_jobs):
    """The previous scheduler's last renewal was 15 minutes ago; two every-minute
    entries were due 10 minutes ago. The new scheduler runs the run-once one once (not
    ten times) and skips the other, with a Skipped log entry."""
    run_once = new_entry(s, "system_job:archive_cleanup", description="run once", recurrence_kind="minutes", minutes_between_runs=1)
    skip = new_entry(s, "system_job:archive_cleanup", description="skip", recurrence_kind="minutes", minutes_between_runs=1, catch_up="skip")
    now = utcnow()
    missed = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    s.execute(JobQueueEntry.__table__.update().values(next_run_at=missed, due_at=missed))
    s.add(SchedulerLease(name="scheduler", holder="dead-host:1:abc", acquired_at=now - timedelta(hours=1),
                         renewed_at=now - timedelta(minutes=15), expires_at=now - timedelta(minutes=15) + timedelta(seconds=5)))
    s.commit()
    scheduler = Scheduler(s, holder="test-scheduler")
    report = scheduler.run_pass()
    assert report.active and report.took_over and report.catch_up == {"run_once": 1, "skipped": 1} and report.enqueued >= 1
    work(s, run_jobs)
    [ran] = logs(s, run_once)
    assert ran.status == "Success" and ran.due_at == missed
    [skipped] = logs(s, skip)
    assert skipped.status == "Skipped" and skipped.due_at == missed and "no scheduler was running" in skipped.result
    for entry in (run_once, skip):
        entry = s.get(JobQueueEntry, entry.id)
        assert entry.status == "Ready" and entry.next_run_at > now
    # The system jobs were registered on taking over, and a second pass claims nothing old again.
    codes = s.scalars(select(JobQueueEntry.system_job).where(JobQueueEntry.description.notin_(["run once", "skip"]))).all()
    assert sorted(codes) == ["delegate_approval_requests", "notification_dispatch", "outbox_sweep", "overdue_approvals",
                            "search_index_maintenance"]  # archive_cleanup had entries already
    s.execute(JobQueueEntry.__table__.update().where(JobQueueEntry.description.notin_(["run once", "skip"])).values(status="On Hold"))
    s.commit()
    assert scheduler.run_pass().enqueued == 0
    service.release_lease(s, "test-scheduler")


def test_a_run_claimed_by_a_scheduler_killed_before_enqueuing_is_enqueued_on_takeover(s, run_jobs):
    """The active scheduler committed its claim and died before putting the run on
    RQ. The scheduler taking over enqueues it in its first pass (the usual
    wait of ``JOB_QUEUE_REQUEUE_AFTER_SECONDS`` is for a Redis that lost jobs)."""
    from portal.queue import get_queue

    entry = new_entry(s, "system_job:archive_cleanup")
    [claimed] = service.claim_due(s)  # claimed, never enqueued
    s.commit()
    assert claimed.rq_job_id not in get_queue().job_ids
    now = utcnow()
    s.add(SchedulerLease(name="scheduler", holder="killed-host:1:abc", acquired_at=now - timedelta(minutes=1),
                         renewed_at=now - timedelta(seconds=6), expires_at=now - timedelta(seconds=1)))
    s.commit()
    scheduler = Scheduler(s, holder="test-scheduler")
    report = scheduler.run_pass()
    assert report.took_over and report.reconciled["requeued"] == 1
    assert claimed.rq_job_id in get_queue().job_ids
    work(s, run_jobs)
    [log] = logs(s, entry)
    assert log.status == "Success" and log.id == claimed.log_entry_id
    assert scheduler.run_pass().reconciled.get("requeued", 0) == 0
    service.release_lease(s, "test-scheduler")


def test_lease_one_active_scheduler_and_takeover_after_expiry(s):
    t0 = datetime(2030, 1, 1, 12, 0, 0)
    a = service.hold_lease(s, "A", t0, ttl=5)
    b = service.hold_lease(s, "B", t0 + timedelta(seconds=1), ttl=5)
    assert a.active and a.took_over and a.gap_start is None and not b.active
    assert service.hold_lease(s, "A", t0 + timedelta(seconds=2), ttl=5).active  # renewed until 12:00:07
    assert not service.hold_lease(s, "B", t0 + timedelta(seconds=6), ttl=5).active
    taken = service.hold_lease(s, "B", t0 + timedelta(seconds=8), ttl=5)
    assert taken.active and taken.took_over and taken.gap_start == t0 + timedelta(seconds=2)
    assert not service.hold_lease(s, "A", t0 + timedelta(seconds=9), ttl=5).active
    service.release_lease(s, "B", t0 + timedelta(seconds=10))
    assert service.hold_lease(s, "A", t0 + timedelta(seconds=10, microseconds=1), ttl=5).took_over


SCHEDULED_GERMANY = {
    "code": "JQTEST-DE",
    "description": "Weekly note for each customer in Germany",
    "record_type": "customer",
    "trigger_kind": "scheduled",
    "steps": [
        (1, None, None, 1, "event", "schedule_fired", {}, [{"field": "country", "operator": "=", "value": "Germany"}]),
        (2, 1, None, 1, "response", "show_message", {"message": "Weekly check done"}, []),
    ],
}
SCHEDULED_STATEMENT = {
    "code": "JQTEST-ALFKI",
    "description": "Monthly statement for Alfreds Futterkiste",
    "record_type": "customer",
    "trigger_kind": "scheduled",
    "steps": [
        (1, None, None, 1, "event", "schedule_fired", {}, [{"field": "no", "operator": "=", "value": "ALFKI"}]),
        (2, 1, None, 1, "response", "send_email", {"template": "customer_statement", "to_field": "email"}, []),
    ],
}
SCHEDULED_NO_RECORD = {
    "code": "JQTEST-HELLO",
    "description": "A scheduled flow without a record",
    "trigger_kind": "scheduled",
    "steps": [
        (1, None, None, 1, "event", "schedule_fired", {}, []),
        (2, 1, None, 1, "response", "show_message", {"message": "Hello from the schedule"}, []),
    ],
}


def test_scheduled_flow_starts_one_run_per_matching_record(s, run_jobs, sink):
    for definition in (SCHEDULED_GERMANY, SCHEDULED_STATEMENT, SCHEDULED_NO_RECORD):
        s.add(build_workflow(definition))
    s.commit()
    wfs = {wf.code: wf for wf in s.scalars(select(Workflow).where(Workflow.code.like("JQTEST-%"))).unique()}
    germany = new_entry(s, f"workflow:{wfs['JQTEST-DE'].id}", recurrence_kind="cron", cron_expression="0 8 * * 1", time_zone="Europe/Berlin")
    statement = new_entry(s, f"workflow:{wfs['JQTEST-ALFKI'].id}", parameters={"message": "Your monthly statement."},
                          recurrence_kind="formula", next_run_date_formula="first day of next month", starting_time=datetime(2000, 1, 1, 6).time())
    hello = new_entry(s, f"workflow:{wfs['JQTEST-HELLO'].id}")
    for entry in (germany, statement):
        service.run_now(s, entry, admin(s))
    s.commit()
    assert len(tick(s)) == 3
    work(s, run_jobs)  # the runs, then the dispatcher they enqueue

    german = s.scalars(select(Customer.id).where(Customer.country == "Germany")).all()
    runs = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "JQTEST-DE")).unique().all()
    assert sorted(r.record_id for r in runs) == sorted(german) and len(german) == 11
    assert {(r.status, r.trigger, r.result) for r in runs} == {("Completed", "schedule_fired", "Weekly check done")}
    assert "Started 11 run(s) of JQTEST-DE" in logs(s, germany)[0].result
    [single] = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "JQTEST-HELLO")).unique().all()
    assert single.record_id is None and single.status == "Completed" and single.result == "Hello from the schedule"
    [mail] = sink.wait_for("alfki@customers.northwind.test", "Statement of open orders")
    assert "Your monthly statement." in sink.body(mail)
    assert s.get(JobQueueEntry, hello.id).status == "Finished"
    entry = s.get(JobQueueEntry, statement.id)
    assert entry.status == "Ready" and entry.next_run_at.day == 1

    # A retried run never starts the instances twice: the log entry is closed.
    [log] = logs(s, germany)
    assert service.finish_run(s, log.id, ok=True) == "already recorded"


def test_entries_for_a_workflow_need_the_schedule_event(s):
    s.add(build_workflow({**SCHEDULED_NO_RECORD, "code": "JQTEST-WRONG",
                          "steps": [(1, None, None, 1, "event", "record_created", {}, []), (2, 1, None, 1, "response", "do_nothing", {}, [])]}))
    s.commit()
    wf = s.scalar(select(Workflow).where(Workflow.code == "JQTEST-WRONG"))
    with pytest.raises(service.EntryErrors) as err:
        new_entry(s, f"workflow:{wf.id}")
    assert "doesn't start with the event “A schedule fires”" in err.value.errors["target"]


def test_runs_lost_with_redis_are_enqueued_again(s, run_jobs):
    from portal.queue import get_queue

    entry = new_entry(s, "system_job:archive_cleanup")
    tick(s)
    get_queue().empty()  # what a Redis restart without persistence leaves: no queue, no job
    s.execute(JobQueueLogEntry.__table__.update().values(enqueued_at=utcnow() - timedelta(minutes=2)))
    s.commit()
    assert service.reconcile(s)["requeued"] == 1
    work(s, run_jobs)
    [log] = logs(s, entry)
    assert log.status == "Success" and s.get(JobQueueEntry, entry.id).status == "Finished"


def dispatch_stuck_on_smtp(s, services, tmp_path, max_attempts: int, mail_timeout: int, lease_seconds: int):
    """A notification dispatch entry claimed and run by a real ``flask worker``
    subprocess (its own session) against an SMTP server that never answers; returns
    (entry, worker Popen, the silent server's socket) once its run is In Process. The
    caller kills the worker and closes the socket."""
    from portal.notifications.models import NotificationEntry

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts connections into the backlog, never answers
    s.add(NotificationEntry(type="New Record", recipient_id=admin(s).id, template_code="workflow_failed", custom_message="hello"))
    entry = new_entry(s, "system_job:notification_dispatch", max_attempts=max_attempts, rerun_delay_seconds=0)
    tick(s)
    env = {**os.environ, **services, "MAIL_PORT": str(hang.getsockname()[1]), "MAIL_TIMEOUT": str(mail_timeout),
           "JOB_QUEUE_RUN_LEASE_SECONDS": str(lease_seconds)}
    out = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and logs(s, entry)[0].status != "In Process":
        time.sleep(0.2)
    if logs(s, entry)[0].status != "In Process":
        os.killpg(worker.pid, signal.SIGKILL)
        hang.close()
        raise AssertionError((tmp_path / "worker.log").read_text()[-2000:])
    return entry, worker, hang


def test_a_worker_killed_mid_run_is_failed_then_retried(s, run_jobs, services, tmp_path):
    """A real ``flask worker`` runs the notification dispatch while the SMTP server
    never answers; the work horse and the worker are killed with SIGKILL (as when a
    host dies). The run's lease runs out, the scheduler's reconcile records the run
    as failed and the retry runs on another worker."""
    entry, worker, hang = dispatch_stuck_on_smtp(s, services, tmp_path, max_attempts=3, mail_timeout=60, lease_seconds=2)
    try:
        time.sleep(1.0)  # the lease is being renewed meanwhile
        assert service.reconcile(s)["failed"] == 0
        # The work horse runs in its own session: kill it (its pid is in the log entry) and the worker.
        horse = int(re.search(r"\(pid (\d+)\)", logs(s, entry)[0].worker).group(1))
        os.kill(horse, signal.SIGKILL)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        hang.close()
    time.sleep(2.5)  # longer than the lease
    assert service.reconcile(s)["failed"] == 1
    [dead] = logs(s, entry)
    assert dead.status == "Error" and "stopped responding" in dead.error_message
    assert s.get(JobQueueEntry, entry.id).status == "Ready"
    tick(s)
    work(s, run_jobs)
    dead, retry = logs(s, entry)
    assert retry.status == "Success" and retry.attempt == 2 and retry.due_at == dead.due_at
    assert s.get(JobQueueEntry, entry.id).status == "Finished"


# ---------------------------------------------------------------- pages

def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def admin_client(app, s):
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    client.post("/sign-in", data={"user_name": "admin", "password": "admin", "csrf_token": csrf(page)})
    return client


FORM = {
    "description": "Weekday statement run", "target": "system_job:archive_cleanup", "parameters": '{"older_than_days": 45}',
    "recurrence_kind": "cron", "cron_expression": "0 9 * * 1-5", "time_zone": "Europe/Berlin", "run_on_weekdays": [str(i) for i in range(7)],
    "max_attempts": "3", "rerun_delay_seconds": "60", "timeout_seconds": "600", "priority": "2", "catch_up": "run_once",
}


def post_form(client, url, **changes):
    page = client.get(url).get_data(as_text=True)
    data = {**FORM, **changes, "csrf_token": csrf(page)}
    owner = re.search(r'<select id="owner_id" name="owner_id">\s*<option [^>]*value="(\d+)"', page)
    data.setdefault("owner_id", owner.group(1))
    return client.post(url, data=data)


def test_job_queue_pages_are_for_admins_only(app, s):
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    client.post("/sign-in", data={"user_name": "msuyama", "password": "northwind", "csrf_token": csrf(page)})
    assert client.get("/job-queue/").status_code == 403
    assert "Job Queue" not in client.get("/customers").get_data(as_text=True)


def test_invalid_recurrences_are_rejected_in_the_form_and_the_input_is_kept(admin_client, s):
    res = post_form(admin_client, "/job-queue/new", cron_expression="0 25 * * *")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "not a valid cron expression" in html and 'value="0 25 * * *"' in html
    assert 'value="Weekday statement run"' in html
    res = post_form(admin_client, "/job-queue/new", recurrence_kind="minutes", minutes_between_runs="15", starting_time="17:00", ending_time="08:00")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "The ending time must be after the starting time." in html and 'value="17:00"' in html
    res = post_form(admin_client, "/job-queue/new", earliest_start_local="2031-06-01T08:00", expires_local="2031-05-01T08:00")
    assert "The expiration date/time must be after the earliest start date/time." in res.get_data(as_text=True)
    res = post_form(admin_client, "/job-queue/new", parameters="[1, 2]", max_attempts="0", time_zone="Mars/Olympus")
    html = res.get_data(as_text=True)
    assert "Parameters must be a JSON object" in html and "not a known time zone" in html and "between 1 and 100" in html
    assert s.scalar(select(func.count()).select_from(JobQueueEntry)) == 0


def test_create_act_and_read_the_log_through_the_pages(admin_client, s, run_jobs):
    res = post_form(admin_client, "/job-queue/new")
    assert res.status_code == 302
    entry = s.scalar(select(JobQueueEntry))
    assert entry.parameters == {"older_than_days": 45} and entry.time_zone == "Europe/Berlin" and entry.status == "Ready"
    card = admin_client.get(res.headers["Location"]).get_data(as_text=True)
    assert "At 09:00, Monday through Friday (Europe/Berlin)" in card and "Set On Hold" in card
    listing = admin_client.get("/job-queue/").get_data(as_text=True)
    assert "Weekday statement run" in listing and "Waiting (Ready)" in listing and "no scheduler is running" in listing
    fragment = admin_client.get("/job-queue/?status=Ready", headers={"HX-Request": "true", "HX-Target": "jq-results"}).get_data(as_text=True)
    assert "<html" not in fragment and "Weekday statement run" in fragment
    assert admin_client.post(f"/job-queue/{entry.id}/set-on-hold").status_code == 400  # no CSRF token
    token = csrf(card)
    admin_client.post(f"/job-queue/{entry.id}/set-on-hold", data={"csrf_token": token})
    s.expire_all()
    assert s.get(JobQueueEntry, entry.id).status == "On Hold"
    page = admin_client.get(f"/job-queue/{entry.id}", follow_redirects=True).get_data(as_text=True)
    assert "On hold." in page
    # Edit to a failing parameter, Run now, and read the error and the log.
    res = post_form(admin_client, f"/job-queue/{entry.id}", parameters='{"older_than_days": 0}', max_attempts="1")
    assert res.status_code == 302
    admin_client.post(f"/job-queue/{entry.id}/run-now", data={"csrf_token": token})
    tick(s)
    work(s, run_jobs)
    assert s.get(JobQueueEntry, entry.id).status == "Error"
    error = admin_client.get(f"/job-queue/{entry.id}/error").get_data(as_text=True)
    assert "older_than_days must be 1 or more" in error and "Traceback" in error and "set to Ready or restarted" in error
    log_page = admin_client.get(f"/job-queue/{entry.id}/log").get_data(as_text=True)
    assert "Run now by Administrator" in log_page or "Run now by" in log_page
    assert "Error" in admin_client.get("/job-queue/?status=Error").get_data(as_text=True)
    res = admin_client.post(f"/job-queue/{entry.id}/set-ready", data={"csrf_token": token}, follow_redirects=True)
    assert "Ready; next run" in res.get_data(as_text=True)
    res = admin_client.post(f"/job-queue/{entry.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Job queue entry deleted." in res.get_data(as_text=True)
    s.expire_all()
    assert s.get(JobQueueEntry, entry.id) is None and logs(s, entry) == []


def test_a_killed_work_horse_is_reported_by_rq_and_the_retry_runs_on_the_same_worker(s, services, tmp_path):
    """Only the work horse is killed; the worker lives on and RQ marks the job failed at
    once. The run's lease (30 s here) has not run out: reconcile notices the failure
    from RQ, and the retry runs on the same worker."""
    entry, worker, hang = dispatch_stuck_on_smtp(s, services, tmp_path, max_attempts=2, mail_timeout=5, lease_seconds=30)
    try:
        horse = int(re.search(r"\(pid (\d+)\)", logs(s, entry)[0].worker).group(1))
        os.kill(horse, signal.SIGKILL)
        deadline = time.monotonic() + 15
        failed = 0
        while time.monotonic() < deadline and not failed:
            time.sleep(0.3)
            failed = service.reconcile(s)["failed"]
        assert failed == 1, (tmp_path / "worker.log").read_text()[-2000:]
        [dead] = logs(s, entry)
        assert dead.status == "Error" and dead.error_message.startswith("The worker running this job failed: Work-horse terminated")
        hang.close()  # the SMTP server is gone now: the retry fails fast per notification, the job succeeds
        tick(s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and logs(s, entry)[-1].status != "Success":
            time.sleep(0.2)
        dead, retry = logs(s, entry)
        assert retry.status == "Success" and retry.attempt == 2, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        hang.close()


def test_scheduled_workflows_with_a_schedule_get_their_entry(s):
    weekly = build_workflow({**SCHEDULED_GERMANY, "code": "JQTEST-SYNC"})
    weekly.schedule = {"recurrence_kind": "cron", "cron_expression": "0 8 * * 1", "time_zone": "Europe/Berlin",
                       "parameters": {"message": "hi"}}
    off = build_workflow({**SCHEDULED_NO_RECORD, "code": "JQTEST-SYNC-OFF"}, enabled=False)
    off.schedule = {"recurrence_kind": "minutes", "minutes_between_runs": 30, "starting_time": "08:00", "ending_time": "18:00",
                    "run_on_weekdays": "1111100"}
    broken = build_workflow({**SCHEDULED_NO_RECORD, "code": "JQTEST-SYNC-BAD"})
    broken.schedule = {"recurrence_kind": "cron", "cron_expression": "every monday"}
    s.add_all([weekly, off, broken])
    s.commit()
    assert sorted(service.sync_workflow_schedules(s)) == ["JQTEST-SYNC", "JQTEST-SYNC-OFF"]
    assert service.sync_workflow_schedules(s) == []  # once only
    entries = {e.workflow_id: e for e in s.scalars(select(JobQueueEntry)).unique()}
    on, held = entries[weekly.id], entries[off.id]
    assert on.status == "Ready" and service.describe_recurrence(on) == "At 08:00, only on Monday (Europe/Berlin)"
    assert on.parameters == {"message": "hi"} and service.local_time(on.next_run_at, on.time_zone).endswith(("08:00:00 CET", "08:00:00 CEST"))
    assert held.status == "On Hold" and service.describe_recurrence(held) == "Every 30 minutes, 08:00–18:00, Monday through Friday"
    assert broken.id not in entries


def test_expired_entries_finish_without_running(s):
    entry = new_entry(s, "system_job:archive_cleanup", recurrence_kind="minutes", minutes_between_runs=5)
    s.execute(JobQueueEntry.__table__.update().values(next_run_at=utcnow() - timedelta(minutes=1), expires_at=utcnow() - timedelta(seconds=1)))
    s.commit()
    assert service.finish_expired(s) == 1
    assert tick(s) == [] and s.get(JobQueueEntry, entry.id).status == "Finished" and logs(s, entry) == []


def test_every_monday_a_purchase_order_for_each_item_below_its_reorder_level(s, run_jobs):
    """The issue's example: every Monday 08:00, for each item whose inventory is below
    its reorder point (a condition comparing two fields of the item) and that isn't
    blocked, create a purchase order to its vendor. The workflow comes in through the
    export format, which keeps the field comparison; each run is a workflow instance;
    the orders go to each item's vendor with a line for the item."""
    from portal.records.models import Item, PurchaseHeader
    from portal.workflow import service as workflows

    definition = {
        "code": "JQTEST-REORDER", "description": "Reorder low stock every Monday", "category": "Purchases and payables",
        "record_type": "item", "trigger": "scheduled", "input_fields": [], "schedule": None,
        "steps": [
            {"id": 1, "previous": None, "next": None, "sequence": 1, "type": "event", "function": "schedule_fired", "entry_point": True,
             "options": {}, "conditions": [{"field": "inventory", "operator": "<", "value_field": "reorder_point"},
                                           {"field": "blocked", "operator": "=", "value": "false"}]},
            {"id": 2, "previous": 1, "next": None, "sequence": 1, "type": "response", "function": "create_record",
             "options": {"document": "Purchase Order", "partner_no": "{{ record.vendor_no }}", "item_no": "{{ record.no }}",
                         "quantity": "{{ record.reorder_point|int + 10 }}"}, "conditions": []},
        ],
    }
    export = {"format": "workflow-portal/workflows", "version": 1, "workflows": [definition]}
    # a comparison of fields that don't compare is refused, with its place in the file
    bad = {**definition, "code": "JQTEST-BAD", "steps": [{**definition["steps"][0], "conditions": [
        {"field": "inventory", "operator": "<", "value_field": "description"}]}, definition["steps"][1]]}
    with pytest.raises(workflows.WorkflowError) as refused:
        workflows.import_workflows(s, {**export, "workflows": [bad]})
    assert refused.value.problems == ["workflows[0] (JQTEST-BAD): Step 1: Condition 1: inventory (number) can't be compared with description (text)."]
    assert workflows.import_workflows(s, export) == ["JQTEST-REORDER"]
    wf = s.scalar(select(Workflow).where(Workflow.code == "JQTEST-REORDER"))
    workflows.set_enabled(s, wf, True)
    s.commit()
    assert workflows.export_workflows([wf])["workflows"][0]["steps"][0]["conditions"][0] == {
        "field": "inventory", "operator": "<", "value_field": "reorder_point"}
    entry = new_entry(s, f"workflow:{wf.id}", description="Reorder low stock", recurrence_kind="cron", cron_expression="0 8 * * 1",
                      time_zone="Europe/Berlin")
    assert service.describe_recurrence(entry) == "At 08:00, only on Monday (Europe/Berlin)"
    before = s.scalar(select(func.max(PurchaseHeader.id))) or 0
    service.run_now(s, entry, admin(s))
    s.commit()
    tick(s)
    work(s, run_jobs)
    try:
        low = {i.no: i for i in s.scalars(select(Item)).unique() if i.inventory < i.reorder_point and not i.blocked}
        # Northwind's products below their reorder level (units in stock < reorder level, not discontinued)
        assert {"I0003", "I0011", "I0021", "I0031", "I0066", "I0074"} <= set(low) and len(low) >= 17
        assert "I0002" not in low  # Chang: below its reorder level, but discontinued (blocked)
        runs = s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "JQTEST-REORDER")).unique().all()
        assert len(runs) == len(low) and {r.status for r in runs} == {"Completed"}, [r.error for r in runs]
        assert {r.record_id for r in runs} == {i.id for i in low.values()}
        orders = s.scalars(select(PurchaseHeader).where(PurchaseHeader.id > before)).unique().all()
        lines = {o.lines[0].item.no: (o.vendor.no, int(o.lines[0].quantity)) for o in orders}
        assert lines == {no: (item.vendor.no, int(item.reorder_point) + 10) for no, item in low.items()}
        assert all(o.document_type == "Order" for o in orders)
        assert f"Started {len(low)} run(s) of JQTEST-REORDER" in logs(s, entry)[0].result
        assert s.get(JobQueueEntry, entry.id).status == "Ready"  # next Monday 08:00
    finally:
        for order in s.scalars(select(PurchaseHeader).where(PurchaseHeader.id > before)).unique():
            s.delete(order)
        s.commit()


# ---------------------------------------------------------------- job timeout

def sleep_then_mark(seconds: float, marker: str) -> str:
    """A test-only system job (registered by the test, never shipped): sleep, then
    write ``marker``. A run stopped at its job timeout never writes it."""
    time.sleep(float(seconds))
    Path(marker).write_text("finished")
    return "slept"


@pytest.mark.parametrize("simple", [False, True], ids=["work-horse", "simple-worker"])
def test_a_run_that_overruns_its_job_timeout_is_stopped_logged_and_retried(s, services, sink, tmp_path, simple):
    """An entry whose run takes longer than its job timeout: RQ stops the run at the
    timeout (SIGALRM in the forked work horse, or in the worker itself for ``flask
    worker --simple``), the log entry is Error with the timeout error, the entry is
    retried per its maximum attempts and then goes to Error with a notification
    (e-mail) to its owner. The sleeping system job is registered by this test only
    (in this process, for the entry's target check, and in the worker it starts),
    never in the shipped registry."""
    from portal.jobqueue.system_jobs import SYSTEM_JOBS, SystemJob

    job = SystemJob(f"{__name__}.sleep_then_mark", "Test: sleep past the timeout", {})
    SYSTEM_JOBS["test_overrun"] = job  # the scheduler's side (this process) checks the target is registered
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from portal import create_app\n"
        "from portal.cli import run_worker\n"
        "from portal.jobqueue.system_jobs import SYSTEM_JOBS, SystemJob\n"
        f"SYSTEM_JOBS['test_overrun'] = SystemJob({job.func!r}, {job.description!r}, {{}})\n"
        "with create_app().app_context():\n"
        f"    run_worker(burst=True, simple={simple!r})\n"
    )

    def run_jobs():
        out = subprocess.run([sys.executable, str(script)], cwd=ROOT, env={**os.environ, **services}, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]

    try:
        _overrun_and_retry(s, run_jobs, sink, tmp_path)
    finally:
        SYSTEM_JOBS.pop("test_overrun", None)


def _overrun_and_retry(s, run_jobs, sink, tmp_path):
    marker = tmp_path / "finished"
    entry = new_entry(s, "system_job:test_overrun", description="Sleeps past its timeout",
                      parameters={"seconds": 30, "marker": str(marker)}, timeout_seconds=2, max_attempts=2, rerun_delay_seconds=0)
    [run] = tick(s)
    work(s, run_jobs)
    [first] = logs(s, entry)
    assert first.status == "Error", (first.status, first.result, first.error_message)
    assert first.error_message.startswith("The run exceeded the job timeout") and "2 seconds" in first.error_message, first.error_message
    assert "JobTimeoutException" in first.error_traceback
    assert first.duration_seconds < 15 and not marker.exists()  # stopped at the timeout, not run to the end
    entry = s.get(JobQueueEntry, entry.id)
    assert (entry.status, entry.attempt) == ("Ready", 1) and entry.last_error == first.error_message

    assert len(tick(s)) == 1  # the retry (rerun delay 0 s)
    work(s, run_jobs)
    first, second = logs(s, entry)
    assert (second.status, second.attempt, second.due_at) == ("Error", 2, first.due_at)
    assert second.error_message.startswith("The run exceeded the job timeout") and not marker.exists()
    entry = s.get(JobQueueEntry, entry.id)
    assert entry.status == "Error" and entry.next_run_at is None
    assert tick(s) == []
    [mail] = sink.wait_for("admin@", "Job failed")
    body = sink.body(mail)
    assert "Sleeps past its timeout" in body and "exceeded the job timeout" in body and f"/job-queue/{entry.id}" in body
