"""Effects exactly once and outside any transaction; parallel dispatch. Each test
injects a fault into real parts (killed worker processes, a late SMTP server, a
hanging webhook, several workers at once) and checks the outcome."""
from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import func, select

from effect_helpers import CountingSmtp, WebhookStub, kill, start_scheduler, start_worker, wait_until
from portal.records import service as records
from portal.records.models import Customer
from portal.workflow.library import build_workflow
from portal.workflow.models import Effect, OutboxEvent, WorkflowInstance

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.fixture
def stub():
    s = WebhookStub()
    yield s
    s.stop()


def automated(s, code: str, responses: list[tuple[str, dict]], field: str = "phone") -> None:
    """An enabled workflow: when a customer's ``field`` changes, run ``responses``."""
    steps = [(1, None, None, 1, "event", "record_modified", {}, [{"field": field, "operator": "changed"}])]
    for n, (fn, options) in enumerate(responses, start=2):
        steps.append((n, n - 1, None, 1, "response", fn, options, []))
    s.add(build_workflow({"code": code, "description": code.title(), "record_type": "customer",
                          "trigger_kind": "automated", "steps": steps}))
    s.commit()


def customers(s) -> list[Customer]:
    return list(s.scalars(select(Customer).where(Customer.email.is_not(None)).order_by(Customer.no)))


def modify(s, customer: Customer, value: str) -> None:
    records.modify_record(s, "customer", customer, {"phone": value}, None)


def completed(s, code: str) -> int:
    n = s.scalar(select(func.count(WorkflowInstance.id)).where(WorkflowInstance.workflow_code == code,
                                                               WorkflowInstance.status == "Completed"))
    s.rollback()
    return n


def failed(s, code: str) -> int:
    n = s.scalar(select(func.count(WorkflowInstance.id)).where(WorkflowInstance.workflow_code == code,
                                                               WorkflowInstance.status == "Failed"))
    s.rollback()
    return n


def state(s) -> str:
    """Counts by status of outbox events, effects and runs (for failure messages)."""
    out = {}
    for model in (OutboxEvent, Effect, WorkflowInstance):
        out[model.__tablename__] = dict(s.execute(select(model.status, func.count()).group_by(model.status)).all())
    failed = s.execute(select(Effect.kind, Effect.attempts, Effect.error).where(Effect.status == "failed").limit(3)).all()
    if failed:
        out["failed effects"] = [tuple(f) for f in failed]
    s.rollback()
    return str(out)


def runs(s, code: str) -> list[WorkflowInstance]:
    s.expire_all()
    return list(s.scalars(select(WorkflowInstance).where(WorkflowInstance.workflow_code == code)).unique())


def test_a_worker_killed_during_a_slow_webhook_is_taken_over_and_the_run_completes_once(db_session, stub):
    """1. SIGKILL the worker while its webhook call hangs: after the lease runs out
    another worker performs the call again with the same Idempotency-Key; the mail
    of the same run goes out once per Message-ID; the run completes once."""
    s = db_session
    smtp = CountingSmtp()
    stub.hang["/slow"], stub.hang_times["/slow"] = 60.0, 1
    automated(s, "KILLHOOK", [("send_email", {"template": "customer_statement"}),
                              ("call_webhook", {"url": f"{stub.url}/slow", "method": "POST", "body": "{}", "timeout": 120, "retries": 3})])
    alfki = customers(s)[0]
    env = {"MAIL_PORT": smtp.port}  # the default lease (15 s)
    first = start_worker(**env)
    scheduler = second = None
    try:
        modify(s, alfki, "030-0074321 (1)")
        s.commit()
        wait_until(stub.started.is_set, 30, what="the webhook call to start")
        s.expire_all()
        claimer = s.scalar(select(Effect.claimed_by).where(Effect.kind == "webhook"))
        os.kill(int(claimer.split(":")[1]), signal.SIGKILL)  # the work horse making the call
        kill(first)  # and its worker: the effect stays claimed by a dead process
        killed_at = time.monotonic()
        second = start_worker(**env)
        scheduler = start_scheduler(**env)
        [inst] = wait_until(lambda: [r for r in runs(s, "KILLHOOK") if r.status == "Completed"], 60, what="the run to complete")
        taken_over_in = time.monotonic() - killed_at
    finally:
        for proc in (first, second, scheduler):
            if proc is not None:
                kill(proc)
        smtp.stop()
    assert len(runs(s, "KILLHOOK")) == 1
    assert taken_over_in < 30, f"taken over after {taken_over_in:.1f}s"
    keys = stub.keys("/slow")
    assert len(keys) == 1 and sum(keys.values()) >= 2  # called again after the kill, with the same key
    [mail] = smtp.to(alfki.email)
    assert set(smtp.received.values()) == {1} or all(n >= 1 for n in smtp.received.values())
    assert len([m for m in smtp.messages.values() if alfki.email in m["To"]]) == 1  # one mail per Message-ID
    effects = s.scalars(select(Effect).where(Effect.instance_id == inst.id)).all()
    assert {e.kind: e.status for e in effects} == {"email": "done", "webhook": "done"}
    assert next(e for e in effects if e.kind == "webhook").attempts >= 2


def test_smtp_that_stores_the_mail_but_answers_late_gets_it_once_and_the_run_completes(db_session, run_jobs):
    """2. The SMTP server stores the mail, then answers after the client's timeout:
    the send is retried with the same Message-ID; one mail per Message-ID arrives and
    the run ends Completed."""
    s = db_session
    smtp = CountingSmtp(late_answer=3.0)
    automated(s, "LATEMAIL", [("send_email", {"template": "customer_statement"})])
    alfki = customers(s)[0]
    modify(s, alfki, "030-0074321 (2)")
    s.commit()
    worker = start_worker(burst=True, MAIL_PORT=smtp.port, MAIL_TIMEOUT="1")
    try:
        worker.wait(timeout=120)
    finally:
        kill(worker)
        smtp.stop()
    [inst] = runs(s, "LATEMAIL")
    assert inst.status == "Completed", inst.error
    [effect] = s.scalars(select(Effect).where(Effect.instance_id == inst.id)).all()
    assert effect.status == "done" and effect.attempts >= 2  # timed out once, then confirmed
    msgid = next(iter(smtp.messages))
    assert smtp.received[msgid] >= 2 and len(smtp.messages) == 1  # two deliveries, one Message-ID
    assert alfki.email in smtp.messages[msgid]["To"]
    assert "sent to" in inst.result


@pytest.mark.parametrize("workers", [2, 3])
def test_several_workers_drain_a_thousand_events_each_run_and_mail_exactly_once(db_session, stub, workers):
    """3. 1,000 customer changes drained by 2 and 3 workers at once: every event
    handled once, in order per customer, one run each, every mail and webhook call
    exactly once (counted at the SMTP server and the stub, before any de-duplication)
    and every notification sent once."""
    s = db_session
    smtp = CountingSmtp()
    automated(s, "DRAIN", [("send_email", {"template": "customer_statement"}),
                           ("create_notification", {"recipient": "Specific User", "user": "lcallahan", "message": "{{ record.phone }}"}),
                           ("call_webhook", {"url": f"{stub.url}/drain", "method": "POST", "body": '{"no": "{{ record.no }}"}'})])
    people = customers(s)
    before = s.scalar(select(func.max(OutboxEvent.id))) or 0
    for i in range(1000):
        modify(s, people[i % len(people)], f"W{workers}-{i:04d}")
        if i % 100 == 99:
            s.commit()
    s.commit()
    procs = [start_worker(MAIL_PORT=smtp.port) for _ in range(workers)] + [start_scheduler(MAIL_PORT=smtp.port)]
    try:
        wait_until(lambda: completed(s, "DRAIN") >= 1000 or failed(s, "DRAIN"), 240, step=0.5,
                   what=lambda: f"1,000 completed runs: {state(s)}")
        assert not failed(s, "DRAIN"), state(s)
        wait_until(lambda: len(smtp.to("lcallahan@")) >= 1000, 120, step=0.5, what="1,000 notifications")
        time.sleep(1)  # anything sent twice would arrive now
    finally:
        for p in procs:
            kill(p)
        smtp.stop()
    done = runs(s, "DRAIN")
    assert len(done) == 1000 and {r.status for r in done} == {"Completed"}
    events = s.scalars(select(OutboxEvent).where(OutboxEvent.id > before, OutboxEvent.event_code == "record_modified")).all()
    assert len(events) == 1000 and {e.status for e in events} == {"done"}
    # one customer's events were handled in the order they were raised
    by_customer: dict[int, list] = {}
    for e in sorted(events, key=lambda e: e.id):
        by_customer.setdefault(e.record_id, []).append(e.processed_at)
    assert all(times == sorted(times) for times in by_customer.values())
    assert len(smtp.messages) == 2000 and set(smtp.received.values()) == {1}
    keys = stub.keys("/drain")
    assert len(keys) == 1000 and set(keys.values()) == {1}
    assert len({e.claimed_by for e in events}) >= 2  # the work was shared


def test_a_hanging_webhook_does_not_hold_the_database(app, stub):
    """4. A webhook that hangs 60 s: meanwhile a user's edit of another customer over
    HTTP completes at once (no transaction or lock is held during the call)."""
    from portal.extensions import db

    from test_pages import csrf, sign_in

    stub.hang["/hang"], stub.hang_times["/hang"] = 60.0, 5
    with app.app_context():
        s = db.session
        automated(s, "HANG", [("call_webhook", {"url": f"{stub.url}/hang", "method": "POST", "body": "{}", "timeout": 90})])
        first, other = customers(s)[:2]
        other_id, other_name = other.id, other.name
        form = {name: "" if value is None else str(value) for name, value in records_form(other).items()}
        db.session.remove()
    worker = start_worker()
    try:
        with app.app_context():
            modify(db.session, db.session.get(Customer, first.id), "030-0074321 (4)")
            db.session.commit()
            db.session.remove()
        wait_until(stub.started.is_set, 30, what="the webhook call to start")
        time.sleep(0.5)
        client = app.test_client()
        sign_in(client, "afuller", "northwind")
        page = client.get(f"/customers/{other_id}/edit").get_data(as_text=True)
        form.update(csrf_token=csrf(page), name=other_name + " (edited)")
        started = time.monotonic()
        response = client.post(f"/customers/{other_id}/edit", data=form)
        took = time.monotonic() - started
        with app.app_context():
            [inst] = runs(db.session, "HANG")
            still_running = inst.status == "Running"
            edited = db.session.get(Customer, other_id).name
            db.session.remove()
    finally:
        kill(worker)
    print(f"edit while a webhook hangs: {took * 1000:.0f} ms")
    assert still_running  # the call was still hanging while the user saved
    assert response.status_code in (200, 302, 303), response.data[:500]
    assert edited == other_name + " (edited)"
    assert took < 5, f"the edit took {took:.1f}s"  # design goal: well under a second; 30 s when a lock was held


def records_form(customer: Customer) -> dict:
    """The customer card's editable fields with their current values."""
    from portal.records.registry import RECORD_TYPES

    return {f.name: getattr(customer, f.name) for f in RECORD_TYPES["customer"].fields if f.editable}


def test_the_smtp_sink_and_the_mailbox_keep_one_message_per_message_id(app, tmp_path):
    """A mail sent twice with the same Message-ID (a retry) is stored once by the
    development SMTP sink and shown once in the Mailbox; other mails are all kept."""
    import smtplib
    from email.message import EmailMessage

    from effect_helpers import free_port
    from portal.embedded import start_smtp_sink
    from portal.notifications.views import sink_messages

    port = free_port()
    sink = start_smtp_sink("127.0.0.1", port, str(tmp_path / "mail"))
    try:
        for msgid, subject in (("<same@test>", "first"), ("<same@test>", "again"), ("<other@test>", "other"), (None, "no id")):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "portal@northwind.test", "a@northwind.test", subject
            if msgid:
                msg["Message-ID"] = msgid
            msg.set_content("hello")
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.send_message(msg)
    finally:
        sink.stop()
    import mailbox

    assert len(mailbox.Maildir(str(tmp_path / "mail"), create=False).keys()) == 3  # the sink stored the retry once
    with app.test_request_context():
        app.config["MAIL_SINK_DIR"], saved = str(tmp_path / "mail"), app.config["MAIL_SINK_DIR"]
        try:
            subjects = sorted(m["subject"] for m in sink_messages())
        finally:
            app.config["MAIL_SINK_DIR"] = saved
    assert subjects == ["first", "no id", "other"]


def test_the_watchdog_enqueues_work_nobody_is_doing(db_session):
    """Events and effects left behind (a lost enqueue, a retry now due, a dead
    worker's expired claim) get a job from the scheduler's watchdog; fresh work and
    live claims don't."""
    from datetime import timedelta

    from portal.queue import get_queue, reset_queue
    from portal.util import utcnow
    from portal.workflow.dispatch import DISPATCH_JOB, watchdog
    from portal.workflow.effects import DELIVERY_JOB

    s = db_session
    reset_queue()
    old = utcnow() - timedelta(seconds=10)
    effect = Effect(key="watchdog-test", kind="webhook", description="POST nowhere", payload={}, status="pending",
                    attempts=1, max_attempts=5, next_attempt_at=utcnow() + timedelta(seconds=60), created_at=old)
    s.add(effect)
    s.commit()
    assert watchdog(s) == []  # its retry isn't due yet
    effect.next_attempt_at = old
    ev = OutboxEvent(event_code="record_modified", record_type="customer", record_id=customers(s)[0].id, payload={},
                     status="processing", claimed_by="gone:1:x", lease_until=utcnow() + timedelta(seconds=30), created_at=old)
    s.add(ev)
    s.commit()
    assert watchdog(s) == [DELIVERY_JOB]  # the retry is due; the event's claim is still alive
    reset_queue()
    ev.lease_until = old  # its worker died
    s.commit()
    assert sorted(watchdog(s)) == sorted([DISPATCH_JOB, DELIVERY_JOB])
    assert [j.func_name for j in get_queue(urgent=True).jobs] == [DISPATCH_JOB]  # workers take it first
    assert [j.func_name for j in get_queue().jobs] == [DELIVERY_JOB]
    s.delete(effect)
    s.delete(ev)
    s.commit()
    reset_queue()


def test_a_batch_of_webhooks_is_called_side_by_side():
    """A worker calls a batch's webhooks several at a time (each with its own
    Idempotency-Key, each once): slow receivers don't add up."""
    from collections import Counter

    from portal.workflow.effects import perform_webhooks

    stub = WebhookStub()
    try:
        stub.hang["/slow"], stub.hang_times["/slow"] = 0.5, 6
        items = [{"id": i, "key": f"side-by-side-{i}", "attempts": 1, "max_attempts": 5,
                  "payload": {"url": stub.url + "/slow", "method": "POST", "body": "{}", "timeout": 5}} for i in range(6)]
        outcomes = perform_webhooks(items)
        assert [o.status for o in outcomes] == ["done"] * 6
        assert stub.max_in_flight >= 2
        assert stub.keys("/slow") == Counter({f"side-by-side-{i}": 1 for i in range(6)})
    finally:
        stub.stop()
